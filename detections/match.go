package detections

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/evtxhunt/evtxhunt/parser"
	"github.com/evtxhunt/evtxhunt/timeline"
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
// current_directory) are compared in parser.NormalizePath's form, so that one
// value matches every spelling of a place.

type fieldSpec struct {
	get  func(p *timeline.Process) string
	path bool
}

var fieldSpecs = map[string]fieldSpec{
	"image":               {func(p *timeline.Process) string { return p.Image }, true},
	"command_line":        {func(p *timeline.Process) string { return p.CommandLine }, false},
	"current_directory":   {func(p *timeline.Process) string { return p.CurrentDirectory }, true},
	"user":                {func(p *timeline.Process) string { return p.User }, false},
	"user_sid":            {func(p *timeline.Process) string { return p.UserSID }, false},
	"integrity_level":     {func(p *timeline.Process) string { return p.IntegrityLevel }, false},
	"token_elevation":     {func(p *timeline.Process) string { return p.TokenElevation }, false},
	"original_file_name":  {func(p *timeline.Process) string { return p.OriginalFileName }, false},
	"description":         {func(p *timeline.Process) string { return p.Description }, false},
	"product":             {func(p *timeline.Process) string { return p.Product }, false},
	"company":             {func(p *timeline.Process) string { return p.Company }, false},
	"hashes":              {func(p *timeline.Process) string { return p.Hashes }, false},
	"parent_command_line": {func(p *timeline.Process) string { return p.ParentCommandLine }, false},
}

type op int

const (
	opEquals op = iota
	opContains
	opStartsWith
	opEndsWith
	opRegexp // wildcard compiles to this too
)

// fieldTest is one compiled field|modifiers: values.
type fieldTest struct {
	name   string
	spec   fieldSpec
	op     op
	all    bool
	cased  bool
	values []string
	res    []*regexp.Regexp
}

func (t *fieldTest) prepare(v string) string {
	switch {
	case t.spec.path:
		return parser.NormalizePath(v)
	case !t.cased:
		return strings.ToLower(v)
	}
	return v
}

func (t *fieldTest) match(p *timeline.Process) bool {
	v := t.prepare(t.spec.get(p))
	n := len(t.values)
	if t.op == opRegexp {
		n = len(t.res)
	}
	for i := range n {
		var ok bool
		switch t.op {
		case opEquals:
			ok = v == t.values[i]
		case opContains:
			ok = strings.Contains(v, t.values[i])
		case opStartsWith:
			ok = strings.HasPrefix(v, t.values[i])
		case opEndsWith:
			ok = strings.HasSuffix(v, t.values[i])
		case opRegexp:
			ok = t.res[i].MatchString(v)
		}
		if ok && !t.all {
			return true
		}
		if !ok && t.all {
			return false
		}
	}
	return t.all
}

// matcher is a compiled match section.
type matcher struct {
	process, parent, ancestor []fieldTest
	anyOf, not                []*matcher
}

func (m *matcher) match(p *timeline.Process, c *fieldCache) bool {
	if !allHold(m.process, p) {
		return false
	}
	if len(m.parent) > 0 && (p.Parent == nil || !allHold(m.parent, p.Parent)) {
		return false
	}
	if len(m.ancestor) > 0 && !m.ancestorHolds(p, c) {
		return false
	}
	if len(m.anyOf) > 0 && !slices.ContainsFunc(m.anyOf, func(s *matcher) bool { return s.match(p, c) }) {
		return false
	}
	return !slices.ContainsFunc(m.not, func(s *matcher) bool { return s.match(p, c) })
}

// ancestorHolds reports whether some ancestor of p, however far up, passes
// m.ancestor. Answers are kept per process for the run, so that each process
// is tested once per matcher: linear overall, however deep the trees.
func (m *matcher) ancestorHolds(p *timeline.Process, c *fieldCache) bool {
	if c.ancestors == nil {
		c.ancestors = map[*matcher]map[*timeline.Process]bool{}
	}
	known := c.ancestors[m]
	if known == nil {
		known = map[*timeline.Process]bool{}
		c.ancestors[m] = known
	}
	// known[a]: a or one of its ancestors passes. Walk up to a known answer
	// (or the root) and fill the answers in on the way back down.
	var path []*timeline.Process
	holds := false
	for a := p.Parent; a != nil; a = a.Parent {
		if v, ok := known[a]; ok {
			holds = v
			break
		}
		path = append(path, a)
	}
	for i := len(path) - 1; i >= 0; i-- {
		holds = holds || allHold(m.ancestor, path[i])
		known[path[i]] = holds
	}
	return holds
}

