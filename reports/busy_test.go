package reports

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/evtxhunt/evtxhunt/detections"
	"github.com/evtxhunt/evtxhunt/parser"
	"github.com/evtxhunt/evtxhunt/timeline"
)

// busyServerCase is a server whose services.exe starts cmd.exe n times,
// each run with its own numbers and pipe name, as busy servers do, plus
// one Impacket-style cmd.exe: the pack's "service starts a shell" rule
// matches every one of them.
func busyServerCase(tb testing.TB, n int, image string) *Case {
	t0 := time.Date(2024, 3, 14, 0, 0, 0, 0, time.UTC)
	b := timeline.NewBuilder(timeline.Options{})
	b.Add(&parser.ProcessEvent{Host: "SRV01", Time: t0, Source: parser.SourceSecurity4688, Version: 2, RecordID: 1, PID: 600, PPID: 4,
		Image: `C:\Windows\System32\services.exe`, ParentImage: `C:\Windows\System32\wininit.exe`, File: "Security.evtx"})
	for i := range n {
		b.Add(&parser.ProcessEvent{Host: "SRV01", Time: t0.Add(time.Duration(i+1) * 100 * time.Millisecond), Source: parser.SourceSecurity4688,
			Version: 2, RecordID: uint64(i + 2), PID: uint32(1000 + 4*(i%50_000)), PPID: 600, Image: image,
			ParentImage: `C:\Windows\System32\services.exe`, User: `NT AUTHORITY\SYSTEM`, File: "Security.evtx",
			CommandLine: fmt.Sprintf(`C:\Windows\system32\cmd.exe /c echo %d > \\.\pipe\%08x`, i*7919%100_000, uint32(i)*2654435761)})
	}
	b.Add(&parser.ProcessEvent{Host: "SRV01", Time: t0.Add(time.Duration(n+2) * 100 * time.Millisecond), Source: parser.SourceSecurity4688,
		Version: 2, RecordID: uint64(n + 2), PID: 999_996, PPID: 600, Image: `C:\Windows\System32\cmd.exe`, ParentImage: `C:\Windows\System32\services.exe`,
		CommandLine: `cmd.exe /Q /c whoami 1> \\127.0.0.1\ADMIN$\__1710418232.51 2>&1`, File: "Security.evtx"})
	tl := b.Build()
	rules, err := detections.Builtin()
	if err != nil {
		tb.Fatal(err)
	}
	return &Case{Version: "test", Zone: time.UTC, Timeline: tl, Rules: rules, Findings: detections.NewEngine(rules).Run(tl)}
}

// TestBusyServerReports: 100,000 services.exe -> cmd.exe children of one
// command line shape are one finding (the Impacket command another), whose
// detections.jsonl line lists every record; report.html stays under 25 MB
// and the XLSX lists a bounded number of hit rows.
func TestBusyServerReports(t *testing.T) {
	if testing.Short() {
		t.Skip("SKIP: 100,000 processes in -short mode")
	}
	const n = 100_000
	c := busyServerCase(t, n, `C:\Windows\System32\cmd.exe`)
	counts := map[string][]int{}
	for _, f := range c.Findings {
		counts[f.Rule.ID] = append(counts[f.Rule.ID], len(f.Hits))
	}
	if fmt.Sprint(counts) != fmt.Sprint(map[string][]int{"evtxhunt-lm-impacket-exec-output": {1}, "evtxhunt-lm-service-shell": {n, 1}}) {
		t.Fatalf("findings by rule: %v", counts)
	}

	var jsonl bytes.Buffer
	if err := WriteDetectionsJSONL(&jsonl, c.Findings); err != nil {
		t.Fatal(err)
	}
	var first struct {
		Count, HitsOmitted int
		Hits               []json.RawMessage
		Last               string
		Records            []struct {
			File      string
			RecordIDs []uint64 `json:"record_ids"`
		}
	}
	line, _, _ := strings.Cut(jsonl.String(), "\n")
	if err := json.Unmarshal([]byte(line), &first); err != nil {
		t.Fatal(err)
	}
	if first.Count != n || len(first.Hits) != 10 || first.Last != "2024-03-14T02:46:40.0000000Z" || len(first.Records) != 1 ||
		len(first.Records[0].RecordIDs) != n || first.Records[0].RecordIDs[n-1] != n+1 {
		t.Errorf("detections.jsonl: count %d, %d hits shown, last %s, records %d", first.Count, len(first.Hits), first.Last, len(first.Records))
	}

	var html countingWriter
	if err := WriteHTML(&html, c, HTMLOptions{}); err != nil {
		t.Fatal(err)
	}
	if html > 25_000_000 || html < 20_000 {
		t.Errorf("report.html is %d bytes", html)
	}
	var page bytes.Buffer
	if err := WriteHTML(&page, c, HTMLOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"100000 hits on this host, 2024-03-14T00:00:00.1000000Z to 2024-03-14T02:46:40.0000000Z",
		"The records of all 100000 hits are in detections.jsonl", "More hits (the next 5 of 100000)"} {
		if !strings.Contains(page.String(), want) {
			t.Errorf("report.html lacks %q", want)
		}
	}
	t.Logf("report.html: %.1f MB", float64(html)/1e6)

	f := openXLSX(t, c, XLSXOptions{})
	det, _ := f.GetRows(SheetDetections)
	if len(det) != 1+10+1+2 || !strings.HasPrefix(det[11][9], "99990 more hits of this finding (100000 in all") {
		t.Errorf("Detections: %d rows; row 12 %v", len(det), det[min(11, len(det)-1)])
	}
}

