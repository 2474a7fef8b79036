package detections

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/evtxhunt/evtxhunt/timeline"
)

// Conditions: both rule formats compile into one tree, evaluated by one
// matcher. Leaves are searches (maps of field tests, or Sigma keywords);
// inner nodes are and, or, not, and the pack's ancestor condition. Sigma's
// condition text is parsed here too, with its nesting bounded.

// cond is a compiled condition.
type cond interface {
	eval(c *fieldCache, p *timeline.Process) bool
}

type condSearch struct{ s *search }
type condNot struct{ c cond }
type condAnd []cond
type condOr []cond

// condAncestor holds when some ancestor of the process, however far up,
// passes c. Answers are kept per process for the run (in the field
// cache, by node), so that each process is tested once per condition:
// linear overall, however deep the trees.
type condAncestor struct{ c cond }

func (c condSearch) eval(fc *fieldCache, p *timeline.Process) bool { return c.s.match(fc, p) }
func (c condNot) eval(fc *fieldCache, p *timeline.Process) bool    { return !c.c.eval(fc, p) }
func (c condAnd) eval(fc *fieldCache, p *timeline.Process) bool {
	for _, x := range c {
		if !x.eval(fc, p) {
			return false
		}
	}
	return true
}
func (c condOr) eval(fc *fieldCache, p *timeline.Process) bool {
	for _, x := range c {
		if x.eval(fc, p) {
			return true
		}
	}
	return false
}

func (a *condAncestor) eval(c *fieldCache, p *timeline.Process) bool {
	if c.ancestors == nil {
		c.ancestors = map[*condAncestor]map[*timeline.Process]bool{}
		c.up = newFieldCache()
	}
	known := c.ancestors[a]
	if known == nil {
		known = map[*timeline.Process]bool{}
		c.ancestors[a] = known
	}
	// known[x]: x or one of its ancestors passes. Walk up to a known answer
	// (or the root) and fill the answers in on the way back down.
	walk := c.walk[:0]
	holds := false
	for x := p.Parent; x != nil; x = x.Parent {
		if v, ok := known[x]; ok {
			holds = v
			break
		}
		walk = append(walk, x)
	}
	for i := len(walk) - 1; i >= 0; i-- {
		holds = holds || a.c.eval(c.up, walk[i])
		known[walk[i]] = holds
	}
	c.walk = walk[:0]
	return holds
}

// and joins conditions that must all hold; one stands for itself.
func and(cs []cond) cond {
	if len(cs) == 1 {
		return cs[0]
	}
	return condAnd(cs)
}

// or joins conditions one of which must hold; one stands for itself.
func or(cs []cond) cond {
	if len(cs) == 1 {
		return cs[0]
	}
	return condOr(cs)
}

// search is a Sigma search (maps OR'd, each map's tests AND'ed; or
// keywords), or the field tests of a pack match section (one map).
type search struct {
	maps     [][]fieldTest
	keywords []value
}

