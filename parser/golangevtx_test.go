package parser

import (
	"fmt"
	"log"
	"sync"
	"testing"
)

// TestLibraryLogAttribution checks that lines written to the global logger
// (as golang-evtx does) reach the decoder of the goroutine that wrote them.
func TestLibraryLogAttribution(t *testing.T) {
	const workers, lines = 4, 50
	got := make([][]string, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			d := newGolangEvtxDecoder()
			defer d.close()
			for i := range lines {
				log.Printf("ERROR - worker %d line %d\n extra stack line", w, i)
			}
			got[w] = append([]string(nil), d.messages...)
		})
	}
	wg.Wait()
	for w := range workers {
		if len(got[w]) != lines {
			t.Fatalf("worker %d captured %d lines, want %d", w, len(got[w]), lines)
		}
		for i, m := range got[w] {
			if want := fmt.Sprintf("ERROR - worker %d line %d", w, i); m != want {
				t.Errorf("worker %d line %d = %q, want %q", w, i, m, want)
			}
		}
	}
}
