package parser

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/evtxhunt/evtxhunt/parser/evidence"
	"github.com/evtxhunt/evtxhunt/parser/evtx"
	"github.com/evtxhunt/evtxhunt/parser/internal/evtxtest"
)

// TestScanDamagedSyntheticFile runs a file with every kind of framing damage
// through the whole pipeline. Its records are framed correctly but hold no
// binary XML, so the decoder must fail each one, count it and go on.
func TestScanDamagedSyntheticFile(t *testing.T) {
	dir := t.TempDir()
	var file []byte
	file = append(file, evtxtest.FileHeader(1, 1)...) // dirty, and the chunk count is stale
	file = append(file, evtxtest.Chunk(1, evtxtest.Record(1, []byte("\x66junk")), evtxtest.Record(2, nil))...)
	file = append(file, make([]byte, evtx.ChunkSize)...)
	bad := evtxtest.Chunk(3, evtxtest.Record(3, []byte{byte(evtx.TokenFragmentHeader), 1, 1, 0}))
	copy(bad, "ElfChnkX")
	file = append(file, bad...)
	file = append(file, evtxtest.Chunk(4, evtxtest.Record(4, nil))[:1000]...)
	damaged := filepath.Join(dir, "damaged.evtx")
	notEVTX := filepath.Join(dir, "notes.evtx")
	mustWrite(t, damaged, file)
	mustWrite(t, notEVTX, []byte("this is not an event log"))

	var events int
	stats, err := NewScanner(Options{Workers: 3}).Scan(context.Background(),
		[]string{damaged, filepath.Join(dir, "missing.evtx"), notEVTX},
		func(*ProcessEvent) error { events++; return nil })
	if err != nil {
		t.Fatal(err)
	}
	if len(stats) != 3 || events != 0 {
		t.Fatalf("%d stats, %d events", len(stats), events)
	}
	s := stats[0]
	sum := sha256.Sum256(file)
	if s.Size != int64(len(file)) || s.SHA256 != hex.EncodeToString(sum[:]) {
		t.Errorf("size %d sha %s", s.Size, s.SHA256)
	}
	// The native decoder rejects the three chunks with records, golang-evtx
	// gets them and fails each record.
	wantChunks := ChunkCounts{Slots: 4, Empty: 1, BadMagic: 1, HeaderCRCFailures: 1, Truncated: 1, Failed: 3, PastHeaderCount: 2, Fallback: 3}
	if s.Chunks != wantChunks {
		t.Errorf("chunks = %+v\nwant     %+v", s.Chunks, wantChunks)
	}
	if s.Records != (RecordCounts{Seen: 4, Failed: 4}) {
		t.Errorf("records = %+v", s.Records)
	}
	if s.Header == nil || !s.Header.Dirty || s.Header.ChunkCount != 1 {
		t.Errorf("header = %+v", s.Header)
	}
	// Errors that differ only in their numbers are listed once, the others
	// counted on it.
	recordErrs, listed := 0, 0
	for _, e := range s.Errors {
		listed += 1 + e.Repeats
		if e.Kind == KindRecord || e.Kind == KindPanic {
			recordErrs += 1 + e.Repeats
			if !strings.HasPrefix(e.Reason, "golang-evtx: ") || e.Offset < evtx.FileHeaderSize || e.RecordID == 0 {
				t.Errorf("record error without context: %+v", e)
			}
			if e.Repeats > 0 && e.LastOffset <= e.Offset {
				t.Errorf("repeated error without the offset of the last: %+v", e)
			}
		}
	}
	if recordErrs != 4 {
		t.Errorf("%d record errors, want 4; all errors: %v", recordErrs, s.Errors)
	}
	if s.ErrorCount != listed || s.Clean() {
		t.Errorf("error count %d for %d errors listed or repeated", s.ErrorCount, listed)
	}

	for i, want := range []string{"no such file", "not an EVTX file"} {
		f := stats[i+1]
		if len(f.Errors) != 1 || f.Errors[0].Kind != KindFile || !strings.Contains(f.Errors[0].Reason, want) {
			t.Errorf("%s: errors %v, want one %q", f.Path, f.Errors, want)
		}
	}
	// An error carries its cause.
	if missing := &stats[1].Errors[0]; !errors.Is(missing, fs.ErrNotExist) {
		t.Errorf("%v does not reach fs.ErrNotExist", missing)
	}
	notSum := sha256.Sum256([]byte("this is not an event log"))
	if got := stats[2].SHA256; got != hex.EncodeToString(notSum[:]) {
		t.Errorf("not-EVTX file hashed as %q", got)
	}
}

