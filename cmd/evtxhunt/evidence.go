package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/evtxhunt/evtxhunt/internal/termsafe"
	"github.com/evtxhunt/evtxhunt/parser"
	"github.com/evtxhunt/evtxhunt/parser/evidence"
)

// scanResult is what reading the evidence gave, for summaries and exit codes.
type scanResult struct {
	stats   []*parser.FileStats
	totals  parser.Totals
	notRead []evidence.NotRead
	wall    time.Duration
}

// clean reports whether every path and every file was read without error.
func (r *scanResult) clean() bool { return r.totals.Errors == 0 && len(r.notRead) == 0 }

// scanEvidence finds the evidence files under paths and scans them, calling
// emit for each process event in order. Paths not read are reported on
// stderr and in the result; they do not stop the scan. With a progress, it
// shows on stderr. When the scan stops early (ctx, emit), the result holds
// what was read, and the files not reached are among the paths not read.
func scanEvidence(ctx context.Context, paths []string, opts parser.Options, prog func([]string) *progress, stderr io.Writer,
	emit func(*parser.ProcessEvent) error) (*scanResult, error) {
	start := time.Now()
	files, notRead := evidence.Find(paths)
	for _, n := range notRead {
		fmt.Fprintf(stderr, "evtxhunt: not read: %s\n", termsafe.String(n.String()))
	}
	bar := &progress{}
	if prog != nil {
		bar = prog(files)
	}
	stats, err := parser.NewScanner(bar.hooks(opts)).Scan(ctx, files, emit)
	bar.finish()
	if err != nil {
		for _, f := range files[len(stats):] {
			notRead = append(notRead, evidence.NotRead{Path: f, Reason: fmt.Sprintf("not read: the scan stopped before it (%v)", err)})
		}
	}
	r := &scanResult{stats: stats, totals: parser.Sum(stats), notRead: notRead, wall: time.Since(start)}
	return r, err
}

// checkOutsideEvidence refuses an output folder that is an evidence folder
// or inside one, or the folder of an evidence file (the case files would lie
// next to it): evidence is read-only, and nothing is written next to it. A
// new folder beside an evidence file is fine. Paths are compared where they
// really are, symbolic links resolved, and case-insensitively on Windows and
// macOS, whose file systems usually are.
func checkOutsideEvidence(out string, evidence []string) error {
	realOut, err := resolvePath(out)
	if err != nil {
		return fmt.Errorf("output folder %s: %w", out, err)
	}
	fold := runtime.GOOS == "windows" || runtime.GOOS == "darwin"
	for _, e := range evidence {
		realEv, err := resolvePath(e)
		if err != nil {
			continue // the scan reports evidence it cannot read
		}
		info, err := os.Stat(realEv)
		if err != nil {
			continue
		}
		if within(realOut, realEv, fold) {
			return fmt.Errorf("output folder %s is inside the evidence %s (%s): evidence is never written to", out, e, realEv)
		}
		if !info.IsDir() && samePath(realOut, filepath.Dir(realEv), fold) {
			return fmt.Errorf("output folder %s would put the case files next to the evidence file %s: nothing is written next to evidence; choose a new folder", out, e)
		}
	}
	return nil
}

// within reports whether path is dir or inside it; both are clean absolute
// paths. fold compares them case-insensitively.
func within(path, dir string, fold bool) bool {
	if fold {
		path, dir = strings.ToLower(path), strings.ToLower(dir)
	}
	return path == dir || strings.HasPrefix(path, strings.TrimSuffix(dir, string(filepath.Separator))+string(filepath.Separator))
}

func samePath(a, b string, fold bool) bool {
	return a == b || fold && strings.EqualFold(a, b)
}

// resolvePath is where path really is: absolute, each symbolic link of the
// part that exists resolved in turn (so that ".." after a link leaves the
// link's target, as the system does), and the rest, folders still to be
// created, appended.
func resolvePath(path string) (string, error) {
	if !filepath.IsAbs(path) {
		wd, err := os.Getwd()
		if err != nil {
			return "", err
		}
		path = wd + string(filepath.Separator) + path
	}
	vol := filepath.VolumeName(path)
	parts := strings.FieldsFunc(path[len(vol):], func(r rune) bool { return r < 0x80 && os.IsPathSeparator(uint8(r)) })
	cur := vol + string(filepath.Separator)
	for i, part := range parts {
		switch part {
		case ".":
			continue
		case "..":
			cur = filepath.Dir(cur)
			continue
		}
		next := filepath.Join(cur, part)
		real, err := filepath.EvalSymlinks(next)
		if errors.Is(err, fs.ErrNotExist) {
			if _, lerr := os.Lstat(next); lerr == nil {
				return "", fmt.Errorf("%s is a symbolic link to nothing", next)
			}
			return filepath.Join(append([]string{cur}, parts[i:]...)...), nil
		}
		if err != nil {
			return "", err
		}
		cur = real
	}
	return cur, nil
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
