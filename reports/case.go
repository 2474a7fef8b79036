package reports

import (
	"bufio"
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/evtxhunt/evtxhunt/detections"
	"github.com/evtxhunt/evtxhunt/internal/termsafe"
	"github.com/evtxhunt/evtxhunt/parser"
	"github.com/evtxhunt/evtxhunt/parser/evidence"
	"github.com/evtxhunt/evtxhunt/timeline"
)

// Case is everything one analysis produced: what was read, how well, and
// what was found. Its writers fill the case folder.
type Case struct {
	Version     string
	CommandLine []string
	Started     time.Time
	Finished    time.Time
	Zone        *time.Location // how times are shown; stored times are UTC
	Files       []*parser.FileStats
	NotRead     []evidence.NotRead // paths met and not read, with the reason
	Timeline    *timeline.Timeline
	Rules       []*detections.Rule
	// Rule files offered that were not loaded, with the reason, and Sigma
	// rules for other logs.
	RulesNotLoaded     []detections.NotLoaded
	RulesNotApplicable []string
	Findings           []*detections.Finding // after the filters below
	Filter             timeline.Filter
	MinSeverity        detections.Severity
	MergedFrom         []string   // case folders combined by evtxhunt merge
	Output             []CaseFile // the case folder's files, as they were written
}

// Processes are the timeline's processes that pass the case's filter.
func (c *Case) Processes() []*timeline.Process { return c.Timeline.Select(c.Filter) }

// caseView is what the writers of a case share, made once however many
// formats are written: the summary (all but its list of case files, known
// only when summary.json is written, last), the processes that pass the
// filter, the findings each process is a hit of, and the rules in the order
// the reports list them.
type caseView struct {
	summary    Summary
	processes  []*timeline.Process
	findingsOf map[*timeline.Process][]*detections.Finding // in case order
	fired      map[*detections.Rule]int                    // findings per rule
	rules      []*detections.Rule                          // those that fired first, each group the most severe first
}

func (c *Case) view() *caseView {
	v := &caseView{processes: c.Processes(), findingsOf: map[*timeline.Process][]*detections.Finding{}, fired: map[*detections.Rule]int{}}
	for _, f := range c.Findings {
		v.fired[f.Rule]++
		for _, h := range f.Hits {
			v.findingsOf[h.Process] = append(v.findingsOf[h.Process], f)
		}
	}
	v.rules = slices.Clone(c.Rules)
	slices.SortStableFunc(v.rules, func(a, b *detections.Rule) int {
		return cmp.Or(-cmp.Compare(min(v.fired[a], 1), min(v.fired[b], 1)), b.Severity.Rank()-a.Severity.Rank())
	})
	v.summary = c.summary(v)
	return v
}

// FindingsBySeverity counts findings per severity, every severity listed.
func (c *Case) FindingsBySeverity() map[detections.Severity]int {
	out := map[detections.Severity]int{}
	for _, s := range detections.Severities {
		out[s] = 0
	}
	for _, f := range c.Findings {
		out[f.Rule.Severity]++
	}
	return out
}

// Summary is summary.json.
type Summary struct {
	Tool            string             `json:"tool"`
	Version         string             `json:"version"`
	CommandLine     []string           `json:"command_line"`
	Started         string             `json:"started"`
	Finished        string             `json:"finished"`
	DisplayTimeZone string             `json:"display_time_zone"`
	MergedFrom      []string           `json:"merged_from,omitempty"`
	Filters         summaryFilters     `json:"filters"`
	Evidence        summaryEvidence    `json:"evidence"`
	Parse           summaryParse       `json:"parse"`
	Census          []parser.CensusRow `json:"census"`
	Hosts           []summaryHost      `json:"hosts"`
	Timeline        summaryTimeline    `json:"timeline"`
	Rules           summaryRules       `json:"rules"`
	Findings        summaryFindings    `json:"findings"`
	CaseFiles       summaryCaseFiles   `json:"case_files"`
}

// summaryCaseFiles lists the files of the case folder: summary.json is
// written last, so it can tell which others are there.
type summaryCaseFiles struct {
	Written []string   `json:"written"`
	Failed  []CaseFile `json:"failed"`
}

type summaryRules struct {
	Loaded        int                    `json:"loaded"`
	NotLoaded     []detections.NotLoaded `json:"not_loaded"`
	NotApplicable []string               `json:"not_applicable"`
}

