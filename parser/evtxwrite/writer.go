package evtxwrite

import (
	"crypto/md5"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"strconv"
	"time"
	"unicode/utf16"

	"github.com/evtxhunt/evtxhunt/parser/evtx"
)

// Event is one record to write: the System fields Windows records and the
// event's own fields in order, under EventData or, for providers with a
// schema of their own, under UserData.
type Event struct {
	Provider     string // System/Provider/@Name
	ProviderGUID string // System/Provider/@Guid; empty leaves the attribute out
	Channel      string
	Computer     string
	EventID      uint16
	Version      uint8
	Level        uint8
	Task         uint16
	Opcode       uint8
	Keywords     uint64
	Time         time.Time
	ProcessID    uint32 // System/Execution
	ThreadID     uint32
	UserID       string // System/Security/@UserID, a SID; empty for none
	Data         []Field
	// UserData, when its Element is set, puts Data under
	// UserData/Element, each field an element of its own name, as Windows
	// writes the events of providers with their own schema (1102, 1149);
	// otherwise Data goes under EventData as Data Name="..." elements.
	UserData UserData
}

// UserData is the element a provider with its own schema writes under
// UserData, with its literal attributes (namespace declarations) in order.
type UserData struct {
	Element string
	Attrs   []Attr
}

// Attr is a literal XML attribute.
type Attr struct{ Name, Value string }

// Field is one EventData/Data element, or one element under UserData.
type Field struct {
	Name  string
	Value Value
}

// F is shorthand for a Field.
func F(name string, v Value) Field { return Field{name, v} }

// Writer writes events as an EVTX file laid out as Windows lays out a live
// log: record ids and numbers continue from the first one across chunks, the
// System template and each event's EventData template are defined inline at
// their first use in a chunk, names too. A chunk is written out as soon as
// the next record does not fit in it, so memory does not grow with the file.
type Writer struct {
	w       io.WriterAt
	chunk   chunkState
	chunks  int // chunks written
	nextID  uint64
	scratch recordEncoder
}

// NewWriter returns a Writer that writes to w from offset 0, numbering
// records from 1, as a log just created or cleared.
func NewWriter(w io.WriterAt) *Writer { return NewWriterFrom(w, 1) }

// NewWriterFrom returns a Writer whose first record has id first (1 when
// first is 0), as a log whose earlier records were overwritten or archived:
// a machine's Security log is rarely at record 1.
func NewWriterFrom(w io.WriterAt, first uint64) *Writer {
	wr := &Writer{w: w, nextID: max(first, 1)}
	wr.chunk.reset()
	return wr
}

// NumberFrom numbers the records from id on instead of from 1, as a log
// whose older records were cleared or overwritten. It must come before the
// first record.
func (w *Writer) NumberFrom(id uint64) error {
	if w.chunks > 0 || w.chunk.records > 0 {
		return errors.New("evtxwrite: NumberFrom after the first record")
	}
	if id == 0 {
		return errors.New("evtxwrite: record ids start at 1")
	}
	w.nextID = id
	return nil
}

// Write appends one record and returns its record id.
func (w *Writer) Write(ev *Event) (uint64, error) {
	if err := checkEvent(ev); err != nil {
		return 0, err
	}
	return w.writeRecord(ev.Time, func(e *recordEncoder, id uint64) error {
		return e.event(ev, id, nil)
	})
}

func checkEvent(ev *Event) error {
	for _, f := range ev.Data {
		if f.Value.err != nil {
			return fmt.Errorf("evtxwrite: field %s: %w", f.Name, f.Value.err)
		}
	}
	if ev.Time.IsZero() {
		return errors.New("evtxwrite: event without a time")
	}
	return nil
}

// writeRecord appends one record whose binary XML body writes, at the end
// of the current chunk or, when it does not fit, at the start of the next.
func (w *Writer) writeRecord(t time.Time, body func(e *recordEncoder, id uint64) error) (uint64, error) {
	id := w.nextID
	for attempt := 0; ; attempt++ {
		rec, err := w.scratch.encode(&w.chunk, id, t, body)
		if err != nil {
			return 0, err
		}
		if w.chunk.fits(len(rec)) {
			w.chunk.commit(&w.scratch, id)
			w.nextID++
			return id, nil
		}
		if attempt > 0 || w.chunk.records == 0 {
			return 0, fmt.Errorf("evtxwrite: record %d is %d bytes, more than a chunk holds", id, len(rec))
		}
		if err := w.flush(); err != nil {
			return 0, err
		}
	}
}

