package evtx_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/evtxhunt/evtxhunt/parser/evtx"
	"github.com/evtxhunt/evtxhunt/parser/internal/evtxtest"
)

var le = binary.LittleEndian

func TestParseFileHeader(t *testing.T) {
	h, err := evtx.ParseFileHeader(evtxtest.FileHeader(3, evtx.FlagDirty))
	if err != nil {
		t.Fatal(err)
	}
	if h.ChunkCount != 3 || h.LastChunk != 2 || h.NextRecordID != 100 || h.MajorVersion != 3 || h.MinorVersion != 1 || !h.Dirty || h.Full || !h.ChecksumOK {
		t.Errorf("header = %+v", h)
	}
	b := evtxtest.FileHeader(3, 0)
	b[30] ^= 0xff
	if h, _ := evtx.ParseFileHeader(b); h.ChecksumOK {
		t.Error("a changed header byte still passes its checksum")
	}
	for bad, detail := range map[string]string{
		"MZ\x90\x00": "4 bytes, shorter than the 128-byte file header",
		"ElfFile\x01" + strings.Repeat("\x00", 200): `file magic is "ElfFile\x01", want "ElfFile\x00"`,
	} {
		_, err := evtx.ParseFileHeader([]byte(bad))
		var fe *evtx.FormatError
		if !errors.As(err, &fe) || !errors.Is(err, evtx.ErrNotEVTX) || fe.Detail != detail || fe.Chunk != -1 ||
			err.Error() != "evtx: offset 0x0: not an EVTX file: "+detail {
			t.Errorf("ParseFileHeader(%q...): %v, want not an EVTX file: %s", bad[:4], err, detail)
		}
	}
}

// problem is a chunk's problem as a test compares it: rule, file offset,
// record id.
type problem struct {
	rule   error
	offset int64
	record uint64
}

func problemsOf(t *testing.T, c *evtx.Chunk) []problem {
	t.Helper()
	var out []problem
	for _, p := range c.Problems {
		if p.Chunk != c.Index || p.Detail == "" || !errors.Is(p, p.Err) {
			t.Errorf("problem without context: %+v", p)
		}
		out = append(out, problem{p.Err, p.Offset, p.RecordID})
	}
	return out
}

func TestParseChunkRecords(t *testing.T) {
	const at = evtx.FileHeaderSize + 2*evtx.ChunkSize // slot 2
	chunk := evtxtest.Chunk(7, evtxtest.Record(7, []byte("first")), evtxtest.Record(8, make([]byte, 100)), evtxtest.Record(9, nil))
	c, err := evtx.ParseChunk(chunk, 2, at)
	if err != nil || c.Zero || len(c.Problems) != 0 {
		t.Fatalf("err %v, zero %v, problems %v", err, c.Zero, c.Problems)
	}
	want := []evtx.RecordRef{{512, 33, 7, 33}, {545, 128, 8, 128}, {673, 28, 9, 28}}
	if !slices.Equal(c.Records, want) || c.Header.FirstRecordID != 7 || c.Header.LastRecordID != 9 || c.Header.FreeSpaceOffset != 701 {
		t.Errorf("records %+v, header %+v", c.Records, c.Header)
	}
	if r := c.Record(c.Records[0]); len(r) != 33 || string(r[evtx.RecordHeaderLen:evtx.RecordHeaderLen+5]) != "first" {
		t.Errorf("record 7: %q", r)
	}

	// Past the free space offset the walk reads until the bytes stop being
	// records: zeros end it quietly, garbage with its offset. (A free space
	// offset past the slot is not plausible: the walk goes to the end.)
	le.PutUint32(chunk[48:], evtx.ChunkSize+1)
	le.PutUint32(chunk[124:], evtx.ChunkHeaderChecksum(chunk))
	if c, _ := evtx.ParseChunk(chunk, 2, at); len(c.Records) != 3 || len(c.Problems) != 0 {
		t.Errorf("zero padding: %d records, problems %v", len(c.Records), c.Problems)
	}
	copy(chunk[701:], "garbage")
	c, _ = evtx.ParseChunk(chunk, 2, at)
	if got := problemsOf(t, c); len(c.Records) != 3 || !slices.Equal(got, []problem{{evtx.ErrRecordChain, at + 701, 0}}) ||
		c.Problems[0].Detail != "bad record magic 67617262; 64835 bytes of the record area after it are not read" {
		t.Errorf("garbage: %d records, problems %v", len(c.Records), c.Problems)
	}

	// A size that runs off the chunk stops the walk; a torn trailer does not.
	big := evtxtest.Chunk(1, evtxtest.Record(1, nil))
	le.PutUint32(big[evtx.ChunkTablesEnd+4:], evtx.ChunkSize)
	c, _ = evtx.ParseChunk(big, 0, evtx.FileHeaderSize)
	if len(c.Records) != 0 || !errors.Is(c.Problems[len(c.Problems)-1], evtx.ErrRecordChain) ||
		!strings.HasPrefix(c.Problems[len(c.Problems)-1].Detail, "record size 65536 does not fit the chunk") {
		t.Errorf("oversized record: %d records, problems %v", len(c.Records), c.Problems)
	}
	torn := evtxtest.Chunk(1, evtxtest.Record(1, nil), evtxtest.Record(2, nil))
	le.PutUint32(torn[evtx.ChunkTablesEnd+24:], 0)
	c, _ = evtx.ParseChunk(torn, 0, evtx.FileHeaderSize)
	wantProblems := []problem{{evtx.ErrDataChecksum, evtx.FileHeaderSize, 0}, {evtx.ErrRecordTrailer, evtx.FileHeaderSize + 512, 1}}
	if got := problemsOf(t, c); len(c.Records) != 2 || c.Records[0].Trailer != 0 || c.Records[1].Trailer != 28 || !slices.Equal(got, wantProblems) {
		t.Errorf("torn trailer: records %+v, problems %v", c.Records, c.Problems)
	}
}

