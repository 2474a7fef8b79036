package evtxwrite

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	golangevtx "github.com/0xrawsec/golang-evtx/evtx"

	"github.com/evtxhunt/evtxhunt/parser/evtx"
)

var t0 = time.Date(2024, 3, 14, 9, 26, 53, 589793200, time.UTC)

func account(name string) Account {
	return Account{"CORP", name, "S-1-5-21-3623811015-3361044348-30300820-" + strconv.Itoa(1000+len(name))}
}

// sampleEvents is every builder, many times over, with values that exercise
// the encoding: non-ASCII text, empty strings, long command lines, the
// extremes of integers. It spans several chunks.
func sampleEvents() []*Event {
	rng := rand.New(rand.NewPCG(1, 2))
	explorer := Proc{PID: 4242, Image: `C:\Windows\explorer.exe`, CommandLine: `C:\Windows\Explorer.EXE`, User: account("alice"),
		LogonID: 0x5a3f1, LogonGUID: "9d3c5c1a-0a5e-4f7c-8c1d-1b2e3f405162", GUID: "9D3C5C1A-1111-65F0-0000-0010A1B2C3D4",
		Integrity: "Medium", Elevation: "%%1938", SessionID: 1}
	var evs []*Event
	for i := range 150 {
		t := t0.Add(time.Duration(i) * 1234567 * time.Microsecond)
		child := Proc{PID: uint32(1000 + 4*i), Image: fmt.Sprintf(`C:\Users\alice\Desktop\tool_%d.exe`, i),
			CommandLine:      fmt.Sprintf(`tool_%d.exe --flag "résumé ü 日本" %s`, i, strings.Repeat("A", rng.IntN(300))),
			CurrentDirectory: `C:\Users\alice\Desktop\`, User: explorer.User, LogonID: explorer.LogonID, LogonGUID: explorer.LogonGUID,
			GUID: fmt.Sprintf("9D3C5C1A-%04X-65F0-0000-0010A1B2C3D4", i), Integrity: []string{"Low", "Medium", "High", "System"}[i%4],
			Elevation: "%%1936", SessionID: 1, Hashes: "SHA256=" + strings.Repeat("AB", 32), FileVersion: "1.0", Description: "",
			Product: "Tool", Company: "Example", OriginalFileName: "tool.exe"}
		if i%5 == 0 {
			child.User = account("svc_backup") // runs as another account: 4688 v2 Target
			child.LogonID = 0xffffffffffff
		}
		evs = append(evs,
			Security4688(fmt.Sprintf("WKS%02d.corp.local", i%3), t, uint8(i%3), child, explorer),
			Sysmon1("WKS01", t, child, explorer),
			Security4689("WKS01", t.Add(time.Second), child),
			Sysmon5("WKS01", t.Add(time.Second), child),
		)
		if i%50 == 0 {
			// Every value type. (Without a provider GUID, golang-evtx renders
			// <Provider Name="x"/> as a key "x": real manifest providers
			// always carry one.)
			evs = append(evs, &Event{Provider: "Evtxhunt-Types", ProviderGUID: "0AB1C2D3-E4F5-4A6B-8C7D-9E0F1A2B3C4D", Channel: "Application", Computer: "WKS01", EventID: 9999, Version: 1, Time: t,
				Data: []Field{F("u8", UInt8(255)), F("u16", UInt16(65535)), F("u32", UInt32(4294967295)), F("u64", UInt64(1<<63+5)),
					F("hex32", HexInt32(0xdeadbeef)), F("hex64", HexInt64(0xfedcba9876543210)), F("yes", Bool(true)), F("no", Bool(false)),
					F("systime", SysTime(t)), F("filetime", FileTime(t)), F("binary", Binary([]byte{1, 2, 0xab})),
					F("guid", GUID("{01234567-89ab-cdef-0123-456789abcdef}")), F("sid", SID("S-1-5-21-1-2-3-500")), F("empty", String(""))}})
		}
		if i%10 == 0 {
			l := Logon{Type: []uint32{3, 10}[i%2], User: account("bob"), LogonID: uint64(0x100000 + i), Workstation: "JUMP01", IP: "10.0.0.7", Port: 50123, Package: "NTLM"}
			conn := Conn{Outbound: i%20 == 0, Protocol: 6, SrcIP: "10.0.0.5", SrcPort: uint16(49152 + i), DstIP: "10.0.0.9", DstPort: 3389}
			evs = append(evs,
				Security4624("WKS01", t, l), Security4634("WKS01", t.Add(time.Minute), l),
				Security4648("WKS01", t, child, account("admin"), "SRV01"),
				Security5156("WKS01", t, child, conn), Sysmon3("WKS01", t, child, conn),
				Sysmon11("WKS01", t, child, `C:\Users\alice\AppData\Local\Temp\x.dll`),
				TerminalServices1149("WKS01", t, account("bob"), "10.0.0.7"))
		}
	}
	return evs
}

func writeFile(t *testing.T, evs []*Event) (string, []byte) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "test.evtx")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := NewWriter(f)
	for i, ev := range evs {
		id, err := w.Write(ev)
		if err != nil {
			t.Fatal(err)
		}
		if id != uint64(i+1) {
			t.Fatalf("record %d got id %d", i, id)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return path, b
}

// decodedRecord is one record as a parser rendered it.
type decodedRecord struct {
	System map[string]string `json:"system"`
	Data   map[string]string `json:"data"`
}

// expectRecord compares what a parser rendered with what was written. Each
// parser prints values its own way (hex padding, GUID case and braces, time
// precision), so values are compared by meaning, per type.
func expectRecord(t *testing.T, who string, id uint64, ev *Event, got decodedRecord, timeSlack time.Duration) {
	t.Helper()
	check := func(field string, want Value, got string, present bool) {
		t.Helper()
		if !present {
			t.Errorf("%s record %d: %s missing", who, id, field)
			return
		}
		if !sameValue(want, got, timeSlack) {
			t.Errorf("%s record %d: %s = %q, want %q", who, id, field, got, want.Text())
		}
	}
	sys := map[string]Value{"EventID": UInt16(ev.EventID), "Version": UInt8(ev.Version), "Level": UInt8(ev.Level), "Task": UInt16(ev.Task),
		"Opcode": UInt8(ev.Opcode), "Keywords": HexInt64(ev.Keywords), "SystemTime": FileTime(ev.Time), "EventRecordID": UInt64(id),
		"ProcessID": UInt32(ev.ProcessID), "ThreadID": UInt32(ev.ThreadID), "Channel": String(ev.Channel), "Computer": String(ev.Computer),
		"Provider": String(ev.Provider)}
	if ev.UserID != "" {
		sys["UserID"] = SID(ev.UserID)
	}
	for k, v := range sys {
		g, ok := got.System[k]
		check("System/"+k, v, g, ok)
	}
	if len(got.Data) != len(ev.Data) {
		t.Errorf("%s record %d: %d data fields, want %d: %v", who, id, len(got.Data), len(ev.Data), got.Data)
	}
	for _, f := range ev.Data {
		g, ok := got.Data[f.Name]
		check("EventData/"+f.Name, f.Value, g, ok)
	}
}

func sameValue(want Value, got string, timeSlack time.Duration) bool {
	switch want.Type {
	case typeHexInt32, typeHexInt64:
		w, _ := strconv.ParseUint(strings.TrimPrefix(want.Text(), "0x"), 16, 64)
		g, err := strconv.ParseUint(strings.TrimPrefix(strings.ToLower(got), "0x"), 16, 64)
		return err == nil && w == g
	case typeGUID:
		norm := func(s string) string { return strings.ToLower(strings.Trim(s, "{}")) }
		return norm(want.Text()) == norm(got)
	case typeBool:
		return strings.EqualFold(want.Text(), got)
	case typeBinary:
		raw, err := base64.StdEncoding.DecodeString(got) // python-evtx's rendering
		return strings.EqualFold(want.Text(), got) || err == nil && strings.EqualFold(want.Text(), fmt.Sprintf("%x", raw))
	case typeSysTime:
		// Both golang-evtx and python-evtx read SYSTEMTIME's milliseconds
		// as microseconds; the seconds must agree and the fraction be
		// either right or that misreading.
		w, _ := time.Parse(time.RFC3339Nano, want.Text())
		g, err := time.Parse(time.RFC3339Nano, got)
		if err != nil {
			g, err = time.Parse("2006-01-02 15:04:05", got)
		}
		ms := w.Nanosecond() / 1e6
		return err == nil && g.Truncate(time.Second).Equal(w.Truncate(time.Second)) && (g.Nanosecond() == ms*1e6 || g.Nanosecond() == ms*1e3)
	case typeFileTime:
		w, _ := time.Parse(time.RFC3339Nano, want.Text())
		for _, layout := range []string{time.RFC3339Nano, "2006-01-02 15:04:05.999999", "2006-01-02 15:04:05"} {
			if g, err := time.Parse(layout, got); err == nil {
				d := g.Sub(w)
				return d <= timeSlack && d >= -timeSlack
			}
		}
		return false
	}
	return want.Text() == got
}

// decodeWithGolangEvtx renders every record with golang-evtx's own chunk
// calls (not FastEvents, which panics in goroutines of its own).
func decodeWithGolangEvtx(t *testing.T, file []byte) map[uint64]decodedRecord {
	out := map[uint64]decodedRecord{}
	for off := evtx.FileHeaderSize; off+evtx.ChunkSize <= len(file); off += evtx.ChunkSize {
		c := golangevtx.NewChunk()
		c.Data = file[off : off+evtx.ChunkSize]
		r := bytes.NewReader(c.Data)
		c.ParseChunkHeader(r)
		r.Seek(int64(c.Header.SizeHeader)+64*4, 0)
		if err := c.ParseTemplateTable(r); err != nil {
			t.Fatalf("chunk @%d: template table: %v", off, err)
		}
		r.Seek(evtx.ChunkTablesEnd, 0)
		if err := c.ParseEventOffsets(r); err != nil {
			t.Fatalf("chunk @%d: %v", off, err)
		}
		for _, eo := range c.EventOffsets {
			if int64(eo) > int64(c.Header.OffsetLastRec) {
				continue // golang-evtx lists the end of the last record too
			}
			ev := c.ParseEvent(int64(eo))
			m, err := ev.GoEvtxMap(&c)
			if err != nil {
				t.Fatalf("chunk @%d record @%d: %v", off, eo, err)
			}
			rec := decodedRecord{System: map[string]string{}, Data: map[string]string{}}
			sys := (*m)["Event"].(golangevtx.GoEvtxMap)["System"].(golangevtx.GoEvtxMap)
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
			if data, ok := (*m)["Event"].(golangevtx.GoEvtxMap)["EventData"].(golangevtx.GoEvtxMap); ok {
				for k, v := range data {
					rec.Data[k] = render(v)
				}
			}
			id, _ := strconv.ParseUint(rec.System["EventRecordID"], 10, 64)
			out[id] = rec
		}
	}
	return out
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

func TestRoundTripGolangEvtx(t *testing.T) {
	evs := sampleEvents()
	_, file := writeFile(t, evs)
	if chunks := (len(file) - evtx.FileHeaderSize) / evtx.ChunkSize; chunks < 4 {
		t.Fatalf("only %d chunks: the test must span several", chunks)
	}
	got := decodeWithGolangEvtx(t, file)
	if len(got) != len(evs) {
		t.Fatalf("golang-evtx decoded %d records, %d written", len(got), len(evs))
	}
	for i, ev := range evs {
		expectRecord(t, "golang-evtx", uint64(i+1), ev, got[uint64(i+1)], 0)
	}
}

// pythonEvtxScript prints every record as JSON with python-evtx, an
// independent implementation of the format.
const pythonEvtxScript = `
import json, sys, xml.etree.ElementTree as ET
import Evtx.Evtx as evtx
ns = "{http://schemas.microsoft.com/win/2004/08/events/event}"
with evtx.Evtx(sys.argv[1]) as log:
    for r in log.records():
        root = ET.fromstring(r.xml())
        system, data = {}, {}
        for el in root.find(ns + "System"):
            tag = el.tag[len(ns):]
            if el.attrib:
                for k, v in el.attrib.items():
                    system["Provider" if (tag, k) == ("Provider", "Name") else k] = v
            else:
                system[tag] = el.text or ""
        for el in root.find(ns + "EventData") or []:
            data[el.get("Name")] = el.text or ""
        print(json.dumps({"system": system, "data": data}))
`

// pythonEvtx runs python-evtx, or skips where it is not installed. CI
// installs it (.ci/run), so there the test never skips.
func pythonEvtx(t *testing.T, path string) []decodedRecord {
	t.Helper()
	cmd := exec.Command("/usr/bin/python3", "-c", pythonEvtxScript, path)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		if strings.Contains(stderr.String(), "No module named 'Evtx'") || os.IsNotExist(err) || strings.Contains(err.Error(), "no such file") {
			if os.Getenv("CI") != "" {
				t.Fatalf("python3-evtx is not installed in CI: %v", err)
			}
			t.Skipf("SKIP: python3-evtx is not installed (apt-get install python3-evtx): %v", err)
		}
		t.Fatalf("python-evtx: %v\n%s", err, stderr.String())
	}
	var recs []decodedRecord
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		var r decodedRecord
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("python-evtx output %q: %v", line, err)
		}
		recs = append(recs, r)
	}
	return recs
}

func TestRoundTripPythonEvtx(t *testing.T) {
	evs := sampleEvents()
	path, _ := writeFile(t, evs)
	got := pythonEvtx(t, path)
	if len(got) != len(evs) {
		t.Fatalf("python-evtx read %d records, %d written", len(got), len(evs))
	}
	// python-evtx converts FILETIME through a float: allow a few microseconds.
	for i, ev := range evs {
		expectRecord(t, "python-evtx", uint64(i+1), ev, got[i], 3*time.Microsecond)
	}
}

func TestDeterministic(t *testing.T) {
	_, a := writeFile(t, sampleEvents())
	_, b := writeFile(t, sampleEvents())
	if !bytes.Equal(a, b) {
		t.Error("the same events written twice differ")
	}
}

func TestInvalidValues(t *testing.T) {
	var buf writerAtBuffer
	wr := NewWriter(&buf)
	ev := Sysmon5("H", t0, Proc{GUID: "not-a-guid"})
	if _, err := wr.Write(ev); err == nil || !strings.Contains(err.Error(), "ProcessGuid") {
		t.Errorf("bad GUID: err = %v", err)
	}
	big := Sysmon5("H", t0, Proc{GUID: "9D3C5C1A-1111-65F0-0000-0010A1B2C3D4", Image: strings.Repeat("x", 32000)})
	if _, err := wr.Write(big); err == nil || !strings.Contains(err.Error(), "more than a chunk") {
		t.Errorf("oversized record: err = %v", err)
	}
}

// writerAtBuffer is an in-memory io.WriterAt.
type writerAtBuffer struct{ b []byte }

func (w *writerAtBuffer) WriteAt(p []byte, off int64) (int, error) {
	if need := int(off) + len(p); need > len(w.b) {
		w.b = append(w.b, make([]byte, need-len(w.b))...)
	}
	return copy(w.b[off:], p), nil
}
