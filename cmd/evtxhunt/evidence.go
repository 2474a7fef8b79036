package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/evtxhunt/evtxhunt/parser"
)

// scanResult is what reading the evidence gave, for summaries and exit codes.
type scanResult struct {
	stats   []*parser.FileStats
	totals  parser.Totals
	notRead []parser.NotRead
	wall    time.Duration
}

// clean reports whether every path and every file was read without error.
func (r *scanResult) clean() bool { return r.totals.Errors == 0 && len(r.notRead) == 0 }

// scanEvidence finds the evidence files under paths and scans them, calling
// emit for each process event in order. Paths not read are reported on
// stderr and in the result; they do not stop the scan. With a progress, it
// shows on stderr.
func scanEvidence(ctx context.Context, paths []string, opts parser.Options, prog func([]string) *progress, stderr io.Writer,
	emit func(*parser.ProcessEvent) error) (*scanResult, error) {
	start := time.Now()
	files, notRead := parser.FindEvidence(paths)
	for _, n := range notRead {
		fmt.Fprintf(stderr, "evtxhunt: not read: %v\n", n)
	}
	bar := &progress{}
	if prog != nil {
		bar = prog(files)
	}
	stats, err := parser.NewScanner(bar.hooks(opts)).Scan(ctx, files, emit)
	bar.finish()
	r := &scanResult{stats: stats, totals: parser.Sum(stats), notRead: notRead, wall: time.Since(start)}
	return r, err
}

// checkOutsideEvidence refuses an output folder inside the evidence: evidence
// is read-only, and nothing is written next to it.
func checkOutsideEvidence(out string, evidence []string) error {
	absOut, err := filepath.Abs(out)
	if err != nil {
		return err
	}
	for _, e := range evidence {
		absEv, err := filepath.Abs(e)
		if err != nil {
			continue
		}
		if info, err := os.Stat(absEv); err == nil && !info.IsDir() {
			absEv = filepath.Dir(absEv)
		}
		if absOut == absEv || strings.HasPrefix(absOut, absEv+string(filepath.Separator)) {
			return fmt.Errorf("output folder %s is inside the evidence %s: evidence is never written to", out, e)
		}
	}
	return nil
}

// parseTimeFlag reads --from and --to values: RFC 3339, or a UTC date and
// time as "2006-01-02 15:04:05", or a date.
func parseTimeFlag(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02 15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("cannot read time %q (use RFC 3339, 2006-01-02 15:04:05 or 2006-01-02, UTC)", s)
}
