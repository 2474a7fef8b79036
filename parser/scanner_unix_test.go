//go:build unix

package parser

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestScanRefusesFIFO: a named pipe given to the scanner as a log is refused
// at once, with an error naming it, and the next file is read.
func TestScanRefusesFIFO(t *testing.T) {
	pipe := filepath.Join(t.TempDir(), "x.evtx")
	if err := syscall.Mkfifo(pipe, 0o644); err != nil {
		t.Fatal(err)
	}
	log := "../testdata/evidence/SRV01/C/Windows/System32/winevt/Logs/Security.evtx"
	type result struct {
		stats []*FileStats
		err   error
	}
	done := make(chan result, 1)
	go func() {
		stats, err := NewScanner(Options{Workers: 1}).Scan(context.Background(), []string{pipe, log}, func(*ProcessEvent) error { return nil })
		done <- result{stats, err}
	}()
	var r result
	select {
	case r = <-done:
	case <-time.After(10 * time.Second):
		unblockFIFO(pipe)
		t.Fatal("the scan blocked opening a named pipe")
	}
	if r.err != nil || len(r.stats) != 2 {
		t.Fatalf("err %v, %d stats", r.err, len(r.stats))
	}
	p := r.stats[0]
	if len(p.Errors) != 1 || p.Errors[0].Kind != KindFile || !strings.Contains(p.Errors[0].Reason, pipe+" is a named pipe (FIFO), not a regular file") ||
		p.SHA256 != "" || p.SHA256Omitted == "" {
		t.Errorf("named pipe: errors %v, sha256 %q omitted %q", p.Errors, p.SHA256, p.SHA256Omitted)
	}
	if s := r.stats[1]; !s.Clean() || s.Records.Decoded == 0 || s.SHA256 == "" {
		t.Errorf("the log after it: %+v", s)
	}
}

// unblockFIFO opens a named pipe for writing and closes it, so that a reader
// blocked opening it goes on: a test that failed must still end.
func unblockFIFO(path string) {
	if f, err := os.OpenFile(path, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
		f.Close()
	}
}