func TestScanStopsOnEmitError(t *testing.T) {
	if _, err := os.Stat(sharedEVTX); err != nil {
		t.Skipf("needs ../shared: %v", err)
	}
	files, _ := evidence.Find([]string{sharedEVTX})
	stop := errors.New("enough")
	n := 0
	_, err := NewScanner(Options{Workers: 2}).Scan(context.Background(), files, func(*ProcessEvent) error {
		n++
		if n == 5 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || n != 5 {
		t.Errorf("err = %v after %d events", err, n)
	}
}

func mustWrite(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// changingCopy copies a generated log of 19 chunk slots into a temporary
// folder, and returns its path and its process events read whole.
func changingCopy(t *testing.T) (string, []byte, []ProcessEvent) {
	t.Helper()
	src, err := os.ReadFile("../testdata/evidence/SRV01/C/Windows/System32/winevt/Logs/Microsoft-Windows-Sysmon%4Operational.evtx")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "Sysmon.evtx")
	mustWrite(t, path, src)
	var whole []ProcessEvent
	if _, err := NewScanner(Options{Workers: 1}).Scan(context.Background(), []string{path}, func(ev *ProcessEvent) error {
		whole = append(whole, *ev)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return path, src, whole
}

// afterRead returns Options whose Progress calls change once the scanner
// has read the file header and the first chunk: the reading goroutine
// reports progress between reads, so the change falls between two reads.
func afterRead(change func()) Options {
	var read atomic.Int64
	var once sync.Once
	return Options{Workers: 1, Progress: func(n int64) {
		if read.Add(n) >= evtx.FileHeaderSize+evtx.ChunkSize {
			once.Do(change)
		}
	}}
}

// TestScanFileShrinkingWhileRead: a file cut short while it is read is an
// error; the slots it no longer holds are counted unread, not empty, and
// its SHA-256, over fewer bytes than its size, is not given.
func TestScanFileShrinkingWhileRead(t *testing.T) {
	path, src, whole := changingCopy(t)
	cut := int64(evtx.FileHeaderSize + 2*evtx.ChunkSize + 1000) // into slot 2
	var got []ProcessEvent
	stats, err := NewScanner(afterRead(func() {
		if err := os.Truncate(path, cut); err != nil {
			t.Error(err)
		}
	})).Scan(context.Background(), []string{path}, func(ev *ProcessEvent) error {
		got = append(got, *ev)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	s, slots := stats[0], (len(src)-evtx.FileHeaderSize)/evtx.ChunkSize
	if slots < 10 || s.Size != int64(len(src)) || s.SHA256 != "" || s.SHA256Omitted != "the file shrank while read" {
		t.Errorf("%d slots, size %d, sha256 %q, omitted %q", slots, s.Size, s.SHA256, s.SHA256Omitted)
	}
	want := ChunkCounts{Slots: slots, Decoded: 2, Truncated: 1, Failed: 1, Unread: slots - 3}
	if s.Chunks != want {
		t.Errorf("chunks = %+v\nwant     %+v", s.Chunks, want)
	}
	var changed []DecodeError
	for _, e := range s.Errors {
		if e.Kind == KindChanged {
			changed = append(changed, e)
		}
	}
	if len(changed) != 2 || changed[0].Offset != 0 || changed[1].Offset != cut || !strings.Contains(changed[1].Reason, "shrank") {
		t.Errorf("file-changed errors %v", changed)
	}
	var before []ProcessEvent
	for _, ev := range whole {
		if ev.Chunk < 2 {
			before = append(before, ev)
		}
	}
	if len(before) == 0 || !slices.Equal(got, before) {
		t.Errorf("%d process events, want the %d of the two slots read whole", len(got), len(before))
	}
}

// TestScanFileGrowingWhileRead: a file that grows while read (a live log)
// is read as it was when opened, with an error, and without a SHA-256.
func TestScanFileGrowingWhileRead(t *testing.T) {
	path, src, whole := changingCopy(t)
	var got []ProcessEvent
	stats, err := NewScanner(afterRead(func() {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
		if err == nil {
			_, err = f.Write(make([]byte, evtx.ChunkSize))
			f.Close()
		}
		if err != nil {
			t.Error(err)
		}
	})).Scan(context.Background(), []string{path}, func(ev *ProcessEvent) error {
		got = append(got, *ev)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	s := stats[0]
	if s.Size != int64(len(src)) || s.SHA256 != "" || s.SHA256Omitted != "the file changed while read" || s.ErrorCount != 1 ||
		s.Errors[0].Kind != KindChanged || !strings.Contains(s.Errors[0].Reason, fmt.Sprintf("%d bytes modified", len(src)+evtx.ChunkSize)) {
		t.Errorf("size %d sha256 %q omitted %q errors %v", s.Size, s.SHA256, s.SHA256Omitted, s.Errors)
	}
	if !slices.Equal(got, whole) {
		t.Errorf("%d process events, want %d", len(got), len(whole))
	}
}
