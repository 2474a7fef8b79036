package parser

import (
	"encoding/binary"
	"errors"
	"fmt"

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
}

func newNativeDecoder(fallback *childDecoder) *nativeDecoder {
	return &nativeDecoder{fallback: fallback, templates: map[uint32]*compiledTemplate{}, names: map[uint32]chunkName{},
		known: map[templateKey]*compiledTemplate{}, text: map[string]string{}}
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
// fallback decoder when any record is beyond it, or the decoder panics.
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
			r.chunkError(c, KindRecord, err)
			return
		}
		d.fallback.decode(c, r, err)
		return
	}
	r.Chunks.Decoded = 1
}

// decodeChunk reads every record of the chunk. A panic is a bug of the
// decoder that some input found: it is recovered as the refusal of the
// record being read, and the decoder, whose caches it may have left half
// written, starts afresh.
func (d *nativeDecoder) decodeChunk(c *chunk, r *chunkResult) (err error) {
	var ref evtx.RecordRef
	defer func() {
		if p := recover(); p != nil {
			*d = *newNativeDecoder(d.fallback)
			err = fmt.Errorf("record %d at 0x%x: %w: %w", ref.ID, c.Offset+int64(ref.Offset), errNative, &panicError{p})
		}
	}()
	for _, ref = range c.Records {
		if err := d.record(c, ref, r); err != nil {
			return fmt.Errorf("record %d at 0x%x: %w", ref.ID, c.Offset+int64(ref.Offset), err)
		}
	}
	return nil
}

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
		res.recordError(c, ref, KindRecordField, fmt.Sprintf("field %s: cannot read %q as a number", f.name, f.value), nil)
	}
	return nil
}

// instance reads a template instance (fragment header, template reference
// or inline definition, substitution array) from chunk[pos:end].
// With all false, only the substitutions a census needs are read.
func (d *nativeDecoder) instance(chunk []byte, pos, end int, values []valueRef, all bool) (*compiledTemplate, []valueRef, error) {
	rd := binReader{b: chunk[:end], pos: pos}
	if tok := rd.token(); tok != evtx.TokenFragmentHeader {
		return nil, values, nativeErr("no fragment header (0x%02x)", byte(tok))
	}
	rd.skip(3)
	if tok := rd.token(); tok != evtx.TokenTemplateInstance {
		return nil, values, nativeErr("not a template instance (token 0x%02x)", byte(tok))
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
		typ := evtx.ValueType(descs[4*i+2])
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
		if idx >= len(values) || values[idx].typ != evtx.TypeBinXML {
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