// EndChunk writes out the chunk being filled, if it holds any record, so
// that the next record starts a new chunk.
func (w *Writer) EndChunk() error {
	if w.chunk.records == 0 {
		return nil
	}
	return w.flush()
}

// Close writes the last chunk and the file header. It does not close the
// underlying writer.
func (w *Writer) Close() error {
	if w.chunk.records > 0 {
		if err := w.flush(); err != nil {
			return err
		}
	}
	h := make([]byte, evtx.FileHeaderSize)
	copy(h, []byte(evtx.FileMagic))
	le.PutUint64(h[8:], 0) // first chunk: the log has not wrapped
	if w.chunks > 0 {
		le.PutUint64(h[16:], uint64(w.chunks-1))
	}
	le.PutUint64(h[24:], w.nextID)
	le.PutUint32(h[32:], 128)
	le.PutUint16(h[36:], 1) // version 3.1
	le.PutUint16(h[38:], 3)
	le.PutUint16(h[40:], evtx.FileHeaderSize)
	le.PutUint16(h[42:], uint16(w.chunks))
	le.PutUint32(h[124:], crc32.ChecksumIEEE(h[:120]))
	_, err := w.w.WriteAt(h, 0)
	return err
}

func (w *Writer) flush() error {
	b := w.chunk.finish()
	off := int64(evtx.FileHeaderSize) + int64(w.chunks)*evtx.ChunkSize
	if _, err := w.w.WriteAt(b, off); err != nil {
		return err
	}
	w.chunks++
	w.chunk.reset()
	return nil
}

// Size is the length of the file written so far, the current chunk included.
func (w *Writer) Size() int64 {
	n := int64(evtx.FileHeaderSize) + int64(w.chunks)*evtx.ChunkSize
	if w.chunk.records > 0 {
		n += evtx.ChunkSize
	}
	return n
}

// chunkState is the chunk being filled: its bytes, and the names and
// templates already defined in it, which later records reference by offset.
type chunkState struct {
	b              []byte
	end            int // first free byte
	records        int
	firstID        uint64
	lastRecord     int
	names          map[string]uint32
	templates      map[string]definedTemplate // by key
	stringBuckets  [64]uint32
	templateBucket [32]uint32
}

func (c *chunkState) reset() {
	if c.b == nil {
		c.b = make([]byte, evtx.ChunkSize)
	} else {
		clear(c.b)
	}
	c.end = evtx.ChunkTablesEnd
	c.records = 0
	c.names = map[string]uint32{}
	c.templates = map[string]definedTemplate{}
	c.stringBuckets = [64]uint32{}
	c.templateBucket = [32]uint32{}
}

// chunkReserve is what Windows leaves free at least after a chunk's last
// record: 8 bytes is the least in the 573 chunks of the public sample logs,
// and libevtx does not read a record that ends at the chunk's end.
const chunkReserve = 8

func (c *chunkState) fits(n int) bool { return c.end+n <= evtx.ChunkSize-chunkReserve }

// commit copies an encoded record into the chunk and links the names and
// templates it defined into the chunk's hash tables.
func (c *chunkState) commit(e *recordEncoder, id uint64) {
	copy(c.b[c.end:], e.b)
	if c.records == 0 {
		c.firstID = id
	}
	c.lastRecord = c.end
	c.end += len(e.b)
	c.records++
	for _, n := range e.newNames {
		bucket := nameHash(n.name) % 64
		le.PutUint32(c.b[n.offset:], c.stringBuckets[bucket])
		c.stringBuckets[bucket] = n.offset
		c.names[n.name] = n.offset
	}
	for _, t := range e.newTemplates {
		bucket := t.id % 32
		le.PutUint32(c.b[t.offset:], c.templateBucket[bucket])
		c.templateBucket[bucket] = t.offset
		c.templates[t.key] = definedTemplate{t.id, t.offset}
	}
}

// chunkFlags is what Windows writes at offset 120 of the chunk header of a
// version 3.1 log.
const chunkFlags = 1