type summaryFilters struct {
	From        string `json:"from,omitempty"`
	To          string `json:"to,omitempty"`
	Host        string `json:"host,omitempty"`
	MinSeverity string `json:"min_severity,omitempty"`
}

type summaryEvidence struct {
	Files     int                `json:"files"`
	Bytes     int64              `json:"bytes"`
	Inventory []inventoryEntry   `json:"inventory"`
	NotRead   []evidence.NotRead `json:"not_read"`
}

type inventoryEntry struct {
	Path          string `json:"path"`
	Size          int64  `json:"size"`
	SHA256        string `json:"sha256"`
	SHA256Omitted string `json:"sha256_omitted,omitempty"`
}

type summaryParse struct {
	Totals parser.Totals       `json:"totals"`
	Files  []*parser.FileStats `json:"files"`
}

type summaryHost struct {
	Name         string   `json:"name"`
	Spellings    []string `json:"spellings"`
	Processes    int      `json:"processes"`
	Placeholders int      `json:"placeholders"`
	First        string   `json:"first,omitempty"`
	Last         string   `json:"last,omitempty"`
	Findings     int      `json:"findings"`
}

type summaryTimeline struct {
	Processes  int `json:"processes"`
	Duplicates int `json:"duplicate_records"`
	// Conflicting records were read in more than one version (same source,
	// record id, time and pid, other content): possible tampering. The
	// first maxSummaryConflicts are listed; their processes are flagged.
	Conflicts    int               `json:"conflicting_records"`
	ConflictList []summaryConflict `json:"conflicts,omitempty"`
}

type summaryConflict struct {
	Host     string              `json:"host"`
	Source   parser.Source       `json:"source"`
	RecordID uint64              `json:"record_id"`
	Time     string              `json:"time"`
	PID      uint32              `json:"pid"`
	Versions []timeline.Evidence `json:"versions"`
}

// maxSummaryConflicts bounds the conflicts listed in summary.json, which
// crafted evidence could otherwise fill.
const maxSummaryConflicts = 100

type summaryFindings struct {
	Total      int                         `json:"total"`
	BySeverity map[detections.Severity]int `json:"by_severity"`
	ByRule     []ruleCount                 `json:"by_rule"`
}

type ruleCount struct {
	RuleID   string              `json:"rule_id"`
	RuleName string              `json:"rule_name"`
	Severity detections.Severity `json:"severity"`
	Findings int                 `json:"findings"`
	Hits     int                 `json:"hits"`
}

func utc(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(parser.TimeLayout)
}

// Summary builds summary.json's content.
func (c *Case) Summary() Summary {
	s := c.view().summary
	s.CaseFiles = caseFiles(c.Output)
	return s
}

