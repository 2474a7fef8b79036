package main

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/evtxhunt/evtxhunt/parser/evtxwrite"
)

// writeEvidence writes crafted files into a fresh evidence folder.
func writeEvidence(t *testing.T, files map[string][]byte) string {
	t.Helper()
	dir := t.TempDir()
	for name, b := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestScanReadsClearedFirstLog: a Security log that begins with a chunk of
// "log cleared" records is read to its end; none of its process creations
// is lost.
func TestScanReadsClearedFirstLog(t *testing.T) {
	const processes = 1503
	b, err := evtxwrite.ClearedFirstLog("DC01", time.Date(2024, 3, 14, 9, 0, 0, 0, time.UTC), processes)
	if err != nil {
		t.Fatal(err)
	}
	ev := writeEvidence(t, map[string][]byte{"DC01/Security.evtx": b})
	out := filepath.Join(t.TempDir(), "case")
	if code, stdout, stderr := runCmd("scan", "--out", out, "--quiet", "--format", "jsonl", ev); code != exitClean {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	s := readSummary(t, out)
	if len(s.Parse.Files) != 1 || s.Parse.Files[0].ProcessEvents["security-4688"] != processes || len(s.Hosts) != 1 || s.Hosts[0].Processes != processes {
		t.Errorf("files %+v hosts %+v, want %d process creations", s.Parse.Files, s.Hosts, processes)
	}
}