// finish fills in the chunk header and checksums. Windows numbers a live
// log's records and ids alike.
func (c *chunkState) finish() []byte {
	b := c.b
	copy(b, []byte(evtx.ChunkMagic))
	last := c.firstID + uint64(c.records) - 1
	le.PutUint64(b[8:], c.firstID)
	le.PutUint64(b[16:], last)
	le.PutUint64(b[24:], c.firstID)
	le.PutUint64(b[32:], last)
	le.PutUint32(b[40:], 128)
	le.PutUint32(b[44:], uint32(c.lastRecord))
	le.PutUint32(b[48:], uint32(c.end))
	le.PutUint32(b[52:], crc32.ChecksumIEEE(b[evtx.ChunkTablesEnd:c.end]))
	le.PutUint32(b[120:], chunkFlags)
	for i, off := range c.stringBuckets {
		le.PutUint32(b[128+4*i:], off)
	}
	for i, off := range c.templateBucket {
		le.PutUint32(b[384+4*i:], off)
	}
	le.PutUint32(b[124:], evtx.ChunkHeaderChecksum(b))
	return b
}

// nameHash is the 16-bit hash Windows keeps with each name string.
func nameHash(s string) uint32 {
	var h uint32
	for _, c := range utf16.Encode([]rune(s)) {
		h = h*65599 + uint32(c)
	}
	return h & 0xffff
}

// Binary XML tokens.
const (
	tokEOF             = 0x00
	tokOpenStart       = 0x01
	tokCloseStart      = 0x02
	tokCloseEmpty      = 0x03
	tokEndElement      = 0x04
	tokValue           = 0x05
	tokAttribute       = 0x06
	tokTemplate        = 0x0c
	tokNormalSubst     = 0x0d
	tokOptionalSubst   = 0x0e
	tokFragment        = 0x0f
	flagMoreOrHasAttrs = 0x40
	noDependency       = 0xffff // the dependency id of an element that depends on no value
)

// recordAlign is the multiple of which Windows makes every record's size,
// padding after the binary XML.
const recordAlign = 8

// recordEncoder builds one record's bytes for a given position in a chunk.
// Names and templates not yet in the chunk are defined inline, as Windows
// does at their first use.
type recordEncoder struct {
	b            []byte
	base         uint32 // chunk offset of b[0]
	chunk        *chunkState
	newNames     []pendingName
	newTemplates []pendingTemplate
	system       []Value // the System template's values
	data         []Value // the EventData template's values
	key          []byte  // a template's key, kept for its capacity
}

type pendingName struct {
	name   string
	offset uint32
}

// definedTemplate is a template defined in the chunk: its id and where its
// definition is (its next-in-bucket field).
type definedTemplate struct{ id, offset uint32 }

// pendingTemplate is a template definition of the record being encoded,
// linked into the chunk's table on commit.
type pendingTemplate struct {
	key    string
	id     uint32
	offset uint32
}

// encode lays out a record (header, the binary XML body writes, padding,
// size trailer) for the end of chunk c.
func (e *recordEncoder) encode(c *chunkState, id uint64, t time.Time, body func(e *recordEncoder, id uint64) error) ([]byte, error) {
	*e = recordEncoder{b: e.b[:0], base: uint32(c.end), chunk: c, newNames: e.newNames[:0], newTemplates: e.newTemplates[:0],
		system: e.system[:0], data: e.data[:0], key: e.key[:0]}
	e.b = append(e.b, []byte(evtx.RecordMagic)...)
	e.b = le.AppendUint32(e.b, 0) // size, patched below
	e.b = le.AppendUint64(e.b, id)
	e.b = le.AppendUint64(e.b, ToFileTime(t))
	if err := body(e, id); err != nil {
		return nil, err
	}
	for (len(e.b)+4)%recordAlign != 0 {
		e.b = append(e.b, 0)
	}
	e.b = le.AppendUint32(e.b, 0) // size trailer
	size := uint32(len(e.b))
	le.PutUint32(e.b[4:], size)
	le.PutUint32(e.b[size-4:], size)
	return e.b, nil
}

// event writes ev as Windows does: a fragment holding an instance of the
// System template, whose last value is binary XML holding an instance of
// the event's EventData (or UserData) template, and the end-of-file token.
// extra descriptors, if any, are appended to the inner instance's array.
func (e *recordEncoder) event(ev *Event, id uint64, extra []descriptor) error {
	system := systemTree(ev)
	e.system = systemValues(e.system, ev, id)
	e.b = append(e.b, tokFragment, 1, 1, 0)
	e.templateInstance(&system)
	descriptors := e.descriptors(e.system, nil)
	e.values(e.system[:sysEventData])
	inner := len(e.b)
	e.b = append(e.b, tokFragment, 1, 1, 0)
	tree := dataTree(ev, &e.data)
	e.templateInstance(&tree)
	e.descriptors(e.data, extra)
	e.values(e.data)
	e.b = append(e.b, tokEOF)
	size := len(e.b) - inner
	if size > 0xffff {
		return fmt.Errorf("evtxwrite: %s %d: event data of %d bytes, more than a value holds", ev.Provider, ev.EventID, size)
	}
	le.PutUint16(e.b[descriptors+4*sysEventData:], uint16(size))
	e.b = append(e.b, tokEOF)
	return e.checkValues()
}

