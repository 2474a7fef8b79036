package reports

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/evtxhunt/evtxhunt/detections"
	"github.com/evtxhunt/evtxhunt/internal/termsafe"
	"github.com/evtxhunt/evtxhunt/parser"
	"github.com/evtxhunt/evtxhunt/parser/winpath"
	"github.com/evtxhunt/evtxhunt/timeline"
)

// Excel's limits.
const (
	excelMaxRows      = 1_048_576
	excelMaxCellChars = 32_767
)

// Sheet names of the workbook, in order.
const (
	SheetSummary    = "Summary"
	SheetDetections = "Detections"
	SheetTimeline   = "Timeline"
	SheetTrees      = "Process trees"
	SheetRules      = "Rules"
	SheetErrors     = "Errors"
)

// XLSXOptions tune the workbook.
type XLSXOptions struct {
	// MaxRows is the number of rows a sheet holds before it continues on a
	// numbered next sheet ("Timeline (2)"); 0 means Excel's limit.
	MaxRows int
}

// cellText makes a value safe for a cell. XML cannot hold most control
// characters (the library would turn them into U+FFFD), and bidirectional
// overrides would show text reversed: both are visible escapes (termsafe;
// line feeds and tabs stay). Excel holds at most 32,767 characters, counted
// in UTF-16, so longer values are cut with a visible marker (the full value
// stays in the JSON lines). Strings are always written as text, never as
// formulas, whatever they start with.
func cellText(s string) string {
	return termsafe.Cut(termsafe.Text(s), excelMaxCellChars, termsafe.UTF16, func(n int) string {
		return fmt.Sprintf(" [... cut: %d characters; the full value is in the JSON lines]", n)
	})
}

// xlsxStyles are the workbook's cell styles.
type xlsxStyles struct {
	header, title, section, wrap, hit, link int
	severity                                map[detections.Severity]int
}

var severityColors = map[detections.Severity]string{
	detections.Critical: "C00000", detections.High: "FF6B6B", detections.Medium: "FFC000", detections.Low: "9BC2E6", detections.Informational: "D9D9D9",
}

func newXLSXStyles(f *excelize.File) (*xlsxStyles, error) {
	s := &xlsxStyles{severity: map[detections.Severity]int{}}
	var err error
	mk := func(st *excelize.Style) int {
		if err != nil {
			return 0
		}
		var id int
		id, err = f.NewStyle(st)
		return id
	}
	s.header = mk(&excelize.Style{Font: &excelize.Font{Bold: true, Color: "FFFFFF"}, Fill: excelize.Fill{Type: "pattern", Pattern: 1, Color: []string{"1F3864"}},
		Alignment: &excelize.Alignment{Vertical: "top", WrapText: true}})
	s.title = mk(&excelize.Style{Font: &excelize.Font{Bold: true, Size: 16}})
	s.section = mk(&excelize.Style{Font: &excelize.Font{Bold: true, Size: 12, Color: "1F3864"}})
	s.wrap = mk(&excelize.Style{Alignment: &excelize.Alignment{Vertical: "top", WrapText: true}})
	s.hit = mk(&excelize.Style{Fill: excelize.Fill{Type: "pattern", Pattern: 1, Color: []string{"FFF2CC"}}, Alignment: &excelize.Alignment{Vertical: "top", WrapText: true}})
	s.link = mk(&excelize.Style{Font: &excelize.Font{Color: "0563C1", Underline: "single"}, Alignment: &excelize.Alignment{Vertical: "top"}})
	for sev, color := range severityColors {
		font := &excelize.Font{Bold: true}
		if sev == detections.Critical {
			font.Color = "FFFFFF"
		}
		s.severity[sev] = mk(&excelize.Style{Font: font, Fill: excelize.Fill{Type: "pattern", Pattern: 1, Color: []string{color}}, Alignment: &excelize.Alignment{Vertical: "top"}})
	}
	return s, err
}

