package reports

import (
	"bufio"
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/evtxhunt/evtxhunt/detections"
	"github.com/evtxhunt/evtxhunt/parser"
	"github.com/evtxhunt/evtxhunt/timeline"
)

//go:embed report.html.tmpl
var reportTemplate string

var reportTmpl = template.Must(template.New("report").Funcs(template.FuncMap{
	"sevClass": func(s detections.Severity) string { return "sev-" + string(s) },
	"base":     parser.BaseName,
}).Parse(reportTemplate))

// HTMLOptions tune the HTML report.
type HTMLOptions struct {
	// TreeNodes bounds the process tree nodes drawn in full; hosts beyond it
	// show only the branches that lead to findings. 0 means 30,000.
	TreeNodes int
	// Window is how many processes before and after a finding its timeline
	// view shows. 0 means 6.
	Window int
	// MaxErrors bounds the parse errors listed (all are in summary.json).
	// 0 means 500.
	MaxErrors int
}

type htmlReport struct {
	Version, Started, Finished, Zone string
	CommandLine                      string
	Summary                          Summary
	Severities                       []htmlSeverity
	Findings                         []htmlFinding
	Hosts                            []*htmlHost
	Rules                            []htmlRule
	Files                            []*parser.FileStats
	Errors                           []parser.DecodeError
	ErrorsMore                       int
	HostNames, RuleNames             []string
}

type htmlSeverity struct {
	Severity detections.Severity
	Count    int
}

type htmlFinding struct {
	N, Risk, Rank, Hits          int
	Time, Host, RuleID, RuleName string
	Severity                     detections.Severity
	Attack, Image, Parent        string
	CommandLine, User, NextHop   string
	RuleAnchor, NodeID           string
	PID                          uint32
	Chain                        []htmlStep
	Window                       []htmlStep
	Evidence                     []string
}

type htmlStep struct {
	Time, Image, CommandLine, User, Since, Link, Note, Rules string
	PID                                                      uint32
	Placeholder, Hit                                         bool
}

type htmlHost struct {
	Name, Spellings     string
	Processes, Findings int
	Partial             bool
	Roots               []*htmlNode
}

type htmlNode struct {
	ID, Image, Time, User, CommandLine, Link, Rules string
	Severity                                        detections.Severity
	PID                                             uint32
	Hit, OnPath, Placeholder                        bool
	Children                                        []*htmlNode
}

type htmlRule struct {
	Anchor, ID, Name, Description, Origin, Version string
	Severity                                       detections.Severity
	Risk, Fired                                    int
	Attack                                         []detections.Attack
	FalsePositives, Response, References, Sources  []string
}

// WriteHTML writes the self-contained report: one file with its styles and
// script inline, nothing loaded from the network. Everything from the
// evidence goes through html/template's escaping.
func WriteHTML(w io.Writer, c *Case, o HTMLOptions) error {
	if o.TreeNodes <= 0 {
		o.TreeNodes = 30_000
	}
	if o.Window <= 0 {
		o.Window = 6
	}
	if o.MaxErrors <= 0 {
		o.MaxErrors = 500
	}
	r := &htmlReport{Version: c.Version, Started: formatTime(c.Started, c.Zone), Finished: formatTime(c.Finished, c.Zone),
		Zone: c.Zone.String(), CommandLine: strings.Join(c.CommandLine, " "), Summary: c.Summary(), Files: c.Files}
	by := c.FindingsBySeverity()
	for i := len(detections.Severities) - 1; i >= 0; i-- {
		r.Severities = append(r.Severities, htmlSeverity{detections.Severities[i], by[detections.Severities[i]]})
	}
	hits := map[*timeline.Process][]*detections.Finding{}
	for _, f := range c.Findings {
		for _, h := range f.Hits {
			hits[h.Process] = append(hits[h.Process], f)
		}
	}
	ids := map[*timeline.Process]string{}
	r.Hosts = buildTrees(c.Timeline, hits, ids, o.TreeNodes, c)
	r.Findings = buildFindings(c, hits, ids, o.Window)
	for _, f := range r.Findings {
		if !slices.Contains(r.HostNames, f.Host) {
			r.HostNames = append(r.HostNames, f.Host)
		}
		if !slices.Contains(r.RuleNames, f.RuleName) {
			r.RuleNames = append(r.RuleNames, f.RuleName)
		}
	}
	slices.Sort(r.HostNames)
	slices.Sort(r.RuleNames)
	fired := map[*detections.Rule]int{}
	for _, f := range c.Findings {
		fired[f.Rule]++
	}
	for _, rule := range c.Rules {
		r.Rules = append(r.Rules, htmlRule{Anchor: ruleAnchor(rule), ID: rule.ID, Name: rule.Name, Description: rule.Description,
			Origin: rule.Origin, Version: rule.Version, Severity: rule.Severity, Risk: rule.RiskScore, Fired: fired[rule], Attack: rule.Attack,
			FalsePositives: rule.FalsePositives, Response: rule.Response, References: rule.References, Sources: rule.DataSources})
	}
	slices.SortStableFunc(r.Rules, func(a, b htmlRule) int {
		if (a.Fired > 0) != (b.Fired > 0) {
			if a.Fired > 0 {
				return -1
			}
			return 1
		}
		return b.Severity.Rank() - a.Severity.Rank()
	})
	for _, f := range c.Files {
		for _, e := range f.Errors {
			if len(r.Errors) < o.MaxErrors {
				r.Errors = append(r.Errors, e)
			} else {
				r.ErrorsMore++
			}
		}
		r.ErrorsMore += f.ErrorsOmitted
	}
	bw := bufio.NewWriter(w)
	if err := reportTmpl.Execute(bw, r); err != nil {
		return err
	}
	return bw.Flush()
}

