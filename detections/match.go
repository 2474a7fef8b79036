package detections

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/evtxhunt/evtxhunt/parser/winpath"
)

// The match language. A match section names roles and what must hold for
// each; everything listed must hold:
//
//	match:
//	  process:                      # the process itself
//	    image|endswith: \mstsc.exe  # a list of values means any of them
//	  parent:                       # its parent, as the timeline resolved it
//	    image|endswith: \netscan.exe
//	  ancestor: {...}               # some ancestor
//	  any_of: [{...}, {...}]        # at least one of these matches
//	  not: [{...}]                  # none of these matches
//
// A field test is field|modifier|...: value. Modifiers: contains,
// startswith, endswith, wildcard (* and ?), re (regular expression), all
// (every listed value must hold), cased (case-sensitive). Without one, the
// value must equal the field. Comparisons ignore case, and paths (image,
// current_directory) are compared in winpath.Normalize's form, so that one
// value matches every spelling of a place.
//
// A match section compiles into the conditions tree Sigma rules use: the
// process's and the parent's tests one search over role-qualified fields,
// the ancestor's a condAncestor, any_of an or, not a negated or.

type matchErr struct {
	line int
	msg  string
}

// compileMatch compiles a match section, reporting every problem with its line.
func compileMatch(n *yaml.Node) (*matcher, []matchErr) {
	var errs []matchErr
	fail := func(line int, format string, args ...any) {
		errs = append(errs, matchErr{line, fmt.Sprintf(format, args...)})
	}
	// compile gives the section's condition and whether it tests more than
	// what must not hold.
	var compile func(n *yaml.Node, depth int) (cond, bool)
	compile = func(n *yaml.Node, depth int) (cond, bool) {
		if depth > maxNesting {
			fail(n.Line, "any_of and not nested deeper than %d levels", maxNesting)
			return condAnd{}, true
		}
		if n.Kind != yaml.MappingNode {
			fail(n.Line, "expected a mapping of process, parent, ancestor, any_of, not")
			return condAnd{}, true
		}
		var tests, ancestor []fieldTest // the process's and the parent's; an ancestor's
		var anyOf, not []cond
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			switch k.Value {
			case "process":
				tests = append(tests, compileRole(v, roleProcess, fail)...)
			case "parent":
				tests = append(tests, compileRole(v, roleParent, fail)...)
			case "ancestor":
				ancestor = compileRole(v, roleProcess, fail)
			case "any_of", "not":
				var subs []cond
				items := []*yaml.Node{v}
				if v.Kind == yaml.SequenceNode {
					items = v.Content
				}
				for _, item := range items {
					sub, _ := compile(item, depth+1)
					subs = append(subs, sub)
				}
				if k.Value == "any_of" {
					anyOf = subs
				} else {
					not = subs
				}
			default:
				fail(k.Line, "unknown key %q (want process, parent, ancestor, any_of or not)", k.Value)
			}
		}
		// The process's own tests first: they are the cheapest.
		slices.SortStableFunc(tests, func(a, b fieldTest) int { return int(a.field.role()) - int(b.field.role()) })
		var all []cond
		if len(tests) > 0 {
			all = append(all, condSearch{&search{maps: [][]fieldTest{tests}}})
		}
		if len(ancestor) > 0 {
			all = append(all, &condAncestor{condSearch{&search{maps: [][]fieldTest{ancestor}}}})
		}
		if len(anyOf) > 0 {
			all = append(all, or(anyOf))
		}
		positive := len(all) > 0
		if len(not) > 0 {
			all = append(all, condNot{or(not)})
		}
		if len(all) == 0 {
			fail(n.Line, "nothing to match")
		}
		return and(all), positive
	}
	c, positive := compile(n, 0)
	if !positive && len(errs) == 0 {
		fail(n.Line, "a match of only 'not' matches nearly everything")
	}
	return newMatcher(c), errs
}

// compileRole compiles the field tests of a role. The pack reads a field
// the event's source does not record as empty, and compares paths in
// winpath.Normalize's form, without regard to cased.
func compileRole(n *yaml.Node, r role, fail func(int, string, ...any)) []fieldTest {
	if n.Kind != yaml.MappingNode {
		fail(n.Line, "expected field tests such as image|endswith: \\cmd.exe")
		return nil
	}
	var tests []fieldTest
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		parts := strings.Split(k.Value, "|")
		f, ok := fieldNamed(parts[0], packName)
		if !ok {
			fail(k.Line, "unknown field %q (known: %s)", parts[0], strings.Join(packFieldNames(), ", "))
			continue
		}
		t := fieldTest{field: r.field(f), asRecorded: true}
		// The last of contains, startswith, endswith, re and wildcard is
		// the one that counts.
		var lead, trail, re, wildcard, cased bool
		for _, mod := range parts[1:] {
			switch mod {
			case "contains":
				lead, trail, re = true, true, false
			case "startswith":
				lead, trail, re = false, true, false
			case "endswith":
				lead, trail, re = true, false, false
			case "re":
				lead, trail, re = false, false, true
			case "wildcard":
				lead, trail, re, wildcard = false, false, true, true
			case "all":
				t.all = true
			case "cased":
				cased = true
			default:
				fail(k.Line, "unknown modifier %q (known: contains, startswith, endswith, wildcard, re, all, cased)", mod)
			}
		}
		var raw []string
		switch v.Kind {
		case yaml.ScalarNode:
			raw = []string{v.Value}
		case yaml.SequenceNode:
			for _, item := range v.Content {
				if item.Kind != yaml.ScalarNode {
					fail(item.Line, "%s: values must be text", k.Value)
					continue
				}
				raw = append(raw, item.Value)
			}
		default:
			fail(v.Line, "%s: expected a value or a list of values", k.Value)
		}
		if len(raw) == 0 {
			fail(k.Line, "%s: no value", k.Value)
		}
		form, fold := formLower, !cased
		prepare := func(s string) string { return s }
		switch {
		case t.field.is(windowsPath):
			form, prepare = formPath, winpath.Normalize
		case cased:
			form = formRaw
		}
		for _, s := range raw {
			switch {
			case re && wildcard:
				t.values = append(t.values, compilePattern(prepare(s), globWildcards, false, false, form, fold))
			case re:
				if fold {
					s = "(?i)" + s
				}
				rx, err := regexp.Compile(s)
				if err != nil {
					fail(v.Line, "%s: %v", k.Value, err)
					continue
				}
				t.values = append(t.values, value{op: opMatch, form: form, re: rx})
			default:
				t.values = append(t.values, compilePattern(prepare(s), noWildcards, lead, trail, form, fold))
			}
		}
		tests = append(tests, t)
	}
	return tests
}

// packFieldNames lists the fields the match language names, in order.
func packFieldNames() []string {
	var names []string
	for i := range fields {
		if fields[i].pack != "" {
			names = append(names, fields[i].pack)
		}
	}
	slices.Sort(names)
	return names
}
