package parser

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/evtxhunt/evtxhunt/parser/evtx"
)

// nativeDecoder is evtxhunt's own chunk decoder. It is filter-first: a
// template is compiled once per chunk into the places of the fields that
// matter (System's event id, provider, channel, computer, time, record id,
// and EventData's named values), so a record is read from its substitution
// array alone. Records that are not process creations or exits are counted
// and skipped without allocating; the others are decoded straight into a
// ProcessEvent. Every read is bounds-checked. A chunk it cannot read is
// handed whole to golang-evtx, in its child process, before anything is
// counted as lost.
type nativeDecoder struct {
	fallback *childDecoder // nil: a chunk it cannot read fails

	// Per chunk: compiled templates by definition offset, names by offset.
	templates map[uint32]*compiledTemplate
	names     map[uint32]chunkName
	// Across chunks and files: compiled templates by GUID and size. Every
	// chunk repeats the definitions of the templates it uses: compiling
	// each once instead of once per chunk is most of the decoder's speed.
	// A GUID and a size are only what a file says, so a cached template is
	// used only when the definition in hand matches the one it was compiled
	// from (templateSource): no file can change how another is read.
	known      map[templateKey]*compiledTemplate
	knownBytes int // held by the sources of known templates

	// text keeps the strings of repeated UTF-16 values (provider, channel,
	// computer): looking one up by its bytes does not allocate.
	text map[string]string

	values     []valueRef // substitution array of the current record
	inner      []valueRef // of a nested template instance
	nestedLeft int        // nested instances this record may still read
	utf8       []byte     // for utf16String
	builder    eventBuilder
	u16        []uint16
}

func newNativeDecoder(fallback *childDecoder) *nativeDecoder {
	return &nativeDecoder{fallback: fallback, templates: map[uint32]*compiledTemplate{}, names: map[uint32]chunkName{},
		known: map[templateKey]*compiledTemplate{}, text: map[string]string{}}
}

type templateKey struct {
	guid [16]byte
	size uint32
}

// The cross-chunk cache is bounded in templates and in the bytes their
// sources keep.
const (
	maxKnownTemplates = 4096
	maxKnownBytes     = 8 << 20
)

// chunkName is a name string of the chunk and its length in UTF-16 units,
// which says how many bytes it takes where it is written inline.
type chunkName struct {
	s     string
	units int
}

// field says where a System value is: a substitution index, or literal text
// written in the template.
type field struct {
	sub     int // -1: none
	typ     byte
	literal string
	set     bool
}

type dataField struct {
	name string
	field
}

type compiledTemplate struct {
	eventID, version, provider, channel, computer, created, recordID field
	data                                                             []dataField
	// nested are substitutions outside System whose value is binary XML
	// itself: Windows writes EventData as a template instance of its own.
	nested []int
	// census is how many substitutions must be read to count a record:
	// up to the last of event id, provider and channel.
	census int
	source templateSource
}

// templateSource is what a template was compiled from: the bytes of its
// definition and the names it refers to. A definition elsewhere, in this
// chunk or another, compiles to the same template when it matches.
type templateSource struct {
	def   []byte    // the definition's binary XML, after its size field
	names []nameUse // every name offset in def, in order
}

// nameUse is a name offset in a definition. The offset itself is relative to
// the chunk, so it differs between chunks; what it points to is compared
// instead: a name written inline right after it (its bytes are part of def),
// or a name elsewhere in the chunk, whose length and UTF-16 units are kept.
type nameUse struct {
	at     int // of the offset field in def
	inline bool
	text   []byte // of a name elsewhere, as the chunk holds it
}

// inlineNameSkip is what a name written inline holds before its length: the
// link to the next name of its hash bucket and its hash. The compiler reads
// neither, and the link differs between chunks.
const inlineNameSkip = 4 + 2