func (s *search) match(c *fieldCache, p *timeline.Process) bool {
	for _, m := range s.maps {
		ok := true
		for i := range m {
			if !m[i].match(c, p) {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	for i := range s.keywords {
		for id := range numFields {
			if fields[id].flags&keyword == 0 {
				continue
			}
			if f := c.get(p, roleProcess.field(id)); f.state == recorded && s.keywords[i].match(c, p, f, true) {
				return true
			}
		}
	}
	return false
}

// fieldTest is field|modifiers: values.
type fieldTest struct {
	field  fieldID
	values []value
	all    bool // every value must match, else one
	// asRecorded: a field the event's source does not record is read as it
	// is, empty (the pack), not as absent (Sigma). A role without a
	// process (no parent) is absent for both.
	asRecorded bool
}

func (t *fieldTest) match(c *fieldCache, p *timeline.Process) bool {
	f := c.get(p, t.field)
	present := f.state == recorded || t.asRecorded && f.state == unrecorded
	for i := range t.values {
		if hit := t.values[i].match(c, p, f, present); hit != t.all {
			return hit
		}
	}
	return t.all
}

// matcher is a compiled rule, of either format.
type matcher struct {
	cond   cond
	fields []fieldID // every field of the process and its parent it reads
	memo   bool      // its result depends on those fields alone
}

func newMatcher(c cond) *matcher {
	m := &matcher{cond: c, memo: true}
	m.read(c)
	for _, f := range m.fields {
		if f.is(volatile) {
			m.memo = false
		}
	}
	return m
}

func (m *matcher) use(id fieldID) {
	if !slices.Contains(m.fields, id) {
		m.fields = append(m.fields, id)
	}
}

// read notes the fields c reads.
func (m *matcher) read(c cond) {
	switch c := c.(type) {
	case condSearch:
		for _, tests := range c.s.maps {
			for _, t := range tests {
				m.use(t.field)
				for _, v := range t.values {
					if v.op == opFieldRef {
						m.use(v.ref)
					}
				}
			}
		}
		if len(c.s.keywords) > 0 {
			for id := range numFields {
				if fields[id].flags&keyword != 0 {
					m.use(roleProcess.field(id))
				}
			}
		}
	case condNot:
		m.read(c.c)
	case condAnd:
		for _, x := range c {
			m.read(x)
		}
	case condOr:
		for _, x := range c {
			m.read(x)
		}
	case *condAncestor:
		m.memo = false // it reads the whole ancestry
	}
}

func (m *matcher) match(p *timeline.Process, c *fieldCache) bool { return m.cond.eval(c, p) }

// memoFields returns the fields a rule's result depends on, or false when
// its result cannot be reused for another process with the same fields.
func (m *matcher) memoFields() ([]fieldID, bool) {
	if !m.memo {
		return nil, false
	}
	return m.fields, true
}

// parseCondition parses a Sigma condition over the named searches.
func parseCondition(text string, searches map[string]*search, names []string) (cond, error) {
	p := condParser{toks: tokenize(text), searches: searches, names: names}
	c, err := p.or()
	if err != nil {
		return nil, err
	}
	if p.pos != len(p.toks) {
		return nil, fmt.Errorf("unexpected %q", p.toks[p.pos])
	}
	return c, nil
}

func tokenize(s string) []string {
	var toks []string
	var cur strings.Builder
	flush := func() {
		if cur.Len() > 0 {
			toks = append(toks, cur.String())
			cur.Reset()
		}
	}
	for _, r := range s {
		switch r {
		case '(', ')':
			flush()
			toks = append(toks, string(r))
		case ' ', '\t', '\n':
			flush()
		default:
			cur.WriteRune(r)
		}
	}
	flush()
	return toks
}

type condParser struct {
	toks     []string
	pos      int
	depth    int // of parentheses and nots: bounded, so that no condition can exhaust the stack
	searches map[string]*search
	names    []string
}

// nested parses one more level of nesting, refusing more than maxNesting.
// The compiled condition is no deeper than the text, so evaluating it is
// bounded too.
func (p *condParser) nested(parse func() (cond, error)) (cond, error) {
	if p.depth == maxNesting {
		return nil, fmt.Errorf("condition nested deeper than %d levels", maxNesting)
	}
	p.depth++
	defer func() { p.depth-- }()
	return parse()
}

func (p *condParser) peek() string {
	if p.pos < len(p.toks) {
		return strings.ToLower(p.toks[p.pos])
	}
	return ""
}

func (p *condParser) or() (cond, error)  { return p.chain("or", p.and, or) }
func (p *condParser) and() (cond, error) { return p.chain("and", p.not, and) }

// chain parses operands joined by op.
func (p *condParser) chain(op string, operand func() (cond, error), join func([]cond) cond) (cond, error) {
	c, err := operand()
	if err != nil {
		return nil, err
	}
	out := []cond{c}
	for p.peek() == op {
		p.pos++
		c, err := operand()
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return join(out), nil
}

func (p *condParser) not() (cond, error) {
	if p.peek() == "not" {
		p.pos++
		c, err := p.nested(p.not)
		if err != nil {
			return nil, err
		}
		return condNot{c}, nil
	}
	return p.primary()
}

func (p *condParser) primary() (cond, error) {
	tok := p.peek()
	switch {
	case tok == "":
		return nil, fmt.Errorf("condition ends early")
	case tok == "(":
		p.pos++
		c, err := p.nested(p.or)
		if err != nil {
			return nil, err
		}
		if p.peek() != ")" {
			return nil, fmt.Errorf("missing )")
		}
		p.pos++
		return c, nil
	case tok == "1" || tok == "all" || tok == "any":
		if p.pos+2 >= len(p.toks) {
			return nil, fmt.Errorf("%q of what?", tok)
		}
		if strings.ToLower(p.toks[p.pos+1]) != "of" {
			return nil, fmt.Errorf("expected 'of' after %q", tok)
		}
		pattern := p.toks[p.pos+2]
		p.pos += 3
		var group []cond
		for _, n := range p.names {
			if pattern == "them" && !strings.HasPrefix(n, "_") || pattern != "them" && globMatch(pattern, n) {
				group = append(group, condSearch{p.searches[n]})
			}
		}
		if len(group) == 0 {
			return nil, fmt.Errorf("no search matches %q", pattern)
		}
		if tok == "all" {
			return condAnd(group), nil
		}
		return condOr(group), nil
	}
	name := p.toks[p.pos]
	s, ok := p.searches[name]
	if !ok {
		return nil, fmt.Errorf("unknown search %q", name)
	}
	p.pos++
	return condSearch{s}, nil
}

// globMatch matches search names against patterns like selection_*.
func globMatch(pattern, name string) bool {
	ok, err := filepath.Match(pattern, name)
	return err == nil && ok
}
