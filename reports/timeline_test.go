package reports

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/evtxhunt/evtxhunt/parser"
	"github.com/evtxhunt/evtxhunt/timeline"
)

func sampleTimeline() *timeline.Timeline {
	t0 := time.Date(2024, 3, 14, 10, 0, 0, 123456700, time.UTC)
	b := timeline.NewBuilder(timeline.Options{})
	b.Add(&parser.ProcessEvent{Host: "wks01.corp.local", Time: t0, Source: parser.SourceSysmon1, RecordID: 7, PID: 100, PPID: 50,
		Image: `C:\Tools\netscan.exe`, ParentImage: `C:\Windows\explorer.exe`, ProcessGUID: "A", ParentProcessGUID: "P",
		CommandLine: `netscan.exe "a,b" =cmd`, User: `CORP\alice`, File: "Sysmon.evtx"})
	b.Add(&parser.ProcessEvent{Host: "WKS01", Time: t0.Add(1500 * time.Millisecond), Source: parser.SourceSysmon1, RecordID: 8, PID: 200, PPID: 100,
		Image: `C:\Windows\System32\mstsc.exe`, ParentImage: `C:\Tools\netscan.exe`, ProcessGUID: "B", ParentProcessGUID: "A",
		CommandLine: `mstsc.exe /v:SRV01`, User: `CORP\alice`, File: "Sysmon.evtx"})
	return b.Build()
}

func TestTimelineJSONLAndCSV(t *testing.T) {
	tl := sampleTimeline()
	procs := tl.Select(timeline.Filter{})
	var buf bytes.Buffer
	tokyo := time.FixedZone("JST", 9*3600)
	if err := WriteTimelineJSONL(&buf, procs, tokyo); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	var second map[string]any
	if len(lines) != 2 || json.Unmarshal([]byte(lines[1]), &second) != nil {
		t.Fatalf("jsonl: %q", buf.String())
	}
	for k, v := range map[string]any{"host": "WKS01", "time": "2024-03-14T19:00:01.6234567+09:00", "parent_image": `C:\Tools\netscan.exe`,
		"parent_link": "guid", "depth": 2.0, "ppid": 100.0, "command_line": "mstsc.exe /v:SRV01"} {
		if second[k] != v {
			t.Errorf("%s = %v, want %v", k, second[k], v)
		}
	}
	buf.Reset()
	if err := WriteTimelineCSV(&buf, procs, time.UTC); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&buf).ReadAll()
	if err != nil || len(rows) != 3 {
		t.Fatalf("csv: %v %v", rows, err)
	}
	if rows[1][0] != `WKS01: explorer.exe (50) started netscan.exe (100) as CORP\alice: netscan.exe "a,b" =cmd` ||
		rows[1][1] != "2024-03-14T10:00:00.123456+00:00" || rows[1][2] != "1710410400123456" || rows[1][8] != `netscan.exe "a,b" =cmd` {
		t.Errorf("row %q", rows[1])
	}
}

func TestWriteTree(t *testing.T) {
	tl := sampleTimeline()
	var buf bytes.Buffer
	if err := WriteTree(&buf, tl, timeline.Filter{Text: "mstsc"}, time.UTC); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"== WKS01 (WKS01, wks01.corp.local): 2 processes",
		"explorer.exe (50) [not logged]",
		"2024-03-14T10:00:00.1234567Z  └─  netscan.exe (100) CORP\\alice  netscan.exe \"a,b\" =cmd",
		"2024-03-14T10:00:01.6234567Z    └─* mstsc.exe (200) CORP\\alice  mstsc.exe /v:SRV01",
	}
	for _, w := range want {
		if !strings.Contains(buf.String(), w) {
			t.Errorf("tree lacks %q:\n%s", w, buf.String())
		}
	}
}