func TestParseChunkProblems(t *testing.T) {
	const at = evtx.FileHeaderSize
	good := evtxtest.Chunk(1, evtxtest.Record(1, nil), evtxtest.Record(2, nil))
	changed := func(f func(b []byte)) []byte {
		b := slices.Clone(good)
		f(b)
		return b
	}
	cases := []struct {
		name     string
		data     []byte
		records  int
		problems []error
	}{
		{"good", good, 2, nil},
		{"no records", evtxtest.Chunk(1), 0, nil},
		{"bad magic keeps records", changed(func(b []byte) { copy(b, "XXXXXXXX") }), 2, []error{evtx.ErrChunkMagic, evtx.ErrHeaderChecksum}},
		{"header CRC", changed(func(b []byte) { b[20]++ }), 2, []error{evtx.ErrHeaderChecksum}},
		{"data CRC", changed(func(b []byte) { b[evtx.ChunkTablesEnd+12]++ }), 2, []error{evtx.ErrDataChecksum}},
		{"truncated", good[:600], 2, []error{evtx.ErrTruncated}},
	}
	for _, tc := range cases {
		c, err := evtx.ParseChunk(tc.data, 0, at)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		var rules []error
		for _, p := range problemsOf(t, c) {
			if p.offset != at {
				t.Errorf("%s: %v at 0x%x, want the chunk's offset", tc.name, p.rule, p.offset)
			}
			rules = append(rules, p.rule)
		}
		if len(c.Records) != tc.records || !slices.Equal(rules, tc.problems) {
			t.Errorf("%s: %d records, problems %v; want %d and %v", tc.name, len(c.Records), c.Problems, tc.records, tc.problems)
		}
	}

	// All zeros is a slot never used, or wiped: no problem, even short.
	for _, n := range []int{evtx.ChunkSize, 100} {
		if c, err := evtx.ParseChunk(make([]byte, n), 0, at); err != nil || !c.Zero || len(c.Problems) != 0 || len(c.Records) != 0 {
			t.Errorf("%d zeros: %+v, %v", n, c, err)
		}
	}
	// Too short to hold the tables: an error, no chunk.
	c, err := evtx.ParseChunk(good[:300], 4, at)
	var fe *evtx.FormatError
	if c != nil || !errors.As(err, &fe) || !errors.Is(err, evtx.ErrTruncated) || fe.Chunk != 4 ||
		err.Error() != "evtx: chunk 4, offset 0x1000: chunk cut short: chunk slot holds 300 of 65536 bytes: the file ends inside it" {
		t.Errorf("300 bytes: %v, %v", c, err)
	}
}