// matches reports whether the definition at chunk[start:] would compile as
// the one s was taken from. It does not allocate.
func (s *templateSource) matches(chunk []byte, start int) bool {
	if start < 0 || len(chunk)-start < len(s.def) {
		return false
	}
	def := chunk[start : start+len(s.def)]
	from := 0
	for _, n := range s.names {
		if n.at < from || !bytes.Equal(def[from:n.at], s.def[from:n.at]) {
			return false
		}
		off := int(binary.LittleEndian.Uint32(def[n.at:]))
		from = n.at + 4
		if inline := off == start+from; inline != n.inline {
			return false
		}
		if n.inline {
			from += inlineNameSkip
			continue
		}
		if off < 0 || off > len(chunk)-inlineNameSkip-len(n.text) || !bytes.Equal(chunk[off+inlineNameSkip:off+inlineNameSkip+len(n.text)], n.text) {
			return false
		}
	}
	return bytes.Equal(def[from:], s.def[from:])
}

func (s *templateSource) size() int {
	n := len(s.def)
	for _, u := range s.names {
		n += len(u.text)
	}
	return n
}

type valueRef struct {
	typ  byte
	off  int // in the chunk
	data []byte
}

// Binary XML inside binary XML is bounded in depth and in count per record,
// so that no crafted chunk can make the decoder work without end.
const (
	maxNesting        = 4
	maxNestedInRecord = 32
)

var errNative = errors.New("native decoder")

func nativeErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errNative, fmt.Sprintf(format, args...))
}

// Decode reads every record of the chunk, or hands the chunk to the
// fallback decoder when any record is beyond it.
func (d *nativeDecoder) Decode(c *chunk, r *chunkResult) {
	clear(d.templates)
	clear(d.names)
	events, errs := len(r.Events), len(r.Errors)
	if err := d.decodeChunk(c, r); err != nil {
		r.Events, r.Errors = r.Events[:events], r.Errors[:errs]
		r.Census = Census{}
		r.Records.Decoded, r.Records.Failed = 0, 0
		r.Chunks.Fallback = 1
		if d.fallback == nil {
			r.Records.Failed = uint64(len(c.Records))
			r.Chunks.Failed = 1
			r.chunkError(c, ErrRecord, err)
			return
		}
		d.fallback.decode(c, r, err)
		return
	}
	r.Chunks.Decoded = 1
}

func (d *nativeDecoder) decodeChunk(c *chunk, r *chunkResult) error {
	for _, ref := range c.Records {
		if err := d.record(c, ref, r); err != nil {
			return fmt.Errorf("record %d at 0x%x: %w", ref.ID, c.Offset+int64(ref.Offset), err)
		}
	}
	return nil
}

// binReader reads little-endian values from a byte slice, never past its
// end: a read past the end sets err and returns zero.
type binReader struct {
	b   []byte
	pos int
	err bool
}

func (r *binReader) need(n int) bool {
	if n < 0 || r.pos < 0 || r.pos+n > len(r.b) {
		r.err = true
		return false
	}
	return true
}

func (r *binReader) u8() byte {
	if !r.need(1) {
		return 0
	}
	v := r.b[r.pos]
	r.pos++
	return v
}

func (r *binReader) u16() uint16 {
	if !r.need(2) {
		return 0
	}
	v := binary.LittleEndian.Uint16(r.b[r.pos:])
	r.pos += 2
	return v
}

func (r *binReader) u32() uint32 {
	if !r.need(4) {
		return 0
	}
	v := binary.LittleEndian.Uint32(r.b[r.pos:])
	r.pos += 4
	return v
}

func (r *binReader) bytes(n int) []byte {
	if !r.need(n) {
		return nil
	}
	v := r.b[r.pos : r.pos+n]
	r.pos += n
	return v
}

func (r *binReader) skip(n int) { r.bytes(n) }