// letters spells n in base 26, so that no two command lines share a shape.
func letters(n int) string {
	s := ""
	for {
		s = string(rune('a'+n%26)) + s
		n /= 26
		if n == 0 {
			return s
		}
	}
}

// TestHTMLStaysBounded: a case whose report would be far larger than its
// bound (thousands of findings of distinct shapes, each with a long command
// line, control characters and markup) is drawn smaller until it fits; it
// says what it left out, keeps the most severe finding, and escapes what
// the evidence tries in every context.
func TestHTMLStaysBounded(t *testing.T) {
	t0 := time.Date(2024, 3, 14, 0, 0, 0, 0, time.UTC)
	b := timeline.NewBuilder(timeline.Options{})
	b.Add(&parser.ProcessEvent{Host: "SRV01", Time: t0, Source: parser.SourceSecurity4688, Version: 2, RecordID: 1, PID: 600, PPID: 4,
		Image: `C:\Windows\System32\services.exe`, File: "Security.evtx"})
	const n = 1_000
	pad := strings.Repeat(`"><script>alert(1)</script>&`, 40)
	for i := range n {
		b.Add(&parser.ProcessEvent{Host: "SRV01", Time: t0.Add(time.Duration(i+1) * time.Second), Source: parser.SourceSecurity4688,
			Version: 2, RecordID: uint64(i + 2), PID: uint32(1000 + 4*i), PPID: 600, Image: `C:\Windows\System32\cmd.exe`,
			ParentImage: `C:\Windows\System32\services.exe`, File: "Security.evtx",
			CommandLine: "cmd.exe /c " + letters(i) + " \x1b]0;title\a\u202e " + pad})
	}
	// The one critical finding, last in time.
	b.Add(&parser.ProcessEvent{Host: "SRV01", Time: t0.Add(time.Hour * 2), Source: parser.SourceSecurity4688, Version: 2, RecordID: n + 2, PID: 99_000, PPID: 600,
		Image: `C:\Windows\System32\cmd.exe`, CommandLine: `cmd.exe /Q /c whoami 1> \\127.0.0.1\ADMIN$\__1710418232.51 2>&1`,
		ParentImage: `C:\Windows\System32\services.exe`, File: "Security.evtx"})
	tl := b.Build()
	rules, _ := detections.Builtin()
	c := &Case{Version: "test", Zone: time.UTC, Timeline: tl, Rules: rules, Findings: detections.NewEngine(rules).Run(tl)}
	var critical *detections.Finding
	for _, f := range c.Findings {
		if f.Rule.Severity == detections.Critical {
			critical = f
		}
	}
	if len(c.Findings) < n || critical == nil {
		t.Fatalf("%d findings, critical %v", len(c.Findings), critical)
	}
	const bound = 1_000_000
	var unbounded countingWriter
	if err := WriteHTML(&unbounded, c, HTMLOptions{MaxBytes: 1 << 40}); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := WriteHTML(&buf, c, HTMLOptions{MaxBytes: bound}); err != nil {
		t.Fatal(err)
	}
	html := buf.String()
	t.Logf("%d findings: %.1f MB unbounded, %.1f MB bounded", len(c.Findings), float64(unbounded)/1e6, float64(len(html))/1e6)
	if unbounded < 10*bound || len(html) > bound {
		t.Fatalf("unbounded %d bytes, bounded %d bytes", unbounded, len(html))
	}
	for _, want := range []string{"This report was drawn with fewer rows", "findings of lower severity are not drawn here",
		`data-sev="critical"`, "more characters: the whole value is in the JSON files]", `\x1b]0;title\a\u202e`, "&lt;script&gt;alert(1)&lt;/script&gt;"} {
		if !strings.Contains(html, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	for _, banned := range []string{"<script>alert", "\x1b", "\u202e"} {
		if strings.Contains(html, banned) {
			t.Errorf("report holds %q raw", banned)
		}
	}
}
