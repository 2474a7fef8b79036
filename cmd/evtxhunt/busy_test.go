package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	w "github.com/evtxhunt/evtxhunt/parser/evtxwrite"
)

// writeBusyServer writes a Security log in which services.exe starts n
// children, each with its own numbers and pipe name in its command line:
// cmd.exe as busy servers' services do, or, with benign, children of
// explorer.exe that no rule matches (the baseline).
func writeBusyServer(tb testing.TB, path string, n int, benign bool) {
	tb.Helper()
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	t0 := time.Date(2024, 3, 14, 0, 0, 0, 0, time.UTC)
	system := w.Account{Domain: "NT AUTHORITY", Name: "SYSTEM", SID: "S-1-5-18"}
	parent := w.Proc{PID: 600, Image: `C:\Windows\System32\services.exe`, User: system, LogonID: 0x3e7, Integrity: "System", Elevation: "%%1936"}
	if benign {
		parent.Image = `C:\Windows\explorer.exe`
	}
	wr := w.NewWriter(f)
	if _, err := wr.Write(w.Security4688("SRV01.corp.local", t0, 2, parent, w.Proc{PID: 4, Image: `C:\Windows\System32\wininit.exe`, User: system})); err != nil {
		tb.Fatal(err)
	}
	for i := range n {
		child := w.Proc{PID: uint32(1000 + 4*(i%50_000)), Image: `C:\Windows\System32\cmd.exe`, User: system, LogonID: 0x3e7, Integrity: "System",
			Elevation: "%%1936", CommandLine: fmt.Sprintf(`C:\Windows\system32\cmd.exe /c echo %d > \\.\pipe\%08x`, i*7919%100_000, uint32(i)*2654435761)}
		if _, err := wr.Write(w.Security4688("SRV01.corp.local", t0.Add(time.Duration(i+1)*100*time.Millisecond), 2, child, parent)); err != nil {
			tb.Fatal(err)
		}
	}
	if err := wr.Close(); err != nil {
		tb.Fatal(err)
	}
}

// TestBusyServerScan: 100,000 services.exe -> cmd.exe children (a 20 MB
// log) are one finding; report.html stays under 25 MB and opens in a real
// browser with its script running.
func TestBusyServerScan(t *testing.T) {
	if testing.Short() {
		t.Skip("SKIP: 100,000 processes in -short mode")
	}
	dir := t.TempDir()
	log := filepath.Join(dir, "evidence", "Security.evtx")
	os.MkdirAll(filepath.Dir(log), 0o755)
	writeBusyServer(t, log, 100_000, false)
	out := filepath.Join(dir, "case")
	code, stdout, stderr := runCmd("scan", "--quiet", "--out", out, filepath.Dir(log))
	if code != exitClean {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	if !strings.Contains(stdout, "findings: 1 (critical 0, high 1,") || !strings.Contains(stdout, "Service control manager starts a shell: cmd.exe <- services.exe (100000 hits)") {
		t.Errorf("stdout:\n%s", stdout)
	}
	page := filepath.Join(out, "report.html")
	info, err := os.Stat(page)
	if err != nil || info.Size() > 25_000_000 {
		t.Fatalf("report.html: %v", err)
	}
	t.Logf("evidence %d records; report.html %.2f MB", 100_001, float64(info.Size())/1e6)
	bin := chromium(t)
	dom := browse(t, bin, page, "--dump-dom")
	if body := regexp.MustCompile(`<body[^>]*>`).FindString(dom); body != `<body data-js="ok">` || !strings.Contains(dom, "1 of 1 findings shown") ||
		!strings.Contains(dom, "100000 hits on this host") {
		t.Errorf("the report did not render cleanly: %s", body)
	}
}

var busyChildren = flag.Int("busy", 100_000, "children of the busy server in BenchmarkBusyServerScan")

// peakRSS resets the process's peak resident set size (Linux), runs f and
// returns the new peak in MiB, or 0 where it cannot be measured.
func peakRSS(f func()) float64 {
	if os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) != nil {
		f()
		return 0
	}
	f()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			var kb float64
			fmt.Sscan(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), &kb)
			return kb / 1024
		}
	}
	return 0
}

// BenchmarkBusyServerScan scans a log of a busy server whose services.exe
// starts cmd.exe -busy times (default 100,000), with every report, beside
// the same number of explorer.exe children that no rule matches (the
// baseline: decoding, timeline and reports without findings), and reports
// the peak resident memory of the process during the scan:
//
//	go test -run '^$' -bench BusyServerScan -benchtime 1x ./cmd/evtxhunt
//	go test -run '^$' -bench BusyServerScan -benchtime 1x ./cmd/evtxhunt -busy 1000000
func BenchmarkBusyServerScan(b *testing.B) {
	for _, bc := range []struct {
		name   string
		benign bool
	}{{"baseline-explorer-children", true}, {"services-cmd-children", false}} {
		b.Run(bc.name, func(b *testing.B) {
			dir := b.TempDir()
			log := filepath.Join(dir, "evidence", "Security.evtx")
			os.MkdirAll(filepath.Dir(log), 0o755)
			writeBusyServer(b, log, *busyChildren, bc.benign)
			info, _ := os.Stat(log)
			b.ResetTimer()
			var rss float64
			var stdout string
			for i := 0; b.Loop(); i++ {
				rss = max(rss, peakRSS(func() {
					var code int
					code, stdout, _ = runCmd("scan", "--quiet", "--out", filepath.Join(dir, fmt.Sprint("case", i)), filepath.Dir(log))
					if code != exitClean {
						b.Fatalf("exit %d", code)
					}
				}))
			}
			html, _ := os.Stat(filepath.Join(dir, "case0", "report.html"))
			b.ReportMetric(rss, "peak-RSS-MiB")
			b.ReportMetric(float64(info.Size())/1e6, "evtx-MB")
			b.ReportMetric(float64(html.Size())/1e6, "html-MB")
			var findings float64
			fmt.Sscanf(stdout[strings.Index(stdout, "findings: "):], "findings: %g", &findings)
			b.ReportMetric(findings, "findings")
		})
	}
}

// TestFiltersNarrowAggregatedFindings: --from and --to keep the hits of a
// finding within them, and the finding starts at the first one kept.
func TestFiltersNarrowAggregatedFindings(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "evidence", "Security.evtx")
	os.MkdirAll(filepath.Dir(log), 0o755)
	writeBusyServer(t, log, 200, false) // children every 100 ms from 00:00:00.1
	out := filepath.Join(dir, "case")
	code, stdout, stderr := runCmd("scan", "--quiet", "--format", "jsonl", "--out", out, "--from", "2024-03-14T00:00:10Z", "--to", "2024-03-14T00:00:15Z", filepath.Dir(log))
	if code != exitClean {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	if !strings.Contains(stdout, "2024-03-14 00:00:10  SRV01    high      Service control manager starts a shell: cmd.exe <- services.exe (51 hits)") {
		t.Errorf("stdout:\n%s", stdout)
	}
}
