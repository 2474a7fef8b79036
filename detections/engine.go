package detections

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/evtxhunt/evtxhunt/parser"
	"github.com/evtxhunt/evtxhunt/timeline"
)

// Hit is one process a rule matched.
type Hit struct {
	Process *timeline.Process
	NextHop string // the machine the command line moves to, when the rule reads one
}

// Finding is what a rule raised on one host: for rules grouped by host every
// hit on that host, otherwise every hit running the same thing (the same
// image, parent and command line shape: see aggregateKey), in time order.
type Finding struct {
	Rule *Rule
	Host string
	Time time.Time // of the first hit
	Hits []Hit
}

// Evidence lists the records behind the finding's first n hits (all of
// them when n < 0): each hit's process and its parent, in order and without
// repeats.
func (f *Finding) Evidence(n int) []timeline.Evidence {
	hits := f.Hits
	if n >= 0 && n < len(hits) {
		hits = hits[:n]
	}
	var out []timeline.Evidence
	seen := map[timeline.Evidence]bool{}
	add := func(p *timeline.Process) {
		if p == nil {
			return
		}
		for _, e := range p.Evidence {
			if !seen[e] {
				seen[e] = true
				out = append(out, e)
			}
		}
	}
	for _, h := range hits {
		add(h.Process.Parent)
		add(h.Process)
	}
	return out
}

// NextHops lists the distinct next hops of the hits.
func (f *Finding) NextHops() []string {
	var out []string
	seen := map[string]bool{}
	for _, h := range f.Hits {
		if h.NextHop != "" && !seen[h.NextHop] {
			seen[h.NextHop] = true
			out = append(out, h.NextHop)
		}
	}
	return out
}

// Engine runs rules over timelines.
type Engine struct {
	rules []*Rule
	// Rules that can match only some image names are indexed by those
	// names (lower case); the others are tried on every process.
	byImage map[string][]int
	always  []int
	// Rules that need one of some strings in the command line are found by
	// searching the lowered command line for all those strings at once.
	commands substringIndex
	// Rules whose result depends only on fields that repeat across
	// processes (image, command line, parent...) are memoized: processes
	// that run exactly the same thing share one evaluation.
	memo       []bool
	memoFields []fieldID
}

// NewEngine returns an engine for the given rules.
func NewEngine(rules []*Rule) *Engine {
	e := &Engine{rules: rules, byImage: map[string][]int{}, memo: make([]bool, len(rules))}
	for i, r := range rules {
		if fields, ok := r.matcher.memoFields(); ok {
			e.memo[i] = true
			for _, f := range fields {
				if !slices.Contains(e.memoFields, f) {
					e.memoFields = append(e.memoFields, f)
				}
			}
		}
		if keys, ok := r.matcher.imageKeys(); ok {
			for _, k := range keys {
				if !slices.Contains(e.byImage[k], i) {
					e.byImage[k] = append(e.byImage[k], i)
				}
			}
			continue
		}
		if keys, ok := r.matcher.commandKeys(); ok {
			e.commands.add(keys, i)
			continue
		}
		e.always = append(e.always, i)
	}
	return e
}

// maxMemo bounds the memo of rule results.
const maxMemo = 200_000

// memoKey is the presence and value of every memoized field of p,
// NUL-separated.
func (e *Engine) memoKey(c *fieldCache, p *timeline.Process, key []byte) []byte {
	for _, id := range e.memoFields {
		f := c.get(p, id)
		key = append(key, byte(f.state))
		key = append(key, f.raw...)
		key = append(key, 0)
	}
	return key
}

// candidates lists, in rule order, the rules worth trying on p, into buf.
func (e *Engine) candidates(c *fieldCache, p *timeline.Process, buf []int, name []byte) ([]int, []byte) {
	buf = append(buf[:0], e.always...)
	if len(e.byImage) > 0 {
		name = imageName(name[:0], p.Image)
		buf = append(buf, e.byImage[string(name)]...)
		if p.OriginalFileName != "" {
			name = lowerInto(name[:0], p.OriginalFileName)
			buf = append(buf, e.byImage[string(name)]...)
		}
	}
	if len(e.commands.rules) > 0 {
		buf = e.commands.find(c.get(p, commandField).text(formLower), buf)
	}
	slices.Sort(buf)
	return slices.Compact(buf), name
}

// Rules lists the engine's rules.
func (e *Engine) Rules() []*Rule { return e.rules }

