package parser

import (
	"bytes"
	"fmt"
	"io"
	"log"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/0xrawsec/golang-evtx/evtx"
)

// golangEvtxDecoder decodes chunks with github.com/0xrawsec/golang-evtx,
// calling only the parts of it that run in the caller's goroutine, each under
// recover: the library panics on damaged input, and does so inside goroutines
// of its own in File.FastEvents, File.Events and Chunk.Events, where nothing
// can recover it.
type golangEvtxDecoder struct {
	goroutine uint64
	messages  []string // what the library logged while decoding this record
	builder   eventBuilder
}

// newGolangEvtxDecoder returns a decoder bound to the calling goroutine; call
// close from that goroutine when done.
func newGolangEvtxDecoder() *golangEvtxDecoder {
	d := &golangEvtxDecoder{goroutine: goroutineID()}
	libraryLog().register(d.goroutine, &d.messages)
	return d
}

func (d *golangEvtxDecoder) close() { libraryLog().unregister(d.goroutine) }

func (d *golangEvtxDecoder) Decode(c *Chunk, r *ChunkResult) {
	gc := evtx.NewChunk()
	gc.Offset = c.Offset
	gc.Data = c.Data
	// The string table is only a cache the library never reads (names are
	// parsed where the records point), and a bad one makes it panic: skip it.
	// Template definitions missing from the table are parsed where records
	// use them, so a damaged table is reported but not fatal.
	if err := d.templates(&gc); err != nil {
		gc.TemplateTable = make(evtx.TemplateTable)
		r.chunkError(c, ErrChunkHeader, "template table: %v; templates are read from the records instead", err)
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

func (d *golangEvtxDecoder) templates(gc *evtx.Chunk) (err error) {
	defer recoverAs(&err)
	reader := bytes.NewReader(gc.Data)
	gc.ParseChunkHeader(reader)
	if _, err := reader.Seek(chunkHeaderLen+4*64, io.SeekStart); err != nil {
		return err
	}
	return gc.ParseTemplateTable(reader)
}

// record decodes one record and reports whether its content was read.
func (d *golangEvtxDecoder) record(c *Chunk, gc *evtx.Chunk, ref RecordRef, r *ChunkResult) bool {
	d.messages = d.messages[:0]
	m, err := d.parse(gc, int64(ref.Offset))
	var sys systemFields
	if err == nil {
		sys, err = readSystem(m)
	}
	if err != nil {
		r.Records.Failed++
		kind := ErrRecord
		if _, ok := err.(*panicError); ok {
			kind = ErrPanic
		}
		r.recordError(c, ref, kind, "golang-evtx: "+joinReasons(err.Error(), d.messages))
		return false
	}
	r.Records.Decoded++
	r.Census[CensusKey{sys.channel, sys.provider, sys.eventID}]++
	if len(d.messages) > 0 {
		// The library logged a problem but still produced the record.
		r.recordError(c, ref, ErrRecordField, "golang-evtx decoded the record with errors: "+joinReasons("", d.messages))
	}
	source, ok := processSource(sys.provider, sys.eventID)
	if !ok {
		return true
	}
	r.Events = append(r.Events, ProcessEvent{})
	ev := &r.Events[len(r.Events)-1]
	*ev = ProcessEvent{Host: sys.computer, Time: sys.created, Source: source, Version: sys.version, RecordID: sys.recordID,
		RecordNumber: ref.ID, File: c.File, Chunk: c.Index, Offset: c.Offset + int64(ref.Offset)}
	if ev.RecordID == 0 {
		ev.RecordID = ref.ID
	}
	b := &d.builder
	b.reset(ev)
	if data, ok := m.get("Event", "EventData").(evtx.GoEvtxMap); ok {
		for name, v := range data {
			b.set(name, valueString(v))
		}
	}
	b.finish()
	for _, f := range b.bad {
		r.recordError(c, ref, ErrRecordField, fmt.Sprintf("field %s: cannot read %q as a number", f.name, f.value))
	}
	return true
}

func (d *golangEvtxDecoder) parse(gc *evtx.Chunk, offset int64) (m goEvtxMap, err error) {
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
type goEvtxMap evtx.GoEvtxMap

func (m goEvtxMap) get(path ...string) any {
	var cur any = evtx.GoEvtxMap(m)
	for _, p := range path {
		mm, ok := cur.(evtx.GoEvtxMap)
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
	if mm, ok := id.(evtx.GoEvtxMap); ok { // EventID with a Qualifiers attribute
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
	if t, ok := m.get("Event", "System", "TimeCreated", "SystemTime").(evtx.UTCTime); ok {
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
	case evtx.UTCTime:
		return time.Time(v).UTC().Format(TimeLayout)
	case []string:
		return strings.Join(v, "\n")
	}
	return fmt.Sprint(v)
}

func joinReasons(first string, more []string) string {
	parts := make([]string, 0, len(more)+1)
	if first != "" {
		parts = append(parts, first)
	}
	for _, m := range more {
		if !slices.Contains(parts, m) {
			parts = append(parts, m)
		}
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

// goroutineID reads the current goroutine's id from its stack header
// ("goroutine 42 [running]:"). It is used only to attribute the library's log
// lines to the record being decoded.
func goroutineID() uint64 {
	var buf [32]byte
	n := runtime.Stack(buf[:], false)
	s := strings.TrimPrefix(string(buf[:n]), "goroutine ")
	if i := strings.IndexByte(s, ' '); i > 0 {
		id, _ := strconv.ParseUint(s[:i], 10, 64)
		return id
	}
	return 0
}

// logCapture takes golang-evtx's error messages. The library prints them
// through the standard library's global logger and then drops the record, so
// the logger's output is the only place they can be caught; each message goes
// to the decoder running on the goroutine that logged it.
type logCapture struct {
	mu    sync.Mutex
	sinks map[uint64]*[]string
	other io.Writer // messages from goroutines that are not decoding
}

var (
	captureOnce sync.Once
	capture     *logCapture
)

// libraryLog installs the capture on first use. The global is forced on us:
// the library writes to the global logger.
func libraryLog() *logCapture {
	captureOnce.Do(func() {
		capture = &logCapture{sinks: map[uint64]*[]string{}, other: os.Stderr}
		log.SetFlags(0)
		log.SetOutput(capture)
	})
	return capture
}

func (l *logCapture) register(goroutine uint64, sink *[]string) {
	l.mu.Lock()
	l.sinks[goroutine] = sink
	l.mu.Unlock()
}

func (l *logCapture) unregister(goroutine uint64) {
	l.mu.Lock()
	delete(l.sinks, goroutine)
	l.mu.Unlock()
}

func (l *logCapture) Write(p []byte) (int, error) {
	id := goroutineID()
	l.mu.Lock()
	sink := l.sinks[id]
	l.mu.Unlock()
	if sink == nil {
		return l.other.Write(p)
	}
	// Keep the message, not the stack trace some of them carry.
	msg, _, _ := strings.Cut(string(p), "\n")
	*sink = append(*sink, strings.TrimSpace(msg))
	return len(p), nil
}
