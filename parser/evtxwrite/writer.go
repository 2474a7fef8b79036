package evtxwrite

import (
	"crypto/md5"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"strings"
	"time"
	"unicode/utf16"

	"github.com/evtxhunt/evtxhunt/parser/evtx"
)

// Event is one record to write: the System fields Windows records and the
// EventData fields in order.
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
}

// Field is one EventData/Data element.
type Field struct {
	Name  string
	Value Value
}

// F is shorthand for a Field.
func F(name string, v Value) Field { return Field{name, v} }

// Writer writes events as an EVTX file. Records are numbered from 1; a chunk
// is written out as soon as the next record does not fit in it, so memory
// does not grow with the file.
type Writer struct {
	w       io.WriterAt
	chunk   chunkState
	chunks  int // chunks written
	nextID  uint64
	scratch recordEncoder
}

// NewWriter returns a Writer that writes to w from offset 0.
func NewWriter(w io.WriterAt) *Writer {
	wr := &Writer{w: w, nextID: 1}
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
	for _, f := range ev.Data {
		if f.Value.err != nil {
			return 0, fmt.Errorf("evtxwrite: field %s: %w", f.Name, f.Value.err)
		}
	}
	if ev.Time.IsZero() {
		return 0, errors.New("evtxwrite: event without a time")
	}
	return w.writeRecord(ev.Time, func(e *recordEncoder, id uint64) error {
		tree := eventTree(ev, id, &e.values)
		e.templateRef(&tree)
		return e.substitutions(e.values, nil)
	})
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
	copy(h, evtx.FileMagic)
	le.PutUint64(h[8:], 0)
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

// chunkState is the chunk being filled: its bytes, and the names and
// templates already defined in it, which later records reference by offset.
type chunkState struct {
	b              []byte
	end            int // first free byte
	records        int
	firstID        uint64
	lastRecord     int
	names          map[string]uint32
	templates      map[string]uint32
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
	c.templates = map[string]uint32{}
	c.stringBuckets = [64]uint32{}
	c.templateBucket = [32]uint32{}
}

func (c *chunkState) fits(n int) bool { return c.end+n <= evtx.ChunkSize }

// commit copies an encoded record into the chunk and links the names and
// template it defined into the chunk's hash tables.
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
	if e.newTemplate != "" {
		bucket := e.templateID % 32
		le.PutUint32(c.b[e.templateOffset:], c.templateBucket[bucket])
		c.templateBucket[bucket] = e.templateOffset
		c.templates[e.newTemplate] = e.templateOffset
	}
}