// sheetStream writes rows into a sheet, continuing on a numbered next sheet
// when a sheet is full; every sheet gets the header row, frozen, as a table
// with filters.
type sheetStream struct {
	f       *excelize.File
	base    string
	header  []string
	widths  []float64
	styles  *xlsxStyles
	maxRows int
	part    int
	sw      *excelize.StreamWriter
	row     int
	names   []string
}

func (x *xlsxWriter) newStream(base string, header []string, widths []float64) *sheetStream {
	return &sheetStream{f: x.f, base: base, header: header, widths: widths, styles: x.styles, maxRows: x.maxRows}
}

// sheetName is the name of the n-th part of a sheet.
func sheetName(base string, part int) string {
	if part <= 1 {
		return base
	}
	return fmt.Sprintf("%s (%d)", base, part)
}

// next says where the next row goes: its sheet and row number.
func (s *sheetStream) next() (string, int, error) {
	if s.sw == nil || s.row >= s.maxRows {
		if err := s.close(); err != nil {
			return "", 0, err
		}
		s.part++
		name := sheetName(s.base, s.part)
		if idx, err := s.f.GetSheetIndex(name); err != nil || idx < 0 {
			if _, err := s.f.NewSheet(name); err != nil {
				return "", 0, err
			}
		}
		sw, err := s.f.NewStreamWriter(name)
		if err != nil {
			return "", 0, err
		}
		for i, w := range s.widths {
			if err := sw.SetColWidth(i+1, i+1, w); err != nil {
				return "", 0, err
			}
		}
		if err := sw.SetPanes(&excelize.Panes{Freeze: true, YSplit: 1, TopLeftCell: "A2", ActivePane: "bottomLeft"}); err != nil {
			return "", 0, err
		}
		cells := make([]any, len(s.header))
		for i, h := range s.header {
			cells[i] = excelize.Cell{Value: h, StyleID: s.styles.header}
		}
		if err := sw.SetRow("A1", cells); err != nil {
			return "", 0, err
		}
		s.sw, s.row = sw, 1
		s.names = append(s.names, name)
	}
	return sheetName(s.base, s.part), s.row + 1, nil
}

// safeCells passes every text of a row through cellText.
func safeCells(cells []any) []any {
	for i, v := range cells {
		switch v := v.(type) {
		case string:
			cells[i] = cellText(v)
		case excelize.Cell:
			if str, ok := v.Value.(string); ok {
				v.Value = cellText(str)
				cells[i] = v
			}
		}
	}
	return cells
}

func (s *sheetStream) write(cells []any, opts ...excelize.RowOpts) error {
	_, row, err := s.next()
	if err != nil {
		return err
	}
	safeCells(cells)
	s.row = row
	return s.sw.SetRow("A"+strconv.Itoa(row), cells, opts...)
}

// finish ends the last sheet; a sheet without rows still shows its header.
func (s *sheetStream) finish() error {
	if s.sw == nil && s.part == 0 {
		if _, _, err := s.next(); err != nil {
			return err
		}
	}
	return s.close()
}

func (s *sheetStream) close() error {
	if s.sw == nil {
		return nil
	}
	if s.row >= 2 {
		last, _ := excelize.CoordinatesToCellName(len(s.header), s.row)
		name := strings.NewReplacer(" ", "_", "(", "", ")", "").Replace(sheetName(s.base, s.part))
		if err := s.sw.AddTable(&excelize.Table{Range: "A1:" + last, Name: "t_" + name, StyleName: "TableStyleLight1"}); err != nil {
			return err
		}
	}
	err := s.sw.Flush()
	s.sw = nil
	return err
}

// xlsxWriter holds the state shared by the sheets.
type xlsxWriter struct {
	c        *Case
	v        *caseView
	f        *excelize.File
	styles   *xlsxStyles
	maxRows  int
	ruleRows map[*detections.Rule]string  // each rule's row in the Rules sheets, as a link target
	hitRows  map[*timeline.Process]string // each hit's row in the Timeline sheets
}

