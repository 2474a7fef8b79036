package reports

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/xuri/excelize/v2"

	"github.com/evtxhunt/evtxhunt/detections"
	"github.com/evtxhunt/evtxhunt/parser"
	"github.com/evtxhunt/evtxhunt/parser/evidence"
	"github.com/evtxhunt/evtxhunt/timeline"
)

// incidentCase runs the whole pipeline on the generated incident.
func incidentCase(t testing.TB) *Case {
	t.Helper()
	files, errs := evidence.Find([]string{"../testdata/evidence"})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	b := timeline.NewBuilder(timeline.Options{})
	stats, err := parser.NewScanner(parser.Options{}).Scan(context.Background(), files, func(ev *parser.ProcessEvent) error {
		b.Add(ev)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	rules, err := detections.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	tl := b.Build()
	return &Case{Version: "test", CommandLine: []string{"evtxhunt", "scan"}, Started: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		Finished: time.Date(2026, 1, 2, 3, 4, 6, 0, time.UTC), Zone: time.UTC, Files: stats, Timeline: tl, Rules: rules,
		Findings: detections.NewEngine(rules).Run(tl)}
}

func openXLSX(t *testing.T, c *Case, o XLSXOptions) *excelize.File {
	t.Helper()
	var buf bytes.Buffer
	if err := WriteXLSX(&buf, c, o); err != nil {
		t.Fatal(err)
	}
	f, err := excelize.OpenReader(&buf)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func TestXLSXWorkbook(t *testing.T) {
	c := incidentCase(t)
	f := openXLSX(t, c, XLSXOptions{})
	if got := strings.Join(f.GetSheetList(), ","); got != "Summary,Detections,Timeline,Process trees,Rules,Errors" {
		t.Fatalf("sheets %s", got)
	}
	rows := func(sheet string) [][]string {
		r, err := f.GetRows(sheet)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	det := rows(SheetDetections)
	if strings.Join(det[0][:6], "|") != "Finding|Time|Host|Severity|Risk|Rule" || len(det) != 1+19 {
		t.Fatalf("Detections: %d rows, header %v", len(det), det[0])
	}
	// Row of the WKS01 netscan finding: severity coloured, links to the rule and the timeline.
	var row int
	for i, r := range det {
		if len(r) > 5 && r[2] == "WKS01" && strings.HasPrefix(r[5], "Correlate netscan.exe") {
			row = i + 1
			if r[7] != "mstsc.exe" || r[10] != `C:\Users\alice\Downloads\netscan.exe` || r[13] != "SRV01.corp.local" || r[3] != "high" {
				t.Errorf("netscan row %v", r)
			}
		}
	}
	if row == 0 {
		t.Fatal("no netscan finding for WKS01")
	}
	style, _ := f.GetCellStyle(SheetDetections, fmt.Sprintf("D%d", row))
	if fill := styleFill(t, f, style); fill != severityColors[detections.High] {
		t.Errorf("severity cell fill %q", fill)
	}
	link, _ := f.GetCellFormula(SheetDetections, fmt.Sprintf("Q%d", row))
	ruleLink, _ := f.GetCellFormula(SheetDetections, fmt.Sprintf("R%d", row))
	if !strings.HasPrefix(link, `HYPERLINK("#'Timeline'!A`) || !strings.HasPrefix(ruleLink, `HYPERLINK("#'Rules'!A`) {
		t.Errorf("links %q %q", link, ruleLink)
	}
	target := strings.TrimSuffix(strings.TrimPrefix(link, `HYPERLINK("#'Timeline'!`), `","go to row")`)
	if v, _ := f.GetCellValue(SheetTimeline, "D"+strings.TrimPrefix(target, "A")); !strings.HasSuffix(v, "mstsc.exe") {
		t.Errorf("the timeline link points at %q", v)
	}

	tlRows := rows(SheetTimeline)
	if len(tlRows) != 1+c.Timeline.Processes() || tlRows[0][3] != "Process" {
		t.Errorf("Timeline: %d rows", len(tlRows))
	}
	highlighted := 0
	for i, r := range tlRows[1:] {
		style, _ := f.GetCellStyle(SheetTimeline, fmt.Sprintf("A%d", i+2))
		isHit := styleFill(t, f, style) == "FFF2CC"
		hasRules := len(r) > 11 && r[11] != ""
		if isHit != hasRules {
			t.Fatalf("timeline row %d: highlighted %v, rules %q", i+2, isHit, r)
		}
		if isHit {
			highlighted++
		}
	}
	if highlighted != 14 {
		t.Errorf("%d timeline rows highlighted, want the 14 processes with findings", highlighted)
	}
	if r := rows(SheetRules); len(r) != 1+len(c.Rules) || r[1][0] == "" {
		t.Errorf("Rules: %d rows", len(r))
	}
	if r := rows(SheetTrees); len(r) < 19*3 {
		t.Errorf("Process trees: %d rows", len(r))
	}
	if r := rows(SheetErrors); len(r) != 1 || r[0][0] != "File" {
		t.Errorf("Errors: %v", r)
	}
	sum := rows(SheetSummary)
	joined := fmt.Sprint(sum)
	for _, want := range []string{"Time zone of this report", "Evidence inventory", "LEGACY01", "4fe9d835-40e1-452d-8230-17c147cafad8"} {
		if !strings.Contains(joined, want) {
			t.Errorf("Summary lacks %q", want)
		}
	}
	if panes, err := f.GetPanes(SheetTimeline); err != nil || !panes.Freeze || panes.YSplit != 1 {
		t.Errorf("Timeline panes %+v %v", panes, err)
	}
	if tables, err := f.GetTables(SheetDetections); err != nil || len(tables) != 1 {
		t.Errorf("Detections tables %v %v", tables, err)
	}
}

func styleFill(t *testing.T, f *excelize.File, id int) string {
	st, err := f.GetStyle(id)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Fill.Color) == 0 {
		return ""
	}
	return strings.ToUpper(st.Fill.Color[0])
}

// hostileCase is a tiny case whose evidence tries formula injection, script
// injection and an oversized command line.
func hostileCase(t testing.TB) *Case {
	t0 := time.Date(2024, 3, 14, 10, 0, 0, 0, time.UTC)
	b := timeline.NewBuilder(timeline.Options{})
	b.Add(&parser.ProcessEvent{Host: "WKS01", Time: t0, Source: parser.SourceSysmon1, RecordID: 1, PID: 100, PPID: 50, Image: `C:\Tools\netscan.exe`,
		ProcessGUID: "A", ParentProcessGUID: "P", ParentImage: `C:\Windows\explorer.exe`, CommandLine: `=cmd|' /C calc'!A0`, File: "x.evtx"})
	b.Add(&parser.ProcessEvent{Host: "WKS01", Time: t0.Add(time.Second), Source: parser.SourceSysmon1, RecordID: 2, PID: 200, PPID: 100,
		Image: `C:\Windows\System32\mstsc.exe`, ProcessGUID: "B", ParentProcessGUID: "A", ParentImage: `C:\Tools\netscan.exe`,
		CommandLine: `mstsc.exe /v:<script>alert(1)</script> ` + strings.Repeat("x", 40000), User: `@SUM(1+1)`, File: "x.evtx"})
	tl := b.Build()
	rules, _ := detections.Builtin()
	return &Case{Version: "test", Zone: time.UTC, Timeline: tl, Rules: rules, Findings: detections.NewEngine(rules).Run(tl)}
}

func TestXLSXCellSafety(t *testing.T) {
	c := hostileCase(t)
	f := openXLSX(t, c, XLSXOptions{})
	rows, _ := f.GetRows(SheetTimeline)
	for i, r := range rows[1:] {
		for j := range r {
			cell, _ := excelize.CoordinatesToCellName(j+1, i+2)
			if formula, _ := f.GetCellFormula(SheetTimeline, cell); formula != "" {
				t.Errorf("%s is a formula: %q", cell, formula)
			}
		}
	}
	first, _ := f.GetCellValue(SheetTimeline, "K2")
	if first != `=cmd|' /C calc'!A0` {
		t.Errorf("K2 = %q", first)
	}
	long, _ := f.GetCellValue(SheetTimeline, "K3")
	if len(long) > excelMaxCellChars || !strings.Contains(long, "[... cut: ") || !strings.HasPrefix(long, "mstsc.exe /v:<script>") {
		t.Errorf("long cell: %d characters, ends %q", len(long), long[max(0, len(long)-80):])
	}
	user, _ := f.GetCellValue(SheetTimeline, "I3")
	if user != "@SUM(1+1)" {
		t.Errorf("I3 = %q", user)
	}
}

func TestXLSXContinuesOnNumberedSheets(t *testing.T) {
	c := incidentCase(t)
	f := openXLSX(t, c, XLSXOptions{MaxRows: 500})
	total := 0
	for part := 1; ; part++ {
		rows, err := f.GetRows(sheetName(SheetTimeline, part))
		if err != nil {
			break
		}
		if len(rows) > 500 || rows[0][0] != "Time" {
			t.Errorf("part %d: %d rows, header %v", part, len(rows), rows[0])
		}
		total += len(rows) - 1
	}
	if total != c.Timeline.Processes() {
		t.Errorf("%d timeline rows over the parts, %d processes", total, c.Timeline.Processes())
	}
	if _, err := f.GetRows("Timeline (4)"); err != nil {
		t.Errorf("1945 processes at 499 rows a sheet need 4 parts: %v", err)
	}
}

func TestHTMLReport(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteHTML(&buf, incidentCase(t), HTMLOptions{}); err != nil {
		t.Fatal(err)
	}
	html := buf.String()
	for _, want := range []string{`id="findings-table"`, `class="finding" id="finding-19"`, `id="host-LEGACY01"`, `class="node hit onpath"`,
		`id="rule-HuntQuery-CrowdStrike-NetscanMstscRDP"`, "Isolate the affected endpoint", "times shown in <b>UTC</b>", "@media print"} {
		if !strings.Contains(html, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	for _, banned := range []string{"<script src", "<link", "@import", "http://", "url("} {
		if strings.Contains(html, banned) {
			t.Errorf("report loads something from outside: %q", banned)
		}
	}

	buf.Reset()
	if err := WriteHTML(&buf, hostileCase(t), HTMLOptions{}); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(buf.String(), "<script>alert(1)") || !strings.Contains(buf.String(), "&lt;script&gt;alert(1)&lt;/script&gt;") {
		t.Error("a command line's <script> is not escaped")
	}
}

func TestHTMLTreeBudget(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteHTML(&buf, incidentCase(t), HTMLOptions{TreeNodes: 600}); err != nil {
		t.Fatal(err)
	}
	html := buf.String()
	if n := strings.Count(html, `<li id="p`); n > 700 || n < 40 {
		t.Errorf("%d tree nodes drawn with a budget of 600", n)
	}
	if !strings.Contains(html, "only the branches leading to findings are shown") || !strings.Contains(html, `class="node hit onpath"`) {
		t.Error("a host over budget does not say so, or lost its findings")
	}
}

// TestXLSXControlCharacters: control characters and bidirectional overrides
// from the evidence are visible escapes in cells, which XML could not hold
// (the library turned them into U+FFFD) or would show reversed; text stays
// text, whatever it starts with.
func TestXLSXControlCharacters(t *testing.T) {
	t0 := time.Date(2024, 3, 14, 10, 0, 0, 0, time.UTC)
	b := timeline.NewBuilder(timeline.Options{})
	b.Add(&parser.ProcessEvent{Host: "WKS01\x1b]0;t\a", Time: t0, Source: parser.SourceSysmon1, RecordID: 1, PID: 100, PPID: 50,
		Image: `C:\Tools\netscan.exe`, ProcessGUID: "A", CommandLine: "=cmd\x00 /c \x1b[2K\u202etxt.exe\r\nnext", User: "@bob\u009b", File: "x.evtx"})
	tl := b.Build()
	c := &Case{Version: "test", Zone: time.UTC, Timeline: tl}
	f := openXLSX(t, c, XLSXOptions{})
	for cell, want := range map[string]string{
		"B2": `WKS01\x1b]0;T\a`, "K2": "=cmd\\x00 /c \\x1b[2K\\u202etxt.exe\\r\nnext", "I2": `@bob\u009b`,
	} {
		got, _ := f.GetCellValue(SheetTimeline, cell)
		if got != want {
			t.Errorf("%s = %q, want %q", cell, got, want)
		}
		if formula, _ := f.GetCellFormula(SheetTimeline, cell); formula != "" {
			t.Errorf("%s is a formula: %q", cell, formula)
		}
	}
}

// TestHTMLEscapesEveryContext: what the evidence and rule files carry stays
// text in every context of the report (element text, attributes, links),
// and its control characters and bidirectional overrides are visible
// escapes, not raw bytes the browser would hide or reverse.
func TestHTMLEscapesEveryContext(t *testing.T) {
	t0 := time.Date(2024, 3, 14, 10, 0, 0, 0, time.UTC)
	b := timeline.NewBuilder(timeline.Options{})
	host := `x" onmouseover="alert(1)`
	b.Add(&parser.ProcessEvent{Host: host, Time: t0, Source: parser.SourceSysmon1, RecordID: 1, PID: 100, PPID: 50, Image: `C:\Tools\netscan.exe`,
		ProcessGUID: "A", ParentProcessGUID: "P", ParentImage: `C:\Windows\explorer.exe`, File: "x.evtx"})
	b.Add(&parser.ProcessEvent{Host: host, Time: t0.Add(time.Second), Source: parser.SourceSysmon1, RecordID: 2, PID: 200, PPID: 100,
		Image: `C:\Windows\System32\mstsc.exe`, ProcessGUID: "B", ParentProcessGUID: "A", ParentImage: `C:\Tools\netscan.exe`, File: "x.evtx\x1b]0;t\a",
		CommandLine: "mstsc.exe /v:SRV01 \x1b]52;c;ZXZpbA==\a \u202etxt.exe", User: "alice\x00'-->"})
	tl := b.Build()
	rules, _ := detections.Builtin()
	var picked []*detections.Rule
	for _, r := range rules {
		if r.ID == "HuntQuery-CrowdStrike-NetscanMstscRDP" {
			hostile := *r
			hostile.Name = `</script><script>alert(2)</script>`
			hostile.References = []string{"javascript:alert(3)", "https://example.org/ok"}
			picked = append(picked, &hostile)
		}
	}
	c := &Case{Version: "test", Zone: time.UTC, Timeline: tl, Rules: picked, Findings: detections.NewEngine(picked).Run(tl)}
	if len(c.Findings) != 1 {
		t.Fatalf("%d findings", len(c.Findings))
	}
	var buf bytes.Buffer
	if err := WriteHTML(&buf, c, HTMLOptions{}); err != nil {
		t.Fatal(err)
	}
	html := buf.String()
	for _, banned := range []string{`" ONMOUSEOVER="ALERT(1)`, `" onmouseover="alert(1)`, "<script>alert(2)", `href="javascript:`, "\x1b", "\a", "\x00", "\u202e"} {
		if strings.Contains(html, banned) {
			t.Errorf("report holds %q raw", banned)
		}
	}
	for _, want := range []string{`data-host="X&#34; ONMOUSEOVER=&#34;ALERT(1)"`, "&lt;/script&gt;&lt;script&gt;alert(2)&lt;/script&gt;",
		`href="#ZgotmplZ"`, `href="https://example.org/ok"`, `\x1b]52;c;ZXZpbA==\a \u202etxt.exe`, `alice\x00&#39;--&gt;`, `x.evtx\x1b]0;t\a`} {
		if !strings.Contains(html, want) {
			t.Errorf("report lacks %q", want)
		}
	}
}

// deepChainCase is a case whose seed finding's process has 300 ancestors,
// more than the timeline's chains show, and whose evidence file has an
// error that repeated in three more chunks.
func deepChainCase(t *testing.T) (*Case, *timeline.Process) {
	t.Helper()
	t0 := time.Date(2024, 3, 14, 10, 0, 0, 0, time.UTC)
	b := timeline.NewBuilder(timeline.Options{})
	const n = 300
	for i := range n {
		image, cmd := `C:\Windows\System32\cmd.exe`, "cmd.exe /c next"
		switch i {
		case n - 2:
			image, cmd = `C:\Tools\netscan.exe`, "netscan.exe"
		case n - 1:
			image, cmd = `C:\Windows\System32\mstsc.exe`, "mstsc.exe /v:SRV09"
		}
		b.Add(&parser.ProcessEvent{Host: "WKS09", Time: t0.Add(time.Duration(i) * time.Millisecond), Source: parser.SourceSysmon1, RecordID: uint64(i + 1),
			PID: uint32(1000 + 4*i), PPID: uint32(996 + 4*i), Image: image, CommandLine: cmd, ProcessGUID: fmt.Sprintf("G%d", i),
			ParentProcessGUID: fmt.Sprintf("G%d", i-1), User: `CORP\alice`, File: "x.evtx"})
	}
	tl := b.Build()
	rules, err := detections.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	c := &Case{Version: "test", Zone: time.UTC, Timeline: tl, Rules: rules, Findings: detections.NewEngine(rules).Run(tl),
		Files: []*parser.FileStats{{Path: "x.evtx", ErrorCount: 4, Errors: []parser.DecodeError{{File: "x.evtx", Kind: parser.KindChild, Offset: 0x1000,
			Reason: "golang-evtx's process died", Repeats: 3, LastOffset: 0x31000}}}}}
	for _, f := range c.Findings {
		if f.Rule.ID == "HuntQuery-CrowdStrike-NetscanMstscRDP" {
			return c, f.Hits[0].Process
		}
	}
	t.Fatal("no seed finding")
	return nil, nil
}

// TestCutChainsAndRepeatedErrors: a chain the timeline cut is shown in
// every report with a line "… N ancestors not shown" (N counting what the
// report left out too), never as a process; an error counted for others
// like it says how many and where the last one is.
func TestCutChainsAndRepeatedErrors(t *testing.T) {
	c, p := deepChainCase(t)
	if p.Depth != 300 {
		t.Fatalf("depth %d, want 300 (299 logged ancestors and a placeholder)", p.Depth)
	}
	const repeated = "and 3 more like it, the last at 0x31000"

	var buf bytes.Buffer
	if err := WriteDetectionsJSONL(&buf, c.Findings); err != nil {
		t.Fatal(err)
	}
	var jsonl string
	for line := range strings.Lines(buf.String()) {
		if strings.Contains(line, `"rule_id":"HuntQuery-CrowdStrike-NetscanMstscRDP"`) {
			jsonl = line
		}
	}
	var d struct {
		Chain []json.RawMessage `json:"chain"`
		Hits  []struct {
			Chain []json.RawMessage `json:"chain"`
		} `json:"hits"`
	}
	if err := json.Unmarshal([]byte(jsonl), &d); err != nil {
		t.Fatal(err)
	}
	if len(d.Chain) != 258 || string(d.Chain[0]) != `{"ancestors_not_shown":44}` || !bytes.Contains(d.Chain[1], []byte(`"image":"C:\\Windows\\System32\\cmd.exe"`)) ||
		len(d.Hits) != 1 || len(d.Hits[0].Chain) != 258 || string(d.Hits[0].Chain[0]) != string(d.Chain[0]) {
		t.Errorf("detections.jsonl chain of %d steps, first %s, second %s", len(d.Chain), d.Chain[0], d.Chain[1])
	}

	buf.Reset()
	if err := WriteHTML(&buf, c, HTMLOptions{}); err != nil {
		t.Fatal(err)
	}
	html := buf.String()
	if !strings.Contains(html, `<div class="muted">… 277 ancestors not shown</div><ol>`) || strings.Contains(html, "not shown) (") ||
		strings.Contains(html, "processes above not shown") {
		t.Error("report.html does not show the cut chain as 277 ancestors not shown")
	}
	if !strings.Contains(html, `golang-evtx&#39;s process died<div class="muted">`+repeated+`</div>`) {
		t.Errorf("report.html does not say the error repeated")
	}

	f := openXLSX(t, c, XLSXOptions{})
	var chainCell string
	rows, _ := f.GetRows(SheetDetections)
	for _, r := range rows {
		if len(r) > 14 && r[5] == "Correlate netscan.exe Spawning mstsc.exe for RDP Lateral Movement" {
			chainCell = r[14]
		}
	}
	if !strings.HasPrefix(chainCell, "… 44 ancestors not shown > cmd.exe > cmd.exe (+1ms) > ") || strings.Count(chainCell, " > ") != 257 {
		t.Errorf("Detections chain: %.120q", chainCell)
	}
	rows, _ = f.GetRows(SheetTrees)
	marks := 0
	for _, r := range rows {
		if slices.ContainsFunc(r, func(s string) bool { return strings.Contains(s, "not shown") }) {
			if len(r) != 5 || r[3] != "" || r[4] != "… 44 ancestors not shown" {
				t.Errorf("Process trees row %q", r)
			}
			marks++
		}
	}
	if marks == 0 {
		t.Error("Process trees: no line for the ancestors not shown")
	}
	rows, _ = f.GetRows(SheetErrors)
	if len(rows) != 2 || len(rows[0]) != 7 || rows[0][6] != "More like it" || len(rows[1]) != 7 || rows[1][5] != "golang-evtx's process died" || rows[1][6] != repeated {
		t.Errorf("Errors sheet %q", rows)
	}
}

// TestViewsAgreeOnTheParent: every view of a process shows its parent by
// timeline's one rule, the event's own fields first. mstsc.exe's event
// spells its parent's image otherwise than netscan.exe's record does, and
// records a parent command line other than netscan.exe's own.
func TestViewsAgreeOnTheParent(t *testing.T) {
	t0 := time.Date(2024, 3, 14, 10, 0, 0, 0, time.UTC)
	b := timeline.NewBuilder(timeline.Options{})
	b.Add(&parser.ProcessEvent{Host: "WKS01", Time: t0, Source: parser.SourceSysmon1, RecordID: 1, PID: 100, PPID: 50, Image: `C:\Tools\netscan.exe`,
		CommandLine: "netscan.exe /linked", ProcessGUID: "A", ParentProcessGUID: "P", ParentImage: `C:\Windows\explorer.exe`, File: "x.evtx"})
	b.Add(&parser.ProcessEvent{Host: "WKS01", Time: t0.Add(time.Second), Source: parser.SourceSysmon1, RecordID: 2, PID: 200, PPID: 100,
		Image: `C:\Windows\System32\mstsc.exe`, CommandLine: "mstsc.exe /v:SRV01", ProcessGUID: "B", ParentProcessGUID: "A",
		ParentImage: `\??\C:\Tools\NETSCAN.EXE`, ParentCommandLine: "netscan.exe /recorded", File: "x.evtx"})
	tl := b.Build()
	rules, err := detections.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	c := &Case{Version: "test", Zone: time.UTC, Timeline: tl, Rules: rules, Findings: detections.NewEngine(rules).Run(tl)}
	mstsc := tl.Hosts[0].Processes[1]
	const image, commandLine = `\??\C:\Tools\NETSCAN.EXE`, "netscan.exe /recorded"
	if mstsc.Parent.Image != `C:\Tools\netscan.exe` || mstsc.Link != timeline.LinkGUID || len(c.Findings) == 0 {
		t.Fatalf("mstsc.exe linked to %s (%s), %d findings", mstsc.Parent.Image, mstsc.Link, len(c.Findings))
	}

	f := openXLSX(t, c, XLSXOptions{})
	det, _ := f.GetRows(SheetDetections)
	for _, r := range det[1:] {
		if r[10] != image || r[11] != commandLine {
			t.Errorf("XLSX Detections: parent %q, parent command line %q; want %q, %q", r[10], r[11], image, commandLine)
		}
	}
	tlRows, _ := f.GetRows(SheetTimeline)
	if tlRows[2][6] != image {
		t.Errorf("XLSX Timeline: parent %q, want %q", tlRows[2][6], image)
	}
	var buf bytes.Buffer
	if err := WriteHTML(&buf, c, HTMLOptions{}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "parent <b>NETSCAN.EXE</b>") || strings.Contains(buf.String(), "parent <b>netscan.exe</b>") {
		t.Error("the HTML report names the parent otherwise than the event")
	}
	buf.Reset()
	if err := WriteTimelineJSONL(&buf, c.Processes(), time.UTC); err != nil {
		t.Fatal(err)
	}
	if want := `"parent_image":` + strconv.Quote(image); !strings.Contains(buf.String(), want) {
		t.Errorf("timeline.jsonl lacks %s:\n%s", want, buf.String())
	}
	buf.Reset()
	if err := WriteTimelineCSV(&buf, c.Processes(), time.UTC); err != nil {
		t.Fatal(err)
	}
	if rows, err := csv.NewReader(&buf).ReadAll(); err != nil || rows[2][10] != image || !strings.HasPrefix(rows[2][0], "WKS01: NETSCAN.EXE (100) started mstsc.exe") {
		t.Errorf("CSV: %q %v", rows, err)
	}
}

// TestXLSXRuleLinksAcrossSheets: once the Rules sheet continues on
// "Rules (2)" and further, each finding's rule link still lands on its
// rule's row (issue 13, bug 5).
func TestXLSXRuleLinksAcrossSheets(t *testing.T) {
	c := hostileCase(t)
	f := openXLSX(t, c, XLSXOptions{MaxRows: 2}) // a rule a sheet: the rules that fired are first
	if _, err := f.GetRows(sheetName(SheetRules, 3)); err != nil || len(c.Findings) == 0 {
		t.Fatalf("want rules over 3 sheets or more and findings: %v, %d findings", err, len(c.Findings))
	}
	link := regexp.MustCompile(`^HYPERLINK\("#'([^']+)'!(A[0-9]+)","([^"]*)"\)$`)
	checked := 0
	for part := 1; ; part++ {
		rows, err := f.GetRows(sheetName(SheetDetections, part))
		if err != nil {
			break
		}
		for i := range rows[1:] {
			cell := fmt.Sprintf("R%d", i+2)
			formula, _ := f.GetCellFormula(sheetName(SheetDetections, part), cell)
			m := link.FindStringSubmatch(formula)
			if m == nil {
				t.Errorf("%s: rule link %q", cell, formula)
				continue
			}
			if id, _ := f.GetCellValue(m[1], m[2]); id != m[3] || !strings.HasPrefix(m[1], SheetRules) {
				t.Errorf("%s: the link to rule %s lands on %q in %s!%s", cell, m[3], id, m[1], m[2])
			}
			checked++
		}
	}
	if checked == 0 {
		t.Error("no rule link checked")
	}
}

// TestXLSXCellsCountCharacters: Excel's bound of 32,767 characters counts
// UTF-16 units, so 20,000 CJK characters (60,000 bytes) fit whole, and
// 20,000 emoji (40,000 units) are cut between two of them with a marker
// counting what was left out, within the bound.
func TestXLSXCellsCountCharacters(t *testing.T) {
	t0 := time.Date(2024, 3, 14, 10, 0, 0, 0, time.UTC)
	cjk, emoji := strings.Repeat("漢", 20_000), strings.Repeat("😀", 20_000)
	b := timeline.NewBuilder(timeline.Options{})
	for i, cmd := range []string{cjk, emoji} {
		b.Add(&parser.ProcessEvent{Host: "WKS01", Time: t0.Add(time.Duration(i) * time.Second), Source: parser.SourceSysmon1, RecordID: uint64(i + 1),
			PID: uint32(100 + i), PPID: 50, Image: `C:\x.exe`, ProcessGUID: fmt.Sprint(i), CommandLine: cmd, File: "x.evtx"})
	}
	f := openXLSX(t, &Case{Version: "test", Zone: time.UTC, Timeline: b.Build()}, XLSXOptions{})
	if got, _ := f.GetCellValue(SheetTimeline, "K2"); got != cjk {
		t.Errorf("K2: %d characters of %d, ends %q", utf8.RuneCountInString(got), 20_000, got[max(0, len(got)-60):])
	}
	got, _ := f.GetCellValue(SheetTimeline, "K3")
	marker := regexp.MustCompile(` \[\.\.\. cut: ([0-9]+) characters; the full value is in the JSON lines\]$`).FindStringSubmatch(got)
	if marker == nil {
		t.Fatalf("K3: %d characters, no marker at the end: %q", utf8.RuneCountInString(got), got[max(0, len(got)-80):])
	}
	head := strings.TrimSuffix(got, marker[0])
	if units := len(utf16.Encode([]rune(got))); units > excelMaxCellChars || units < excelMaxCellChars-1 ||
		strings.Trim(head, "😀") != "" || marker[1] != strconv.Itoa(2*(20_000-utf8.RuneCountInString(head))) {
		t.Errorf("K3: %d UTF-16 units, %d emoji, marker %q", units, utf8.RuneCountInString(head), marker)
	}
}

// TestXLSXErrorsSheet lists a file's error (one of the file itself, in no
// chunk), how many more it had, and a path not read, each escaped.
func TestXLSXErrorsSheet(t *testing.T) {
	c := hostileCase(t)
	c.Files = []*parser.FileStats{{Path: "a.evtx", ErrorCount: 5, ErrorsOmitted: 4, SHA256Omitted: "read errors",
		Errors: []parser.DecodeError{{File: "a.evtx", Kind: parser.KindFile, Chunk: -1, Reason: "=bad\x1b[31m"}}}}
	c.NotRead = []evidence.NotRead{{Path: "b\x1b.evtx", Reason: "permission denied"}}
	rows, err := openXLSX(t, c, XLSXOptions{}).GetRows(SheetErrors)
	if err != nil || len(rows) != 4 {
		t.Fatalf("Errors: %q %v", rows, err)
	}
	if r := rows[1]; r[0] != "a.evtx" || r[1] != "file" || r[3] != "" || r[5] != `=bad\x1b[31m` {
		t.Errorf("error row %q", r)
	}
	if r := rows[2]; r[1] != "omitted" || !strings.HasPrefix(r[5], "4 more errors in this file") {
		t.Errorf("omitted row %q", r)
	}
	if r := rows[3]; r[0] != `b\x1b.evtx` || r[1] != "not read" || r[5] != "permission denied" {
		t.Errorf("not read row %q", r)
	}
}