// Run matches every rule against every logged process and returns the
// findings ordered by time, rule and host.
func (e *Engine) Run(tl *timeline.Timeline) []*Finding {
	var findings []*Finding
	cache := newFieldCache()
	var cand []int
	var name, key, agg []byte
	memo := map[string][]int32{} // memo key -> memoized rules that matched
	for _, h := range tl.Hosts {
		grouped := map[*Rule]*Finding{}
		aggregated := map[*Rule]map[string]*Finding{}
		for _, p := range h.Processes {
			cand, name = e.candidates(cache, p, cand, name)
			key = e.memoKey(cache, p, key[:0])
			known, seen := memo[string(key)]
			var matched []int32
			for _, i := range cand {
				r := e.rules[i]
				var matches bool
				if e.memo[i] && seen {
					_, matches = slices.BinarySearch(known, int32(i))
				} else {
					matches = r.matcher.match(p, cache)
					if matches && e.memo[i] {
						matched = append(matched, int32(i))
					}
				}
				if !matches {
					continue
				}
				hit := Hit{Process: p, NextHop: r.nextHop(p)}
				if r.GroupBy == "host" {
					if f := grouped[r]; f != nil {
						f.Hits = append(f.Hits, hit)
						continue
					}
				} else {
					agg = aggregateKey(agg[:0], p)
					if f := aggregated[r][string(agg)]; f != nil {
						f.Hits = append(f.Hits, hit)
						continue
					}
				}
				f := &Finding{Rule: r, Host: h.Name, Time: p.Time, Hits: []Hit{hit}}
				if r.GroupBy == "host" {
					grouped[r] = f
				} else {
					if aggregated[r] == nil {
						aggregated[r] = map[string]*Finding{}
					}
					aggregated[r][string(agg)] = f
				}
				findings = append(findings, f)
			}
			if !seen {
				if len(memo) > maxMemo {
					clear(memo)
				}
				memo[string(key)] = matched
			}
		}
	}
	slices.SortStableFunc(findings, func(a, b *Finding) int {
		return cmp.Or(a.Time.Compare(b.Time), cmp.Compare(a.Rule.ID, b.Rule.ID), cmp.Compare(a.Host, b.Host))
	})
	return findings
}

// nextHop reads the target machine from a hit's command line.
func (r *Rule) nextHop(p *timeline.Process) string {
	if r.NextHop == nil || r.NextHop.re == nil {
		return ""
	}
	m := r.NextHop.re.FindStringSubmatch(p.CommandLine)
	if m == nil {
		return ""
	}
	return strings.Trim(m[1], `"' `)
}

// RuleTest is a test that a rule file carries: a process, its parent and
// ancestors, and whether the rule must match.
type RuleTest struct {
	Name      string        `yaml:"name"`
	Expect    string        `yaml:"expect"` // match or no-match
	NextHop   string        `yaml:"next_hop"`
	Process   TestProcess   `yaml:"process"`
	Parent    *TestProcess  `yaml:"parent"`
	Ancestors []TestProcess `yaml:"ancestors"` // above the parent, nearest first
}

// TestProcess describes a process of a rule test.
type TestProcess struct {
	Image            string `yaml:"image"`
	CommandLine      string `yaml:"command_line"`
	User             string `yaml:"user"`
	IntegrityLevel   string `yaml:"integrity_level"`
	OriginalFileName string `yaml:"original_file_name"`
	Description      string `yaml:"description"`
	CurrentDirectory string `yaml:"current_directory"`
}

// RunTests runs the rule's own tests and says what failed. A rule without a
// positive and a negative test fails too.
func RunTests(r *Rule) []error {
	var errs []error
	var pos, neg int
	for i, tc := range r.Tests {
		name := tc.Name
		if name == "" {
			name = fmt.Sprintf("test %d", i+1)
		}
		want := tc.Expect == "match"
		switch tc.Expect {
		case "match":
			pos++
		case "no-match":
			neg++
		default:
			errs = append(errs, fmt.Errorf("%s: %s: expect must be match or no-match, not %q", r.File, name, tc.Expect))
			continue
		}
		p := tc.timeline()
		hit := r.matcher.match(p, newFieldCache())
		if hit != want {
			errs = append(errs, fmt.Errorf("%s: %s: rule %s matched = %v, want %v", r.File, name, r.ID, hit, want))
			continue
		}
		if hop := r.nextHop(p); hit && tc.NextHop != "" && hop != tc.NextHop {
			errs = append(errs, fmt.Errorf("%s: %s: next hop %q, want %q", r.File, name, hop, tc.NextHop))
		}
	}
	if pos == 0 || neg == 0 {
		errs = append(errs, fmt.Errorf("%s: rule %s needs at least one test that must match and one that must not (has %d and %d)", r.File, r.ID, pos, neg))
	}
	return errs
}

// timeline builds the test's process chain as a real timeline, so that the
// rule sees the links exactly as in a scan.
func (tc *RuleTest) timeline() *timeline.Process {
	chain := make([]TestProcess, 0, len(tc.Ancestors)+2)
	for i := len(tc.Ancestors) - 1; i >= 0; i-- {
		chain = append(chain, tc.Ancestors[i])
	}
	if tc.Parent != nil {
		chain = append(chain, *tc.Parent)
	}
	chain = append(chain, tc.Process)
	b := timeline.NewBuilder(timeline.Options{})
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	for i, tp := range chain {
		ev := parser.ProcessEvent{Host: "TEST", Time: t0.Add(time.Duration(i) * time.Second), Source: parser.SourceSysmon1,
			RecordID: uint64(i + 1), PID: uint32(1000 + 4*i), PPID: uint32(1000 + 4*(i-1)), Image: tp.Image, CommandLine: tp.CommandLine,
			User: tp.User, IntegrityLevel: tp.IntegrityLevel, OriginalFileName: tp.OriginalFileName, Description: tp.Description,
			CurrentDirectory: tp.CurrentDirectory, ProcessGUID: fmt.Sprintf("T-%d", i)}
		if i > 0 {
			ev.ParentProcessGUID, ev.ParentImage = fmt.Sprintf("T-%d", i-1), chain[i-1].Image
		}
		b.Add(&ev)
	}
	procs := b.Build().Hosts[0].Processes
	return procs[len(procs)-1]
}
