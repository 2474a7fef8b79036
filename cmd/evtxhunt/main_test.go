package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func runCmd(args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	code = run(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"nosuchcommand"},
		{"events"},
		{"events", "--workers", "-1", "x.evtx"},
		{"events", "--nosuchflag", "x.evtx"},
	} {
		if code, _, stderr := runCmd(args...); code != exitUsage || stderr == "" {
			t.Errorf("evtxhunt %q: exit %d, stderr %q; want %d and a message", args, code, stderr, exitUsage)
		}
	}
	if code, _, _ := runCmd("events", "-h"); code != exitClean {
		t.Errorf("events -h: exit %d", code)
	}
}

func TestEventsOnBadEvidence(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "Security.evtx")
	if err := os.WriteFile(bad, []byte("MZ not a log"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runCmd("events", dir, filepath.Join(dir, "missing"))
	if code != exitEvidence || stdout != "" {
		t.Errorf("exit %d, stdout %q", code, stdout)
	}
	for _, want := range []string{"not an EVTX file", bad, "missing", "1 files"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
}

func TestEventsOnRealLog(t *testing.T) {
	sample := "../../../shared/evtx/attack-samples/Lateral Movement/LM_WMI_4624_4688_TargetHost.evtx"
	if _, err := os.Stat(sample); err != nil {
		t.Skipf("SKIP: the shared evidence corpus is absent: %v", err)
	}
	statsPath := filepath.Join(t.TempDir(), "stats.json")
	// Flags after the path, as responders type them.
	code, stdout, stderr := runCmd("events", sample, "--workers", "2", "--stats", statsPath)
	if code != exitClean {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d lines: %s", len(lines), stdout)
	}
	var ev map[string]any
	if err := json.Unmarshal([]byte(lines[1]), &ev); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"source": "security-4688", "image": `C:\Windows\System32\calc.exe`, "pid": 1060.0, "ppid": 2792.0,
		"record_id": 563299.0, "time": "2019-03-18T22:15:49.6767481Z", "host": "WIN-77LTAPHIQ1R.example.corp", "parent_image": ""}
	for k, v := range want {
		if ev[k] != v {
			t.Errorf("%s = %v, want %v", k, ev[k], v)
		}
	}
	var stats struct {
		Totals struct {
			Files   int `json:"files"`
			Records struct {
				Seen, Decoded uint64
			} `json:"records"`
		} `json:"totals"`
		Files []struct {
			SHA256 string `json:"sha256"`
		} `json:"files"`
	}
	b, err := os.ReadFile(statsPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &stats); err != nil {
		t.Fatal(err)
	}
	if stats.Totals.Files != 1 || stats.Totals.Records.Seen != 8 || stats.Totals.Records.Decoded != 8 || len(stats.Files[0].SHA256) != 64 {
		t.Errorf("stats = %+v", stats)
	}
	if !strings.Contains(stderr, "2 Security 4688") {
		t.Errorf("summary: %s", stderr)
	}
}
