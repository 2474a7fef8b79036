package reports

import (
	_ "embed"
	"errors"
	"fmt"
	"html/template"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/evtxhunt/evtxhunt/detections"
	"github.com/evtxhunt/evtxhunt/internal/termsafe"
	"github.com/evtxhunt/evtxhunt/parser"
	"github.com/evtxhunt/evtxhunt/parser/evidence"
	"github.com/evtxhunt/evtxhunt/parser/winpath"
	"github.com/evtxhunt/evtxhunt/timeline"
)

//go:embed report.html.tmpl
var reportTemplate string

var reportTmpl = template.Must(template.New("report").Funcs(template.FuncMap{
	"sevClass": func(s detections.Severity) string { return "sev-" + string(s) },
	"base":     winpath.Base,
}).Parse(reportTemplate))

// HTMLOptions tune the HTML report.
type HTMLOptions struct {
	// TreeNodes bounds the process tree nodes drawn; hosts beyond it show
	// only the branches that lead to findings. 0 means 30,000.
	TreeNodes int
	// Window is how many processes before and after a finding its timeline
	// view shows. 0 means 6.
	Window int
	// MaxErrors bounds the parse errors listed (all are in summary.json).
	// 0 means 500.
	MaxErrors int
	// MaxBytes bounds the report's size, so that a browser opens it whatever
	// the evidence: a report that would be larger is drawn again with fewer
	// rows and shorter values, until it fits, and says what it left out.
	// 0 means 24,000,000.
	MaxBytes int
}

// htmlLimits bound what the report draws.
type htmlLimits struct {
	findings    int // finding rows, the most severe first
	examples    int // hits of a finding listed besides the first
	hitsMarked  int // hits of a finding marked in the trees
	chain       int // steps of a finding's chain, nearest the hit
	window      int // processes either side of a finding, in its timeline view
	evidence    int // records listed per finding
	treeNodes   int // nodes of all trees
	descendants int // below each hit, on hosts not drawn in full
	hosts       int // hosts in the summary table and the trees
	rules       int
	files       int // evidence files and unreadable paths
	errors      int
	text        int // characters of one value
}

func newHTMLLimits(o HTMLOptions) htmlLimits {
	l := htmlLimits{findings: 2_000, examples: 5, hitsMarked: 5, chain: 24, window: o.Window, evidence: 20, treeNodes: o.TreeNodes, descendants: 200,
		hosts: 2_000, rules: 5_000, files: 5_000, errors: o.MaxErrors, text: 2_000}
	if l.window <= 0 {
		l.window = 6
	}
	if l.treeNodes <= 0 {
		l.treeNodes = 30_000
	}
	if l.errors <= 0 {
		l.errors = 500
	}
	return l
}

// shrink lowers every bound by a quarter.
func (l htmlLimits) shrink() htmlLimits {
	less := func(n, least int) int { return max(n*3/4, least) }
	return htmlLimits{findings: less(l.findings, 1), examples: less(l.examples, 0), hitsMarked: less(l.hitsMarked, 1), chain: less(l.chain, 2), window: less(l.window, 0),
		evidence: less(l.evidence, 1), treeNodes: less(l.treeNodes, 1), descendants: less(l.descendants, 0), hosts: less(l.hosts, 1),
		rules: less(l.rules, 1), files: less(l.files, 1), errors: less(l.errors, 1), text: less(l.text, 40)}
}

// cut makes a value from the evidence or a rule fit for the report:
// control characters visible (termsafe), and its first l.text characters
// shown, then a marker that says where the whole value is.
func (l htmlLimits) cut(s string) string {
	head, rest := termsafe.Head(s, l.text, termsafe.Runes) // only those can be shown: escape no more
	head, more := termsafe.Head(termsafe.String(head), l.text, termsafe.Runes)
	if rest += more; rest == 0 {
		return head
	}
	return head + fmt.Sprintf(" … [%d more characters: the whole value is in the JSON files]", rest)
}

func (l htmlLimits) cutAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = l.cut(s)
	}
	return out
}