// checkValues reports a value too long for its descriptor's size field.
func (e *recordEncoder) checkValues() error {
	for _, vs := range [][]Value{e.system, e.data} {
		for _, v := range vs {
			if len(v.bytes) > 0xffff {
				return fmt.Errorf("evtxwrite: a value of %d bytes is too long", len(v.bytes))
			}
		}
	}
	return nil
}

// templateInstance writes a template instance of tree's template, defining
// it inline at its first use in the chunk. It returns where in e.b the
// definition's size field is, or -1 when the template was already defined.
func (e *recordEncoder) templateInstance(tree *node) int {
	e.key = tree.appendKey(e.key[:0])
	if t, ok := e.chunk.templates[string(e.key)]; ok {
		e.instance(t.id, t.offset)
		return -1
	}
	for _, t := range e.newTemplates {
		if t.key == string(e.key) {
			e.instance(t.id, t.offset)
			return -1
		}
	}
	sum := md5.Sum(e.key)
	id := le.Uint32(sum[:]) // Windows' template ids are their GUID's first four bytes too
	off := e.offset() + 10
	e.instance(id, off)
	e.newTemplates = append(e.newTemplates, pendingTemplate{string(e.key), id, off})
	e.b = le.AppendUint32(e.b, 0) // next template in bucket, linked on commit
	e.b = append(e.b, sum[:]...)
	sizeAt := len(e.b)
	e.b = le.AppendUint32(e.b, 0)
	e.b = append(e.b, tokFragment, 1, 1, 0)
	e.element(tree)
	e.b = append(e.b, tokEOF)
	le.PutUint32(e.b[sizeAt:], uint32(len(e.b)-sizeAt-4))
	return sizeAt
}

// instance writes a template instance's token, template id and definition
// offset.
func (e *recordEncoder) instance(id, def uint32) {
	e.b = append(e.b, tokTemplate, 1)
	e.b = le.AppendUint32(e.b, id)
	e.b = le.AppendUint32(e.b, def)
}

// descriptors writes the count and value descriptors of a template
// instance's substitution array, then extra descriptors that have no data,
// and returns where in e.b the first descriptor is.
func (e *recordEncoder) descriptors(values []Value, extra []descriptor) int {
	e.b = le.AppendUint32(e.b, uint32(len(values)+len(extra)))
	at := len(e.b)
	for _, v := range values {
		e.b = le.AppendUint16(e.b, uint16(len(v.bytes)))
		e.b = append(e.b, v.Type, 0)
	}
	for _, d := range extra {
		e.b = le.AppendUint16(e.b, d.size)
		e.b = append(e.b, d.typ, d.unused)
	}
	return at
}

// values writes the data of values, in order.
func (e *recordEncoder) values(values []Value) {
	for _, v := range values {
		e.b = append(e.b, v.bytes...)
	}
}

// descriptor is a value descriptor of a substitution array. Windows
// writes its last byte as 0.
type descriptor struct {
	size   uint16
	typ    byte
	unused byte
}

func (e *recordEncoder) offset() uint32 { return e.base + uint32(len(e.b)) }

// nameRef writes a name offset, defining the name inline on first use.
func (e *recordEncoder) nameRef(name string) {
	if off, ok := e.chunk.names[name]; ok {
		e.b = le.AppendUint32(e.b, off)
		return
	}
	for _, n := range e.newNames {
		if n.name == name {
			e.b = le.AppendUint32(e.b, n.offset)
			return
		}
	}
	off := e.offset() + 4
	e.b = le.AppendUint32(e.b, off)
	e.newNames = append(e.newNames, pendingName{name, off})
	u := utf16.Encode([]rune(name))
	e.b = le.AppendUint32(e.b, 0) // next string in bucket, linked on commit
	e.b = le.AppendUint16(e.b, uint16(nameHash(name)))
	e.b = le.AppendUint16(e.b, uint16(len(u)))
	for _, c := range u {
		e.b = le.AppendUint16(e.b, c)
	}
	e.b = le.AppendUint16(e.b, 0)
}