// TestFile reads a generated log through NewFile and Chunks: every slot,
// every record, as many as the chunk headers count.
func TestFile(t *testing.T) {
	b, err := os.ReadFile("../../testdata/evidence/WKS01/C/Windows/System32/winevt/Logs/Security.evtx")
	if err != nil {
		t.Fatal(err)
	}
	f, err := evtx.NewFile(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	if f.NumChunks() < 2 || int(f.Header.ChunkCount) != f.NumChunks() || !f.Header.ChecksumOK {
		t.Fatalf("%d chunk slots, header %+v", f.NumChunks(), f.Header)
	}
	slots := 0
	for c, err := range f.Chunks() {
		if err != nil || len(c.Problems) != 0 || c.Index != slots || c.Offset != evtx.FileHeaderSize+int64(slots)*evtx.ChunkSize {
			t.Fatalf("slot %d: %+v, %v", slots, c, err)
		}
		if n := uint64(len(c.Records)); n == 0 || n != c.Header.LastRecordNumber-c.Header.FirstRecordNumber+1 || c.Records[0].ID != c.Header.FirstRecordNumber {
			t.Errorf("slot %d: %d records, header %+v", slots, n, c.Header)
		}
		slots++
	}
	if slots != f.NumChunks() {
		t.Errorf("%d slots read of %d", slots, f.NumChunks())
	}

	// A file cut inside its last slot parses that slot for what it holds; a
	// slot that cannot be read is an error, and the next slot follows.
	cut := b[:len(b)-evtx.ChunkSize+1000]
	f, _ = evtx.NewFile(bytes.NewReader(cut), int64(len(cut)))
	c, err := f.Chunk(f.NumChunks() - 1)
	if err != nil || !errors.Is(c.Problems[0], evtx.ErrTruncated) {
		t.Errorf("cut slot: %v, %v", c, err)
	}
	failing := &failAt{ReaderAt: bytes.NewReader(b), off: evtx.FileHeaderSize}
	f, _ = evtx.NewFile(failing, int64(len(b)))
	var errs []error
	for _, err := range f.Chunks() {
		errs = append(errs, err)
	}
	if len(errs) != f.NumChunks() || !errors.Is(errs[0], errDevice) || errs[1] != nil {
		t.Errorf("errors %v", errs)
	}
	read := 0
	for range f.Chunks() { // a caller may stop early
		if read++; read == 2 {
			break
		}
	}
	if read != 2 {
		t.Errorf("%d chunks read before the break", read)
	}
	if _, err := f.Chunk(f.NumChunks()); err == nil || err.Error() != fmt.Sprintf("evtx: no chunk %d in a file of %[1]d", f.NumChunks()) {
		t.Errorf("chunk past the end: %v", err)
	}
	for size, want := range map[int64]int{0: 0, evtx.FileHeaderSize: 0, evtx.FileHeaderSize + 1: 1, evtx.FileHeaderSize + evtx.ChunkSize: 1, evtx.FileHeaderSize + evtx.ChunkSize + 1: 2} {
		if got := evtx.ChunkSlots(size); got != want {
			t.Errorf("ChunkSlots(%d) = %d, want %d", size, got, want)
		}
	}
	if _, err := evtx.NewFile(bytes.NewReader(b[:50]), 50); !errors.Is(err, evtx.ErrNotEVTX) {
		t.Errorf("50 bytes: %v", err)
	}
	if _, err := evtx.NewFile(&failAt{ReaderAt: bytes.NewReader(b), off: 0}, int64(len(b))); !errors.Is(err, errDevice) {
		t.Errorf("header unreadable: %v", err)
	}
}

var errDevice = errors.New("device failed")

// failAt fails every read at off.
type failAt struct {
	io.ReaderAt
	off int64
}

func (f *failAt) ReadAt(p []byte, off int64) (int, error) {
	if off == f.off {
		return 0, errDevice
	}
	return f.ReaderAt.ReadAt(p, off)
}

func TestNames(t *testing.T) {
	for tok, want := range map[evtx.Token]string{
		evtx.TokenFragmentHeader: "FragmentHeader", evtx.TokenOpenStartElement | evtx.TokenMore: "OpenStartElement|More",
		evtx.TokenEOF: "EOF", 0x2c: "Token(0x2c)", 0x10: "Token(0x10)",
	} {
		if got := tok.String(); got != want {
			t.Errorf("Token 0x%02x: %q, want %q", byte(tok), got, want)
		}
	}
	if evtx.Token(0x41).Base() != evtx.TokenOpenStartElement {
		t.Error("Base keeps the flag")
	}
	// Every token and every type has a name of its own.
	seen := map[string]bool{}
	for tok := evtx.TokenEOF; tok <= evtx.TokenFragmentHeader; tok++ {
		if s := tok.String(); strings.HasPrefix(s, "Token(") || seen[s] {
			t.Errorf("token 0x%02x: %q", byte(tok), s)
		} else {
			seen[s] = true
		}
	}
	for _, typ := range []evtx.ValueType{evtx.TypeNull, evtx.TypeString, evtx.TypeANSIString, evtx.TypeInt8, evtx.TypeUInt8, evtx.TypeInt16,
		evtx.TypeUInt16, evtx.TypeInt32, evtx.TypeUInt32, evtx.TypeInt64, evtx.TypeUInt64, evtx.TypeReal32, evtx.TypeReal64, evtx.TypeBool,
		evtx.TypeBinary, evtx.TypeGUID, evtx.TypeSizeT, evtx.TypeFileTime, evtx.TypeSysTime, evtx.TypeSID, evtx.TypeHexInt32,
		evtx.TypeHexInt64, evtx.TypeEvtHandle, evtx.TypeBinXML, evtx.TypeEvtXML} {
		s, arr := typ.String(), (typ | evtx.TypeArray).String()
		if strings.HasPrefix(s, "ValueType(") || seen[s] || arr != s+"Array" {
			t.Errorf("type 0x%02x: %q, as an array %q", byte(typ), s, arr)
		}
		seen[s] = true
	}
	for typ, want := range map[evtx.ValueType]string{
		evtx.TypeString: "String", evtx.TypeStringArray: "StringArray", evtx.TypeBinXML: "BinXML", evtx.TypeHexInt64: "HexInt64",
		0x16: "ValueType(0x16)", 0x96: "ValueType(0x96)",
	} {
		if got := typ.String(); got != want {
			t.Errorf("ValueType 0x%02x: %q, want %q", byte(typ), got, want)
		}
	}
}