type htmlReport struct {
	Version, Started, Finished, Zone string
	CommandLine                      string
	Summary                          Summary
	Shortened                        bool // drawn again with smaller bounds to fit
	Severities                       []htmlSeverity
	HostRows                         []summaryHost
	HostRowsOmitted                  int
	ByRule                           []ruleCount
	ByRuleOmitted                    int
	Findings                         []htmlFinding
	FindingsOmitted                  int
	Hosts                            []*htmlHost
	HostsOmitted                     int
	BranchesOmitted                  int
	Rules                            []htmlRule
	RulesOmitted                     int
	Files                            []htmlFile
	FilesOmitted                     int
	Errors                           []htmlError
	ErrorsMore                       int
	NotRead                          []evidence.NotRead
	NotReadOmitted                   int
	HostNames, RuleNames             []string
}

type htmlSeverity struct {
	Severity detections.Severity
	Count    int
}

type htmlFinding struct {
	N, Risk, Rank, Hits        int
	Time, Last, Host           string
	RuleID, RuleName           string
	Severity                   detections.Severity
	Attack, Image, Parent      string
	CommandLine, User, NextHop string
	RuleAnchor, NodeID         string
	PID                        uint32
	Chain                      []htmlStep
	AncestorsNotShown          int // above the chain's first step
	Window                     []htmlStep
	Examples                   []htmlStep // more hits of the finding
	Evidence                   []string
	EvidenceMore               bool // more records than listed: all are in detections.jsonl
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

type htmlFile struct {
	Path, SHA256          string
	Size                  int64
	Seen, Decoded, Failed uint64
	ErrorCount            int
}

type htmlError struct {
	File, Kind, Reason string
	Repeated           string // and how many more like it, last where
	Offset             int64
	Chunk              int
	RecordID           uint64
}

// errTooLarge stops drawing a report that passed its size bound.
var errTooLarge = errors.New("report larger than its bound")

// boundedBuffer collects the report, refusing to grow past limit.
type boundedBuffer struct {
	b     []byte
	limit int
}

func (w *boundedBuffer) Write(p []byte) (int, error) {
	if len(w.b)+len(p) > w.limit {
		return 0, errTooLarge
	}
	w.b = append(w.b, p...)
	return len(p), nil
}

// WriteHTML writes the self-contained report: one file with its styles and
// script inline, nothing loaded from the network, no larger than
// o.MaxBytes. Everything from the evidence goes through html/template's
// escaping, with its control characters made visible.
func WriteHTML(w io.Writer, c *Case, o HTMLOptions) error { return writeHTML(w, c, c.view(), o) }

func writeHTML(w io.Writer, c *Case, v *caseView, o HTMLOptions) error {
	if o.MaxBytes <= 0 {
		o.MaxBytes = 24_000_000
	}
	l := newHTMLLimits(o)
	for attempt := 0; ; attempt++ {
		r := buildHTMLReport(c, v, l)
		r.Shortened = attempt > 0
		buf := &boundedBuffer{limit: o.MaxBytes}
		err := reportTmpl.Execute(buf, r)
		if err == nil {
			_, err = w.Write(buf.b)
			return err
		}
		if !errors.Is(err, errTooLarge) || attempt == 100 {
			return err
		}
		l = l.shrink()
	}
}

func buildHTMLReport(c *Case, v *caseView, l htmlLimits) *htmlReport {
	s := v.summary
	r := &htmlReport{Version: l.cut(c.Version), Started: formatTime(c.Started, c.Zone), Finished: formatTime(c.Finished, c.Zone),
		Zone: c.Zone.String(), CommandLine: l.cut(strings.Join(c.CommandLine, " ")), Summary: s}
	for i := len(detections.Severities) - 1; i >= 0; i-- {
		r.Severities = append(r.Severities, htmlSeverity{detections.Severities[i], s.Findings.BySeverity[detections.Severities[i]]})
	}
	for i, h := range s.Hosts {
		if i == l.hosts {
			r.HostRowsOmitted = len(s.Hosts) - i
			break
		}
		h.Name, h.Spellings = l.cut(h.Name), l.cutAll(h.Spellings)
		r.HostRows = append(r.HostRows, h)
	}
	for i, rc := range s.Findings.ByRule {
		if i == l.rules {
			r.ByRuleOmitted = len(s.Findings.ByRule) - i
			break
		}
		rc.RuleID, rc.RuleName = l.cut(rc.RuleID), l.cut(rc.RuleName)
		r.ByRule = append(r.ByRule, rc)
	}
	shown := shownFindings(c.Findings, l.findings)
	r.FindingsOmitted = len(c.Findings) - len(shown)
	ids := map[*timeline.Process]string{}
	r.Hosts, r.HostsOmitted, r.BranchesOmitted = buildTrees(c, shown, v.findingsOf, ids, l)
	r.Findings = buildFindings(c, shown, v.findingsOf, ids, l)
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
	r.Rules, r.RulesOmitted = buildRules(v, l)
	for _, f := range c.Files {
		if len(r.Files) == l.files {
			r.FilesOmitted++
		} else {
			r.Files = append(r.Files, htmlFile{Path: l.cut(f.Path), SHA256: sha256OrWhy(f), Size: f.Size,
				Seen: f.Records.Seen, Decoded: f.Records.Decoded, Failed: f.Records.Failed, ErrorCount: f.ErrorCount})
		}
		for _, e := range f.Errors {
			if len(r.Errors) < l.errors {
				r.Errors = append(r.Errors, htmlError{File: l.cut(e.File), Kind: string(e.Kind), Reason: l.cut(e.Reason), Repeated: e.Repeated(),
					Offset: e.Offset, Chunk: e.Chunk, RecordID: e.RecordID})
			} else {
				r.ErrorsMore++
			}
		}
		r.ErrorsMore += f.ErrorsOmitted
	}
	for i, n := range c.NotRead {
		if i == l.files {
			r.NotReadOmitted = len(c.NotRead) - i
			break
		}
		r.NotRead = append(r.NotRead, evidence.NotRead{Path: l.cut(n.Path), Reason: l.cut(n.Reason)})
	}
	return r
}

// shownFindings picks the findings the report draws: all when they are
// few, otherwise the n most severe (then riskiest, then earliest), in
// their order in the case.
func shownFindings(findings []*detections.Finding, n int) []int {
	idx := make([]int, len(findings))
	for i := range idx {
		idx[i] = i
	}
	if len(idx) <= n {
		return idx
	}
	slices.SortStableFunc(idx, func(a, b int) int {
		fa, fb := findings[a], findings[b]
		if d := fb.Rule.Severity.Rank() - fa.Rule.Severity.Rank(); d != 0 {
			return d
		}
		return fb.Rule.RiskScore - fa.Rule.RiskScore
	})
	idx = idx[:n]
	slices.Sort(idx)
	return idx
}

func buildRules(v *caseView, l htmlLimits) ([]htmlRule, int) {
	omitted := max(0, len(v.rules)-l.rules)
	var out []htmlRule
	for _, rule := range v.rules[:len(v.rules)-omitted] {
		hr := htmlRule{Anchor: ruleAnchor(rule), ID: l.cut(rule.ID), Name: l.cut(rule.Name), Description: l.cut(rule.Description),
			Origin: l.cut(rule.Origin), Version: l.cut(rule.Version), Severity: rule.Severity, Risk: rule.RiskScore, Fired: v.fired[rule],
			FalsePositives: l.cutAll(rule.FalsePositives), Response: l.cutAll(rule.Response), References: l.cutAll(rule.References),
			Sources: l.cutAll(rule.DataSources)}
		for _, a := range rule.Attack {
			hr.Attack = append(hr.Attack, detections.Attack{Tactic: l.cut(a.Tactic), TacticName: l.cut(a.TacticName), Technique: l.cut(a.Technique),
				TechniqueName: l.cut(a.TechniqueName)})
		}
		out = append(out, hr)
	}
	return out, omitted
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

func buildFindings(c *Case, shown []int, hits map[*timeline.Process][]*detections.Finding, ids map[*timeline.Process]string, l htmlLimits) []htmlFinding {
	position := map[*timeline.Process]int{}
	for _, i := range shown {
		position[c.Findings[i].Hits[0].Process] = -1
	}
	for _, h := range c.Timeline.Hosts {
		for i, p := range h.Processes {
			if _, ok := position[p]; ok {
				position[p] = i
			}
		}
	}
	var out []htmlFinding
	for _, i := range shown {
		f := c.Findings[i]
		p := f.Hits[0].Process
		hops := f.NextHops()
		hopText := strings.Join(hops[:min(len(hops), 10)], ", ")
		if len(hops) > 10 {
			hopText += fmt.Sprintf(" and %d more", len(hops)-10)
		}
		hf := htmlFinding{N: i + 1, Risk: f.Rule.RiskScore, Rank: f.Rule.Severity.Rank(), Hits: len(f.Hits), Time: formatTime(f.Time, c.Zone),
			Last: formatTime(f.Last(), c.Zone), Host: l.cut(f.Host), RuleID: l.cut(f.Rule.ID), RuleName: l.cut(f.Rule.Name), Severity: f.Rule.Severity,
			Attack: l.cut(strings.Join(f.Rule.TechniqueIDs(), ", ")), Image: l.cut(p.Image), CommandLine: l.cut(p.CommandLine), User: l.cut(p.User),
			NextHop: l.cut(hopText), RuleAnchor: ruleAnchor(f.Rule), NodeID: ids[p], PID: p.PID}
		hf.Parent = l.cut(p.ResolvedParentImage())
		var chain []timeline.Step
		hf.AncestorsNotShown, chain = chainSteps(p, l.chain)
		for _, st := range chain {
			hs := step(st.Process, c, l)
			if st.SinceParent > 0 {
				hs.Since = "+" + st.SinceParent.String()
			}
			hs.Hit = st.Process == p
			hf.Chain = append(hf.Chain, hs)
		}
		procs := p.Host.Processes
		at := position[p]
		for j := max(0, at-l.window); at >= 0 && j < min(len(procs), at+l.window+1); j++ {
			hs := step(procs[j], c, l)
			hs.Hit = procs[j] == p
			hs.Rules = l.cut(ruleNames(hits[procs[j]]))
			hf.Window = append(hf.Window, hs)
		}
		for _, h := range f.Hits[1:min(len(f.Hits), l.examples+1)] {
			hf.Examples = append(hf.Examples, step(h.Process, c, l))
		}
		ev := f.Evidence(l.evidence)
		if len(ev) > l.evidence || len(f.Hits) > l.evidence {
			ev, hf.EvidenceMore = ev[:min(len(ev), l.evidence)], true
		}
		for _, e := range ev {
			hf.Evidence = append(hf.Evidence, l.cut(fmt.Sprintf("%s (%s) record %d, chunk %d, offset 0x%x", e.File, e.Source, e.RecordID, e.Chunk, e.Offset)))
		}
		out = append(out, hf)
	}
	return out
}

func step(p *timeline.Process, c *Case, l htmlLimits) htmlStep {
	s := htmlStep{Image: l.cut(p.Image), CommandLine: l.cut(p.CommandLine), User: l.cut(p.User), PID: p.PID, Placeholder: p.Placeholder,
		Link: string(p.Link), Note: l.cut(p.LinkNote)}
	if !p.Placeholder {
		s.Time = formatTime(p.Time, c.Zone)
	}
	return s
}

// buildTrees draws each host's process trees. Hosts are drawn in full while
// the node budget lasts; beyond it only the branches leading to the drawn
// findings' first hits (and some of their descendants) are drawn, and the
// host says so. Hosts with findings come first when not all hosts fit.
func buildTrees(c *Case, shown []int, hits map[*timeline.Process][]*detections.Finding, ids map[*timeline.Process]string,
	l htmlLimits) (out []*htmlHost, hostsOmitted, branchesOmitted int) {
	onPath := map[*timeline.Process]bool{}
	keep := map[*timeline.Process]bool{}
	withFindings := map[*timeline.Host]int{}
	for p := range hits {
		withFindings[p.Host]++
	}
	for _, i := range shown {
		for _, h := range c.Findings[i].Hits[:min(len(c.Findings[i].Hits), l.hitsMarked)] {
			p := h.Process
			keep[p] = true
			for a := p.Parent; a != nil && !onPath[a]; a = a.Parent { // above a marked one, all are
				onPath[a] = true
				keep[a] = true
			}
			for _, d := range descendants(p, l.descendants) {
				keep[d] = true
			}
		}
	}
	hosts := slices.Clone(c.Timeline.Hosts)
	if len(hosts) > l.hosts {
		slices.SortStableFunc(hosts, func(a, b *timeline.Host) int {
			return min(withFindings[b], 1) - min(withFindings[a], 1)
		})
		hostsOmitted = len(hosts) - l.hosts
		hosts = hosts[:l.hosts]
		slices.SortStableFunc(hosts, func(a, b *timeline.Host) int { return strings.Compare(a.Name, b.Name) })
	}
	n := 0
	for _, h := range hosts {
		hh := &htmlHost{Name: l.cut(h.Name), Spellings: l.cut(strings.Join(h.Spellings, ", ")), Processes: len(h.Processes), Findings: withFindings[h]}
		full := n+len(h.Processes)+len(h.Placeholders) <= l.treeNodes
		hh.Partial = !full
		var draw func(p *timeline.Process, depth int) *htmlNode
		draw = func(p *timeline.Process, depth int) *htmlNode {
			n++
			node := &htmlNode{ID: "p" + strconv.Itoa(n), Image: l.cut(winpath.Base(p.Image)), User: l.cut(p.User), CommandLine: l.cut(p.CommandLine),
				PID: p.PID, Hit: hits[p] != nil, OnPath: onPath[p], Placeholder: p.Placeholder, Rules: l.cut(ruleNames(hits[p]))}
			if p.Image == "" {
				node.Image = "(image unknown)"
			}
			if !p.Placeholder {
				node.Time = formatTime(p.Time, c.Zone)
			}
			if p.Link == timeline.LinkAmbiguous {
				node.Link = l.cut(p.LinkNote)
			}
			for _, f := range hits[p] {
				if f.Rule.Severity.Rank() > node.Severity.Rank() {
					node.Severity = f.Rule.Severity
				}
			}
			ids[p] = node.ID
			if depth < 200 {
				for _, child := range p.Children {
					if !full && !keep[child] {
						continue
					}
					if n >= l.treeNodes && !full {
						branchesOmitted++
						continue
					}
					node.Children = append(node.Children, draw(child, depth+1))
				}
			}
			return node
		}
		for _, root := range h.Roots() {
			if !full && !keep[root] {
				continue
			}
			if n >= l.treeNodes && !full {
				branchesOmitted++
				continue
			}
			hh.Roots = append(hh.Roots, draw(root, 0))
		}
		out = append(out, hh)
	}
	return out, hostsOmitted, branchesOmitted
}

// descendants lists up to n processes below p, depth first, children in
// time order: timeline's Descendants, without walking what is not listed.
func descendants(p *timeline.Process, n int) []*timeline.Process {
	var out []*timeline.Process
	stack := []*timeline.Process{p}
	for len(stack) > 0 && len(out) < n {
		q := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if q != p {
			out = append(out, q)
		}
		for i := len(q.Children) - 1; i >= 0; i-- {
			stack = append(stack, q.Children[i])
		}
	}
	return out
}

// sha256OrWhy is a file's SHA-256, or why there is none.
func sha256OrWhy(f *parser.FileStats) string {
	if f.SHA256 != "" {
		return f.SHA256
	}
	return "none: " + f.SHA256Omitted
}
