package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/evtxhunt/evtxhunt/reports"
)

// TestScanInterrupted: Ctrl-C during a scan stops it and the case folder is
// still written with what was read. The scan is interrupted while it hashes
// a large file that is not EVTX, between a log read whole and one it never
// reaches: summary.json lists the first clean, the second with where the
// scan stopped and no SHA-256, the third as not read; events.jsonl holds the
// first log's events; the exit status says evidence was not read whole.
func TestScanInterrupted(t *testing.T) {
	log, err := os.ReadFile("../../testdata/evidence/WKS01/C/Windows/System32/winevt/Logs/Security.evtx")
	if err != nil {
		t.Fatal(err)
	}
	ev := writeEvidence(t, map[string][]byte{"1-first.evtx": log, "3-last.evtx": log})
	big := filepath.Join(ev, "2-big.evtx")
	if err := os.WriteFile(big, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(big, 16<<30); err != nil { // sparse: hashing it whole would take a while
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "case")
	type result struct {
		code           int
		stdout, stderr string
	}
	done := make(chan result, 1)
	go func() {
		code, stdout, stderr := runCmd("scan", "--out", out, "--quiet", "--format", "jsonl", "--workers", "1", ev)
		done <- result{code, stdout, stderr}
	}()
	// Interrupt once the scan has the large file open: scan catches the
	// signal by then.
	for !openInThisProcess(t, big) {
		select {
		case r := <-done:
			t.Fatalf("the scan ended before it was interrupted: %d\n%s", r.code, r.stderr)
		case <-time.After(5 * time.Millisecond):
		}
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	var r result
	select {
	case r = <-done:
	case <-time.After(2 * time.Minute):
		t.Fatal("the scan did not stop")
	}
	if r.code != exitEvidence || !strings.Contains(r.stderr, "evtxhunt scan: interrupted: the case folder holds what was read") {
		t.Fatalf("exit %d, stderr:\n%s", r.code, r.stderr)
	}

	b, err := os.ReadFile(filepath.Join(out, reports.SummaryFile))
	if err != nil {
		t.Fatal(err)
	}
	var s reports.Summary
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	files := s.Parse.Files
	if len(files) != 2 || files[0].Path != filepath.Join(ev, "1-first.evtx") || !files[0].Clean() || files[0].SHA256 == "" {
		t.Fatalf("files %+v", files)
	}
	stopped := files[1]
	if stopped.Path != big || stopped.SHA256 != "" || stopped.SHA256Omitted == "" || len(stopped.Errors) != 2 ||
		stopped.Errors[1].Kind != "scan-stopped" || !strings.Contains(stopped.Errors[1].Reason, "the scan stopped before the file was read whole") {
		t.Errorf("the file interrupted: %+v", stopped)
	}
	notRead := s.Evidence.NotRead
	if len(notRead) != 1 || notRead[0].Path != filepath.Join(ev, "3-last.evtx") || !strings.HasPrefix(notRead[0].Reason, "not read: the scan stopped before it") {
		t.Errorf("not read: %v", notRead)
	}
	events, err := os.ReadFile(filepath.Join(out, reports.EventsFile))
	if err != nil {
		t.Fatal(err)
	}
	var want uint64
	for _, n := range files[0].ProcessEvents {
		want += n
	}
	if got := strings.Count(string(events), "\n"); want == 0 || uint64(got) != want {
		t.Errorf("%d events written, the first log holds %d", got, want)
	}
}

// openInThisProcess reports whether this process has path open.
func openInThisProcess(t *testing.T, path string) bool {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	for _, fd := range fds {
		if target, err := os.Readlink(filepath.Join("/proc/self/fd", fd.Name())); err == nil && target == path {
			return true
		}
	}
	return false
}
