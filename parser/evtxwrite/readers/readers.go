// Package readers decodes EVTX files with the three independent readers
// the generated evidence is verified with (libevtx's evtxexport, python-evtx
// and golang-evtx) into one form, and compares what they read with the
// events evtxwrite was asked to write. It exists for tests.
package readers

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	golangevtx "github.com/0xrawsec/golang-evtx/evtx"

	"github.com/evtxhunt/evtxhunt/parser/evtx"
	"github.com/evtxhunt/evtxhunt/parser/evtxwrite"
)

// Record is one record as a reader rendered it: System fields by element
// or attribute name (Provider/@Name as "Provider"), and the event's fields
// by name, from EventData/Data/@Name or from the element under UserData.
type Record struct {
	System map[string]string `json:"system"`
	Data   map[string]string `json:"data"`
}

// ID is the record's EventRecordID, 0 when it has none.
func (r Record) ID() uint64 {
	id, _ := strconv.ParseUint(r.System["EventRecordID"], 10, 64)
	return id
}

// A Reader reads every record of a file. An error means the reader refused
// the file or stopped before its end.
type Reader struct {
	Name string
	// Slack is how far this reader's FILETIMEs may be from the written
	// time: python-evtx converts them through a float.
	Slack time.Duration
	// MisreadsSysTime: the reader takes a SYSTEMTIME's milliseconds for
	// microseconds.
	MisreadsSysTime bool
	Read            func(path string) ([]Record, error)
	// Missing says why the reader cannot run here ("" when it can).
	Missing func() string
}

// All is the three readers.
func All() []Reader {
	return []Reader{
		{Name: "evtxexport", Read: Evtxexport, Missing: evtxexportMissing},
		{Name: "python-evtx", Slack: 3 * time.Microsecond, MisreadsSysTime: true, Read: PythonEvtx, Missing: pythonEvtxMissing},
		{Name: "golang-evtx", MisreadsSysTime: true, Read: GolangEvtx, Missing: func() string { return "" }},
	}
}

func evtxexportMissing() string {
	if _, err := exec.LookPath("evtxexport"); err != nil {
		return "evtxexport (libevtx-utils) is not installed: apt-get install libevtx-utils"
	}
	return ""
}

func pythonEvtxMissing() string {
	if err := exec.Command("/usr/bin/python3", "-c", "import Evtx.Evtx").Run(); err != nil {
		return "python-evtx is not installed: apt-get install python3-evtx"
	}
	return ""
}

// Evtxexport reads a file with libevtx's evtxexport in its XML mode. Any
// message on its standard error is an error: it stops at the first record
// it cannot read.
func Evtxexport(path string) ([]Record, error) {
	cmd := exec.Command("evtxexport", "-f", "xml", path)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	recs, perr := parseEventXML(out)
	if err == nil && stderr.Len() > 0 {
		err = errors.New("messages on standard error")
	}
	if err != nil {
		return recs, fmt.Errorf("evtxexport: %w: %s", err, cut(stderr.String()))
	}
	return recs, perr
}

// xmlNode is any XML element.
type xmlNode struct {
	XMLName xml.Name
	Attrs   []xml.Attr `xml:",any,attr"`
	Text    string     `xml:",chardata"`
	Nodes   []xmlNode  `xml:",any"`
}

func (n *xmlNode) child(name string) *xmlNode {
	for i := range n.Nodes {
		if n.Nodes[i].XMLName.Local == name {
			return &n.Nodes[i]
		}
	}
	return nil
}

// parseEventXML reads the Event elements of evtxexport's output, which has
// a banner line before them.
func parseEventXML(out []byte) ([]Record, error) {
	dec := xml.NewDecoder(bytes.NewReader(out))
	var recs []Record
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return recs, nil
		}
		if err != nil {
			return recs, fmt.Errorf("evtxexport output: %w", err)
		}
		se, ok := tok.(xml.StartElement)
		if !ok || se.Name.Local != "Event" {
			continue
		}
		var ev xmlNode
		if err := dec.DecodeElement(&ev, &se); err != nil {
			return recs, fmt.Errorf("evtxexport output: %w", err)
		}
		recs = append(recs, fromXML(&ev))
	}
}

