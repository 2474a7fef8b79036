//go:build unix

package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/evtxhunt/evtxhunt/parser/evtxwrite"
)

// TestScanListsPathsNotRead: a named pipe named like a log, on the command
// line and inside the evidence, and a link out of the evidence are not read,
// and summary.json and stderr list each with the reason; the scan neither
// blocks nor reads what the link leads to.
func TestScanListsPathsNotRead(t *testing.T) {
	t0 := time.Date(2024, 3, 14, 9, 0, 0, 0, time.UTC)
	genuine, err := evtxwrite.ClearedFirstLog("DC01", t0, 10)
	if err != nil {
		t.Fatal(err)
	}
	outsideLog, err := evtxwrite.ClearedFirstLog("OUTSIDE", t0, 10)
	if err != nil {
		t.Fatal(err)
	}
	ev := writeEvidence(t, map[string][]byte{"DC01/Security.evtx": genuine})
	outside := writeEvidence(t, map[string][]byte{"secret.evtx": outsideLog})
	pipe, argPipe := filepath.Join(ev, "DC01", "pipe.evtx"), filepath.Join(outside, "arg.evtx")
	for _, p := range []string{pipe, argPipe} {
		if err := syscall.Mkfifo(p, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	link := filepath.Join(ev, "DC01", "secret.evtx")
	if err := os.Symlink(filepath.Join(outside, "secret.evtx"), link); err != nil {
		t.Fatal(err)
	}

	out := filepath.Join(t.TempDir(), "case")
	type result struct {
		code           int
		stdout, stderr string
	}
	done := make(chan result, 1)
	go func() {
		code, stdout, stderr := runCmd("scan", "--out", out, "--quiet", "--format", "jsonl", ev, argPipe)
		done <- result{code, stdout, stderr}
	}()
	var r result
	select {
	case r = <-done:
	case <-time.After(20 * time.Second):
		for _, p := range []string{pipe, argPipe} { // let a blocked open go on, so that the test ends
			if f, err := os.OpenFile(p, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
				f.Close()
			}
		}
		t.Fatal("the scan blocked")
	}
	if r.code != exitEvidence {
		t.Fatalf("exit %d, want %d\n%s\n%s", r.code, exitEvidence, r.stdout, r.stderr)
	}
	b, err := os.ReadFile(filepath.Join(out, "summary.json"))
	if err != nil {
		t.Fatal(err)
	}
	var s struct {
		Evidence struct {
			Inventory []struct{ Path string }         `json:"inventory"`
			NotRead   []struct{ Path, Reason string } `json:"not_read"`
		} `json:"evidence"`
		Hosts []struct{ Name string } `json:"hosts"`
	}
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	var notRead []string
	for _, n := range s.Evidence.NotRead {
		notRead = append(notRead, n.Path+": "+n.Reason)
		if !strings.Contains(r.stderr, "not read: "+n.Path+": "+n.Reason) {
			t.Errorf("stderr does not list %s:\n%s", n.Path, r.stderr)
		}
	}
	want := []string{
		pipe + ": a named pipe (FIFO), not a regular file: not opened",
		link + ": link to " + filepath.Join(outside, "secret.evtx") + ", outside the evidence paths given: not followed",
		argPipe + ": a named pipe (FIFO), not a regular file: not opened",
	}
	if !slices.Equal(notRead, want) {
		t.Errorf("not_read =\n%s\nwant\n%s", strings.Join(notRead, "\n"), strings.Join(want, "\n"))
	}
	if len(s.Evidence.Inventory) != 1 || len(s.Hosts) != 1 || s.Hosts[0].Name != "DC01" || strings.Contains(string(b), "OUTSIDE") {
		t.Errorf("inventory %v, hosts %v: only DC01's log is read", s.Evidence.Inventory, s.Hosts)
	}
}
