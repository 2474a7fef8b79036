package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	w "github.com/evtxhunt/evtxhunt/parser/evtxwrite"
	"github.com/evtxhunt/evtxhunt/parser/evtxwrite/readers"
)

// TestEvidenceThreeReaders reads every committed evidence log with
// evtxexport, python-evtx and golang-evtx: each gives every record, field
// for field as the generator wrote it (the generator runs again here, and
// its output must be the committed bytes).
func TestEvidenceThreeReaders(t *testing.T) {
	dir := t.TempDir()
	_, logs, err := generateIncident(dir, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(logs) < 10 {
		t.Fatalf("only %d logs", len(logs))
	}
	for _, l := range logs {
		path := filepath.Join(committed, filepath.FromSlash(l.rel))
		got, err1 := os.ReadFile(filepath.Join(dir, filepath.FromSlash(l.rel)))
		want, err2 := os.ReadFile(path)
		if err1 != nil || err2 != nil || !bytes.Equal(got, want) {
			t.Fatalf("%s: the committed file is not the generator's output (run go generate ./cmd/evtxgen): %v %v", l.rel, err1, err2)
		}
		written := map[uint64]*w.Event{}
		for ev, id := range l.ids {
			written[id] = ev
		}
		for _, r := range readers.All() {
			t.Run(r.Name+"/"+l.rel, func(t *testing.T) {
				t.Parallel()
				r.SkipIfMissing(t)
				recs, err := r.Read(path)
				if err != nil {
					t.Errorf("%d records, then %v", len(recs), err)
				}
				r.Check(t, recs, written, len(written))
			})
		}
	}
}

// TestLargeLogThreeReaders does the same for a 2 MiB log of evtxgen -size.
func TestLargeLogThreeReaders(t *testing.T) {
	path := filepath.Join(t.TempDir(), "Security.evtx")
	written := map[uint64]*w.Event{}
	if err := streamLargeLog(path, 7, 2<<20, func(ev *w.Event, id uint64) { written[id] = ev }); err != nil {
		t.Fatal(err)
	}
	if len(written) < 1000 {
		t.Fatalf("only %d records", len(written))
	}
	for _, r := range readers.All() {
		t.Run(r.Name, func(t *testing.T) {
			t.Parallel()
			r.SkipIfMissing(t)
			recs, err := r.Read(path)
			if err != nil {
				t.Errorf("%d records, then %v", len(recs), err)
			}
			r.Check(t, recs, written, len(written))
		})
	}
}
