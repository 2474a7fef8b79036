package parser

import (
	"fmt"
	"log"
	"strings"
	"testing"

	ulog "github.com/0xrawsec/golang-utils/log"
)

// TestLibraryLog checks that lines written to the global logger (as
// golang-evtx does) reach the decoder's messages: the first few different
// ones kept, without their stack traces, and the library silenced after
// them until the next record.
func TestLibraryLog(t *testing.T) {
	d := newGolangEvtxDecoder()
	defer d.close()
	for record := range 2 {
		d.messages.reset()
		for i := range 3 * maxLibraryMessages {
			log.Printf("ERROR - line %d\n extra stack line", i)
			log.Printf("ERROR - line 0") // a repeat: not kept
			ulog.Errorf("library line %d", i)
		}
		got := &d.messages
		if len(got.list) != maxLibraryMessages || !got.silenced {
			t.Fatalf("record %d: kept %d lines, silenced %v; want %d, true", record, len(got.list), got.silenced, maxLibraryMessages)
		}
		for i, m := range got.list {
			want := fmt.Sprintf("ERROR - line %d", i/2)
			if i%2 == 1 {
				want = fmt.Sprintf("ERROR - library line %d", i/2)
			}
			if m != want {
				t.Errorf("record %d: line %d = %q, want %q", record, i, m, want)
			}
		}
		if j := got.join("EOF"); !strings.HasPrefix(j, "EOF; ERROR - line 0; ERROR - library line 0; ERROR - line 1;") || !strings.HasSuffix(j, "; and more messages, not kept") {
			t.Errorf("record %d: joined: %q", record, j)
		}
	}
}