// WriteXLSX writes the annotated workbook. Sheets are streamed, so memory
// does not grow with the timeline's length.
func WriteXLSX(w io.Writer, c *Case, o XLSXOptions) error { return writeXLSX(w, c, c.view(), o) }

func writeXLSX(w io.Writer, c *Case, v *caseView, o XLSXOptions) error {
	x := &xlsxWriter{c: c, v: v, f: excelize.NewFile(), maxRows: o.MaxRows, ruleRows: map[*detections.Rule]string{},
		hitRows: map[*timeline.Process]string{}}
	defer x.f.Close()
	if x.maxRows <= 0 || x.maxRows > excelMaxRows {
		x.maxRows = excelMaxRows
	}
	var err error
	if x.styles, err = newXLSXStyles(x.f); err != nil {
		return err
	}
	// Sheets are created in display order first, then streamed one by one:
	// the timeline before the detections, which link to its rows.
	if err := x.f.SetSheetName("Sheet1", SheetSummary); err != nil {
		return err
	}
	for _, name := range []string{SheetDetections, SheetTimeline, SheetTrees, SheetRules, SheetErrors} {
		if _, err := x.f.NewSheet(name); err != nil {
			return err
		}
	}
	for _, step := range []func() error{x.summary, x.rules, x.timeline, x.detections, x.trees, x.errors} {
		if err := step(); err != nil {
			return err
		}
	}
	x.f.SetActiveSheet(0)
	return x.f.Write(w)
}

func (x *xlsxWriter) when(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.In(x.c.Zone).Format("2006-01-02 15:04:05.0000000")
}

func (x *xlsxWriter) summary() error {
	sw, err := x.f.NewStreamWriter(SheetSummary)
	if err != nil {
		return err
	}
	for i, w := range []float64{34, 22, 18, 16, 16, 16, 66} {
		sw.SetColWidth(i+1, i+1, w)
	}
	s := x.v.summary
	row := 0
	put := func(cells ...any) error {
		row++
		return sw.SetRow("A"+strconv.Itoa(row), safeCells(cells))
	}
	section := func(title string, header ...string) error {
		row++
		if err := put(excelize.Cell{Value: title, StyleID: x.styles.section}); err != nil {
			return err
		}
		if len(header) == 0 {
			return nil
		}
		cells := make([]any, len(header))
		for i, h := range header {
			cells[i] = excelize.Cell{Value: h, StyleID: x.styles.header}
		}
		return put(cells...)
	}
	steps := []func() error{
		func() error { return put(excelize.Cell{Value: "evtxhunt incident report", StyleID: x.styles.title}) },
		func() error { return put("Tool version", s.Version) },
		func() error { return put("Command line", strings.Join(s.CommandLine, " ")) },
		func() error { return put("Started", x.when(x.c.Started)) },
		func() error { return put("Finished", x.when(x.c.Finished)) },
		func() error { return put("Time zone of this report", x.c.Zone.String()) },
		func() error { return put("Merged from", strings.Join(s.MergedFrom, ", ")) },
		func() error { return section("Findings by severity", "Severity", "Findings") },
	}
	for i := len(detections.Severities) - 1; i >= 0; i-- {
		sev := detections.Severities[i]
		steps = append(steps, func() error {
			return put(excelize.Cell{Value: string(sev), StyleID: x.styles.severity[sev]}, s.Findings.BySeverity[sev])
		})
	}
	steps = append(steps, func() error {
		return section("Findings by rule", "Rule", "Severity", "Findings", "Hits", "", "", "Name")
	})
	for _, rc := range s.Findings.ByRule {
		steps = append(steps, func() error {
			return put(rc.RuleID, excelize.Cell{Value: string(rc.Severity), StyleID: x.styles.severity[rc.Severity]}, rc.Findings, rc.Hits, "", "", rc.RuleName)
		})
	}
	steps = append(steps, func() error {
		return section("Hosts", "Host", "Processes", "Findings", "First process", "Last process", "", "Spellings seen")
	})
	for _, h := range s.Hosts {
		steps = append(steps, func() error {
			return put(h.Name, h.Processes, h.Findings, h.First, h.Last, "", strings.Join(h.Spellings, ", "))
		})
	}
	t := s.Parse.Totals
	steps = append(steps,
		func() error { return section("Parse health") },
		func() error { return put("Files", t.Files, "with errors", t.FilesWithErrs) },
		func() error {
			return put("Records", t.Records.Seen, "decoded", t.Records.Decoded, "failed", t.Records.Failed)
		},
		func() error {
			return put("Chunks", t.Chunks.Slots, "decoded", t.Chunks.Decoded, "failed", t.Chunks.Failed)
		},
		func() error {
			return put("Process creations", t.ProcessEvents[parser.SourceSecurity4688]+t.ProcessEvents[parser.SourceSysmon1], "errors", t.Errors)
		},
		func() error {
			return section("Evidence inventory", "File", "Size (bytes)", "Records", "Process events", "Errors", "SHA-256")
		},
	)
	for _, f := range x.c.Files {
		steps = append(steps, func() error {
			return put(f.Path, f.Size, f.Records.Seen, f.ProcessEvents[parser.SourceSecurity4688]+f.ProcessEvents[parser.SourceSysmon1], f.ErrorCount, cmp.Or(f.SHA256, "none: "+f.SHA256Omitted))
		})
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return err
		}
	}
	return sw.Flush()
}

