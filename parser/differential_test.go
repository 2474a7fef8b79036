package parser

import (
	"context"
	"fmt"
	"reflect"
	"testing"

	"github.com/evtxhunt/evtxhunt/parser/evidence"
)

// scanWith reads files with one decoder, returning events and stats by file.
func scanWith(t *testing.T, decoder string, files []string) (map[string][]ProcessEvent, map[string]*FileStats) {
	t.Helper()
	events := map[string][]ProcessEvent{}
	stats, err := NewScanner(Options{Decoder: decoder}).Scan(context.Background(), files, func(ev *ProcessEvent) error {
		events[ev.File] = append(events[ev.File], *ev)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	byFile := map[string]*FileStats{}
	for _, s := range stats {
		byFile[s.Path] = s
	}
	return events, byFile
}

// differential compares the native decoder with golang-evtx on files: the
// same process events (creations and exits), field by field, and the same
// census wherever golang-evtx read every record.
func differential(t *testing.T, files []string) (events, censusChecked int) {
	native, nativeStats := scanWith(t, DecoderNative, files)
	golang, golangStats := scanWith(t, DecoderGolangEvtx, files)
	for _, f := range files {
		a, b := native[f], golang[f]
		if len(a) != len(b) {
			t.Errorf("%s: native %d process events, golang-evtx %d", f, len(a), len(b))
			continue
		}
		for i := range a {
			if !reflect.DeepEqual(a[i], b[i]) {
				t.Errorf("%s: event %d differs:\nnative      %+v\ngolang-evtx %+v", f, i, a[i], b[i])
				break
			}
		}
		events += len(a)
		if g := golangStats[f]; g.Records.Failed == 0 && g.Records.Decoded > 0 {
			censusChecked++
			if diff := censusDiff(nativeStats[f].Census, g.Census); diff != "" {
				t.Errorf("%s: census differs: %s", f, diff)
			}
		}
	}
	return events, censusChecked
}

// censusDiff compares two censuses by event id, and key by key where
// golang-evtx names provider and channel: it renders <Provider Name="x"/>
// without a Guid attribute as a key "x" (so the provider comes out empty)
// and an empty <Channel/> as "map[]", which the native decoder reads right.
func censusDiff(native, golang Census) string {
	byID := func(c Census) map[uint16]uint64 {
		m := map[uint16]uint64{}
		for k, n := range c {
			m[k.EventID] += n
		}
		return m
	}
	if a, b := byID(native), byID(golang); !reflect.DeepEqual(a, b) {
		return fmt.Sprintf("by event id: native %v, golang-evtx %v", a, b)
	}
	for k, n := range golang {
		if k.Provider != "" && k.Channel != "map[]" && native[k] != n {
			return fmt.Sprintf("%+v: native %d, golang-evtx %d", k, native[k], n)
		}
	}
	return ""
}

func TestDifferentialShared(t *testing.T) {
	needShared(t)
	files, _ := evidence.Find([]string{sharedEVTX})
	events, census := differential(t, files)
	t.Logf("%d files: %d process events identical, census identical on %d files", len(files), events, census)
	if events < 1800 || census < 290 {
		t.Errorf("only %d events compared", events)
	}
}

func TestDifferentialGenerated(t *testing.T) {
	files, _ := evidence.Find([]string{"../testdata/evidence"})
	events, census := differential(t, files)
	if events != 1666+1558+1586+1502 || census != len(files) {
		t.Errorf("%d events, census on %d of %d files", events, census, len(files))
	}
}