func allHold(tests []fieldTest, p *timeline.Process) bool {
	for i := range tests {
		if !tests[i].match(p) {
			return false
		}
	}
	return true
}

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
	var compile func(n *yaml.Node, depth int) *matcher
	compile = func(n *yaml.Node, depth int) *matcher {
		if depth > maxNesting {
			fail(n.Line, "any_of and not nested deeper than %d levels", maxNesting)
			return &matcher{}
		}
		if n.Kind != yaml.MappingNode {
			fail(n.Line, "expected a mapping of process, parent, ancestor, any_of, not")
			return &matcher{}
		}
		m := &matcher{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			switch k.Value {
			case "process":
				m.process = compileRole(v, fail)
			case "parent":
				m.parent = compileRole(v, fail)
			case "ancestor":
				m.ancestor = compileRole(v, fail)
			case "any_of", "not":
				var subs []*matcher
				items := []*yaml.Node{v}
				if v.Kind == yaml.SequenceNode {
					items = v.Content
				}
				for _, item := range items {
					subs = append(subs, compile(item, depth+1))
				}
				if k.Value == "any_of" {
					m.anyOf = subs
				} else {
					m.not = subs
				}
			default:
				fail(k.Line, "unknown key %q (want process, parent, ancestor, any_of or not)", k.Value)
			}
		}
		if len(m.process)+len(m.parent)+len(m.ancestor)+len(m.anyOf)+len(m.not) == 0 {
			fail(n.Line, "nothing to match")
		}
		return m
	}
	m := compile(n, 0)
	if len(m.process)+len(m.parent)+len(m.ancestor)+len(m.anyOf) == 0 && len(errs) == 0 {
		fail(n.Line, "a match of only 'not' matches nearly everything")
	}
	return m, errs
}

func compileRole(n *yaml.Node, fail func(int, string, ...any)) []fieldTest {
	if n.Kind != yaml.MappingNode {
		fail(n.Line, "expected field tests such as image|endswith: \\cmd.exe")
		return nil
	}
	var tests []fieldTest
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		parts := strings.Split(k.Value, "|")
		spec, ok := fieldSpecs[parts[0]]
		if !ok {
			fail(k.Line, "unknown field %q (known: %s)", parts[0], strings.Join(sortedFieldNames(), ", "))
			continue
		}
		t := fieldTest{name: k.Value, spec: spec}
		wildcard := false
		for _, mod := range parts[1:] {
			switch mod {
			case "contains":
				t.op = opContains
			case "startswith":
				t.op = opStartsWith
			case "endswith":
				t.op = opEndsWith
			case "re":
				t.op = opRegexp
			case "wildcard":
				t.op, wildcard = opRegexp, true
			case "all":
				t.all = true
			case "cased":
				t.cased = true
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
		for _, s := range raw {
			if t.op != opRegexp {
				t.values = append(t.values, t.prepare(s))
				continue
			}
			pattern := s
			if wildcard {
				pattern = globToRegexp(t.prepare(s))
			}
			if !t.cased {
				pattern = "(?i)" + pattern
			}
			re, err := regexp.Compile(pattern)
			if err != nil {
				fail(v.Line, "%s: %v", k.Value, err)
				continue
			}
			t.res = append(t.res, re)
		}
		tests = append(tests, t)
	}
	return tests
}

// globToRegexp turns * and ? into a regular expression matching the whole value.
func globToRegexp(glob string) string {
	var sb strings.Builder
	sb.WriteString("^")
	for _, r := range glob {
		switch r {
		case '*':
			sb.WriteString(".*")
		case '?':
			sb.WriteString(".")
		default:
			sb.WriteString(regexp.QuoteMeta(string(r)))
		}
	}
	sb.WriteString("$")
	return sb.String()
}

func sortedFieldNames() []string {
	names := make([]string, 0, len(fieldSpecs))
	for n := range fieldSpecs {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}