// record decodes one record's System fields and, for process events, its
// EventData.
func (d *nativeDecoder) record(c *chunk, ref evtx.RecordRef, res *chunkResult) error {
	chunk := c.Data
	end := int(ref.Offset) + int(ref.Size) - 4
	// Read only as many substitutions as counting the record needs; a
	// process event is read again in full below.
	t, values, err := d.instance(chunk, int(ref.Offset)+evtx.RecordHeaderLen, end, d.values[:0], false)
	d.values = values
	if err != nil {
		return err
	}
	if !t.eventID.set {
		return nativeErr("template has no System/EventID")
	}
	idText, ok := d.fieldNumber(t.eventID)
	if !ok || idText > 0xffff {
		return nativeErr("no event id")
	}
	eventID := uint16(idText)
	provider := d.fieldText(t.provider)
	channel := d.fieldText(t.channel)
	res.Records.Decoded++
	res.Census[CensusKey{channel, provider, eventID}]++
	source, isProcess := processSource(provider, eventID)
	if !isProcess {
		return nil
	}
	if _, d.values, err = d.instance(chunk, int(ref.Offset)+evtx.RecordHeaderLen, end, d.values[:0], true); err != nil {
		return err
	}
	version, _ := d.fieldNumber(t.version)
	recordID, _ := d.fieldNumber(t.recordID)
	if recordID == 0 {
		recordID = ref.ID
	}
	res.Events = append(res.Events, ProcessEvent{Host: d.fieldString(t.computer), Time: d.fieldTime(t.created), Source: source,
		Version: uint8(version), RecordID: recordID, RecordNumber: ref.ID, File: c.file, Chunk: c.Index, Offset: c.Offset + int64(ref.Offset)})
	ev := &res.Events[len(res.Events)-1]
	b := &d.builder
	b.reset(ev)
	d.nestedLeft = maxNestedInRecord
	if err := d.setData(chunk, t, d.values, 0); err != nil {
		return err
	}
	b.finish()
	for _, f := range b.bad {
		res.recordError(c, ref, ErrRecordField, fmt.Sprintf("field %s: cannot read %q as a number", f.name, f.value), nil)
	}
	return nil
}

// instance reads a template instance (fragment header, template reference
// or inline definition, substitution array) from chunk[pos:end].
// With all false, only the substitutions a census needs are read.
func (d *nativeDecoder) instance(chunk []byte, pos, end int, values []valueRef, all bool) (*compiledTemplate, []valueRef, error) {
	rd := binReader{b: chunk[:end], pos: pos}
	if tok := rd.u8(); tok != 0x0f {
		return nil, values, nativeErr("no fragment header (0x%02x)", tok)
	}
	rd.skip(3)
	if tok := rd.u8(); tok != 0x0c {
		return nil, values, nativeErr("not a template instance (token 0x%02x)", tok)
	}
	rd.skip(5) // unknown byte, template id
	defOff := rd.u32()
	if rd.err || int(defOff) >= len(chunk) {
		return nil, values, nativeErr("template definition offset 0x%x is outside the chunk", defOff)
	}
	if int(defOff) == rd.pos { // defined here: skip over it
		rd.skip(4 + 16)
		size := rd.u32()
		rd.skip(int(size))
	}
	t, err := d.template(chunk, defOff)
	if err != nil {
		return nil, values, err
	}
	n := int(rd.u32())
	if rd.err || n > (end-rd.pos)/4 {
		return nil, values, nativeErr("substitution count %d does not fit", n)
	}
	descs := rd.bytes(4 * n)
	if !all {
		n = min(n, t.census)
	}
	for i := range n {
		size := int(binary.LittleEndian.Uint16(descs[4*i:]))
		typ := descs[4*i+2]
		off := rd.pos
		data := rd.bytes(size)
		if rd.err {
			return nil, values, nativeErr("substitution %d (%d bytes) runs past its end", i, size)
		}
		values = append(values, valueRef{typ, off, data})
	}
	return t, values, nil
}

