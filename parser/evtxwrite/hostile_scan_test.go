package evtxwrite

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/evtxhunt/evtxhunt/parser"
	"github.com/evtxhunt/evtxhunt/parser/evtx"
)

// writeTemp writes b into dir under name and returns its path.
func writeTemp(t *testing.T, dir, name string, b []byte, err error) string {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// eventsByFile scans files and returns the process events of each.
func eventsByFile(t *testing.T, workers int, files ...string) map[string][]parser.ProcessEvent {
	t.Helper()
	out := map[string][]parser.ProcessEvent{}
	if _, err := parser.NewScanner(parser.Options{Workers: workers}).Scan(context.Background(), files, func(ev *parser.ProcessEvent) error {
		out[ev.File] = append(out[ev.File], *ev)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestPlantedTemplateChangesNoOtherFile: a planted log whose template has the
// genuine 4688 template's GUID and size but another layout changes neither
// how the genuine log is read nor is read as the genuine one, whatever the
// order of the files and the number of workers.
func TestPlantedTemplateChangesNoOtherFile(t *testing.T) {
	const n = 300
	dir := t.TempDir()
	genuineBytes, err := writeLog(ProcessCreations("DC01", t0, n, 2))
	genuine := writeTemp(t, dir, "Security.evtx", genuineBytes, err)
	plantedBytes, err := PlantedTemplateLog("DC01", t0, n)
	planted := writeTemp(t, dir, "planted.evtx", plantedBytes, err)

	alone := eventsByFile(t, 1, genuine)[genuine]
	if len(alone) != n {
		t.Fatalf("the genuine log alone gives %d process events, want %d", len(alone), n)
	}
	if got := eventsByFile(t, 1, planted)[planted]; len(got) != 0 {
		t.Fatalf("the planted log alone gives %d process events, want none", len(got))
	}
	for _, workers := range []int{1, 2} {
		for _, order := range [][]string{{planted, genuine}, {genuine, planted}} {
			t.Run(fmt.Sprintf("workers=%d/%s-first", workers, filepath.Base(order[0])), func(t *testing.T) {
				got := eventsByFile(t, workers, order...)
				if !slices.Equal(got[genuine], alone) {
					t.Errorf("genuine log: %d process events, want its %d", len(got[genuine]), n)
				}
				if len(got[planted]) != 0 {
					t.Errorf("planted log: %d process events, want none", len(got[planted]))
				}
			})
		}
	}
}

// TestPlantedNameChangesNoOtherFile: two 4688 template definitions with the
// same bytes that point to different names are different templates.
func TestPlantedNameChangesNoOtherFile(t *testing.T) {
	const n = 20
	dir := t.TempDir()
	b, err := SharedNamesLog("DC01", t0, n)
	genuine := writeTemp(t, dir, "Security.evtx", b, err)
	b, err = PlantedNameLog("DC01", t0, n)
	planted := writeTemp(t, dir, "planted.evtx", b, err)

	alone := eventsByFile(t, 1, genuine)[genuine]
	plantedAlone := eventsByFile(t, 1, planted)[planted]
	if len(alone) != n+1 || alone[1].Image == "" || len(plantedAlone) != n+1 || plantedAlone[1].Image != "" {
		t.Fatalf("not the crafted shape: genuine %d events (%q), planted %d (%q)", len(alone), alone[1].Image, len(plantedAlone), plantedAlone[1].Image)
	}
	for _, order := range [][]string{{planted, genuine}, {genuine, planted}} {
		got := eventsByFile(t, 1, order...)
		if !slices.Equal(got[genuine], alone) || !slices.Equal(got[planted], plantedAlone) {
			t.Errorf("%s first: the logs read differently together than alone", filepath.Base(order[0]))
		}
	}
}

// TestWipedChunkIsAnError: an all-zero chunk inside the header's chunk count,
// before chunks that hold records, is reported as wiped, not as empty.
func TestWipedChunkIsAnError(t *testing.T) {
	const n = 400
	b, err := WipedChunkLog("DC01", t0, n, 1)
	path := writeTemp(t, t.TempDir(), "Security.evtx", b, err)
	evs, s := scan(t, path)
	slots := (len(b) - evtx.FileHeaderSize) / evtx.ChunkSize
	want := parser.ChunkCounts{Slots: slots, Decoded: slots - 1, Wiped: 1}
	if slots < 3 || s.Header == nil || int(s.Header.ChunkCount) != slots || s.Chunks != want {
		t.Errorf("chunks = %+v\nwant     %+v (header %+v)", s.Chunks, want, s.Header)
	}
	if s.ErrorCount != 1 || s.Errors[0].Kind != parser.KindWipedChunk || s.Errors[0].Chunk != 1 || s.Errors[0].Offset != evtx.FileHeaderSize+evtx.ChunkSize {
		t.Errorf("errors %v, want one wiped-chunk error at chunk 1", s.Errors)
	}
	if len(evs) == 0 || len(evs) >= n || s.SHA256 == "" {
		t.Errorf("%d process events of %d, sha256 %q: the rest is read and the file hashed", len(evs), n, s.SHA256)
	}
}
