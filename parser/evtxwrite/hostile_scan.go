package evtxwrite

import (
	"bytes"
	"fmt"
	"time"

	"github.com/evtxhunt/evtxhunt/parser/evtx"
)

// Crafted logs for the scanner's hostile-evidence tests: each is valid EVTX
// with one thing an attacker can plant in it, and is returned as the file's
// bytes.

// EventlogProvider writes the Security log's own events, 1102 among them.
const (
	EventlogProvider     = "Microsoft-Windows-Eventlog"
	EventlogProviderGUID = "FC65DDD8-D6EF-4962-83D5-6E5CFE9CE148"
)

// Eventlog1102 is "The audit log was cleared", written by the Eventlog
// provider into the Security channel, its fields under
// UserData/LogFileCleared as Windows writes them.
func Eventlog1102(host string, t time.Time, by Account, logonID uint64) *Event {
	return &Event{Provider: EventlogProvider, ProviderGUID: EventlogProviderGUID, Channel: SecurityChannel, Computer: host,
		EventID: 1102, Level: 4, Task: 104, Keywords: 0x4020000000000000, Time: t, ProcessID: 1032, ThreadID: 1100,
		Data:     subjectFields(by, logonID),
		UserData: UserData{Element: "LogFileCleared", Attrs: []Attr{{"xmlns", "http://manifests.microsoft.com/win/2004/08/windows/eventlog"}}}}
}

// ProcessCreations is n Security 4688 events of the given schema version on
// host, one a second from t, each child with its own pid and image.
func ProcessCreations(host string, t time.Time, n int, version uint8) []*Event {
	parent := Proc{PID: 4242, Image: `C:\Windows\explorer.exe`, User: Account{"CORP", "alice", "S-1-5-21-1-2-3-1001"}, LogonID: 0x5a3f1, Integrity: "Medium"}
	evs := make([]*Event, n)
	for i := range evs {
		child := parent
		child.PID = uint32(5000 + 4*i)
		child.Image = fmt.Sprintf(`C:\Tools\tool_%d.exe`, i)
		child.CommandLine = fmt.Sprintf(`tool_%d.exe --run %d`, i, i)
		child.Elevation = "%%1938"
		evs[i] = Security4688(host, t.Add(time.Duration(i)*time.Second), version, child, parent)
	}
	return evs
}

