package parser

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"slices"

	"github.com/evtxhunt/evtxhunt/parser/evtx"
)

// templateKey names a template across chunks and files: its GUID and the
// size of its definition, as the file says them.
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
	typ     evtx.ValueType
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
	if rd.token() != evtx.TokenFragmentHeader {
		return nil, nativeErr("template at 0x%x: no fragment header", off)
	}
	rd.skip(3)
	for !rd.err {
		tok := rd.token()
		if tok == evtx.TokenEOF {
			break
		}
		if tok.Base() != evtx.TokenOpenStartElement {
			return nil, nativeErr("template at 0x%x: token 0x%02x at the top level", off, byte(tok))
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
func (tc *templateCompiler) element(tok evtx.Token, depth int) error {
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
	if tok&evtx.TokenMore != 0 { // attributes
		r.skip(4) // attribute list size
		for !r.err {
			at := r.token()
			if at.Base() != evtx.TokenAttribute {
				return nativeErr("attribute token 0x%02x", byte(at))
			}
			attr, err := tc.name()
			if err != nil {
				return err
			}
			if err := tc.value(depth, attr); err != nil {
				return err
			}
			if at&evtx.TokenMore == 0 { // the last attribute
				break
			}
		}
	}
	switch close := r.token(); close {
	case evtx.TokenCloseEmptyElement:
		return nil
	case evtx.TokenCloseStartElement:
	default:
		return nativeErr("element %s closes with token 0x%02x", name, byte(close))
	}
	for !r.err {
		if r.pos >= len(r.b) {
			break
		}
		next := evtx.Token(r.b[r.pos])
		switch {
		case next == evtx.TokenEndElement:
			r.pos++
			return nil
		case next.Base() == evtx.TokenOpenStartElement:
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
	tok := r.token()
	f := field{sub: -1, set: true}
	switch tok.Base() {
	case evtx.TokenValue:
		if typ := r.valueType(); typ != evtx.TypeString {
			return nativeErr("value text of type 0x%02x", byte(typ))
		}
		n := int(r.u16())
		f.literal = tc.d.utf16String(r.bytes(2 * n))
	case evtx.TokenNormalSubstitution, evtx.TokenOptionalSubstitution:
		f.sub = int(r.u16())
		f.typ = r.valueType()
	case evtx.TokenCharRef:
		f.literal = string(rune(r.u16()))
	case evtx.TokenEntityRef:
		r.skip(4)
		return nil
	case evtx.TokenCDATASection:
		n := int(r.u16())
		f.literal = tc.d.utf16String(r.bytes(2 * n))
	case evtx.TokenPITarget:
		r.skip(4)
		return nil
	case evtx.TokenPIData:
		r.skip(2 * int(r.u16()))
		return nil
	default:
		return nativeErr("token 0x%02x inside an element", byte(tok))
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
	case attr == "" && f.sub >= 0 && f.typ == evtx.TypeBinXML && elem != "System" && !slices.Contains(t.nested, f.sub):
		t.nested = append(t.nested, f.sub)
	}
}
