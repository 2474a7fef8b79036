package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	w "github.com/evtxhunt/evtxhunt/parser/evtxwrite"
)

// chromium finds a headless browser, or skips; CI installs Debian's chromium
// (.ci/run), so there the test never skips.
func chromium(t *testing.T) string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("chromium is not installed in CI")
	}
	t.Skip("SKIP: no chromium on this machine (apt-get install chromium)")
	return ""
}

// browse runs headless Chromium on a page with no network, as the machine's
// documentation asks, and returns the DOM after the page's script ran.
func browse(t *testing.T, bin, page string, extra ...string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	args := append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir=" + t.TempDir(), "--virtual-time-budget=3000"}, extra...)
	out, err := exec.CommandContext(ctx, bin, append(args, "file://"+page)...).Output()
	if err != nil {
		t.Fatalf("chromium: %v", err)
	}
	return string(out)
}

// The page's script marks <body data-js="ok"> when it ran, and records any
// script error in a data-js-errors attribute on <body>.

// TestHTMLReportInBrowser writes evidence whose command line carries a
// script, scans it, and opens report.html in a real browser: the page's
// script runs without error, findings and trees are there, and the evidence's
// <script> is text.
func TestHTMLReportInBrowser(t *testing.T) {
	bin := chromium(t)
	dir := t.TempDir()
	evidence := filepath.Join(dir, "evidence", "WKS01", "Microsoft-Windows-Sysmon%4Operational.evtx")
	os.MkdirAll(filepath.Dir(evidence), 0o755)
	f, err := os.Create(evidence)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2024, 3, 14, 10, 0, 0, 0, time.UTC)
	user := w.Account{Domain: "CORP", Name: "alice", SID: "S-1-5-21-1-2-3-1104"}
	explorer := w.Proc{PID: 100, Image: `C:\Windows\explorer.exe`, User: user, GUID: "11111111-1111-1111-1111-111111111111", LogonGUID: "11111111-1111-1111-1111-000000000000", Integrity: "Medium"}
	scan := w.Proc{PID: 200, Image: `C:\Users\alice\Downloads\netscan.exe`, CommandLine: "netscan.exe", User: user, GUID: "22222222-2222-2222-2222-222222222222", LogonGUID: explorer.LogonGUID, Integrity: "Medium"}
	rdp := w.Proc{PID: 300, Image: `C:\Windows\System32\mstsc.exe`, CommandLine: `mstsc.exe /v:SRV01 "<script>alert(1)</script>"`, User: user,
		GUID: "33333333-3333-3333-3333-333333333333", LogonGUID: explorer.LogonGUID, Integrity: "Medium"}
	wr := w.NewWriter(f)
	for i, ev := range []*w.Event{w.Sysmon1("WKS01", t0, scan, explorer), w.Sysmon1("WKS01", t0.Add(time.Minute), rdp, scan)} {
		if _, err := wr.Write(ev); err != nil {
			t.Fatal(i, err)
		}
	}
	if err := wr.Close(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	out := filepath.Join(dir, "case")
	if code, _, stderr := runCmd("scan", "--quiet", "--out", out, filepath.Join(dir, "evidence")); code != exitClean {
		t.Fatalf("scan: %d %s", code, stderr)
	}
	page := filepath.Join(out, "report.html")
	dom := browse(t, bin, page, "--dump-dom")
	if body := regexp.MustCompile(`<body[^>]*>`).FindString(dom); body != `<body data-js="ok">` {
		t.Fatalf("the report's script did not run cleanly: %s", body)
	}
	if n := len(regexp.MustCompile(`<tr class="finding"`).FindAllString(dom, -1)); n != 2 {
		t.Errorf("%d findings rows in the rendered page, want 2 (the netscan hunt and the unusual parent)", n)
	}
	for _, want := range []string{"2 of 2 findings shown", `class="node hit"`, `class="node onpath"`, "&lt;script&gt;alert(1)&lt;/script&gt;"} {
		if !strings.Contains(dom, want) {
			t.Errorf("rendered page lacks %q", want)
		}
	}
	if strings.Contains(dom, "<script>alert(1)") {
		t.Error("the evidence's <script> became markup")
	}

	// A screenshot of the incident's report, to look at.
	whole := filepath.Join(dir, "incident")
	if code, _, stderr := runCmd("scan", "--quiet", "--out", whole, generatedEvidence); code != exitClean {
		t.Fatalf("scan: %d %s", code, stderr)
	}
	shot := filepath.Join(dir, "report.png")
	if keep := os.Getenv("EVTXHUNT_SCREENSHOT"); keep != "" {
		shot = keep
	}
	browse(t, bin, filepath.Join(whole, "report.html"), "--screenshot="+shot, "--window-size=1366,2000")
	if info, err := os.Stat(shot); err != nil || info.Size() < 50_000 {
		t.Errorf("screenshot: %v", err)
	}
	dom = browse(t, bin, filepath.Join(whole, "report.html"), "--dump-dom")
	if body := regexp.MustCompile(`<body[^>]*>`).FindString(dom); body != `<body data-js="ok">` || !strings.Contains(dom, "19 of 19 findings shown") {
		t.Errorf("incident report did not render cleanly: %s", body)
	}
}