// setData gives the builder every EventData value of a template instance,
// reading nested instances too.
func (d *nativeDecoder) setData(chunk []byte, t *compiledTemplate, values []valueRef, depth int) error {
	for _, f := range t.data {
		if f.sub < 0 {
			d.builder.set(f.name, f.literal)
		} else if f.sub < len(values) {
			d.builder.set(f.name, d.valueString(values[f.sub]))
		}
	}
	for _, idx := range t.nested {
		if idx >= len(values) || values[idx].typ != 0x21 {
			continue
		}
		if depth >= maxNesting || d.nestedLeft == 0 {
			return nativeErr("binary XML nested deeper than %d or more than %d times", maxNesting, maxNestedInRecord)
		}
		d.nestedLeft--
		v := values[idx]
		inner, innerValues, err := d.instance(chunk, v.off, v.off+len(v.data), d.inner[:0], true)
		if err != nil {
			return fmt.Errorf("nested: %w", err)
		}
		d.inner = innerValues
		// The nested values are copied out of d.inner before recursing,
		// which reuses it.
		own := make([]valueRef, len(innerValues))
		copy(own, innerValues)
		if err := d.setData(chunk, inner, own, depth+1); err != nil {
			return err
		}
	}
	return nil
}

func (d *nativeDecoder) value(f field) (valueRef, bool) {
	if !f.set || f.sub < 0 || f.sub >= len(d.values) {
		return valueRef{}, false
	}
	return d.values[f.sub], true
}

// fieldNumber reads an integer field without allocating.
func (d *nativeDecoder) fieldNumber(f field) (uint64, bool) {
	if f.set && f.sub < 0 {
		n, err := strconv.ParseUint(strings.TrimSpace(f.literal), 10, 64)
		return n, err == nil
	}
	v, ok := d.value(f)
	if !ok {
		return 0, false
	}
	switch {
	case v.typ == 0x04 || v.typ == 0x03:
		if len(v.data) >= 1 {
			return uint64(v.data[0]), true
		}
	case v.typ == 0x06 || v.typ == 0x05:
		if len(v.data) >= 2 {
			return uint64(binary.LittleEndian.Uint16(v.data)), true
		}
	case v.typ == 0x08 || v.typ == 0x07 || v.typ == 0x14:
		if len(v.data) >= 4 {
			return uint64(binary.LittleEndian.Uint32(v.data)), true
		}
	case v.typ == 0x0a || v.typ == 0x09 || v.typ == 0x15:
		if len(v.data) >= 8 {
			return binary.LittleEndian.Uint64(v.data), true
		}
	case v.typ == 0x00:
		return 0, true
	}
	return 0, false
}

// fieldText is a field's text for census keys, without allocating once the
// value has been seen.
func (d *nativeDecoder) fieldText(f field) string {
	if f.set && f.sub < 0 {
		return f.literal
	}
	v, ok := d.value(f)
	if !ok || v.typ != 0x01 {
		return d.fieldString(f)
	}
	if s, ok := d.text[string(v.data)]; ok {
		return s
	}
	s := d.utf16String(v.data)
	if len(d.text) < 4096 {
		d.text[string(v.data)] = s
	}
	return s
}

func (d *nativeDecoder) fieldTime(f field) time.Time {
	v, ok := d.value(f)
	if !ok || v.typ != 0x11 || len(v.data) < 8 {
		return time.Time{}
	}
	return fileTime(binary.LittleEndian.Uint64(v.data))
}

// fileTime converts FILETIME ticks exactly.
func fileTime(ticks uint64) time.Time {
	const epochDelta = 116444736000000000 // 1601 to 1970 in 100 ns
	t := int64(ticks) - epochDelta
	return time.Unix(t/10_000_000, (t%10_000_000)*100).UTC()
}

// fieldString renders a System field.
func (d *nativeDecoder) fieldString(f field) string {
	if f.set && f.sub < 0 {
		return f.literal
	}
	v, ok := d.value(f)
	if !ok {
		return ""
	}
	return d.valueString(v)
}

