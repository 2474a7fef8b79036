package parser

import (
	"bytes"
	"fmt"
	"io"
	"log"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	golangevtx "github.com/0xrawsec/golang-evtx/evtx"
	ulog "github.com/0xrawsec/golang-utils/log"

	"github.com/evtxhunt/evtxhunt/parser/evtx"
)

// golangEvtxDecoder decodes chunks with github.com/0xrawsec/golang-evtx,
// calling only the parts of it that run in the caller's goroutine, each under
// recover: the library panics on damaged input, and does so inside goroutines
// of its own in File.FastEvents, File.Events and Chunk.Events, where nothing
// can recover it.
type golangEvtxDecoder struct {
	messages libraryMessages // what the library logged while decoding this record
	builder  eventBuilder
}

// newGolangEvtxDecoder returns a decoder, which takes the output of the
// standard library's global logger until close: golang-evtx prints its
// error messages there and then drops the record, so the logger is the only
// place they can be caught. There is one decoder per process, in the
// decoding child (see DecodeChildCommand), and golang-evtx logs only from
// the goroutine that calls it.
func newGolangEvtxDecoder() *golangEvtxDecoder {
	d := &golangEvtxDecoder{}
	log.SetFlags(0)
	log.SetOutput(&d.messages)
	return d
}

func (d *golangEvtxDecoder) close() {
	d.messages.reset()
	log.SetOutput(os.Stderr)
}

func (d *golangEvtxDecoder) Decode(c *chunk, r *chunkResult) {
	gc := golangevtx.NewChunk()
	gc.Offset = c.Offset
	gc.Data = c.Data
	// The string table is only a cache the library never reads (names are
	// parsed where the records point), and a bad one makes it panic: skip it.
	// Template definitions missing from the table are parsed where records
	// use them, so a damaged table is reported but not fatal.
	if err := d.templates(&gc); err != nil {
		gc.TemplateTable = make(golangevtx.TemplateTable)
		r.chunkError(c, KindChunkHeader, fmt.Errorf("template table: %w; templates are read from the records instead", err))
	}
	// ParseEvent refuses offsets past the header's last record, which is
	// stale in dirty chunks: our walk of the record chain is the authority.
	gc.Header.OffsetLastRec = int32(c.Records[len(c.Records)-1].Offset)
	decoded := false
	for _, ref := range c.Records {
		if d.record(c, &gc, ref, r) {
			decoded = true
		}
	}
	if decoded {
		r.Chunks.Decoded = 1
	} else {
		r.Chunks.Failed = 1
	}
}

func (d *golangEvtxDecoder) templates(gc *golangevtx.Chunk) (err error) {
	defer recoverAs(&err)
	reader := bytes.NewReader(gc.Data)
	gc.ParseChunkHeader(reader)
	if _, err := reader.Seek(evtx.ChunkHeaderLen+4*64, io.SeekStart); err != nil {
		return err
	}
	return gc.ParseTemplateTable(reader)
}

// record decodes one record and reports whether its content was read.
func (d *golangEvtxDecoder) record(c *chunk, gc *golangevtx.Chunk, ref evtx.RecordRef, r *chunkResult) bool {
	d.messages.reset()
	m, err := d.parse(gc, int64(ref.Offset))
	var sys systemFields
	if err == nil {
		sys, err = readSystem(m)
	}
	if err != nil {
		r.Records.Failed++
		kind := KindRecord
		if _, ok := err.(*panicError); ok {
			kind = KindPanic
		}
		r.recordError(c, ref, kind, "golang-evtx: "+d.messages.join(err.Error()), err)
		return false
	}
	r.Records.Decoded++
	r.Census[CensusKey{sys.channel, sys.provider, sys.eventID}]++
	if len(d.messages.list) > 0 {
		// The library logged a problem but still produced the record.
		r.recordError(c, ref, KindRecordField, "golang-evtx decoded the record with errors: "+d.messages.join(""), nil)
	}
	source, ok := processSource(sys.provider, sys.eventID)
	if !ok {
		return true
	}
	r.Events = append(r.Events, ProcessEvent{})
	ev := &r.Events[len(r.Events)-1]
	*ev = ProcessEvent{Host: sys.computer, Time: sys.created, Source: source, Version: sys.version, RecordID: sys.recordID,
		RecordNumber: ref.ID, File: c.file, Chunk: c.Index, Offset: c.Offset + int64(ref.Offset)}
	if ev.RecordID == 0 {
		ev.RecordID = ref.ID
	}
	b := &d.builder
	b.reset(ev)
	if data, ok := m.get("Event", "EventData").(golangevtx.GoEvtxMap); ok {
		for name, v := range data {
			b.set(name, valueString(v))
		}
	}
	b.finish()
	for _, f := range b.bad {
		r.recordError(c, ref, KindRecordField, fmt.Sprintf("field %s: cannot read %q as a number", f.name, f.value), nil)
	}
	return true
}