// TestCSVGuardsCells: cells from the evidence that a spreadsheet would read
// as formulas start with a single quote, control characters are visible
// escapes, and timeline.jsonl keeps the exact values.
func TestCSVGuardsCells(t *testing.T) {
	t0 := time.Date(2024, 3, 14, 10, 0, 0, 0, time.UTC)
	b := timeline.NewBuilder(timeline.Options{})
	hostile := parser.ProcessEvent{Host: "-2+3", Time: t0, Source: parser.SourceSysmon1, RecordID: 1, PID: 100, PPID: 50,
		Image: `=cmd|' /C calc'!A0`, CommandLine: "+1\x00\x1b[31m\r\nred", User: "@SUM(1+1)", ParentImage: "\t=1+1",
		ProcessGUID: "\uff1dHYPERLINK(\"http://x\")", File: "=evil.evtx"}
	b.Add(&hostile)
	procs := b.Build().Select(timeline.Filter{})
	var buf bytes.Buffer
	if err := WriteTimelineCSV(&buf, procs, time.UTC); err != nil {
		t.Fatal(err)
	}
	if strings.ContainsAny(buf.String(), "\x00\x1b\r") || strings.Count(buf.String(), "\n") != 2 {
		t.Errorf("control characters in the CSV: %q", buf.String())
	}
	rows, err := csv.NewReader(&buf).ReadAll()
	if err != nil || len(rows) != 2 {
		t.Fatalf("%d rows: %v", len(rows), err)
	}
	row := map[string]string{}
	for i, h := range rows[0] {
		row[h] = rows[1][i]
	}
	for field, want := range map[string]string{
		"host": "'-2+3", "image": `'=cmd|' /C calc'!A0`, "command_line": `'+1\x00\x1b[31m\r\nred`, "user": "'@SUM(1+1)",
		"parent_image": `'\t=1+1`, "process_guid": "'\uff1dHYPERLINK(\"http://x\")", "evidence": "'=evil.evtx#1",
		"pid": "100", "timestamp": "1710410400000000",
	} {
		if row[field] != want {
			t.Errorf("%s = %q, want %q", field, row[field], want)
		}
	}
	for h, cell := range row {
		if cell != "" && strings.ContainsAny(cell[:1], "=+-@\t\r") {
			t.Errorf("%s begins with %q: %q", h, cell[:1], cell)
		}
	}
	buf.Reset()
	if err := WriteTimelineJSONL(&buf, procs, time.UTC); err != nil {
		t.Fatal(err)
	}
	var rec map[string]any
	if err := json.Unmarshal(buf.Bytes(), &rec); err != nil || rec["command_line"] != hostile.CommandLine || rec["image"] != hostile.Image {
		t.Errorf("timeline.jsonl lost the exact values: %v %v", rec, err)
	}
}

// TestWriteTreeCutsCharacters: a long command line of multibyte text is
// cut after 137 characters, never inside one, so the tree stays UTF-8
// (issue 13, bug 6).
func TestWriteTreeCutsCharacters(t *testing.T) {
	b := timeline.NewBuilder(timeline.Options{})
	b.Add(&parser.ProcessEvent{Host: "WKS01", Time: time.Date(2024, 3, 14, 10, 0, 0, 0, time.UTC), Source: parser.SourceSysmon1, RecordID: 1,
		PID: 100, PPID: 50, Image: `C:\Tools\x.exe`, ProcessGUID: "A", CommandLine: "x.exe " + strings.Repeat("漢é", 100), File: "x.evtx"})
	var buf bytes.Buffer
	if err := WriteTree(&buf, b.Build(), timeline.Filter{}, time.UTC); err != nil {
		t.Fatal(err)
	}
	want := "  x.exe " + strings.Repeat("漢é", 65) + "漢...\n" // 6 + 131 characters, then the marker
	if !utf8.Valid(buf.Bytes()) || !strings.Contains(buf.String(), want) {
		t.Errorf("tree:\n%s\nwant a line ending %q", buf.String(), want)
	}
}