// ClearedFirstLog is a Security log whose whole first chunk holds "log
// cleared" records (1102, Eventlog provider), followed by n process
// creations: nothing in the first chunk says that process creations follow.
func ClearedFirstLog(host string, t time.Time, n int) ([]byte, error) {
	var buf Buffer
	w := NewWriter(&buf)
	admin := Account{"CORP", "admin", "S-1-5-21-1-2-3-500"}
	for i := 0; w.chunks == 0; i++ {
		if _, err := w.Write(Eventlog1102(host, t.Add(time.Duration(i)*time.Millisecond), admin, 0x7e57)); err != nil {
			return nil, err
		}
	}
	for _, ev := range ProcessCreations(host, t.Add(time.Minute), n, 2) {
		if _, err := w.Write(ev); err != nil {
			return nil, err
		}
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.b, nil
}

// PlantedTemplateLog is a log of n Security 4688 events (version 2) whose
// System template has the GUID and size of the genuine one but another
// layout: its EventID and Version substitutions are swapped. Read alone it
// holds no process creation. A decoder that reuses a template compiled from
// one file for another on the strength of its GUID and size reads the
// genuine log's 4688s as events 2 after this one, and this log's records as
// process creations after the genuine one.
func PlantedTemplateLog(host string, t time.Time, n int) ([]byte, error) {
	b, err := writeLog(ProcessCreations(host, t, n, 2))
	if err != nil {
		return nil, err
	}
	eventID := []byte{tokOptionalSubst, sysEventID, 0, TypeUInt16}
	version := []byte{tokOptionalSubst, sysVersion, 0, TypeUInt8}
	defined := 0
	for chunk, off := 0, evtx.FileHeaderSize; off+evtx.ChunkSize <= len(b); chunk, off = chunk+1, off+evtx.ChunkSize {
		c := b[off : off+evtx.ChunkSize]
		free := int(le.Uint32(c[48:]))
		for rec := evtx.ChunkTablesEnd; rec < free; rec += int(le.Uint32(c[rec+4:])) {
			// After the record header, the fragment header and the
			// instance's token, unknown byte and template id: the
			// offset of the definition, which follows when it is new.
			ref := rec + evtx.RecordHeaderLen + 4 + 6
			def := int(le.Uint32(c[ref:]))
			if def != ref+4 {
				continue
			}
			size := int(le.Uint32(c[def+20:]))
			body := c[def+24 : def+24+size]
			if bytes.Count(body, eventID) != 1 || bytes.Count(body, version) != 1 {
				return nil, fmt.Errorf("evtxwrite: the System template at 0x%x has no single EventID and Version substitution", off+def)
			}
			i, j := bytes.Index(body, eventID), bytes.Index(body, version)
			copy(body[i:], version)
			copy(body[j:], eventID)
			defined++
		}
		if err := FixChunkCRC(b, chunk); err != nil {
			return nil, err
		}
	}
	if defined == 0 {
		return nil, fmt.Errorf("evtxwrite: no template definition found")
	}
	return b, nil
}

// SharedNamesLog is one process exit, whose template defines the element
// names inline, then n process creations, whose 4688 template refers to the
// names they share with it by offset, as Windows writes them.
func SharedNamesLog(host string, t time.Time, n int) ([]byte, error) {
	parent := Proc{PID: 4242, Image: `C:\Windows\explorer.exe`, User: Account{"CORP", "alice", "S-1-5-21-1-2-3-1001"}, LogonID: 0x5a3f1}
	return writeLog(append([]*Event{Security4689(host, t, parent)}, ProcessCreations(host, t.Add(time.Second), n, 2)...))
}

// PlantedNameLog is SharedNamesLog with the inline name Data renamed Datb in
// the first chunk: the 4688 template's definition keeps the genuine bytes,
// but here it names no EventData field. Read alone, its process creations
// have no image; a decoder that compares definitions alone and not the
// names they point to reads them with the genuine log's template.
func PlantedNameLog(host string, t time.Time, n int) ([]byte, error) {
	b, err := SharedNamesLog(host, t, n)
	if err != nil {
		return nil, err
	}
	c := b[evtx.FileHeaderSize : evtx.FileHeaderSize+evtx.ChunkSize]
	data := []byte{4, 0, 'D', 0, 'a', 0, 't', 0, 'a', 0, 0, 0} // length, UTF-16 units, NUL
	i := bytes.Index(c, data)
	if i < 0 {
		return nil, fmt.Errorf("evtxwrite: no inline name Data in the first chunk")
	}
	c[i+8] = 'b'
	return b, FixChunkCRC(b, 0)
}

// WipedChunkLog is a Security log of n process creations over several
// chunks with the given chunk zeroed, its header and every other chunk left
// as written: what an attacker who wipes a stretch of a log leaves.
func WipedChunkLog(host string, t time.Time, n, chunk int) ([]byte, error) {
	b, err := writeLog(ProcessCreations(host, t, n, 2))
	if err != nil {
		return nil, err
	}
	if chunks := (len(b) - evtx.FileHeaderSize) / evtx.ChunkSize; chunk >= chunks-1 {
		return nil, fmt.Errorf("evtxwrite: %d process creations fill %d chunks: chunk %d has none after it", n, chunks, chunk)
	}
	return b, ZeroChunk(b, chunk)
}

// writeLog writes events to an in-memory file.
func writeLog(evs []*Event) ([]byte, error) {
	var buf Buffer
	w := NewWriter(&buf)
	for _, ev := range evs {
		if _, err := w.Write(ev); err != nil {
			return nil, err
		}
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.b, nil
}

// Buffer is an in-memory io.WriterAt: a file written whole in memory.
type Buffer struct{ b []byte }

// Bytes returns what was written.
func (w *Buffer) Bytes() []byte { return w.b }

func (w *Buffer) WriteAt(p []byte, off int64) (int, error) {
	if need := int(off) + len(p); need > len(w.b) {
		w.b = append(w.b, make([]byte, need-len(w.b))...)
	}
	return copy(w.b[off:], p), nil
}