func fromXML(ev *xmlNode) Record {
	r := Record{System: map[string]string{}, Data: map[string]string{}}
	if sys := ev.child("System"); sys != nil {
		for _, el := range sys.Nodes {
			name := el.XMLName.Local
			if len(el.Attrs) == 0 {
				r.System[name] = el.Text
			}
			for _, a := range el.Attrs {
				key := a.Name.Local
				if name == "Provider" && key == "Name" {
					key = "Provider"
				}
				r.System[key] = a.Value
			}
		}
	}
	if data := ev.child("EventData"); data != nil {
		for _, el := range data.Nodes {
			for _, a := range el.Attrs {
				if a.Name.Local == "Name" {
					r.Data[a.Value] = el.Text
				}
			}
		}
	}
	if ud := ev.child("UserData"); ud != nil && len(ud.Nodes) > 0 {
		for _, el := range ud.Nodes[0].Nodes {
			r.Data[el.XMLName.Local] = el.Text
		}
	}
	return r
}

// pythonScript prints every record as JSON with python-evtx. python-evtx
// parses a record's template again for every record; the script keeps the
// parsed template of each chunk offset, which makes it three times faster
// and changes nothing it reads.
const pythonScript = `
import json, sys, xml.etree.ElementTree as ET
import Evtx.Evtx as evtx, Evtx.Nodes as nodes
parse_template = nodes.RootNode.template
templates = {}
def cached_template(root):
    key = (root._chunk.offset(), root.template_instance().template_offset())
    if key not in templates:
        templates[key] = parse_template(root)
    return templates[key]
nodes.RootNode.template = cached_template
ns = "{http://schemas.microsoft.com/win/2004/08/events/event}"
def local(tag):
    return tag.split("}")[-1]
with evtx.Evtx(sys.argv[1]) as log:
    for r in log.records():
        root = ET.fromstring(r.xml())
        system, data = {}, {}
        for el in root.find(ns + "System"):
            tag = local(el.tag)
            if el.text or not el.attrib:
                system[tag] = el.text or ""
            for k, v in el.attrib.items():
                # python-evtx writes an attribute whose value is null
                # as empty; Windows leaves it out.
                if v:
                    system["Provider" if (tag, k) == ("Provider", "Name") else k] = v
        ed = root.find(ns + "EventData")
        if ed is not None:
            for el in ed:
                data[el.get("Name")] = el.text or ""
        ud = root.find(ns + "UserData")
        if ud is not None and len(ud):
            for el in ud[0]:
                data[local(el.tag)] = el.text or ""
        print(json.dumps({"system": system, "data": data}))
`

// PythonEvtx reads a file with python-evtx.
func PythonEvtx(path string) ([]Record, error) {
	cmd := exec.Command("/usr/bin/python3", "-c", pythonScript, path)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var recs []Record
	for _, line := range bytes.Split(bytes.TrimSpace(out), []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		var r Record
		if err := json.Unmarshal(line, &r); err != nil {
			return recs, fmt.Errorf("python-evtx output %q: %w", cut(string(line)), err)
		}
		recs = append(recs, r)
	}
	if err != nil {
		return recs, fmt.Errorf("python-evtx: %w: %s", err, cut(stderr.String()))
	}
	return recs, nil
}

// GolangEvtx reads a file with golang-evtx's own chunk calls (not
// FastEvents, which panics in goroutines of its own), chunk slot by chunk
// slot, skipping slots without a chunk magic. A record the library cannot
// render is an error.
func GolangEvtx(path string) (recs []Record, err error) {
	file, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("golang-evtx: panic: %v", p)
		}
	}()
	for off := evtx.FileHeaderSize; off+evtx.ChunkSize <= len(file); off += evtx.ChunkSize {
		if !bytes.Equal(file[off:off+8], []byte(evtx.ChunkMagic)) {
			continue
		}
		c := golangevtx.NewChunk()
		c.Data = file[off : off+evtx.ChunkSize]
		r := bytes.NewReader(c.Data)
		c.ParseChunkHeader(r)
		r.Seek(int64(c.Header.SizeHeader)+64*4, 0)
		if err := c.ParseTemplateTable(r); err != nil {
			return recs, fmt.Errorf("golang-evtx: chunk @%d: template table: %w", off, err)
		}
		r.Seek(evtx.ChunkTablesEnd, 0)
		if err := c.ParseEventOffsets(r); err != nil {
			return recs, fmt.Errorf("golang-evtx: chunk @%d: %w", off, err)
		}
		for _, eo := range c.EventOffsets {
			if int64(eo) > int64(c.Header.OffsetLastRec) {
				continue // golang-evtx lists the end of the last record too
			}
			m, err := c.ParseEvent(int64(eo)).GoEvtxMap(&c)
			if err != nil {
				return recs, fmt.Errorf("golang-evtx: chunk @%d record @%d: %w", off, eo, err)
			}
			rec, err := fromGoEvtxMap(m)
			if err != nil {
				return recs, fmt.Errorf("golang-evtx: chunk @%d record @%d: %w", off, eo, err)
			}
			recs = append(recs, rec)
		}
	}
	return recs, nil
}