// TestWriteTreeBranches draws a tree with branches below a non-last child,
// an ambiguous link and a parent that was never logged, with a host filter
// and a text filter that keeps one branch.
func TestWriteTreeBranches(t *testing.T) {
	t0 := time.Date(2024, 3, 14, 10, 0, 0, 0, time.UTC)
	b := timeline.NewBuilder(timeline.Options{})
	n := uint64(0)
	add := func(host string, sec int, pid, ppid uint32, image, parentImage string) {
		n++
		b.Add(&parser.ProcessEvent{Host: host, Time: t0.Add(time.Duration(sec) * time.Second), Source: parser.SourceSecurity4688, Version: 2,
			RecordID: n, PID: pid, PPID: ppid, Image: image, ParentImage: parentImage, File: host + ".evtx"})
	}
	add("WKS01", 0, 10, 4, `C:\a.exe`, `System`)
	add("WKS01", 1, 11, 10, `C:\b.exe`, `C:\a.exe`)
	add("WKS01", 2, 12, 11, `C:\c.exe`, `C:\b.exe`)
	add("WKS01", 3, 13, 10, `C:\d.exe`, `C:\a.exe`)
	add("WKS01", 4, 14, 10, `C:\e.exe`, `C:\other.exe`) // pid 10 is a.exe: the event names another parent
	add("SRV01", 0, 20, 4, `C:\s.exe`, `System`)
	tl := b.Build()
	var buf bytes.Buffer
	if err := WriteTree(&buf, tl, timeline.Filter{Host: "WKS01"}, time.UTC); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"├─  b.exe (11)", "│ └─  c.exe (12)", "└─  d.exe (13)", "other.exe (10) [not logged]", "[ambiguous parent: pid 10 belonged to"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("tree lacks %q:\n%s", want, buf.String())
		}
	}
	if strings.Contains(buf.String(), "SRV01") {
		t.Errorf("another host drawn:\n%s", buf.String())
	}
	buf.Reset()
	if err := WriteTree(&buf, tl, timeline.Filter{Text: "c.exe"}, time.UTC); err != nil {
		t.Fatal(err)
	}
	if out := buf.String(); !strings.Contains(out, "└─* c.exe (12)") || strings.Contains(out, "d.exe") || strings.Contains(out, "other.exe") {
		t.Errorf("narrowed tree:\n%s", out)
	}
}

// TestWriteTimelineFiles writes both timeline files into a folder, as
// evtxhunt timeline --out does; a parent that no record names is shown as
// unknown in the CSV's message.
func TestWriteTimelineFiles(t *testing.T) {
	b := timeline.NewBuilder(timeline.Options{})
	b.Add(&parser.ProcessEvent{Host: "WKS01", Time: time.Date(2024, 3, 14, 10, 0, 0, 0, time.UTC), Source: parser.SourceSecurity4688, Version: 1,
		RecordID: 1, PID: 100, PPID: 50, Image: `C:\x.exe`, File: "x.evtx"})
	dir := t.TempDir()
	if err := WriteTimelineFiles(dir, b.Build().Select(timeline.Filter{}), time.UTC, WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	jsonl, err1 := os.ReadFile(filepath.Join(dir, TimelineJSONL))
	csvText, err2 := os.ReadFile(filepath.Join(dir, TimelineCSV))
	if err1 != nil || err2 != nil || !strings.Contains(string(jsonl), `"image":"C:\\x.exe"`) ||
		!strings.Contains(string(csvText), "WKS01: (unknown parent) (50) started x.exe (100)") {
		t.Errorf("timeline files: %v %v\n%s\n%s", err1, err2, jsonl, csvText)
	}
	if err := WriteCase(dir, &Case{Timeline: b.Build(), Zone: time.UTC}, []string{"pdf"}, WriteOptions{}); err == nil || !strings.Contains(err.Error(), `unknown format "pdf"`) {
		t.Errorf("WriteCase with an unknown format: %v", err)
	}
}