// valueString renders a value as golang-evtx does, so both decoders give the
// same ProcessEvents.
func (d *nativeDecoder) valueString(v valueRef) string {
	le := binary.LittleEndian
	data := v.data
	switch v.typ {
	case 0x00:
		return ""
	case 0x01:
		return d.utf16String(data)
	case 0x02:
		return strings.TrimRight(string(data), "\x00")
	case 0x03:
		if len(data) >= 1 {
			return strconv.FormatInt(int64(int8(data[0])), 10)
		}
	case 0x04:
		if len(data) >= 1 {
			return strconv.FormatUint(uint64(data[0]), 10)
		}
	case 0x05:
		if len(data) >= 2 {
			return strconv.FormatInt(int64(int16(le.Uint16(data))), 10)
		}
	case 0x06:
		if len(data) >= 2 {
			return strconv.FormatUint(uint64(le.Uint16(data)), 10)
		}
	case 0x07:
		if len(data) >= 4 {
			return strconv.FormatInt(int64(int32(le.Uint32(data))), 10)
		}
	case 0x08:
		if len(data) >= 4 {
			return strconv.FormatUint(uint64(le.Uint32(data)), 10)
		}
	case 0x09:
		if len(data) >= 8 {
			return strconv.FormatInt(int64(le.Uint64(data)), 10)
		}
	case 0x0a:
		if len(data) >= 8 {
			return strconv.FormatUint(le.Uint64(data), 10)
		}
	case 0x0d:
		if len(data) >= 4 {
			return strconv.FormatBool(le.Uint32(data) == 1)
		}
	case 0x0f:
		if len(data) >= 16 {
			return fmt.Sprintf("%08X-%04X-%04X-%X-%X", le.Uint32(data), le.Uint16(data[4:]), le.Uint16(data[6:]), data[8:10], data[10:16])
		}
	case 0x11:
		if len(data) >= 8 {
			return fileTime(le.Uint64(data)).Format(TimeLayout)
		}
	case 0x13:
		return sidString(data)
	case 0x14:
		if len(data) >= 4 {
			return "0x" + strconv.FormatUint(uint64(le.Uint32(data)), 16)
		}
	case 0x15:
		if len(data) >= 8 {
			return "0x" + strconv.FormatUint(le.Uint64(data), 16)
		}
	case 0x81:
		var parts []string
		for _, s := range strings.Split(d.utf16String(data), "\x00") {
			if s != "" {
				parts = append(parts, s)
			}
		}
		return strings.Join(parts, "\n")
	}
	return ""
}

// utf16String decodes UTF-16LE text straight into UTF-8, as
// string(utf16.Decode(...)) would (lone surrogates become U+FFFD), without
// trailing NULs, through a reused buffer: one allocation, the string.
func (d *nativeDecoder) utf16String(data []byte) string {
	n := len(data) / 2
	for n > 0 && data[2*n-2] == 0 && data[2*n-1] == 0 {
		n--
	}
	buf := d.utf8[:0]
	for i := 0; i < n; i++ {
		u := rune(binary.LittleEndian.Uint16(data[2*i:]))
		switch {
		case u < utf8.RuneSelf:
			buf = append(buf, byte(u))
			continue
		case utf16.IsSurrogate(u) && i+1 < n:
			if r := utf16.DecodeRune(u, rune(binary.LittleEndian.Uint16(data[2*i+2:]))); r != utf8.RuneError {
				buf = utf8.AppendRune(buf, r)
				i++
				continue
			}
		}
		buf = utf8.AppendRune(buf, u) // a lone surrogate is written as U+FFFD
	}
	d.utf8 = buf
	return string(buf)
}

func sidString(b []byte) string {
	if len(b) < 8 {
		return ""
	}
	count := int(b[1])
	if len(b) < 8+4*count {
		return ""
	}
	var auth uint64
	for _, c := range b[2:8] {
		auth = auth<<8 | uint64(c)
	}
	var sb strings.Builder
	sb.WriteString("S-")
	sb.WriteString(strconv.Itoa(int(b[0])))
	sb.WriteString("-")
	sb.WriteString(strconv.FormatUint(auth, 10))
	for i := range count {
		sb.WriteString("-")
		sb.WriteString(strconv.FormatUint(uint64(binary.LittleEndian.Uint32(b[8+4*i:])), 10))
	}
	return sb.String()
}