func (e *recordEncoder) element(n *node) {
	tok := byte(tokOpenStart)
	if len(n.attrs) > 0 {
		tok |= flagMoreOrHasAttrs
	}
	e.b = append(e.b, tok)
	e.b = le.AppendUint16(e.b, n.dependency())
	sizeAt := len(e.b)
	e.b = le.AppendUint32(e.b, 0)
	e.nameRef(n.name)
	if len(n.attrs) > 0 {
		listAt := len(e.b)
		e.b = le.AppendUint32(e.b, 0)
		for i := range n.attrs {
			a := &n.attrs[i]
			tok := byte(tokAttribute)
			if i < len(n.attrs)-1 {
				tok |= flagMoreOrHasAttrs
			}
			e.b = append(e.b, tok)
			e.nameRef(a.name)
			e.content(a.text, a.sub)
		}
		le.PutUint32(e.b[listAt:], uint32(len(e.b)-listAt-4))
	}
	if len(n.children) == 0 && n.sub == nil && n.text == "" {
		e.b = append(e.b, tokCloseEmpty)
	} else {
		e.b = append(e.b, tokCloseStart)
		for i := range n.children {
			e.element(&n.children[i])
		}
		e.content(n.text, n.sub)
		e.b = append(e.b, tokEndElement)
	}
	le.PutUint32(e.b[sizeAt:], uint32(len(e.b)-sizeAt-4))
}

// content writes literal text or a substitution.
func (e *recordEncoder) content(text string, sub *subst) {
	switch {
	case sub != nil:
		tok := byte(tokNormalSubst)
		if sub.optional {
			tok = tokOptionalSubst
		}
		e.b = append(e.b, tok)
		e.b = le.AppendUint16(e.b, sub.index)
		e.b = append(e.b, sub.typ)
	case text != "":
		u := utf16.Encode([]rune(text))
		e.b = append(e.b, tokValue, TypeString)
		e.b = le.AppendUint16(e.b, uint16(len(u)))
		for _, c := range u {
			e.b = le.AppendUint16(e.b, c)
		}
	}
}

// node is an element of a template.
type node struct {
	name     string
	attrs    []attr
	children []node
	text     string
	sub      *subst
	// dependsOn is 1 + the index of the value Windows marks the element
	// as depending on; 0 for none.
	dependsOn uint16
}

func (n *node) dependency() uint16 {
	if n.dependsOn == 0 {
		return noDependency
	}
	return n.dependsOn - 1
}

type attr struct {
	name string
	text string
	sub  *subst
}

// subst is a substitution: the index of its value and the type the
// template declares, optional (left out when the value is null) or normal.
type subst struct {
	index    uint16
	typ      byte
	optional bool
}

// appendKey appends what identifies n's template to b: two events share a
// template when their trees, literal texts, substitutions and dependencies
// are the same.
func (n *node) appendKey(b []byte) []byte {
	b = append(b, '<')
	b = strconv.AppendQuote(b, n.name)
	b = strconv.AppendUint(b, uint64(n.dependsOn), 10)
	for _, a := range n.attrs {
		b = append(b, ' ')
		b = strconv.AppendQuote(b, a.name)
		b = append(b, '=')
		b = strconv.AppendQuote(b, a.text)
		b = a.sub.appendKey(b)
	}
	b = append(b, '>')
	for i := range n.children {
		b = n.children[i].appendKey(b)
	}
	b = strconv.AppendQuote(b, n.text)
	b = n.sub.appendKey(b)
	return append(b, '/', '>')
}

func (s *subst) appendKey(b []byte) []byte {
	if s == nil {
		return b
	}
	b = append(b, '%')
	b = strconv.AppendUint(b, uint64(s.index), 10)
	b = append(b, ':')
	b = strconv.AppendUint(b, uint64(s.typ), 10)
	if s.optional {
		b = append(b, '?')
	}
	return b
}

// The System template's values, in the order Windows numbers them.
const (
	sysLevel = iota
	sysOpcode
	sysTask
	sysEventID
	sysQualifiers
	sysKeywords
	sysTimeCreated
	sysActivityID
	sysProcessID
	sysThreadID
	sysRecordID
	sysVersion
	sysUserID
	sysRelatedActivityID
	sysProviderName
	sysProviderGUID
	sysChannel
	sysEventData
	sysValues // how many
)