// finish fills in the chunk header and checksums.
func (c *chunkState) finish() []byte {
	b := c.b
	copy(b, evtx.ChunkMagic)
	last := c.firstID + uint64(c.records) - 1
	le.PutUint64(b[8:], c.firstID)
	le.PutUint64(b[16:], last)
	le.PutUint64(b[24:], c.firstID)
	le.PutUint64(b[32:], last)
	le.PutUint32(b[40:], 128)
	le.PutUint32(b[44:], uint32(c.lastRecord))
	le.PutUint32(b[48:], uint32(c.end))
	le.PutUint32(b[52:], crc32.ChecksumIEEE(b[evtx.ChunkTablesEnd:c.end]))
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

// Binary XML tokens, as the bytes written.
const (
	tokEOF             = byte(evtx.TokenEOF)
	tokOpenStart       = byte(evtx.TokenOpenStartElement)
	tokCloseStart      = byte(evtx.TokenCloseStartElement)
	tokCloseEmpty      = byte(evtx.TokenCloseEmptyElement)
	tokEndElement      = byte(evtx.TokenEndElement)
	tokValue           = byte(evtx.TokenValue)
	tokAttribute       = byte(evtx.TokenAttribute)
	tokTemplate        = byte(evtx.TokenTemplateInstance)
	tokOptionalSubst   = byte(evtx.TokenOptionalSubstitution)
	tokFragment        = byte(evtx.TokenFragmentHeader)
	flagMoreOrHasAttrs = byte(evtx.TokenMore)
)

// recordEncoder builds one record's bytes for a given position in a chunk.
// Names and the template not yet in the chunk are defined inline, as Windows
// does at their first use.
type recordEncoder struct {
	b              []byte
	base           uint32 // chunk offset of b[0]
	chunk          *chunkState
	newNames       []pendingName
	newTemplate    string
	templateID     uint32
	templateOffset uint32
	values         []Value
}

type pendingName struct {
	name   string
	offset uint32
}

// encode lays out a record (header, the binary XML body writes, size
// trailer) for the end of chunk c.
func (e *recordEncoder) encode(c *chunkState, id uint64, t time.Time, body func(e *recordEncoder, id uint64) error) ([]byte, error) {
	*e = recordEncoder{b: e.b[:0], base: uint32(c.end), chunk: c, newNames: e.newNames[:0], values: e.values[:0]}
	e.b = append(e.b, evtx.RecordMagic...)
	e.b = le.AppendUint32(e.b, 0) // size, patched below
	e.b = le.AppendUint64(e.b, id)
	e.b = le.AppendUint64(e.b, ToFileTime(t))
	if err := body(e, id); err != nil {
		return nil, err
	}
	e.b = le.AppendUint32(e.b, 0) // size trailer
	size := uint32(len(e.b))
	le.PutUint32(e.b[4:], size)
	le.PutUint32(e.b[size-4:], size)
	return e.b, nil
}

// templateRef writes a fragment header and a template instance's reference
// to tree's template, defining it inline at its first use in the chunk. It
// returns where in e.b the definition's size field is, or -1 when the
// template was already defined.
func (e *recordEncoder) templateRef(tree *node) int {
	key := tree.key()
	e.b = append(e.b, tokFragment, 1, 1, 0)
	sum := md5.Sum([]byte(key))
	e.templateID = le.Uint32(sum[:])
	e.b = append(e.b, tokTemplate, 1)
	e.b = le.AppendUint32(e.b, e.templateID)
	if off, ok := e.chunk.templates[key]; ok {
		e.b = le.AppendUint32(e.b, off)
		return -1
	}
	e.templateOffset = e.offset() + 4
	e.newTemplate = key
	e.b = le.AppendUint32(e.b, e.templateOffset)
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

// substitutions writes a template instance's substitution array: the
// descriptors of values, then extra descriptors that have no data, then the
// values' data.
func (e *recordEncoder) substitutions(values []Value, extra []descriptor) error {
	e.b = le.AppendUint32(e.b, uint32(len(values)+len(extra)))
	for _, v := range values {
		if len(v.bytes) > 0xffff {
			return fmt.Errorf("evtxwrite: a value of %d bytes is too long", len(v.bytes))
		}
		e.b = le.AppendUint16(e.b, uint16(len(v.bytes)))
		e.b = append(e.b, v.Type, 0)
	}
	for _, d := range extra {
		e.b = le.AppendUint16(e.b, d.size)
		e.b = append(e.b, d.typ, d.unused)
	}
	for _, v := range values {
		e.b = append(e.b, v.bytes...)
	}
	return nil
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
	e.b = le.AppendUint16(e.b, 0xffff) // dependency id: none
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
		e.b = append(e.b, tokOptionalSubst)
		e.b = le.AppendUint16(e.b, sub.index)
		e.b = append(e.b, sub.typ)
	case text != "":
		u := utf16.Encode([]rune(text))
		e.b = append(e.b, tokValue, typeString)
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
}

type attr struct {
	name string
	text string
	sub  *subst
}

type subst struct {
	index uint16
	typ   byte
}

// key identifies a template: two events share one when their trees, literal
// texts and substitution types are the same.
func (n *node) key() string {
	var sb strings.Builder
	n.writeKey(&sb)
	return sb.String()
}

func (n *node) writeKey(sb *strings.Builder) {
	fmt.Fprintf(sb, "<%s", n.name)
	for _, a := range n.attrs {
		fmt.Fprintf(sb, " %s=%q", a.name, a.text)
		if a.sub != nil {
			fmt.Fprintf(sb, "%%%d:%d", a.sub.index, a.sub.typ)
		}
	}
	sb.WriteString(">")
	for i := range n.children {
		n.children[i].writeKey(sb)
	}
	fmt.Fprintf(sb, "%q", n.text)
	if n.sub != nil {
		fmt.Fprintf(sb, "%%%d:%d", n.sub.index, n.sub.typ)
	}
	fmt.Fprintf(sb, "</%s>", n.name)
}

// eventTree lays out an event the way Windows templates do: the variable
// System fields and every EventData value are substitutions, appended to
// values in index order; provider and channel are literal text.
func eventTree(ev *Event, id uint64, values *[]Value) node {
	sub := func(v Value) *subst {
		*values = append(*values, v)
		return &subst{uint16(len(*values) - 1), v.Type}
	}
	provider := node{name: "Provider", attrs: []attr{{name: "Name", text: ev.Provider}}}
	if ev.ProviderGUID != "" {
		provider.attrs = append(provider.attrs, attr{name: "Guid", text: "{" + strings.Trim(ev.ProviderGUID, "{}") + "}"})
	}
	security := node{name: "Security"}
	if ev.UserID != "" {
		security.attrs = []attr{{name: "UserID", sub: sub(SID(ev.UserID))}}
	}
	system := node{name: "System", children: []node{
		provider,
		{name: "EventID", sub: sub(UInt16(ev.EventID))},
		{name: "Version", sub: sub(UInt8(ev.Version))},
		{name: "Level", sub: sub(UInt8(ev.Level))},
		{name: "Task", sub: sub(UInt16(ev.Task))},
		{name: "Opcode", sub: sub(UInt8(ev.Opcode))},
		{name: "Keywords", sub: sub(HexInt64(ev.Keywords))},
		{name: "TimeCreated", attrs: []attr{{name: "SystemTime", sub: sub(FileTime(ev.Time))}}},
		{name: "EventRecordID", sub: sub(UInt64(id))},
		{name: "Correlation"},
		{name: "Execution", attrs: []attr{{name: "ProcessID", sub: sub(UInt32(ev.ProcessID))}, {name: "ThreadID", sub: sub(UInt32(ev.ThreadID))}}},
		{name: "Channel", text: ev.Channel},
		{name: "Computer", sub: sub(String(ev.Computer))},
		security,
	}}
	data := node{name: "EventData"}
	for _, f := range ev.Data {
		data.children = append(data.children, node{name: "Data", attrs: []attr{{name: "Name", text: f.Name}}, sub: sub(f.Value)})
	}
	return node{name: "Event", attrs: []attr{{name: "xmlns", text: "http://schemas.microsoft.com/win/2004/08/events/event"}},
		children: []node{system, data}}
}

// Size is the length of the file written so far, the current chunk included.
func (w *Writer) Size() int64 {
	n := int64(evtx.FileHeaderSize) + int64(w.chunks)*evtx.ChunkSize
	if w.chunk.records > 0 {
		n += evtx.ChunkSize
	}
	return n
}