// template returns the compiled template defined at off: the one compiled
// before from a matching definition, in this chunk or an earlier one, or a
// new one.
func (d *nativeDecoder) template(chunk []byte, off uint32) (*compiledTemplate, error) {
	if t := d.templates[off]; t != nil {
		return t, nil
	}
	rd := binReader{b: chunk, pos: int(off)}
	rd.skip(4)
	var key templateKey
	copy(key.guid[:], rd.bytes(16))
	key.size = rd.u32()
	size := int(key.size)
	if rd.err || rd.pos+size > len(chunk) {
		// Printed as Windows declares it, signed: a crafted -42 reads as such.
		return nil, nativeErr("template at 0x%x: size %d runs past the chunk", off, int32(key.size))
	}
	start := rd.pos
	if t := d.known[key]; t != nil && t.source.matches(chunk, start) {
		d.templates[off] = t
		return t, nil
	}
	t, err := d.compile(chunk, off, start, size)
	if err != nil {
		return nil, err
	}
	d.templates[off] = t
	if old := d.known[key]; old != nil {
		d.knownBytes -= old.source.size()
	}
	if len(d.known) >= maxKnownTemplates || d.knownBytes+t.source.size() > maxKnownBytes {
		clear(d.known)
		d.knownBytes = 0
	}
	d.known[key] = t
	d.knownBytes += t.source.size()
	return t, nil
}

// compile compiles the template defined at off, whose binary XML is the size
// bytes at start. (Its reader is its own: shared with template, it would be
// allocated on every call, hits included.)
func (d *nativeDecoder) compile(chunk []byte, off uint32, start, size int) (*compiledTemplate, error) {
	rd := binReader{b: chunk[:start+size], pos: start}
	t := &compiledTemplate{source: templateSource{def: slices.Clone(chunk[start : start+size])}}
	for _, f := range []*field{&t.eventID, &t.version, &t.provider, &t.channel, &t.computer, &t.created, &t.recordID} {
		f.sub = -1
	}
	tc := templateCompiler{d: d, r: &rd, chunk: chunk, t: t, start: start}
	if tok := rd.u8(); tok != 0x0f {
		return nil, nativeErr("template at 0x%x: no fragment header", off)
	}
	rd.skip(3)
	for !rd.err {
		tok := rd.u8()
		if tok == 0x00 {
			break
		}
		if tok&0x0f != 0x01 {
			return nil, nativeErr("template at 0x%x: token 0x%02x at the top level", off, tok)
		}
		if err := tc.element(tok, 0); err != nil {
			return nil, fmt.Errorf("template at 0x%x: %w", off, err)
		}
	}
	if rd.err {
		return nil, nativeErr("template at 0x%x runs past its end", off)
	}
	for _, f := range []field{t.eventID, t.provider, t.channel} {
		if f.set && f.sub >= 0 {
			t.census = max(t.census, f.sub+1)
		}
	}
	return t, nil
}

// templateCompiler walks a template's binary XML once, noting where the
// fields evtxhunt reads are.
type templateCompiler struct {
	d     *nativeDecoder
	r     *binReader
	chunk []byte
	t     *compiledTemplate
	start int // of the definition in the chunk
	path  [8]string
	data  string // Name of the Data element being read
}

const maxTemplateDepth = 32

func (tc *templateCompiler) name() (string, error) {
	r := tc.r
	at := r.pos - tc.start
	off := r.u32()
	if r.err {
		return "", nativeErr("name offset past the end")
	}
	inline := int(off) == r.pos
	nm, ok := tc.d.names[off]
	if !ok {
		nr := binReader{b: tc.chunk, pos: int(off)}
		nr.skip(inlineNameSkip)
		n := int(nr.u16())
		raw := nr.bytes(2 * n)
		if nr.err {
			return "", nativeErr("name at 0x%x runs past the chunk", off)
		}
		nm = chunkName{tc.d.utf16String(raw), n}
		tc.d.names[off] = nm
	}
	use := nameUse{at: at, inline: inline}
	if inline {
		r.skip(inlineNameSkip + 2 + 2*nm.units + 2)
	} else {
		text := int(off) + inlineNameSkip
		use.text = slices.Clone(tc.chunk[text : text+2+2*nm.units])
	}
	tc.t.source.names = append(tc.t.source.names, use)
	return nm.s, nil
}