func (x *xlsxWriter) rules() error {
	s := x.newStream(SheetRules, []string{"Rule ID", "Name", "Severity", "Risk", "Findings", "ATT&CK", "Description", "False positives",
		"Response actions", "References", "Data sources", "Version", "Origin"}, []float64{30, 40, 11, 6, 9, 38, 60, 45, 60, 45, 30, 10, 40})
	for _, r := range x.v.rules {
		var attack []string
		for _, a := range r.Attack {
			attack = append(attack, fmt.Sprintf("%s %s / %s %s", a.Tactic, a.TacticName, a.Technique, a.TechniqueName))
		}
		sheet, row, err := s.next()
		if err != nil {
			return err
		}
		x.ruleRows[r] = cellRef(sheet, row)
		if err := s.write([]any{r.ID, cellText(r.Name), excelize.Cell{Value: string(r.Severity), StyleID: x.styles.severity[r.Severity]}, r.RiskScore, x.v.fired[r],
			cellText(strings.Join(attack, "\n")), cellText(r.Description), cellText(bullets(r.FalsePositives)), cellText(numbered(r.Response)),
			cellText(strings.Join(r.References, "\n")), cellText(strings.Join(r.DataSources, "\n")), r.Version, cellText(r.Origin)},
			excelize.RowOpts{StyleID: x.styles.wrap}); err != nil {
			return err
		}
	}
	return s.finish()
}

func bullets(items []string) string {
	var sb strings.Builder
	for i, s := range items {
		if i > 0 {
			sb.WriteByte('\n')
		}
		sb.WriteString("• " + s)
	}
	return sb.String()
}

func numbered(items []string) string {
	var sb strings.Builder
	for i, s := range items {
		if i > 0 {
			sb.WriteByte('\n')
		}
		fmt.Fprintf(&sb, "%d. %s", i+1, s)
	}
	return sb.String()
}

// ruleNames lists the distinct names of the rules of some findings.
func ruleNames(fs []*detections.Finding) string {
	var names []string
	for _, f := range fs {
		if !slices.Contains(names, f.Rule.Name) {
			names = append(names, f.Rule.Name)
		}
	}
	return strings.Join(names, "; ")
}

func evidenceText(ev []timeline.Evidence) string {
	parts := make([]string, len(ev))
	for i, e := range ev {
		parts[i] = fmt.Sprintf("%s#%d", e.File, e.RecordID)
	}
	return strings.Join(parts, "\n")
}