func ruleAnchor(r *detections.Rule) string { return "rule-" + anchorSafe(r.ID) }

func anchorSafe(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' {
			return r
		}
		return '_'
	}, s)
}

func buildFindings(c *Case, hits map[*timeline.Process][]*detections.Finding, ids map[*timeline.Process]string, window int) []htmlFinding {
	position := map[*timeline.Process]int{}
	for _, h := range c.Timeline.Hosts {
		for i, p := range h.Processes {
			if hits[p] != nil {
				position[p] = i
			}
		}
	}
	var out []htmlFinding
	for i, f := range c.Findings {
		h := f.Hits[0]
		p := h.Process
		hf := htmlFinding{N: i + 1, Risk: f.Rule.RiskScore, Rank: f.Rule.Severity.Rank(), Hits: len(f.Hits), Time: formatTime(f.Time, c.Zone),
			Host: f.Host, RuleID: f.Rule.ID, RuleName: f.Rule.Name, Severity: f.Rule.Severity, Attack: strings.Join(f.Rule.TechniqueIDs(), ", "),
			Image: p.Image, CommandLine: p.CommandLine, User: p.User, NextHop: strings.Join(f.NextHops(), ", "), RuleAnchor: ruleAnchor(f.Rule),
			NodeID: ids[p], PID: p.PID}
		if p.Parent != nil {
			hf.Parent = p.Parent.Image
		}
		for _, st := range p.Chain() {
			hs := step(st.Process, c)
			if st.SinceParent > 0 {
				hs.Since = "+" + st.SinceParent.String()
			}
			hs.Hit = st.Process == p
			hf.Chain = append(hf.Chain, hs)
		}
		procs := p.Host.Processes
		at := position[p]
		for j := max(0, at-window); j < min(len(procs), at+window+1); j++ {
			hs := step(procs[j], c)
			hs.Hit = procs[j] == p
			hs.Rules = ruleNames(hits[procs[j]])
			hf.Window = append(hf.Window, hs)
		}
		for _, e := range f.Evidence() {
			hf.Evidence = append(hf.Evidence, fmt.Sprintf("%s (%s) record %d, chunk %d, offset 0x%x", e.File, e.Source, e.RecordID, e.Chunk, e.Offset))
		}
		out = append(out, hf)
	}
	return out
}

func step(p *timeline.Process, c *Case) htmlStep {
	s := htmlStep{Image: p.Image, CommandLine: p.CommandLine, User: p.User, PID: p.PID, Placeholder: p.Placeholder, Link: string(p.Link), Note: p.LinkNote}
	if !p.Placeholder {
		s.Time = formatTime(p.Time, c.Zone)
	}
	return s
}

// buildTrees draws each host's process trees. Hosts are drawn in full while
// the node budget lasts; beyond it only the branches leading to findings
// (and the findings' descendants) are drawn, and the host says so.
func buildTrees(tl *timeline.Timeline, hits map[*timeline.Process][]*detections.Finding, ids map[*timeline.Process]string, budget int, c *Case) []*htmlHost {
	onPath := map[*timeline.Process]bool{}
	keep := map[*timeline.Process]bool{}
	for p := range hits {
		keep[p] = true
		for a := p.Parent; a != nil && !onPath[a]; a = a.Parent { // above a marked one, all are
			onPath[a] = true
			keep[a] = true
		}
		for i, d := range p.Descendants() {
			if i == 200 {
				break
			}
			keep[d.Process] = true
		}
	}
	var out []*htmlHost
	n := 0
	for _, h := range tl.Hosts {
		hh := &htmlHost{Name: h.Name, Spellings: strings.Join(h.Spellings, ", "), Processes: len(h.Processes)}
		for p := range hits {
			if p.Host == h {
				hh.Findings++
			}
		}
		full := n+len(h.Processes)+len(h.Placeholders) <= budget
		hh.Partial = !full
		var draw func(p *timeline.Process, depth int) *htmlNode
		draw = func(p *timeline.Process, depth int) *htmlNode {
			n++
			node := &htmlNode{ID: "p" + strconv.Itoa(n), Image: parser.BaseName(p.Image), User: p.User, CommandLine: p.CommandLine, PID: p.PID,
				Hit: hits[p] != nil, OnPath: onPath[p], Placeholder: p.Placeholder, Rules: ruleNames(hits[p])}
			if p.Image == "" {
				node.Image = "(image unknown)"
			}
			if !p.Placeholder {
				node.Time = formatTime(p.Time, c.Zone)
			}
			if p.Link == timeline.LinkAmbiguous {
				node.Link = p.LinkNote
			}
			for _, f := range hits[p] {
				if f.Rule.Severity.Rank() > node.Severity.Rank() {
					node.Severity = f.Rule.Severity
				}
			}
			ids[p] = node.ID
			if depth < 200 {
				for _, child := range p.Children {
					if full || keep[child] {
						node.Children = append(node.Children, draw(child, depth+1))
					}
				}
			}
			return node
		}
		for _, root := range h.Roots() {
			if full || keep[root] {
				hh.Roots = append(hh.Roots, draw(root, 0))
			}
		}
		out = append(out, hh)
	}
	return out
}