// systemValues appends ev's System values to vs, in the System template's
// order; the last, the event data, is written by the caller.
func systemValues(vs []Value, ev *Event, id uint64) []Value {
	userID, providerGUID := Null(), Null()
	if ev.UserID != "" {
		userID = SID(ev.UserID)
	}
	if ev.ProviderGUID != "" {
		providerGUID = GUID(ev.ProviderGUID)
	}
	return append(vs,
		UInt8(ev.Level), UInt8(ev.Opcode), UInt16(ev.Task), UInt16(ev.EventID), Null(), HexInt64(ev.Keywords),
		FileTime(ev.Time), Null(), UInt32(ev.ProcessID), UInt32(ev.ThreadID), UInt64(id), UInt8(ev.Version),
		userID, Null(), String(ev.Provider), providerGUID, String(ev.Channel), Value{Type: TypeBinXML})
}

// systemTree is the System template as Windows writes it: every System
// field an optional substitution but the computer name, which is literal
// text, and the event data a binary XML value, placed in the Event element
// (EventData) or in a UserData element.
func systemTree(ev *Event) node {
	opt := func(i int, typ byte) *subst { return &subst{index: uint16(i), typ: typ, optional: true} }
	dep := func(i int) uint16 { return uint16(i + 1) }
	system := node{name: "System", children: []node{
		{name: "Provider", attrs: []attr{{name: "Name", sub: opt(sysProviderName, TypeString)}, {name: "Guid", sub: opt(sysProviderGUID, TypeGUID)}}},
		{name: "EventID", attrs: []attr{{name: "Qualifiers", sub: opt(sysQualifiers, TypeUInt16)}}, sub: opt(sysEventID, TypeUInt16), dependsOn: dep(sysEventID)},
		{name: "Version", sub: opt(sysVersion, TypeUInt8), dependsOn: dep(sysVersion)},
		{name: "Level", sub: opt(sysLevel, TypeUInt8), dependsOn: dep(sysLevel)},
		{name: "Task", sub: opt(sysTask, TypeUInt16), dependsOn: dep(sysTask)},
		{name: "Opcode", sub: opt(sysOpcode, TypeUInt8), dependsOn: dep(sysOpcode)},
		{name: "Keywords", sub: opt(sysKeywords, TypeHexInt64), dependsOn: dep(sysKeywords)},
		{name: "TimeCreated", attrs: []attr{{name: "SystemTime", sub: opt(sysTimeCreated, TypeFileTime)}}},
		{name: "EventRecordID", sub: opt(sysRecordID, TypeUInt64), dependsOn: dep(sysRecordID)},
		{name: "Correlation", attrs: []attr{{name: "ActivityID", sub: opt(sysActivityID, TypeGUID)}, {name: "RelatedActivityID", sub: opt(sysRelatedActivityID, TypeGUID)}}},
		{name: "Execution", attrs: []attr{{name: "ProcessID", sub: opt(sysProcessID, TypeUInt32)}, {name: "ThreadID", sub: opt(sysThreadID, TypeUInt32)}}},
		{name: "Channel", sub: opt(sysChannel, TypeString), dependsOn: dep(sysChannel)},
		{name: "Computer", text: ev.Computer},
		{name: "Security", attrs: []attr{{name: "UserID", sub: opt(sysUserID, TypeSID)}}},
	}}
	event := node{name: "Event", attrs: []attr{{name: "xmlns", text: "http://schemas.microsoft.com/win/2004/08/events/event"}},
		children: []node{system}}
	data := opt(sysEventData, TypeBinXML)
	if ev.UserData.Element != "" {
		event.children = append(event.children, node{name: "UserData", sub: data, dependsOn: dep(sysEventData)})
	} else {
		event.sub, event.dependsOn = data, dep(sysEventData)
	}
	return event
}

// dataTree is the event's own template: EventData with a Data element per
// field, or the provider's UserData element with an element per field; each
// value a normal substitution, appended to values in index order.
func dataTree(ev *Event, values *[]Value) node {
	sub := func(v Value) *subst {
		*values = append(*values, v)
		return &subst{index: uint16(len(*values) - 1), typ: v.declaredType()}
	}
	if ev.UserData.Element != "" {
		n := node{name: ev.UserData.Element}
		for _, a := range ev.UserData.Attrs {
			n.attrs = append(n.attrs, attr{name: a.Name, text: a.Value})
		}
		for _, f := range ev.Data {
			n.children = append(n.children, node{name: f.Name, sub: sub(f.Value)})
		}
		return n
	}
	n := node{name: "EventData"}
	for _, f := range ev.Data {
		n.children = append(n.children, node{name: "Data", attrs: []attr{{name: "Name", text: f.Name}}, sub: sub(f.Value)})
	}
	return n
}