// element reads an element whose start token was tok, at depth.
func (tc *templateCompiler) element(tok byte, depth int) error {
	if depth >= maxTemplateDepth {
		return nativeErr("elements nested deeper than %d", maxTemplateDepth)
	}
	r := tc.r
	r.skip(2 + 4) // dependency id, data size
	name, err := tc.name()
	if err != nil {
		return err
	}
	if depth < len(tc.path) {
		tc.path[depth] = name
	}
	if tok&0x40 != 0 {
		r.skip(4) // attribute list size
		for !r.err {
			at := r.u8()
			if at&0x0f != 0x06 {
				return nativeErr("attribute token 0x%02x", at)
			}
			attr, err := tc.name()
			if err != nil {
				return err
			}
			if err := tc.value(depth, attr); err != nil {
				return err
			}
			if at&0x40 == 0 {
				break
			}
		}
	}
	switch close := r.u8(); close {
	case 0x03:
		return nil
	case 0x02:
	default:
		return nativeErr("element %s closes with token 0x%02x", name, close)
	}
	for !r.err {
		if r.pos >= len(r.b) {
			break
		}
		next := r.b[r.pos]
		switch {
		case next == 0x04:
			r.pos++
			return nil
		case next&0x0f == 0x01:
			r.pos++
			if err := tc.element(next, depth+1); err != nil {
				return err
			}
			if depth+1 < len(tc.path) {
				tc.path[depth+1] = ""
			}
		default:
			if err := tc.value(depth, ""); err != nil {
				return err
			}
		}
	}
	return nativeErr("element %s is not closed", name)
}

// value reads one value token (text, substitution or reference) of an
// element's content (attr "") or of one of its attributes, and notes it when
// it is a field evtxhunt reads.
func (tc *templateCompiler) value(depth int, attr string) error {
	r := tc.r
	tok := r.u8()
	f := field{sub: -1, set: true}
	switch tok & 0x0f {
	case 0x05: // text
		if typ := r.u8(); typ != 0x01 {
			return nativeErr("value text of type 0x%02x", typ)
		}
		n := int(r.u16())
		f.literal = tc.d.utf16String(r.bytes(2 * n))
	case 0x0d, 0x0e: // substitution
		f.sub = int(r.u16())
		f.typ = r.u8()
	case 0x08: // character reference
		f.literal = string(rune(r.u16()))
	case 0x09: // entity reference
		r.skip(4)
		return nil
	case 0x07: // CDATA
		n := int(r.u16())
		f.literal = tc.d.utf16String(r.bytes(2 * n))
	case 0x0a: // processing instruction target
		r.skip(4)
		return nil
	case 0x0b: // processing instruction data
		r.skip(2 * int(r.u16()))
		return nil
	default:
		return nativeErr("token 0x%02x inside an element", tok)
	}
	if r.err {
		return nativeErr("value runs past the template")
	}
	tc.note(depth, attr, f)
	return nil
}

func (tc *templateCompiler) note(depth int, attr string, f field) {
	if depth >= len(tc.path) {
		return
	}
	t := tc.t
	elem, parent := tc.path[depth], ""
	if depth > 0 {
		parent = tc.path[depth-1]
	}
	first := func(dst *field) {
		if !dst.set {
			*dst = f
		}
	}
	switch {
	case parent == "System":
		switch elem {
		case "EventID":
			if attr == "" {
				first(&t.eventID)
			}
		case "Version":
			first(&t.version)
		case "Channel":
			first(&t.channel)
		case "Computer":
			first(&t.computer)
		case "EventRecordID":
			first(&t.recordID)
		case "Provider":
			if attr == "Name" {
				first(&t.provider)
			}
		case "TimeCreated":
			if attr == "SystemTime" {
				first(&t.created)
			}
		}
	case elem == "Data" && parent == "EventData":
		if attr == "Name" {
			tc.data = f.literal
		} else if attr == "" && tc.data != "" {
			t.data = append(t.data, dataField{tc.data, f})
			tc.data = ""
		}
	case attr == "" && f.sub >= 0 && f.typ == 0x21 && elem != "System" && !slices.Contains(t.nested, f.sub):
		t.nested = append(t.nested, f.sub)
	}
}