func (x *xlsxWriter) timeline() error {
	s := x.newStream(SheetTimeline, []string{"Time", "Host", "Depth", "Process", "PID", "PPID", "Parent", "Parent link", "User",
		"Integrity", "Command line", "Findings", "Sources", "Evidence"}, []float64{27, 12, 6, 40, 8, 8, 30, 11, 24, 10, 80, 40, 24, 50})
	for _, p := range x.v.processes {
		sheet, row, err := s.next()
		if err != nil {
			return err
		}
		var sources []string
		for _, src := range p.Sources() {
			sources = append(sources, string(src))
		}
		style := x.styles.wrap
		found := x.v.findingsOf[p]
		if len(found) > 0 {
			style = x.styles.hit
			x.hitRows[p] = cellRef(sheet, row)
		}
		label := strings.Repeat("    ", min(p.Depth, 40)) + winpath.Base(p.Image)
		if err := s.write([]any{x.when(p.Time), p.Host.Name, p.Depth, cellText(label), p.PID, p.PPID, cellText(p.ResolvedParentImage()), string(p.Link),
			p.User, p.IntegrityLevel, cellText(p.CommandLine), cellText(ruleNames(found)), strings.Join(sources, " "), cellText(evidenceText(p.Evidence))},
			excelize.RowOpts{StyleID: style}); err != nil {
			return err
		}
	}
	return s.finish()
}

// Bounds on the rows a finding takes: its first hits are listed (with
// their trees), and a row says how many more there are; detections.jsonl
// has the records of all. The trees sheet as a whole is bounded too.
const (
	xlsxHitRows  = 10
	xlsxTreeHits = 3
	xlsxTreeRows = 200_000
)

func (x *xlsxWriter) detections() error {
	s := x.newStream(SheetDetections, []string{"Finding", "Time", "Host", "Severity", "Risk", "Rule", "ATT&CK", "Process", "PID",
		"Command line", "Parent", "Parent command line", "User", "Next hop", "Chain", "Evidence", "Timeline row", "Rule ID"},
		[]float64{8, 27, 12, 11, 6, 40, 22, 24, 8, 70, 24, 50, 22, 18, 50, 50, 14, 30})
	for i, f := range x.c.Findings {
		for _, h := range f.Hits[:min(len(f.Hits), xlsxHitRows)] {
			p := h.Process
			var chain []string
			notShown, steps := chainSteps(p, 0)
			if notShown > 0 {
				chain = append(chain, ancestorsNotShown(notShown))
			}
			for _, st := range steps {
				step := winpath.Base(st.Image)
				if st.SinceParent > 0 {
					step += " (+" + st.SinceParent.String() + ")"
				}
				chain = append(chain, step)
			}
			timelineLink := any("")
			if ref, ok := x.hitRows[p]; ok {
				timelineLink = excelize.Cell{Value: "go to row", Formula: fmt.Sprintf(`HYPERLINK("#%s","go to row")`, ref), StyleID: x.styles.link}
			}
			ruleLink := excelize.Cell{Value: f.Rule.ID, Formula: fmt.Sprintf(`HYPERLINK("#%s","%s")`, x.ruleRows[f.Rule], formulaText(f.Rule.ID)), StyleID: x.styles.link}
			if err := s.write([]any{i + 1, x.when(p.Time), f.Host, excelize.Cell{Value: string(f.Rule.Severity), StyleID: x.styles.severity[f.Rule.Severity]},
				f.Rule.RiskScore, cellText(f.Rule.Name), strings.Join(f.Rule.TechniqueIDs(), ", "), winpath.Base(p.Image), p.PID,
				cellText(p.CommandLine), cellText(p.ResolvedParentImage()), cellText(p.ResolvedParentCommandLine()), p.User, h.NextHop, cellText(strings.Join(chain, " > ")),
				cellText(evidenceText(p.Evidence)), timelineLink, ruleLink}, excelize.RowOpts{StyleID: x.styles.wrap}); err != nil {
				return err
			}
		}
		if more := len(f.Hits) - xlsxHitRows; more > 0 {
			note := fmt.Sprintf("%d more hits of this finding (%d in all, last at %s): the records of every hit are in detections.jsonl",
				more, len(f.Hits), x.when(f.Last()))
			if err := s.write([]any{i + 1, "", f.Host, "", "", f.Rule.Name, "", "", "", note}); err != nil {
				return err
			}
		}
	}
	return s.finish()
}