func (d *golangEvtxDecoder) parse(gc *golangevtx.Chunk, offset int64) (m goEvtxMap, err error) {
	defer recoverAs(&err)
	ev := gc.ParseEvent(offset)
	gm, err := ev.GoEvtxMap(gc)
	if gm == nil {
		if err == nil {
			err = fmt.Errorf("no event in record")
		}
		return nil, err
	}
	// An error with a map means the library kept going; what it logged says
	// what went wrong, and record() reports it.
	return goEvtxMap(*gm), nil
}

// goEvtxMap is the library's decoded record: nested maps of names to values.
type goEvtxMap golangevtx.GoEvtxMap

func (m goEvtxMap) get(path ...string) any {
	var cur any = golangevtx.GoEvtxMap(m)
	for _, p := range path {
		mm, ok := cur.(golangevtx.GoEvtxMap)
		if !ok {
			return nil
		}
		cur = mm[p]
	}
	return cur
}

func (m goEvtxMap) string(path ...string) string { return valueString(m.get(path...)) }

// systemFields are the parts of System every record is counted by.
type systemFields struct {
	channel, provider, computer string
	eventID                     uint16
	version                     uint8
	recordID                    uint64
	created                     time.Time
}

func readSystem(m goEvtxMap) (s systemFields, err error) {
	id := m.get("Event", "System", "EventID")
	if mm, ok := id.(golangevtx.GoEvtxMap); ok { // EventID with a Qualifiers attribute
		id = mm["Value"]
	}
	n, err := strconv.ParseUint(valueString(id), 10, 16)
	if err != nil {
		return s, fmt.Errorf("System/EventID %q is not an event id", valueString(id))
	}
	s.eventID = uint16(n)
	s.channel = m.string("Event", "System", "Channel")
	s.provider = m.string("Event", "System", "Provider", "Name")
	s.computer = m.string("Event", "System", "Computer")
	if v, err := strconv.ParseUint(m.string("Event", "System", "Version"), 10, 8); err == nil {
		s.version = uint8(v)
	}
	s.recordID, _ = strconv.ParseUint(m.string("Event", "System", "EventRecordID"), 10, 64)
	if t, ok := m.get("Event", "System", "TimeCreated", "SystemTime").(golangevtx.UTCTime); ok {
		s.created = time.Time(t).UTC()
	}
	return s, nil
}

// valueString renders a decoded value as event viewers print it.
func valueString(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	case golangevtx.UTCTime:
		return time.Time(v).UTC().Format(TimeLayout)
	case []string:
		return strings.Join(v, "\n")
	}
	return fmt.Sprint(v)
}

// libraryMessages are what golang-evtx logged while decoding one record:
// the first few different ones. A crafted record can make it log a line per
// value descriptor, tens of thousands, and formatting them is most of its
// work: once enough are kept, its logger is silenced until the next record.
type libraryMessages struct {
	list     []string
	silenced bool
}

const maxLibraryMessages = 8

func (m *libraryMessages) reset() {
	m.list = m.list[:0]
	if m.silenced {
		m.silenced = false
		ulog.SetLogLevel(ulog.LInfo) // the library's default
	}
}

// Write takes one line of the library's log output. Some carry a stack
// trace after the message: only the message is kept.
func (m *libraryMessages) Write(p []byte) (int, error) {
	line, _, _ := bytes.Cut(p, []byte("\n"))
	m.add(string(bytes.TrimSpace(line)))
	return len(p), nil
}

func (m *libraryMessages) add(msg string) {
	switch {
	case slices.Contains(m.list, msg):
	case len(m.list) < maxLibraryMessages:
		m.list = append(m.list, msg)
	case !m.silenced:
		m.silenced = true
		ulog.SetLogLevel(ulog.LCritical)
	}
}

// join lists first, when set, then the messages, in one reason.
func (m *libraryMessages) join(first string) string {
	parts := make([]string, 0, len(m.list)+2)
	if first != "" {
		parts = append(parts, first)
	}
	for _, msg := range m.list {
		if msg != first {
			parts = append(parts, msg)
		}
	}
	if m.silenced {
		parts = append(parts, "and more messages, not kept")
	}
	return strings.Join(parts, "; ")
}

// panicError is a panic of the decoder, recovered.
type panicError struct{ value any }

func (p *panicError) Error() string { return fmt.Sprintf("panic: %v", p.value) }

func recoverAs(err *error) {
	if r := recover(); r != nil {
		*err = &panicError{r}
	}
}