func fromGoEvtxMap(m *golangevtx.GoEvtxMap) (Record, error) {
	rec := Record{System: map[string]string{}, Data: map[string]string{}}
	event, ok := (*m)["Event"].(golangevtx.GoEvtxMap)
	if !ok {
		return rec, errors.New("no Event element")
	}
	sys, ok := event["System"].(golangevtx.GoEvtxMap)
	if !ok {
		return rec, errors.New("no System element")
	}
	for k, v := range sys {
		switch v := v.(type) {
		case golangevtx.GoEvtxMap:
			if len(v) == 0 { // an empty element, like <Correlation/>
				rec.System[k] = ""
			}
			for ak, av := range v {
				name := ak
				if k == "Provider" && ak == "Name" {
					name = "Provider"
				}
				rec.System[name] = render(av)
			}
		default:
			rec.System[k] = render(v)
		}
	}
	if data, ok := event["EventData"].(golangevtx.GoEvtxMap); ok {
		for k, v := range data {
			rec.Data[k] = render(v)
		}
	}
	if ud, ok := event["UserData"].(golangevtx.GoEvtxMap); ok {
		for _, inner := range ud {
			fields, ok := inner.(golangevtx.GoEvtxMap)
			if !ok {
				continue
			}
			for k, v := range fields {
				// golang-evtx puts attributes among the children;
				// no element can be named xmlns.
				if k != "xmlns" && !strings.HasPrefix(k, "xmlns:") {
					rec.Data[k] = render(v)
				}
			}
		}
	}
	return rec, nil
}

func render(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case golangevtx.UTCTime:
		return time.Time(v).UTC().Format(time.RFC3339Nano)
	}
	return fmt.Sprint(v)
}

func cut(s string) string {
	if len(s) > 2000 {
		return s[:2000] + "..."
	}
	return s
}

// Check compares every record the reader gave with the event written under
// its id, and wants want of them, each once. It reports at most 20
// differences and then their number.
func (r Reader) Check(t testing.TB, recs []Record, written map[uint64]*evtxwrite.Event, want int) {
	t.Helper()
	seen := map[uint64]bool{}
	bad := 0
	report := func(s string) {
		if bad++; bad <= 20 {
			t.Error(s)
		}
	}
	for _, rec := range recs {
		id := rec.ID()
		ev, ok := written[id]
		if !ok || seen[id] {
			report(fmt.Sprintf("record id %d: not written, or read twice: %v", id, rec.System))
			continue
		}
		seen[id] = true
		for _, d := range r.Diff(id, ev, rec) {
			report(d)
		}
	}
	if bad > 20 {
		t.Errorf("and %d more differences", bad-20)
	}
	if len(seen) != want {
		t.Errorf("%s: %d records read, want %d", r.Name, len(seen), want)
	}
}

// SkipIfMissing skips t where the reader is not installed, except in CI
// (CI set), which installs them all (.ci/run).
func (r Reader) SkipIfMissing(t testing.TB) {
	t.Helper()
	if why := r.Missing(); why != "" {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s in CI", why)
		}
		t.Skipf("SKIP: %s", why)
	}
}

