package timeline

import (
	"encoding/json"

	"github.com/evtxhunt/evtxhunt/parser"
)

// processJSON is a process as MarshalJSON writes it. Its relatives are
// given by reference: written whole, a tree would repeat every ancestor
// under each descendant.
type processJSON struct {
	Event       parser.ProcessEvent `json:"event"` // merged
	Host        string              `json:"host"`
	Placeholder bool                `json:"placeholder,omitempty"`
	Parent      *processRef         `json:"parent,omitempty"`
	Link        LinkKind            `json:"parent_link,omitempty"`
	LinkNote    string              `json:"parent_link_note,omitempty"`
	Children    int                 `json:"children"`
	Ended       string              `json:"ended,omitempty"`
	Depth       int                 `json:"depth"`
	Flags       []string            `json:"flags,omitempty"`
	Evidence    []Evidence          `json:"evidence"`
	Copies      []Evidence          `json:"copies,omitempty"`
}

// processRef names a process: what finds it again in the same timeline.
type processRef struct {
	PID         uint32 `json:"pid"`
	Time        string `json:"time,omitempty"` // none for a placeholder
	Image       string `json:"image"`
	ProcessGUID string `json:"process_guid,omitempty"`
}

// MarshalJSON writes the process: its merged event and what the timeline
// learnt of it. Without it the embedded event's MarshalJSON would be
// promoted and write the event alone. Its receiver is a value, so that a
// Process marshalled by value is written the same way.
func (p Process) MarshalJSON() ([]byte, error) {
	v := processJSON{Event: p.ProcessEvent, Placeholder: p.Placeholder, Link: p.Link, LinkNote: p.LinkNote,
		Children: len(p.Children), Depth: p.Depth, Flags: p.Flags, Evidence: p.Evidence, Copies: p.Copies}
	if p.Host != nil {
		v.Host = p.Host.Name
	}
	if q := p.Parent; q != nil {
		v.Parent = &processRef{PID: q.PID, Image: q.Image, ProcessGUID: q.ProcessGUID}
		if !q.Placeholder {
			v.Parent.Time = q.Time.UTC().Format(parser.TimeLayout)
		}
	}
	if !p.Ended.IsZero() {
		v.Ended = p.Ended.UTC().Format(parser.TimeLayout)
	}
	return json.Marshal(v)
}