// summary is summary.json's content but for the case files.
func (c *Case) summary(v *caseView) Summary {
	s := Summary{Tool: "evtxhunt", Version: c.Version, CommandLine: c.CommandLine, Started: utc(c.Started), Finished: utc(c.Finished),
		DisplayTimeZone: c.Zone.String(), MergedFrom: c.MergedFrom,
		Filters: summaryFilters{From: utc(c.Filter.From), To: utc(c.Filter.To), Host: c.Filter.Host, MinSeverity: string(c.MinSeverity)},
		Parse:   summaryParse{Totals: parser.Sum(c.Files), Files: c.Files}}
	s.Evidence.NotRead = append([]evidence.NotRead{}, c.NotRead...)
	census := parser.Census{}
	for _, f := range c.Files {
		s.Evidence.Files++
		s.Evidence.Bytes += f.Size
		s.Evidence.Inventory = append(s.Evidence.Inventory, inventoryEntry{f.Path, f.Size, f.SHA256, f.SHA256Omitted})
		for k, n := range f.Census {
			census[k] += n
		}
	}
	s.Census = census.Rows()
	perHost := map[string]int{}
	for _, f := range c.Findings {
		perHost[f.Host]++
	}
	for _, h := range c.Timeline.Hosts {
		sh := summaryHost{Name: h.Name, Spellings: h.Spellings, Processes: len(h.Processes), Placeholders: len(h.Placeholders), Findings: perHost[h.Name]}
		if n := len(h.Processes); n > 0 {
			sh.First, sh.Last = utc(h.Processes[0].Time), utc(h.Processes[n-1].Time)
		}
		s.Hosts = append(s.Hosts, sh)
	}
	s.Timeline = summaryTimeline{Processes: c.Timeline.Processes(), Duplicates: c.Timeline.Duplicates, Conflicts: len(c.Timeline.Conflicts)}
	for _, cf := range c.Timeline.Conflicts[:min(len(c.Timeline.Conflicts), maxSummaryConflicts)] {
		s.Timeline.ConflictList = append(s.Timeline.ConflictList, summaryConflict{Host: cf.Host, Source: cf.Source, RecordID: cf.RecordID,
			Time: utc(cf.Time), PID: cf.PID, Versions: cf.Versions})
	}
	s.Rules = summaryRules{Loaded: len(c.Rules), NotLoaded: append([]detections.NotLoaded{}, c.RulesNotLoaded...),
		NotApplicable: append([]string{}, c.RulesNotApplicable...)}
	s.Findings = summaryFindings{Total: len(c.Findings), BySeverity: c.FindingsBySeverity(), ByRule: []ruleCount{}}
	hits := map[*detections.Rule]int{}
	for _, f := range c.Findings {
		hits[f.Rule] += len(f.Hits)
	}
	for _, r := range c.Rules {
		if n := v.fired[r]; n > 0 {
			s.Findings.ByRule = append(s.Findings.ByRule, ruleCount{RuleID: r.ID, RuleName: r.Name, Severity: r.Severity, Findings: n, Hits: hits[r]})
		}
	}
	slices.SortStableFunc(s.Findings.ByRule, func(a, b ruleCount) int {
		return cmp.Or(-cmp.Compare(a.Severity.Rank(), b.Severity.Rank()), cmp.Compare(a.RuleID, b.RuleID))
	})
	return s
}

// caseFiles lists the files of the case folder written, and those that
// failed.
func caseFiles(files []CaseFile) summaryCaseFiles {
	out := summaryCaseFiles{Written: []string{}, Failed: []CaseFile{}}
	for _, f := range files {
		if f.Error == "" {
			out.Written = append(out.Written, f.Name)
		} else {
			out.Failed = append(out.Failed, f)
		}
	}
	return out
}

// processJSON describes a process in detections.jsonl.
type processJSON struct {
	Host        string              `json:"host"`
	Time        string              `json:"time,omitempty"`
	PID         uint32              `json:"pid"`
	PPID        uint32              `json:"ppid"`
	Image       string              `json:"image"`
	CommandLine string              `json:"command_line,omitempty"`
	User        string              `json:"user,omitempty"`
	Integrity   string              `json:"integrity_level,omitempty"`
	ProcessGUID string              `json:"process_guid,omitempty"`
	ParentLink  timeline.LinkKind   `json:"parent_link,omitempty"`
	LinkNote    string              `json:"parent_link_note,omitempty"`
	NotLogged   bool                `json:"not_logged,omitempty"` // a placeholder parent
	SinceParent string              `json:"since_parent,omitempty"`
	Evidence    []timeline.Evidence `json:"evidence,omitempty"`
}

func newProcessJSON(p *timeline.Process, since time.Duration) processJSON {
	pj := processJSON{Host: p.Host.Name, PID: p.PID, PPID: p.PPID, Image: p.Image, CommandLine: p.CommandLine, User: p.User,
		Integrity: p.IntegrityLevel, ProcessGUID: p.ProcessGUID, ParentLink: p.Link, LinkNote: p.LinkNote, NotLogged: p.Placeholder,
		Evidence: p.Evidence}
	if !p.Placeholder {
		pj.Time = utc(p.Time)
	}
	if since > 0 {
		pj.SinceParent = since.String()
	}
	return pj
}

type hitJSON struct {
	Time    string          `json:"time"`
	NextHop string          `json:"next_hop,omitempty"`
	Process processJSON     `json:"process"`
	Parent  *processJSON    `json:"parent,omitempty"`
	Chain   []chainStepJSON `json:"chain"` // from the root down to the process
}

// chainStepJSON is a step of a chain: a process, or first, when the chain
// is cut, {"ancestors_not_shown": N}.
type chainStepJSON struct {
	*processJSON
	AncestorsNotShown int `json:"ancestors_not_shown,omitempty"`
}

