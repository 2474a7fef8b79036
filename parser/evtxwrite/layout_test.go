package evtxwrite_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/evtxhunt/evtxhunt/parser/evtx"
	"github.com/evtxhunt/evtxhunt/parser/evtxwrite"
)

const sharedSamples = "../../../shared/evtx/attack-samples"

// TestTemplatesAsWindows writes the first record of real Windows logs again
// (same computer, same kind of event) and compares the templates byte for
// byte: the System template and the event's EventData template, each
// defined inline where Windows defines it, with its names inline at their
// first use, the same dependency ids, substitution tokens and types, end of
// fragment tokens and sizes. Only the template GUIDs, which Windows derives
// in its own way, may differ.
func TestTemplatesAsWindows(t *testing.T) {
	if _, err := os.Stat(sharedSamples); err != nil {
		t.Skipf("SKIP: the public samples are not in %s: %v", sharedSamples, err)
	}
	user := evtxwrite.Account{Domain: "MSEDGEWIN10", Name: "IEUser", SID: "S-1-5-21-3461203602-4096304019-2269080069-1000"}
	parent := evtxwrite.Proc{PID: 0x2480, Image: `C:\Windows\System32\cmd.exe`, User: user, LogonID: 0x53ca2, GUID: "747F3D96-908D-61AF-D500-000000000102"}
	child := evtxwrite.Proc{PID: 0x21a4, Image: `C:\Tools\a.exe`, CommandLine: "a.exe", User: user, LogonID: 0x53ca2, Integrity: "High",
		Elevation: "%%1937", GUID: "747F3D96-9ACD-61AF-D301-000000000102", LogonGUID: "747F3D96-298D-61AF-A23C-050000000000"}
	at := time.Date(2021, 12, 7, 17, 33, 1, 0, time.UTC)
	for _, c := range []struct {
		file string
		ev   *evtxwrite.Event
	}{
		// A Security 4688 version 2 (Windows 10).
		{"Credential Access/tutto_malseclogon.evtx", evtxwrite.Security4688("MSEDGEWIN10", at, 2, child, parent)},
		// A Sysmon 1 of schema 5 with OriginalFileName (Sysmon 10 to 13).
		{"Privilege Escalation/Sysmon_uacme_58.evtx", evtxwrite.Sysmon1("MSEDGEWIN10", at, child, parent)},
	} {
		t.Run(filepath.Base(c.file), func(t *testing.T) {
			real, err := os.ReadFile(filepath.Join(sharedSamples, c.file))
			if err != nil {
				t.Fatal(err)
			}
			var buf memFile
			w := evtxwrite.NewWriter(&buf)
			if _, err := w.Write(c.ev); err != nil {
				t.Fatal(err)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			want, err := firstRecordTemplates(real)
			if err != nil {
				t.Fatalf("Windows: %v", err)
			}
			got, err := firstRecordTemplates(buf.b)
			if err != nil {
				t.Fatalf("written: %v", err)
			}
			for i, name := range []string{"System", "EventData"} {
				if got[i].offset != want[i].offset {
					t.Errorf("%s template at chunk offset %d, Windows puts it at %d", name, got[i].offset, want[i].offset)
					continue
				}
				g, w := maskGUID(got[i].def), maskGUID(want[i].def)
				if !bytes.Equal(g, w) {
					at := 0
					for at < min(len(g), len(w)) && g[at] == w[at] {
						at++
					}
					t.Errorf("%s template: %d bytes, Windows %d; first difference at byte %d of the definition (chunk offset %d):\nwritten % x\nWindows % x",
						name, len(g), len(w), at, want[i].offset+at, g[at:min(at+32, len(g))], w[at:min(at+32, len(w))])
				}
			}
		})
	}
}

type templateDef struct {
	offset int    // in the chunk
	def    []byte // next-in-bucket, GUID, size, and the definition
}

// firstRecordTemplates reads, from the first record of the first chunk,
// the System template definition and the EventData template definition
// inside its last value, both of which must be defined there.
func firstRecordTemplates(file []byte) ([2]templateDef, error) {
	var out [2]templateDef
	le := binary.LittleEndian
	if len(file) < evtx.FileHeaderSize+evtx.ChunkSize {
		return out, fmt.Errorf("no chunk")
	}
	c := file[evtx.FileHeaderSize : evtx.FileHeaderSize+evtx.ChunkSize]
	definition := func(instance int) (templateDef, int, error) {
		if c[instance] != 0x0c {
			return templateDef{}, 0, fmt.Errorf("no template instance at %d", instance)
		}
		def := int(le.Uint32(c[instance+6:]))
		if def != instance+10 {
			return templateDef{}, 0, fmt.Errorf("the template of the instance at %d is not defined there", instance)
		}
		end := def + 24 + int(le.Uint32(c[def+20:]))
		return templateDef{def, c[def:end]}, end, nil
	}
	system, values, err := definition(evtx.ChunkTablesEnd + evtx.RecordHeaderLen + 4)
	if err != nil {
		return out, err
	}
	n := int(le.Uint32(c[values:]))
	data := values + 4 + 4*n
	for i := range n - 1 {
		data += int(le.Uint16(c[values+4+4*i:]))
	}
	eventData, _, err := definition(data + 4) // after the fragment header
	if err != nil {
		return out, err
	}
	return [2]templateDef{system, eventData}, nil
}

func maskGUID(def []byte) []byte {
	b := append([]byte(nil), def...)
	clear(b[4:20])
	return b
}

// TestFramingAsWindows checks the framing Windows gives a live log: record
// ids and numbers alike, continuing from the first id across chunks, the
// file header's next id and chunk count agreeing with them, chunk flags 1
// (as in 299 of the 300 public sample logs), at least 8 bytes left free
// after a chunk's last record, and each record's binary XML
// closed by an end-of-file token, outside and inside its event data, then
// padded to a multiple of 8 bytes.
func TestFramingAsWindows(t *testing.T) {
	evs, b := writeSample(t)
	le := binary.LittleEndian
	chunks := (len(b) - evtx.FileHeaderSize) / evtx.ChunkSize
	if next := le.Uint64(b[24:]); next != sampleFirstID+uint64(len(evs)) {
		t.Errorf("file header: next record id %d, want %d", next, sampleFirstID+len(evs))
	}
	if n, last := le.Uint16(b[42:]), le.Uint64(b[16:]); int(n) != chunks || last != uint64(chunks-1) {
		t.Errorf("file header: %d chunks, last %d; the file has %d", n, last, chunks)
	}
	id := uint64(sampleFirstID)
	for i := range chunks {
		c := b[evtx.FileHeaderSize+i*evtx.ChunkSize:][:evtx.ChunkSize]
		first, last := le.Uint64(c[8:]), le.Uint64(c[16:])
		if first != id || le.Uint64(c[24:]) != first || le.Uint64(c[32:]) != last {
			t.Errorf("chunk %d: numbers %d-%d, ids %d-%d; want from %d", i, first, last, le.Uint64(c[24:]), le.Uint64(c[32:]), id)
		}
		if flags := le.Uint32(c[120:]); flags != 1 {
			t.Errorf("chunk %d: flags %#x, want 1", i, flags)
		}
		free := int(le.Uint32(c[48:]))
		if free > evtx.ChunkSize-8 {
			t.Errorf("chunk %d: records up to %d; Windows leaves at least 8 bytes free", i, free)
		}
		for off := evtx.ChunkTablesEnd; off < free; id++ {
			size := int(le.Uint32(c[off+4:]))
			if got := le.Uint64(c[off+8:]); got != id || size%8 != 0 {
				t.Fatalf("chunk %d record at %d: id %d (want %d), size %d", i, off, got, id, size)
			}
			end := valuesEnd(c, off) // the event data is the last value
			if c[end-1] != 0 || c[end] != 0 || end+1+8 <= off+size-4 || !allZero(c[end+1:off+size-4]) {
				t.Fatalf("chunk %d record %d: no end-of-file token closing the event data (%#x) or the record (%#x), or more than padding after it: % x",
					i, id, c[end-1], c[end], c[end:off+size-4])
			}
			off += size
		}
		if id != last+1 {
			t.Errorf("chunk %d: records up to %d, header says %d", i, id-1, last)
		}
	}
}

// valuesEnd walks a record written by Write: the System template instance,
// its definition when inline, its values; it returns where the values end.
func valuesEnd(c []byte, record int) int {
	le := binary.LittleEndian
	instance := record + evtx.RecordHeaderLen + 4
	values := instance + 10
	if def := int(le.Uint32(c[instance+6:])); def == values {
		values = def + 24 + int(le.Uint32(c[def+20:]))
	}
	n := int(le.Uint32(c[values:]))
	end := values + 4 + 4*n
	for i := range n {
		end += int(le.Uint16(c[values+4+4*i:]))
	}
	return end
}

func allZero(b []byte) bool { return bytes.Count(b, []byte{0}) == len(b) }

// sampleFirstID is where the sample log's record ids start: past 1, as on
// a machine, and past what 16 bits hold.
const sampleFirstID = 1_234_567

// writeSample writes the sample events (every builder, every value type,
// non-ASCII text, several chunks) as a log starting at sampleFirstID.
func writeSample(t *testing.T) ([]*evtxwrite.Event, []byte) {
	t.Helper()
	evs := evtxwrite.SampleEvents()
	var buf memFile
	w := evtxwrite.NewWriterFrom(&buf, sampleFirstID)
	for i, ev := range evs {
		id, err := w.Write(ev)
		if err != nil {
			t.Fatal(err)
		}
		if id != sampleFirstID+uint64(i) {
			t.Fatalf("record %d got id %d", i, id)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if chunks := (len(buf.b) - evtx.FileHeaderSize) / evtx.ChunkSize; chunks < 4 {
		t.Fatalf("only %d chunks: the sample must span several", chunks)
	}
	return evs, buf.b
}

// memFile is an in-memory io.WriterAt.
type memFile struct{ b []byte }

func (f *memFile) WriteAt(p []byte, off int64) (int, error) {
	if need := int(off) + len(p); need > len(f.b) {
		f.b = append(f.b, make([]byte, need-len(f.b))...)
	}
	return copy(f.b[off:], p), nil
}
