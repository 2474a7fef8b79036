package detections

import (
	"bytes"
	"encoding/base64"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf16"

	"github.com/evtxhunt/evtxhunt/timeline"
)

// Values: what one field test compares a field with, compiled from either
// rule format into the cheapest test. The formats differ in how they write
// values (wildcards) and in the form of the field they compare with
// (textForm: Sigma compares raw values ignoring case, the pack compares
// paths in winpath.Normalize's form); both compile to value.

// valueOp is what a value tests.
type valueOp uint8

const (
	opEquals   valueOp = iota // the text is text
	opContains                // the text holds text
	opAffix                   // the text starts with prefix and ends with suffix, apart
	opMatch                   // the regular expression matches
	opAnything                // the field has a value, whatever it is
	opNull                    // the field has no value or an empty one
	opExists                  // the field has a non-empty value (exists) or not (!exists)
	opFieldRef                // the field equals another
	opLess
	opLessOrEqual
	opGreater
	opGreaterOrEqual
	opAnyVariant // one value written several ways: any of variants matches
)

// value is one compiled value of a field test.
type value struct {
	op       valueOp
	form     textForm // the form of the field the text tests read
	text     []byte   // opEquals, opContains, in form
	prefix   []byte   // opAffix
	suffix   []byte
	re       *regexp.Regexp
	exists   bool    // opExists
	ref      fieldID // opFieldRef
	num      float64 // the comparisons
	variants []value // opAnyVariant
}

// match tests field f of p. present says whether f has a value at all
// (see fieldTest.match).
func (v *value) match(c *fieldCache, p *timeline.Process, f *fieldValue, present bool) bool {
	switch v.op {
	case opAnyVariant:
		for i := range v.variants {
			if v.variants[i].match(c, p, f, present) {
				return true
			}
		}
		return false
	case opExists:
		return (present && f.raw != "") == v.exists
	case opNull:
		return !present || f.raw == ""
	}
	if !present {
		return false
	}
	switch v.op {
	case opAnything:
		return true
	case opFieldRef:
		o := c.get(p, v.ref)
		return o.state == recorded && (f.raw == o.raw || v.form != formRaw && bytes.Equal(f.text(formLower), o.text(formLower)))
	case opLess, opLessOrEqual, opGreater, opGreaterOrEqual:
		n, err := strconv.ParseFloat(strings.TrimSpace(f.raw), 64)
		if err != nil {
			return false
		}
		switch v.op {
		case opLess:
			return n < v.num
		case opLessOrEqual:
			return n <= v.num
		case opGreater:
			return n > v.num
		}
		return n >= v.num
	}
	text := f.text(v.form)
	switch v.op {
	case opEquals:
		return bytes.Equal(text, v.text)
	case opContains:
		return bytes.Contains(text, v.text)
	case opAffix:
		return len(text) >= len(v.prefix)+len(v.suffix) && bytes.HasPrefix(text, v.prefix) && bytes.HasSuffix(text, v.suffix)
	}
	return v.re.Match(text) // opMatch
}

// oneOf is a value written several ways: itself when there is one way.
func oneOf(ways []value) value {
	if len(ways) == 1 {
		return ways[0]
	}
	return value{op: opAnyVariant, variants: ways}
}

// wildcards is how a rule format writes wildcards in a value.
type wildcards uint8

const (
	noWildcards    wildcards = iota // every character stands for itself (the pack)
	globWildcards                   // * and ? (the pack's wildcard modifier); a backslash is a path's
	sigmaWildcards                  // * and ?, and a backslash escapes *, ? and itself (Sigma)
)

// compilePattern turns a value written with wildcards, with a wildcard
// added before it (lead) and after it (trail), into the cheapest test of the
// field's text in form: equality, prefix and suffix, contains, or a
// regular expression. fold: compare ignoring case (the value's literal text
// is lowered, the field's form is lower case too).
func compilePattern(w string, syntax wildcards, lead, trail bool, form textForm, fold bool) value {
	var lits []string // literal runs between wildcards
	var seps []rune
	var cur strings.Builder
	if lead {
		lits, seps = append(lits, ""), append(seps, '*')
	}
	if syntax == noWildcards {
		cur.WriteString(w)
	} else {
		rs := []rune(w)
		for i := 0; i < len(rs); i++ {
			switch r := rs[i]; {
			case syntax == sigmaWildcards && r == '\\' && i+1 < len(rs) && (rs[i+1] == '*' || rs[i+1] == '?' || rs[i+1] == '\\'):
				cur.WriteRune(rs[i+1])
				i++
			case r == '*' || r == '?':
				lits = append(lits, cur.String())
				seps = append(seps, r)
				cur.Reset()
			default:
				cur.WriteRune(r)
			}
		}
	}
	lits = append(lits, cur.String())
	// The wildcards a modifier adds are never escaped by a backslash
	// ending the value ('\sysvol\' is a path).
	if trail {
		lits, seps = append(lits, ""), append(seps, '*')
	}
	lit := func(s string) []byte {
		if fold {
			return lowerInto(nil, s)
		}
		return []byte(s)
	}
	v := value{form: form}
	switch {
	case len(seps) == 0:
		v.op, v.text = opEquals, lit(lits[0])
		return v
	case !strings.ContainsRune(string(seps), '?') && strings.Join(lits, "") == "":
		v.op = opAnything
		return v
	case len(seps) == 1 && seps[0] == '*':
		v.op, v.prefix, v.suffix = opAffix, lit(lits[0]), lit(lits[1])
		return v
	case len(seps) == 2 && seps[0] == '*' && seps[1] == '*' && lits[0] == "" && lits[2] == "":
		v.op, v.text = opContains, lit(lits[1])
		return v
	}
	var sb strings.Builder
	if fold {
		sb.WriteString("(?i)")
	}
	sb.WriteString("(?s)^")
	for i, l := range lits {
		sb.WriteString(regexp.QuoteMeta(l))
		if i < len(seps) {
			if seps[i] == '*' {
				sb.WriteString(".*")
			} else {
				sb.WriteString(".")
			}
		}
	}
	sb.WriteString("$")
	v.op, v.re = opMatch, regexp.MustCompile(sb.String()) // quoted literals: always valid
	return v
}

// windash gives the value with every '-' replaced by each of the characters
// Windows command lines accept in its place.
func windash(s string) []string {
	if !strings.Contains(s, "-") {
		return []string{s}
	}
	var out []string
	for _, d := range []string{"-", "/", "\u2013", "\u2014", "\u2015"} {
		out = append(out, strings.ReplaceAll(s, "-", d))
	}
	return out
}

func utf16Bytes(s string, bigEndian bool) []byte {
	u := utf16.Encode([]rune(s))
	b := make([]byte, 2*len(u))
	for i, c := range u {
		if bigEndian {
			b[2*i], b[2*i+1] = byte(c>>8), byte(c)
		} else {
			b[2*i], b[2*i+1] = byte(c), byte(c>>8)
		}
	}
	return b
}

// base64Offsets is the three base64 forms of data at each alignment, cut to
// the characters that do not depend on what surrounds it.
func base64Offsets(data []byte) []string {
	var out []string
	for i := range 3 {
		enc := base64.StdEncoding.EncodeToString(append(make([]byte, i), data...))
		start := []int{0, 2, 3}[i]
		end := len(enc) - []int{0, 3, 2}[(len(data)+i)%3]
		if start < end {
			out = append(out, enc[start:end])
		}
	}
	return out
}