// Diff compares what the reader rendered for record id with the event
// written as it. Readers print values their own ways (hex padding, GUID case
// and braces, time precision), so values are compared by meaning, per type.
// It returns one line per difference.
func (r Reader) Diff(id uint64, ev *evtxwrite.Event, got Record) []string {
	var diffs []string
	check := func(field string, want evtxwrite.Value, got string, present bool) {
		if !present {
			diffs = append(diffs, fmt.Sprintf("record %d: %s missing", id, field))
		} else if !r.SameValue(want, got) {
			diffs = append(diffs, fmt.Sprintf("record %d: %s = %q, want %q", id, field, got, want.Text()))
		}
	}
	type sysField struct {
		name string
		want evtxwrite.Value
	}
	sys := []sysField{{"EventID", evtxwrite.UInt16(ev.EventID)}, {"Version", evtxwrite.UInt8(ev.Version)}, {"Level", evtxwrite.UInt8(ev.Level)},
		{"Task", evtxwrite.UInt16(ev.Task)}, {"Opcode", evtxwrite.UInt8(ev.Opcode)}, {"Keywords", evtxwrite.HexInt64(ev.Keywords)},
		{"SystemTime", evtxwrite.FileTime(ev.Time)}, {"EventRecordID", evtxwrite.UInt64(id)}, {"ProcessID", evtxwrite.UInt32(ev.ProcessID)},
		{"ThreadID", evtxwrite.UInt32(ev.ThreadID)}, {"Channel", evtxwrite.String(ev.Channel)}, {"Computer", evtxwrite.String(ev.Computer)},
		{"Provider", evtxwrite.String(ev.Provider)}}
	if ev.ProviderGUID != "" {
		sys = append(sys, sysField{"Guid", evtxwrite.GUID(ev.ProviderGUID)})
	}
	if ev.UserID != "" {
		sys = append(sys, sysField{"UserID", evtxwrite.SID(ev.UserID)})
	} else if v, ok := got.System["UserID"]; ok {
		diffs = append(diffs, fmt.Sprintf("record %d: System/UserID = %q, want none", id, v))
	}
	for _, f := range sys {
		g, ok := got.System[f.name]
		check("System/"+f.name, f.want, g, ok)
	}
	if len(got.Data) != len(ev.Data) {
		diffs = append(diffs, fmt.Sprintf("record %d: %d data fields, want %d: %v", id, len(got.Data), len(ev.Data), got.Data))
	}
	for _, f := range ev.Data {
		g, ok := got.Data[f.Name]
		check("Data/"+f.Name, f.Value, g, ok)
	}
	return diffs
}

// SameValue says whether got is the reader's rendering of want.
func (r Reader) SameValue(want evtxwrite.Value, got string) bool {
	switch want.Type {
	case evtxwrite.TypeHexInt32, evtxwrite.TypeHexInt64:
		w, _ := strconv.ParseUint(strings.TrimPrefix(want.Text(), "0x"), 16, 64)
		g, err := strconv.ParseUint(strings.TrimPrefix(strings.ToLower(got), "0x"), 16, 64)
		return err == nil && w == g && strings.HasPrefix(strings.ToLower(got), "0x")
	case evtxwrite.TypeGUID:
		norm := func(s string) string { return strings.ToLower(strings.Trim(s, "{}")) }
		return norm(want.Text()) == norm(got)
	case evtxwrite.TypeBool:
		return strings.EqualFold(want.Text(), got)
	case evtxwrite.TypeBinary:
		raw, err := base64.StdEncoding.DecodeString(got) // python-evtx's rendering
		return strings.EqualFold(want.Text(), got) || err == nil && strings.EqualFold(want.Text(), fmt.Sprintf("%x", raw))
	case evtxwrite.TypeSysTime:
		w, _ := time.Parse(time.RFC3339Nano, want.Text())
		g, err := parseTime(got)
		if r.MisreadsSysTime {
			w = w.Truncate(time.Second).Add(time.Duration(w.Nanosecond()/1e6) * time.Microsecond)
		}
		return err == nil && g.Equal(w)
	case evtxwrite.TypeFileTime:
		w, _ := time.Parse(time.RFC3339Nano, want.Text())
		g, err := parseTime(got)
		d := g.Sub(w)
		return err == nil && d <= r.Slack && d >= -r.Slack
	}
	return want.Text() == got
}

func parseTime(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02 15:04:05.999999999", "2006-01-02 15:04:05"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("not a time: %q", s)
}
