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

// Finding is what a rule raised: one hit, or for rules grouped by host every
// hit on that host.
type Finding struct {
	Rule *Rule
	Host string
	Time time.Time // of the first hit
	Hits []Hit
}

// Evidence lists the records behind the finding: each hit's process and its
// parent, in order and without repeats.
func (f *Finding) Evidence() []timeline.Evidence {
	var out []timeline.Evidence
	add := func(p *timeline.Process) {
		if p == nil {
			return
		}
		for _, e := range p.Evidence {
			if !slices.Contains(out, e) {
				out = append(out, e)
			}
		}
	}
	for _, h := range f.Hits {
		add(h.Process.Parent)
		add(h.Process)
	}
	return out
}

// NextHops lists the distinct next hops of the hits.
func (f *Finding) NextHops() []string {
	var out []string
	for _, h := range f.Hits {
		if h.NextHop != "" && !slices.Contains(out, h.NextHop) {
			out = append(out, h.NextHop)
		}
	}
	return out
}

// Engine runs rules over timelines.
type Engine struct {
	rules []*Rule
}

// NewEngine returns an engine for the given rules.
func NewEngine(rules []*Rule) *Engine { return &Engine{rules: rules} }

// Rules lists the engine's rules.
func (e *Engine) Rules() []*Rule { return e.rules }

// Run matches every rule against every logged process and returns the
// findings ordered by time, rule and host.
func (e *Engine) Run(tl *timeline.Timeline) []*Finding {
	var findings []*Finding
	for _, h := range tl.Hosts {
		grouped := map[*Rule]*Finding{}
		for _, p := range h.Processes {
			for _, r := range e.rules {
				if !r.matcher.match(p) {
					continue
				}
				hit := Hit{Process: p, NextHop: r.nextHop(p)}
				if r.GroupBy == "host" {
					if f := grouped[r]; f != nil {
						f.Hits = append(f.Hits, hit)
						continue
					}
				}
				f := &Finding{Rule: r, Host: h.Name, Time: p.Time, Hits: []Hit{hit}}
				if r.GroupBy == "host" {
					grouped[r] = f
				}
				findings = append(findings, f)
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
		hit := r.matcher.match(p)
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
