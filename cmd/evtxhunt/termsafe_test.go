package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	w "github.com/evtxhunt/evtxhunt/parser/evtxwrite"
)

// Terminal attacks as evidence carries them: a window title (OSC 0), a
// clipboard write (OSC 52), erasing a line (CSI 2K) after a carriage return
// and a line feed to forge a clean summary, an 8-bit CSI (C1) and a
// right-to-left override.
const (
	hostileHost = "WKS01\x1b]0;owned\a\x1b]52;c;ZXZpbA==\a"
	hostileCmd  = "mstsc.exe /v:SRV01\r\x1b[2K\nerrors: 0\u009b31m\u202etxt.exe"
	hostileFile = "Sysmon\x1b]0;file\a\u202e\r\nforged.evtx"
)

// writeHostileEvidence writes a Sysmon log of host hostileHost where
// netscan.exe starts mstsc.exe with hostileCmd, into a file named
// hostileFile whose chunk checksum is broken (so that an error naming the
// file is printed).
func writeHostileEvidence(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "evidence")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, hostileFile)
	f, err := os.Create(path)
	if err != nil {
		t.Skipf("SKIP: this file system does not take control characters in names: %v", err)
	}
	t0 := time.Date(2024, 3, 14, 10, 0, 0, 0, time.UTC)
	user := w.Account{Domain: "CORP", Name: "alice\x1b[8m", SID: "S-1-5-21-1-2-3-1104"}
	explorer := w.Proc{PID: 100, Image: `C:\Windows\explorer.exe`, User: user, GUID: "11111111-1111-1111-1111-111111111111", LogonGUID: "11111111-1111-1111-1111-000000000000"}
	scan := w.Proc{PID: 200, Image: "C:\\Users\\alice\\Downloads\\netscan.exe", CommandLine: "netscan.exe", User: user, GUID: "22222222-2222-2222-2222-222222222222", LogonGUID: explorer.LogonGUID}
	rdp := w.Proc{PID: 300, Image: `C:\Windows\System32\mstsc.exe`, CommandLine: hostileCmd, User: user, GUID: "33333333-3333-3333-3333-333333333333", LogonGUID: explorer.LogonGUID}
	wr := w.NewWriter(f)
	for _, ev := range []*w.Event{w.Sysmon1(hostileHost, t0, scan, explorer), w.Sysmon1(hostileHost, t0.Add(time.Minute), rdp, scan)} {
		if _, err := wr.Write(ev); err != nil {
			t.Fatal(err)
		}
	}
	if err := wr.Close(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.BreakChunkCRC(b, 0); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// assertTerminalSafe fails on any byte of out that could act on a terminal:
// C0 controls but line feeds and the tabs of usage text, DEL, C1 controls, bidi
// overrides, and bytes that are not UTF-8.
func assertTerminalSafe(t *testing.T, what, out string) {
	t.Helper()
	for i, r := range out {
		bad := r < 0x20 && r != '\n' && r != '\t' || r == 0x7f || r >= 0x80 && r <= 0x9f || r >= 0x202a && r <= 0x202e || r >= 0x2066 && r <= 0x2069 ||
			r == utf8.RuneError
		if bad {
			t.Errorf("%s: raw %U at byte %d: %q", what, r, i, out[max(0, i-40):min(len(out), i+40)])
			return
		}
	}
	for _, forged := range []string{"\nerrors: 0", "\nforged"} {
		if strings.Contains(out, forged) {
			t.Errorf("%s: a line of its own begins with %q", what, forged[1:])
		}
	}
}

// TestTerminalOutputIsSafe runs the commands that print evidence on hostile
// evidence and checks that their stdout and stderr carry no raw control
// character, and the escaped forms instead.
func TestTerminalOutputIsSafe(t *testing.T) {
	dir := writeHostileEvidence(t)
	file := filepath.Join(dir, hostileFile)
	sigma := filepath.Join(t.TempDir(), "sigma")
	writeFiles(t, sigma, map[string]string{"bad\x1b]0;rule\a.yml": sigmaHead + "    sel:\n        Image|fuzzy: x\n    condition: sel\n"})
	caseDir := filepath.Join(t.TempDir(), "case")
	escapedFile := filepath.Join(dir, `Sysmon\x1b]0;file\a\u202e\r\nforged.evtx`)
	for _, tc := range []struct {
		args               []string
		code               int
		inStdout, inStderr []string
	}{
		{[]string{"events", dir}, exitEvidence,
			[]string{`"host":"WKS01\u001b]0;owned\u0007\u001b]52;c;ZXZpbA==\u0007"`, `\r\u001b[2K\nerrors: 0\u009b31m\u202etxt.exe`},
			[]string{escapedFile}},
		{[]string{"timeline", "--tree", dir}, exitEvidence,
			[]string{`== WKS01\x1b]0;OWNED\a\x1b]52;C;ZXZPBA==\a (WKS01\x1b]0;owned\a\x1b]52;c;ZXZpbA==\a)`, `\r\x1b[2K\nerrors: 0\u009b31m\u202etxt.exe`, `alice\x1b[8m`},
			[]string{escapedFile}},
		{[]string{"scan", "--quiet", "--format", "jsonl", "--out", caseDir, dir}, exitEvidence,
			[]string{`WKS01\x1b]0;OWNED\a\x1b]52;C;ZXZPBA==\a high`},
			[]string{escapedFile}},
		{[]string{"scan", "--quiet", "--out", filepath.Join(t.TempDir(), "case"), file + "\x1bmissing"}, exitEvidence,
			nil, []string{escapedFile + `\x1bmissing`}},
		{[]string{"events", "--\x1b]0;flag\a", dir}, exitUsage, nil, []string{`-\x1b]0;flag\a`}},
		{[]string{"rules", "--sigma", sigma}, exitEvidence, nil, []string{`bad\x1b]0;rule\a.yml: sel: modifier`}},
	} {
		code, stdout, stderr := runCmd(tc.args...)
		name := strings.Join(tc.args[:1], " ")
		if code != tc.code {
			t.Errorf("%s: exit %d, want %d\n%s", name, code, tc.code, stderr)
		}
		assertTerminalSafe(t, name+" stdout", stdout)
		assertTerminalSafe(t, name+" stderr", stderr)
		for _, want := range tc.inStdout {
			if !strings.Contains(stdout, want) {
				t.Errorf("%s: stdout lacks %s:\n%s", name, want, stdout)
			}
		}
		for _, want := range tc.inStderr {
			if !strings.Contains(stderr, want) {
				t.Errorf("%s: stderr lacks %s:\n%s", name, want, stderr)
			}
		}
	}
	// The case folder's JSON is safe to print too: DEL, C1 and bidi
	// controls, which encoding/json leaves raw, are \u escapes.
	for _, name := range []string{"events.jsonl", "detections.jsonl", "timeline.jsonl", "summary.json"} {
		b, err := os.ReadFile(filepath.Join(caseDir, name))
		if err != nil {
			t.Fatal(err)
		}
		assertTerminalSafe(t, name, string(b))
		if !strings.Contains(string(b), `\u009b31m\u202etxt.exe`) && name != "summary.json" {
			t.Errorf("%s lacks the escaped command line", name)
		}
	}
}
