package detections

import (
	"bytes"
	"slices"
	"strings"

	"github.com/evtxhunt/evtxhunt/parser/winpath"
)

// The index: which rules are worth trying on a process, read from the
// rules' conditions. A rule whose condition requires an image name (an
// Image|endswith '\name.exe', or an OriginalFileName) is tried only on
// processes of those names; one that requires some strings in the command
// line, only where one of them is. Keys are lower case.

// imageKeys says which image names a rule can match at all: the engine
// then tries it only on processes with one of them (lower case, as
// winpath.Base gives them, spaces around the image trimmed). ok is false
// when the rule may match any image.
func (m *matcher) imageKeys() (keys []string, ok bool) { return condKeys(m.cond, imageKey) }

// commandKeys says which strings a rule needs in the lowered command line:
// it can match only if one of them is there.
func (m *matcher) commandKeys() (keys []string, ok bool) { return condKeys(m.cond, commandKey) }

// The process's fields the index reads (the process role's ids are the
// fields' positions in the table).
const (
	imageField   fieldID = fieldImage
	ofnField     fieldID = fieldOriginalFileName
	commandField fieldID = fieldCommandLine
)

// A keyFunc reads, from one test, the keys one of which must hold for the
// test to match, or says it has none.
type keyFunc func(t *fieldTest) ([]string, bool)

func condKeys(c cond, kf keyFunc) ([]string, bool) {
	switch c := c.(type) {
	case condSearch:
		if len(c.s.keywords) > 0 || len(c.s.maps) == 0 {
			return nil, false
		}
		var keys []string
		for _, m := range c.s.maps {
			k, ok := mapKeys(m, kf)
			if !ok {
				return nil, false
			}
			keys = append(keys, k...)
		}
		return keys, true
	case condAnd:
		var best []string
		found := false
		for _, x := range c {
			if k, ok := condKeys(x, kf); ok && (!found || len(k) < len(best)) {
				best, found = k, true
			}
		}
		return best, found
	case condOr:
		var keys []string
		for _, x := range c {
			k, ok := condKeys(x, kf)
			if !ok {
				return nil, false
			}
			keys = append(keys, k...)
		}
		return keys, true
	}
	return nil, false // not, and the ancestors' fields, say nothing of the process's
}

// mapKeys finds, among a search map's tests (AND'ed), one that gives keys.
func mapKeys(tests []fieldTest, kf keyFunc) ([]string, bool) {
	for i := range tests {
		if keys, ok := kf(&tests[i]); ok && len(keys) > 0 {
			return keys, true
		}
	}
	return nil, false
}

// testKeys gathers the keys of a test's values: one of them must hold for
// the test to match. With all, one value's keys are enough to look for.
func testKeys(t *fieldTest, key func(v *value) (string, bool)) ([]string, bool) {
	values := t.values
	if t.all && len(values) > 0 {
		values = values[:1]
	}
	keys, ok := anyKeys(values, key)
	return keys, ok && len(keys) > 0
}

// anyKeys gathers the keys of values one of which must match: each
// value's key, all the variants' keys for a value written several ways.
func anyKeys(values []value, key func(v *value) (string, bool)) ([]string, bool) {
	var keys []string
	for i := range values {
		v := &values[i]
		if v.op == opAnyVariant {
			k, ok := anyKeys(v.variants, key)
			if !ok {
				return nil, false
			}
			keys = append(keys, k...)
			continue
		}
		k, ok := key(v)
		if !ok {
			return nil, false
		}
		keys = append(keys, k)
	}
	return keys, true
}

// lowered says whether v tests literal lower-case text of the field.
func (v *value) lowered() bool {
	return v.form == formLower || v.form == formPath // both are in lower case
}

func imageKey(t *fieldTest) ([]string, bool) {
	if t.all {
		return nil, false
	}
	switch t.field {
	case imageField:
		// The file name after the last separator, as winpath.Base cuts
		// it; the engine trims the spaces around an image that
		// winpath.Normalize trims, so a key must not start or end with
		// one.
		return testKeys(t, func(v *value) (string, bool) {
			name, ok := bytes.CutPrefix(v.suffix, []byte(`\`))
			if v.op != opAffix || !v.lowered() || len(v.prefix) > 0 || !ok || bytes.ContainsAny(name, `\/`) ||
				string(bytes.TrimSpace(name)) != string(name) {
				return "", false
			}
			return string(name), true
		})
	case ofnField:
		return testKeys(t, func(v *value) (string, bool) {
			return string(v.text), v.op == opEquals && v.form == formLower && len(v.text) > 0
		})
	}
	return nil, false
}

func commandKey(t *fieldTest) ([]string, bool) {
	if t.field != commandField {
		return nil, false
	}
	return testKeys(t, func(v *value) (string, bool) {
		if v.form != formLower {
			return "", false
		}
		var k []byte
		switch v.op {
		case opEquals, opContains:
			k = v.text
		case opAffix:
			k = v.prefix
			if len(v.suffix) > len(k) {
				k = v.suffix
			}
		}
		return string(k), len(k) > 0
	})
}

// imageName appends the name the image index is keyed by: the lowered
// file name of the image without the spaces around it.
func imageName(dst []byte, image string) []byte {
	return lowerInto(dst, winpath.Base(strings.TrimSpace(image)))
}

// substringIndex finds which of many strings occur in a text, by their
// first two bytes: a pass over the text looks up each byte pair.
type substringIndex struct {
	keys   [][]byte
	rules  [][]int          // by key
	byPair map[uint16][]int // first two bytes -> keys
	short  []int            // one-byte keys
}

func (x *substringIndex) add(keys []string, rule int) {
	if x.byPair == nil {
		x.byPair = map[uint16][]int{}
	}
	for _, k := range keys {
		id := slices.IndexFunc(x.keys, func(b []byte) bool { return string(b) == k })
		if id < 0 {
			id = len(x.keys)
			x.keys = append(x.keys, []byte(k))
			x.rules = append(x.rules, nil)
			if len(k) == 1 {
				x.short = append(x.short, id)
			} else {
				pair := uint16(k[0])<<8 | uint16(k[1])
				x.byPair[pair] = append(x.byPair[pair], id)
			}
		}
		if !slices.Contains(x.rules[id], rule) {
			x.rules[id] = append(x.rules[id], rule)
		}
	}
}

// find appends the rules of every key found in text.
func (x *substringIndex) find(text []byte, out []int) []int {
	for _, id := range x.short {
		if bytes.IndexByte(text, x.keys[id][0]) >= 0 {
			out = append(out, x.rules[id]...)
		}
	}
	for i := 0; i+1 < len(text); i++ {
		for _, id := range x.byPair[uint16(text[i])<<8|uint16(text[i+1])] {
			if bytes.HasPrefix(text[i:], x.keys[id]) {
				out = append(out, x.rules[id]...)
			}
		}
	}
	return out
}