// cellRef is the first cell of a row, as a link names it. A sheet of rules
// or of the timeline may be a numbered continuation ("Rules (2)").
func cellRef(sheet string, row int) string { return fmt.Sprintf("'%s'!A%d", sheet, row) }

// formulaText escapes a string for use inside a formula's string literal.
func formulaText(s string) string { return strings.ReplaceAll(s, `"`, `""`) }

func (x *xlsxWriter) trees() error {
	s := x.newStream(SheetTrees, []string{"Finding", "Host", "Rule", "Time", "Process tree", "PID", "User", "Command line"},
		[]float64{8, 12, 36, 27, 50, 8, 24, 90})
	const maxDescendants = 200
	rows := 0
	for i, f := range x.c.Findings {
		if rows >= xlsxTreeRows {
			note := fmt.Sprintf("the trees of findings %d to %d are not drawn here, to keep the sheet usable: their chains are in detections.jsonl", i+1, len(x.c.Findings))
			if err := s.write([]any{i + 1, "", "", "", note}); err != nil {
				return err
			}
			break
		}
		for _, h := range f.Hits[:min(len(f.Hits), xlsxTreeHits)] {
			notShown, steps := chainSteps(h.Process, 0)
			if notShown > 0 {
				if err := s.write([]any{i + 1, f.Host, cellText(f.Rule.Name), "", ancestorsNotShown(notShown)}); err != nil {
					return err
				}
				rows++
			}
			base := len(steps) - 1
			for _, d := range descendants(h.Process, maxDescendants) {
				steps = append(steps, timeline.Step{Process: d})
			}
			for j, st := range steps {
				depth := j
				if j > base {
					depth = base + st.Depth - h.Process.Depth
				}
				label := strings.Repeat("    ", min(depth, 40)) + winpath.Base(st.Image)
				if st.Placeholder {
					label += " (not logged)"
				}
				style := x.styles.wrap
				if st.Process == h.Process {
					style = x.styles.hit
				}
				if err := s.write([]any{i + 1, f.Host, cellText(f.Rule.Name), x.when(st.Time), cellText(label), st.PID, st.User, cellText(st.CommandLine)},
					excelize.RowOpts{StyleID: style}); err != nil {
					return err
				}
				rows++
			}
		}
	}
	return s.finish()
}

func (x *xlsxWriter) errors() error {
	s := x.newStream(SheetErrors, []string{"File", "Kind", "Offset", "Chunk", "Record ID", "Reason", "More like it"}, []float64{60, 14, 14, 7, 12, 100, 40})
	for _, f := range x.c.Files {
		for _, e := range f.Errors {
			chunk := any(e.Chunk)
			if e.Chunk < 0 {
				chunk = ""
			}
			if err := s.write([]any{cellText(e.File), string(e.Kind), fmt.Sprintf("0x%x", e.Offset), chunk, e.RecordID, cellText(e.Reason), e.Repeated()},
				excelize.RowOpts{StyleID: x.styles.wrap}); err != nil {
				return err
			}
		}
		if f.ErrorsOmitted > 0 {
			if err := s.write([]any{cellText(f.Path), "omitted", "", "", "", fmt.Sprintf("%d more errors in this file; counts are exact in summary.json", f.ErrorsOmitted)}); err != nil {
				return err
			}
		}
	}
	for _, n := range x.c.NotRead {
		if err := s.write([]any{cellText(n.Path), "not read", "", "", "", cellText(n.Reason)}); err != nil {
			return err
		}
	}
	return s.finish()
}