type findingJSON struct {
	RuleID      string              `json:"rule_id"`
	RuleName    string              `json:"rule_name"`
	Severity    detections.Severity `json:"severity"`
	RiskScore   int                 `json:"risk_score"`
	Attack      []string            `json:"attack"`
	Host        string              `json:"host"`
	Time        string              `json:"time"`
	Last        string              `json:"last"`
	Count       int                 `json:"count"` // hits
	NextHops    []string            `json:"next_hops,omitempty"`
	Process     processJSON         `json:"process"`
	Parent      *processJSON        `json:"parent,omitempty"`
	Chain       []chainStepJSON     `json:"chain"`
	Hits        []hitJSON           `json:"hits"` // the first detectionExamples
	HitsOmitted int                 `json:"hits_omitted,omitempty"`
	Evidence    []timeline.Evidence `json:"evidence"` // of the hits listed, and their parents
	Records     []fileRecords       `json:"records"`  // of every hit
}

// fileRecords lists the record ids of one evidence file.
type fileRecords struct {
	File      string   `json:"file"`
	RecordIDs []uint64 `json:"record_ids"`
}

// detectionExamples is how many hits of a finding detections.jsonl shows in
// full, with their chains; the records of every hit are listed.
const detectionExamples = 10

// hitRecords lists the records of every hit, by evidence file in the order
// first seen.
func hitRecords(f *detections.Finding) []fileRecords {
	var out []fileRecords
	at := map[string]int{}
	for _, h := range f.Hits {
		for _, e := range h.Process.Evidence {
			i, ok := at[e.File]
			if !ok {
				i = len(out)
				at[e.File] = i
				out = append(out, fileRecords{File: e.File})
			}
			out[i].RecordIDs = append(out[i].RecordIDs, e.RecordID)
		}
	}
	return out
}

func newHitJSON(h detections.Hit) hitJSON {
	hj := hitJSON{Time: utc(h.Process.Time), NextHop: h.NextHop, Process: newProcessJSON(h.Process, 0)}
	if p := h.Process.Parent; p != nil {
		pj := newProcessJSON(p, 0)
		hj.Parent = &pj
	}
	notShown, steps := chainSteps(h.Process, 0)
	if notShown > 0 {
		hj.Chain = append(hj.Chain, chainStepJSON{AncestorsNotShown: notShown})
	}
	for _, s := range steps {
		pj := newProcessJSON(s.Process, s.SinceParent)
		hj.Chain = append(hj.Chain, chainStepJSON{processJSON: &pj})
	}
	return hj
}

// chainSteps is p's chain cut to its last limit steps (all when limit is
// 0), without the timeline's marker step, and the number of ancestors above
// the steps kept: those cut here and those the marker counts. Every report
// shows that number as ancestorsNotShown says, never as a process.
func chainSteps(p *timeline.Process, limit int) (notShown int, steps []timeline.Step) {
	steps = p.Chain()
	cut := 0
	if limit > 0 && len(steps) > limit {
		cut = len(steps) - limit
	}
	if cut < len(steps) && steps[cut].Omitted > 0 {
		cut++ // the marker is first, if anywhere
	}
	for _, st := range steps[:cut] {
		notShown += max(st.Omitted, 1)
	}
	return notShown, steps[cut:]
}

// ancestorsNotShown is the line of a cut chain.
func ancestorsNotShown(n int) string { return fmt.Sprintf("… %d ancestors not shown", n) }

// WriteDetectionsJSONL writes one finding per line: its first and last
// time, its count of hits, the first hits in full and the records of all.
// Times are UTC.
func WriteDetectionsJSONL(w io.Writer, findings []*detections.Finding) error {
	bw := bufio.NewWriter(w)
	enc := termsafe.NewEncoder(bw)
	for _, f := range findings {
		fj := findingJSON{RuleID: f.Rule.ID, RuleName: f.Rule.Name, Severity: f.Rule.Severity, RiskScore: f.Rule.RiskScore,
			Attack: f.Rule.TechniqueIDs(), Host: f.Host, Time: utc(f.Time), Last: utc(f.Last()), Count: len(f.Hits),
			NextHops: f.NextHops(), Evidence: f.Evidence(detectionExamples), Records: hitRecords(f)}
		for _, h := range f.Hits[:min(len(f.Hits), detectionExamples)] {
			fj.Hits = append(fj.Hits, newHitJSON(h))
		}
		fj.HitsOmitted = len(f.Hits) - len(fj.Hits)
		first := fj.Hits[0]
		fj.Process, fj.Parent, fj.Chain = first.Process, first.Parent, first.Chain
		if err := enc.Encode(fj); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// WriteSummary writes summary.json.
func WriteSummary(w io.Writer, c *Case) error { return writeSummary(w, c.Summary()) }

func writeSummary(w io.Writer, s Summary) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(termsafe.AppendJSON(nil, b), '\n'))
	return err
}

