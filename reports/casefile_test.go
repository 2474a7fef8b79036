package reports

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
)

// fullDisk fails every write after the first limit bytes, as a full disk
// does.
type fullDisk struct {
	w     io.Writer
	limit int
}

func (d *fullDisk) Write(p []byte) (int, error) {
	if len(p) > d.limit {
		n, _ := d.w.Write(p[:d.limit])
		d.limit = 0
		return n, syscall.ENOSPC
	}
	d.limit -= len(p)
	return d.w.Write(p)
}

// TestWriteCaseSurvivesAFailedFile: a file that cannot be written (the disk
// fills up while writing report.xlsx) leaves no partial file and no older
// file of its name, every other file is written complete, and summary.json,
// written last, says which files are there and which are not.
func TestWriteCaseSurvivesAFailedFile(t *testing.T) {
	c := incidentCase(t)
	formats := []string{"html", "xlsx", "jsonl", "csv"}
	good := t.TempDir()
	if err := WriteCase(good, c, formats, WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	c.Output = nil
	dir := t.TempDir()
	// An older report.xlsx, as --force over an earlier case leaves it.
	if err := os.WriteFile(filepath.Join(dir, XLSXFile), []byte("older"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := WriteCase(dir, c, formats, WriteOptions{Wrap: func(name string, w io.Writer) io.Writer {
		if name == XLSXFile {
			return &fullDisk{w: w, limit: 4096}
		}
		return w
	}})
	var inc *IncompleteError
	if !errors.As(err, &inc) || len(inc.Failed) != 1 || inc.Failed[0].Name != XLSXFile || !strings.Contains(err.Error(), "no space left on device") {
		t.Fatalf("error %v", err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	want := []string{DetectionsFile, HTMLFile, SummaryFile, TimelineCSV, TimelineJSONL}
	if !slices.Equal(names, want) {
		t.Errorf("case folder holds %v, want %v (no report.xlsx, no temporary file)", names, want)
	}
	for _, name := range []string{DetectionsFile, TimelineCSV, TimelineJSONL, HTMLFile} {
		a, _ := os.ReadFile(filepath.Join(good, name))
		b, _ := os.ReadFile(filepath.Join(dir, name))
		if len(a) == 0 || string(a) != string(b) {
			t.Errorf("%s: %d bytes, %d when nothing failed", name, len(b), len(a))
		}
	}
	s, err := ReadSummary(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(s.CaseFiles.Written, []string{HTMLFile, DetectionsFile, TimelineJSONL, TimelineCSV, SummaryFile}) ||
		len(s.CaseFiles.Failed) != 1 || s.CaseFiles.Failed[0].Name != XLSXFile ||
		!strings.Contains(s.CaseFiles.Failed[0].Error, "no space left on device; the older file of that name was removed") {
		t.Errorf("summary case_files: %+v", s.CaseFiles)
	}
}

// TestSummaryJSONIsWriteSummary: WriteCase's summary.json, made from the
// view the writers share, is what WriteSummary makes of the case once its
// files are written: one summary, however it is asked for.
func TestSummaryJSONIsWriteSummary(t *testing.T) {
	c := incidentCase(t)
	dir := t.TempDir()
	if err := WriteCase(dir, c, []string{"jsonl", "csv"}, WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	written, err := os.ReadFile(filepath.Join(dir, SummaryFile))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := WriteSummary(&buf, c); err != nil {
		t.Fatal(err)
	}
	s := c.Summary()
	if !bytes.Equal(written, buf.Bytes()) || len(s.CaseFiles.Written) != 4 || s.Findings.Total != len(c.Findings) || s.Timeline.Processes != c.Timeline.Processes() {
		t.Errorf("summary.json (%d bytes) differs from WriteSummary's (%d bytes); case files %v", len(written), buf.Len(), s.CaseFiles)
	}
}
