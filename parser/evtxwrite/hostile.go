package evtxwrite

import (
	"fmt"
	"time"

	"github.com/evtxhunt/evtxhunt/parser/evtx"
)

// Hostile records: binary XML crafted as an attacker would write it, to hold
// readers to the rule that no record may make them recurse, loop or allocate
// without end. Each is framed correctly (record and chunk checksums hold),
// so only a reader of the binary XML can notice.

// WriteSelfReferencingTemplate appends a record whose template definition
// holds, inside its Event element, a template instance that points back at
// that same definition. A reader that follows template instances without a
// depth limit recurses until it runs out of stack.
func (w *Writer) WriteSelfReferencingTemplate(t time.Time) (uint64, error) {
	return w.writeRecord(t, func(e *recordEncoder, _ uint64) error {
		e.b = append(e.b, tokFragment, 1, 1, 0)
		def := e.offset() + 10 // after the instance token, its byte and id, and the offset itself
		instance := func() {
			e.b = append(e.b, tokTemplate, 1)
			e.b = le.AppendUint32(e.b, 0x5e1f)
			e.b = le.AppendUint32(e.b, def)
		}
		instance()
		e.b = le.AppendUint32(e.b, 0) // next template in bucket: none
		e.b = append(e.b, "self-reference.."...)
		sizeAt := len(e.b)
		e.b = le.AppendUint32(e.b, 0)
		e.b = append(e.b, tokFragment, 1, 1, 0)
		e.b = append(e.b, tokOpenStart)
		e.b = le.AppendUint16(e.b, 0xffff)
		elementSizeAt := len(e.b)
		e.b = le.AppendUint32(e.b, 0)
		e.nameRef("Event")
		e.b = append(e.b, tokCloseStart)
		instance() // inside the definition: itself
		e.b = append(e.b, tokEndElement)
		le.PutUint32(e.b[elementSizeAt:], uint32(len(e.b)-elementSizeAt-4))
		e.b = append(e.b, tokEOF)
		le.PutUint32(e.b[sizeAt:], uint32(len(e.b)-sizeAt-4))
		e.descriptors(nil, nil)
		e.b = append(e.b, tokEOF)
		return nil
	})
}

// NegativeTemplateSize is the size WriteNegativeTemplateSize gives its
// template definitions.
const NegativeTemplateSize = -42

// WriteNegativeTemplateSize appends two records whose inline template
// definitions claim a size of -42 bytes, both linked into the chunk's
// template table, as Windows links the templates a chunk defines.
//
// The first is ev, its System template defined with that size. The second
// is an Event element written without a template, whose content holds a
// template instance; a reader that finds the definition in the table and
// steps over it by its size lands 18 bytes back, inside text placed there
// so that it reads an empty substitution array, four element tokens and the
// same instance again, forever.
func (w *Writer) WriteNegativeTemplateSize(ev *Event) error {
	if err := checkEvent(ev); err != nil {
		return err
	}
	negative := func(e *recordEncoder, sizeAt int) {
		size := int32(NegativeTemplateSize)
		le.PutUint32(e.b[sizeAt:], uint32(size))
	}
	if _, err := w.writeRecord(ev.Time, func(e *recordEncoder, id uint64) error {
		if err := e.event(ev, id, nil); err != nil {
			return err
		}
		if len(e.newTemplates) == 0 || e.newTemplates[0].offset != e.base+evtx.RecordHeaderLen+14 {
			return fmt.Errorf("evtxwrite: the System template of %d is already defined in this chunk", ev.EventID)
		}
		negative(e, evtx.RecordHeaderLen+14+20)                           // after the next-in-bucket field and the GUID
		e.newTemplates[0].key = "negative size: " + e.newTemplates[0].key // never reused by a later record
		return nil
	}); err != nil {
		return err
	}
	_, err := w.writeRecord(ev.Time, func(e *recordEncoder, _ uint64) error {
		e.b = append(e.b, tokFragment, 1, 1, 0)
		// An element outside a template has no dependency id.
		e.b = append(e.b, tokOpenStart)
		elementSizeAt := len(e.b)
		e.b = le.AppendUint32(e.b, 0)
		e.nameRef("Event")
		e.b = append(e.b, tokCloseStart)
		// A reader stepping back lands 18 bytes before the definition,
		// 8 bytes before the instance: the last 8 bytes of this text.
		e.b = append(e.b, tokValue, TypeString)
		e.b = le.AppendUint16(e.b, 4)
		e.b = append(e.b, 0, 0, 0, 0) // no substitution values
		e.b = append(e.b, tokCloseStart, tokCloseStart, tokCloseStart, tokCloseStart)
		const id = 0x42
		e.b = append(e.b, tokTemplate, 1)
		e.b = le.AppendUint32(e.b, id)
		def := e.offset() + 4
		e.newTemplates = append(e.newTemplates, pendingTemplate{"negative size: loop", id, def})
		e.b = le.AppendUint32(e.b, def)
		e.b = le.AppendUint32(e.b, 0) // next template in bucket, linked on commit
		e.b = append(e.b, "negative-size..."...)
		negativeAt := len(e.b)
		e.b = le.AppendUint32(e.b, 0)
		negative(e, negativeAt)
		e.b = append(e.b, tokFragment, 1, 1, 0, tokEOF)
		e.b = le.AppendUint32(e.b, 0) // no substitution values
		e.b = append(e.b, tokEndElement)
		le.PutUint32(e.b[elementSizeAt:], uint32(len(e.b)-elementSizeAt-4))
		e.b = append(e.b, tokEOF)
		return nil
	})
	return err
}

// WriteManyDescriptors appends ev with n value descriptors in its
// EventData substitution array instead of its own count: the ones beyond
// ev's values claim strings of 1 to 60 bytes that are not there, and no two
// of the first 15,360 have the same size and unused byte. A reader that
// reports each unreadable value by its descriptor writes as many different
// messages.
func (w *Writer) WriteManyDescriptors(ev *Event, n int) (uint64, error) {
	if err := checkEvent(ev); err != nil {
		return 0, err
	}
	if n < len(ev.Data) || n-len(ev.Data) > 0xffff {
		return 0, fmt.Errorf("evtxwrite: %d descriptors for an event of %d values", n, len(ev.Data))
	}
	extra := make([]descriptor, n-len(ev.Data))
	for i := range extra {
		extra[i] = descriptor{size: uint16(i%60 + 1), typ: TypeString, unused: byte(i / 60)}
	}
	return w.writeRecord(ev.Time, func(e *recordEncoder, id uint64) error {
		return e.event(ev, id, extra)
	})
}