// Files of a case folder.
const (
	SummaryFile    = "summary.json"
	DetectionsFile = "detections.jsonl"
	TimelineJSONL  = "timeline.jsonl"
	TimelineCSV    = "timeline.csv"
	EventsFile     = "events.jsonl" // every process event read: what merge rebuilds from
	HTMLFile       = "report.html"
	XLSXFile       = "report.xlsx"
)

// Formats a case folder can hold, beside summary.json.
var Formats = []string{"html", "xlsx", "jsonl", "csv"}

// WriteOptions tune WriteCase.
type WriteOptions struct {
	Wrap WrapFunc // when set, wraps each file's writer
}

// WriteCase writes the case's files for the given formats into dir, which
// must exist, each under a temporary name renamed into place when complete.
// A file that fails does not stop the others. summary.json is always
// written, last, listing every file of the folder written and every failure
// (c.Output may already hold files the caller wrote, such as events.jsonl).
// The error is an *IncompleteError when some file was not written.
func WriteCase(dir string, c *Case, formats []string, o WriteOptions) error {
	type caseWrite struct {
		name  string
		write func(io.Writer) error
	}
	var files []caseWrite
	v := c.view()
	for _, f := range formats {
		switch f {
		case "jsonl":
			files = append(files, caseWrite{DetectionsFile, func(w io.Writer) error { return WriteDetectionsJSONL(w, c.Findings) }},
				caseWrite{TimelineJSONL, func(w io.Writer) error { return WriteTimelineJSONL(w, v.processes, time.UTC) }})
		case "csv":
			files = append(files, caseWrite{TimelineCSV, func(w io.Writer) error { return WriteTimelineCSV(w, v.processes, c.Zone) }})
		case "html":
			files = append(files, caseWrite{HTMLFile, func(w io.Writer) error { return writeHTML(w, c, v, HTMLOptions{}) }})
		case "xlsx":
			files = append(files, caseWrite{XLSXFile, func(w io.Writer) error { return writeXLSX(w, c, v, XLSXOptions{}) }})
		default:
			return fmt.Errorf("unknown format %q", f)
		}
	}
	for _, f := range files {
		c.Output = append(c.Output, writeCaseFile(dir, f.name, o.Wrap, f.write))
	}
	c.Output = append(c.Output, CaseFile{Name: SummaryFile}) // as it will be, if it can be written
	s := v.summary
	s.CaseFiles = caseFiles(c.Output)
	if res := writeCaseFile(dir, SummaryFile, o.Wrap, func(w io.Writer) error { return writeSummary(w, s) }); res.Error != "" {
		c.Output[len(c.Output)-1] = res
	}
	return incomplete(dir, c.Output)
}

// incomplete returns an *IncompleteError for the files that failed, or nil.
func incomplete(dir string, files []CaseFile) error {
	var failed []CaseFile
	for _, f := range files {
		if f.Error != "" {
			failed = append(failed, f)
		}
	}
	if len(failed) == 0 {
		return nil
	}
	return &IncompleteError{Dir: dir, Failed: failed}
}

// ReadSummary reads a case folder's summary.json, for merge.
func ReadSummary(dir string) (*Summary, error) {
	b, err := os.ReadFile(filepath.Join(dir, SummaryFile))
	if err != nil {
		return nil, err
	}
	var s Summary
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, SummaryFile), err)
	}
	return &s, nil
}

// WriteTimelineFiles writes timeline.jsonl (UTC) and timeline.csv (times in
// zone) into dir, as WriteCase writes its files. The error is an
// *IncompleteError when some file was not written.
func WriteTimelineFiles(dir string, procs []*timeline.Process, zone *time.Location, o WriteOptions) error {
	return incomplete(dir, []CaseFile{
		writeCaseFile(dir, TimelineJSONL, o.Wrap, func(w io.Writer) error { return WriteTimelineJSONL(w, procs, time.UTC) }),
		writeCaseFile(dir, TimelineCSV, o.Wrap, func(w io.Writer) error { return WriteTimelineCSV(w, procs, zone) }),
	})
}
