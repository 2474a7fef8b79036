package parser

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/evtxhunt/evtxhunt/parser/evtx"
)

// TestFileErrorsRepeatsCounted: an error that differs from one already
// listed only in its numbers is counted on it, not listed again; other
// kinds and other reasons are listed; every reason is cut short.
func TestFileErrorsRepeatsCounted(t *testing.T) {
	s := newFileStats("x.evtx")
	add := func(kind ErrorKind, off int64, reason string) {
		s.addError(DecodeError{File: "x.evtx", Kind: kind, Offset: off, Chunk: int(off / evtx.ChunkSize), Reason: reason})
	}
	for i := range 200 {
		off := int64(evtx.FileHeaderSize + i*evtx.ChunkSize)
		add(KindRecord, off+0x200, "record 12 at 0x"+strings.Repeat("9f", i%7+1)+": substitution 26 (1 bytes) runs past its end")
	}
	add(KindRecordField, 0x1200, "record 12 at 0x1200: substitution 26 (1 bytes) runs past its end") // another kind
	add(KindRecord, 0x2200, "record 3 at 0x2200: template at 0x226: size -42 runs past the chunk")   // another reason
	long := strings.Repeat("é", 400_000)                                                             // 800 KB, two bytes a character
	add(KindRecord, 0x3200, "golang-evtx: "+long)
	add(KindRecord, 0x4200, "golang-evtx: "+long)

	if s.ErrorCount != 204 || len(s.Errors) != 4 || s.ErrorsOmitted != 0 {
		t.Fatalf("%d errors counted, %d listed, %d omitted; want 204, 4, 0", s.ErrorCount, len(s.Errors), s.ErrorsOmitted)
	}
	first := s.Errors[0]
	if first.Offset != evtx.FileHeaderSize+0x200 || first.Repeats != 199 || first.LastOffset != evtx.FileHeaderSize+199*evtx.ChunkSize+0x200 {
		t.Errorf("first error %+v: want offset 0x%x, 199 repeats, the last at 0x%x", first, evtx.FileHeaderSize+0x200, evtx.FileHeaderSize+199*evtx.ChunkSize+0x200)
	}
	if got := first.Error(); !strings.HasSuffix(got, ": record: record 12 at 0x9f: substitution 26 (1 bytes) runs past its end (and 199 more like it, the last at 0xc71200)") {
		t.Errorf("Error() = %q", got)
	}
	if s.Errors[1].Repeats != 0 || s.Errors[2].Repeats != 0 || s.Errors[3].Repeats != 1 {
		t.Errorf("repeats %d %d %d, want 0 0 1", s.Errors[1].Repeats, s.Errors[2].Repeats, s.Errors[3].Repeats)
	}
	r := s.Errors[3].Reason
	if len(r) > maxReasonLen || len(r) < maxReasonLen-40 || !utf8.ValidString(r) || !strings.HasPrefix(r, "golang-evtx: éé") ||
		!strings.HasSuffix(r, " more bytes cut]") {
		t.Errorf("long reason: %d bytes, valid UTF-8 %v: ...%s", len(r), utf8.ValidString(r), r[max(0, len(r)-60):])
	}
}

func TestShortReason(t *testing.T) {
	for _, n := range []int{0, 1, maxReasonLen - 1, maxReasonLen, maxReasonLen + 1, 5000, 1 << 20} {
		in := strings.Repeat("a", n)
		out := shortReason(in)
		switch {
		case n <= maxReasonLen && out != in:
			t.Errorf("%d bytes: cut to %q", n, out)
		case n > maxReasonLen && (len(out) > maxReasonLen || !strings.HasSuffix(out, " more bytes cut]")):
			t.Errorf("%d bytes: %d bytes out: %q", n, len(out), out)
		}
	}
	// The count says how much was cut: what is kept and what was cut add up.
	out := shortReason(strings.Repeat("a", 1000))
	kept := strings.Count(out, "a")
	if !strings.HasSuffix(out, " ["+strconv.Itoa(1000-kept)+" more bytes cut]") {
		t.Errorf("%q keeps %d bytes", out, kept)
	}
}

// TestCountsAdd: adding counts adds every one of them, so that a count
// added to ChunkCounts or RecordCounts cannot be left out of the sums.
func TestCountsAdd(t *testing.T) {
	// fill sets field i of the struct v points to to (i+1)*scale.
	fill := func(v any, scale int) {
		s := reflect.ValueOf(v).Elem()
		for i := range s.NumField() {
			switch f := s.Field(i); f.Kind() {
			case reflect.Int:
				f.SetInt(int64((i + 1) * scale))
			case reflect.Uint64:
				f.SetUint(uint64((i + 1) * scale))
			default:
				t.Fatalf("%s: a count of kind %s", s.Type().Field(i).Name, f.Kind())
			}
		}
	}
	// check says which field of sum is not (i+1)*101.
	check := func(sum any) {
		s := reflect.ValueOf(sum)
		for i := range s.NumField() {
			if got := fmt.Sprint(s.Field(i).Interface()); got != strconv.Itoa((i+1)*101) {
				t.Errorf("%s.%s: %s, want %d", s.Type().Name(), s.Type().Field(i).Name, got, (i+1)*101)
			}
		}
	}
	var c, oc ChunkCounts
	fill(&c, 1)
	fill(&oc, 100)
	c.add(oc)
	check(c)
	var r, or RecordCounts
	fill(&r, 1)
	fill(&or, 100)
	r.add(or)
	check(r)
}
