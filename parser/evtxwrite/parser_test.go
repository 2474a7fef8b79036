package evtxwrite

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/evtxhunt/evtxhunt/parser"
	"github.com/evtxhunt/evtxhunt/parser/evtx"
)

func scan(t *testing.T, path string) ([]parser.ProcessEvent, *parser.FileStats) {
	t.Helper()
	var evs []parser.ProcessEvent
	stats, err := parser.NewScanner(parser.Options{Workers: 2}).Scan(context.Background(), []string{path}, func(ev *parser.ProcessEvent) error {
		evs = append(evs, *ev)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return evs, stats[0]
}

func eventData(ev *Event, name string) string {
	for _, f := range ev.Data {
		if f.Name == name {
			return f.Value.Text()
		}
	}
	return ""
}

// TestParserReadsWrittenEvents holds the parser's normalization to what was
// written, for every 4688 version and Sysmon 1.
func TestParserReadsWrittenEvents(t *testing.T) {
	evs := sampleEvents()
	path, _ := writeFile(t, evs)
	all, stats := scan(t, path)
	if !stats.Clean() || stats.Records.Decoded != uint64(len(evs)) {
		t.Fatalf("stats: %+v, errors %v", stats.Records, stats.Errors)
	}
	var got, exits []parser.ProcessEvent
	for _, ev := range all {
		if ev.Source.IsExit() {
			exits = append(exits, ev)
		} else {
			got = append(got, ev)
		}
	}
	var want, wantExits []*Event
	var ids []uint64
	for i, ev := range evs {
		switch ev.EventID {
		case 4688, 1:
			want = append(want, ev)
			ids = append(ids, uint64(i+1))
		case 4689, 5:
			wantExits = append(wantExits, ev)
		}
	}
	if len(exits) != len(wantExits) {
		t.Fatalf("%d exits, %d written", len(exits), len(wantExits))
	}
	for i, g := range exits {
		w := wantExits[i]
		image, pid, user := eventData(w, "Image"), eventData(w, "ProcessId"), eventData(w, "User")
		if w.EventID == 4689 {
			image, user = eventData(w, "ProcessName"), eventData(w, "SubjectDomainName")+`\`+eventData(w, "SubjectUserName")
			pid = strconvU(uint64(mustHex(t, pid)), 10)
		}
		if g.Image != image || itoa(g.PID) != pid || g.User != user || !g.Time.Equal(w.Time) {
			t.Errorf("exit %d: got %s pid %d %s at %v; want %s pid %s %s at %v", i, g.Image, g.PID, g.User, g.Time, image, pid, user, w.Time)
		}
		if (w.EventID == 5) != (g.Source == parser.SourceSysmon5) || w.EventID == 5 && "{"+strings.ToLower(g.ProcessGUID)+"}" != eventData(w, "ProcessGuid") {
			t.Errorf("exit %d: source %s guid %s", i, g.Source, g.ProcessGUID)
		}
	}
	if len(got) != len(want) {
		t.Fatalf("%d process events, %d written", len(got), len(want))
	}
	census := 0
	for _, row := range stats.Census.Rows() {
		census += int(row.Records)
	}
	kinds := map[parser.CensusKey]bool{}
	for _, ev := range evs {
		kinds[parser.CensusKey{Channel: ev.Channel, Provider: ev.Provider, EventID: ev.EventID}] = true
	}
	if census != len(evs) || len(stats.Census) != len(kinds) {
		t.Errorf("census: %d records in %d kinds: %v", census, len(stats.Census), stats.Census.Rows())
	}
	for i, g := range got {
		w := want[i]
		sysmon := w.EventID == 1
		if g.RecordID != ids[i] || g.RecordNumber != ids[i] || g.Host != w.Computer || !g.Time.Equal(w.Time) || g.Version != w.Version {
			t.Errorf("event %d: header fields %+v", i, g)
		}
		field := func(name, got, want string) {
			if got != want {
				t.Errorf("record %d (%d v%d) %s = %q, want %q", g.RecordID, w.EventID, w.Version, name, got, want)
			}
		}
		if sysmon {
			field("source", string(g.Source), "sysmon-1")
			field("image", g.Image, eventData(w, "Image"))
			field("parent image", g.ParentImage, eventData(w, "ParentImage"))
			field("command line", g.CommandLine, eventData(w, "CommandLine"))
			field("parent command line", g.ParentCommandLine, eventData(w, "ParentCommandLine"))
			field("user", g.User, eventData(w, "User"))
			field("integrity", g.IntegrityLevel, eventData(w, "IntegrityLevel"))
			field("guid", "{"+strings.ToLower(g.ProcessGUID)+"}", eventData(w, "ProcessGuid"))
			field("parent guid", "{"+strings.ToLower(g.ParentProcessGUID)+"}", eventData(w, "ParentProcessGuid"))
			field("pid", itoa(g.PID), eventData(w, "ProcessId"))
			field("ppid", itoa(g.PPID), eventData(w, "ParentProcessId"))
			field("hashes", g.Hashes, eventData(w, "Hashes"))
			continue
		}
		field("source", string(g.Source), "security-4688")
		field("image", g.Image, eventData(w, "NewProcessName"))
		field("command line", g.CommandLine, eventData(w, "CommandLine"))
		field("pid", hex(uint64(g.PID)), eventData(w, "NewProcessId"))
		field("ppid", hex(uint64(g.PPID)), eventData(w, "ProcessId"))
		field("subject sid", g.SubjectUserSID, eventData(w, "SubjectUserSid"))
		field("subject", g.SubjectUser, eventData(w, "SubjectDomainName")+`\`+eventData(w, "SubjectUserName"))
		field("parent image", g.ParentImage, eventData(w, "ParentProcessName"))
		wantUser, wantSID := g.SubjectUser, g.SubjectUserSID
		if w.Version == 2 && eventData(w, "TargetUserSid") != "S-1-0-0" {
			wantUser, wantSID = eventData(w, "TargetDomainName")+`\`+eventData(w, "TargetUserName"), eventData(w, "TargetUserSid")
			field("logon id", hex(g.LogonID), eventData(w, "TargetLogonId"))
		} else {
			field("logon id", hex(g.LogonID), eventData(w, "SubjectLogonId"))
		}
		field("user", g.User, wantUser)
		field("user sid", g.UserSID, wantSID)
		if w.Version == 2 {
			field("integrity", g.IntegrityLevel, map[string]string{"S-1-16-4096": "Low", "S-1-16-8192": "Medium", "S-1-16-12288": "High", "S-1-16-16384": "System"}[eventData(w, "MandatoryLabel")])
		}
		field("elevation", g.TokenElevation, "TokenElevationTypeDefault")
	}
}

func itoa(v uint32) string { return strconvU(uint64(v), 10) }
func hex(v uint64) string  { return "0x" + strconvU(v, 16) }

// TestParserOnDamagedFiles applies each kind of damage to a generated file
// and checks that the parser counts exactly what it should and reads the rest.
func TestParserOnDamagedFiles(t *testing.T) {
	evs := sampleEvents()
	_, clean := writeFile(t, evs)
	chunks := (len(clean) - evtx.FileHeaderSize) / evtx.ChunkSize
	perChunk := make([]uint64, chunks)
	for i := range perChunk {
		c := clean[evtx.FileHeaderSize+i*evtx.ChunkSize:]
		perChunk[i] = le.Uint64(c[16:]) - le.Uint64(c[8:]) + 1
	}
	total := uint64(len(evs))

	b := append([]byte(nil), clean...)
	MarkDirty(b, 1)
	if err := BreakChunkCRC(b, 1); err != nil {
		t.Fatal(err)
	}
	if err := ZeroChunk(b, 2); err != nil {
		t.Fatal(err)
	}
	garbled, err := GarbleRecord(b, 0, lastTemplateUser(t, clean)) // its loss must not spread
	if err != nil {
		t.Fatal(err)
	}
	last := chunks - 1
	lastRecord := int(le.Uint32(clean[evtx.FileHeaderSize+last*evtx.ChunkSize+44:]))
	b = TruncateInChunk(b, last, lastRecord+8) // in the chunk's last record
	path := filepath.Join(t.TempDir(), "damaged.evtx")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	_, s := scan(t, path)

	if s.Header == nil || !s.Header.Dirty || s.Header.ChunkCount != 1 || !s.Header.ChecksumOK {
		t.Errorf("header = %+v", s.Header)
	}
	// The garbled record's chunk goes from the native decoder to golang-evtx.
	wantChunks := parser.ChunkCounts{Slots: chunks, Decoded: chunks - 1, Empty: 1, DataCRCFailures: 1, Truncated: 1, PastHeaderCount: chunks - 2, Fallback: 1}
	if s.Chunks != wantChunks {
		t.Errorf("chunks = %+v\nwant     %+v", s.Chunks, wantChunks)
	}
	if s.Records.Seen >= total-perChunk[2] || s.Records.Seen <= total-perChunk[2]-perChunk[last] {
		t.Errorf("seen %d: want all but chunk 2's %d and part of the truncated chunk's %d, of %d", s.Records.Seen, perChunk[2], perChunk[last], total)
	}
	if s.Records.Failed != 1 || s.Records.Decoded != s.Records.Seen-1 {
		t.Errorf("records = %+v, want exactly the garbled one failed", s.Records)
	}
	kinds := map[parser.ErrorKind]int{}
	for _, e := range s.Errors {
		kinds[e.Kind]++
		if (e.Kind == parser.KindRecord || e.Kind == parser.KindPanic) && e.RecordID != garbled {
			t.Errorf("record error names record %d, garbled %d", e.RecordID, garbled)
		}
	}
	if kinds[parser.KindRecord]+kinds[parser.KindPanic] != 1 || kinds[parser.KindChunkData] != 1 || kinds[parser.KindTruncated] != 1 {
		t.Errorf("errors by kind %v: %v", kinds, s.Errors)
	}
}

func strconvU(v uint64, base int) string { return strconv.FormatUint(v, base) }

// TestGarbledTemplateDefinition garbles the record that defines a template:
// every later record of the chunk that uses the template is lost with it, and
// each is reported.
func TestGarbledTemplateDefinition(t *testing.T) {
	evs := sampleEvents()
	_, b := writeFile(t, evs)
	garbled, err := GarbleRecord(b, 0, 3)
	if err != nil {
		t.Fatal(err)
	}
	if evs[garbled-1].EventID != 5 {
		t.Fatalf("record %d is event %d, the test expects the first Sysmon 5", garbled, evs[garbled-1].EventID)
	}
	lastInChunk0 := le.Uint64(b[evtx.FileHeaderSize+16:])
	var want []uint64
	for id := garbled; id <= lastInChunk0; id++ {
		if evs[id-1].EventID == 5 {
			want = append(want, id)
		}
	}
	path := filepath.Join(t.TempDir(), "garbled.evtx")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	_, s := scan(t, path)
	// An error that differs from an earlier one only in its numbers is
	// counted on it: each record is reported, the first of each kind listed.
	var listed []uint64
	reported := 0
	for _, e := range s.Errors {
		if e.Kind == parser.KindRecord || e.Kind == parser.KindPanic {
			listed = append(listed, e.RecordID)
			reported += 1 + e.Repeats
		}
	}
	inWant := func(id uint64) bool { return slices.Contains(want, id) }
	if len(want) < 2 || reported != len(want) || len(listed) == 0 || listed[0] != want[0] || !slices.IsSorted(listed) ||
		slices.IndexFunc(listed, func(id uint64) bool { return !inWant(id) }) >= 0 || s.Records.Failed != uint64(len(want)) {
		t.Errorf("failed records %v listed, %d reported (count %d), want the Sysmon 5 records of chunk 0 from the garbled one: %v", listed, reported, s.Records.Failed, want)
	}
}

// lastTemplateUser finds the last record of chunk 0 that defines no
// template, neither the System template nor its EventData template (a
// record defining a template takes every later user of it down with it).
func lastTemplateUser(t *testing.T, file []byte) int {
	c := file[evtx.FileHeaderSize : evtx.FileHeaderSize+evtx.ChunkSize]
	defines := func(instance int) bool { return int(le.Uint32(c[instance+6:])) == instance+10 }
	last := -1
	for i, off := 0, evtx.ChunkTablesEnd; off < int(le.Uint32(c[48:])); i++ {
		system := off + evtx.RecordHeaderLen + 4 // after the fragment header
		if !defines(system) {
			// The System values: their count, descriptors, then data;
			// the last holds the EventData fragment and its instance.
			n := int(le.Uint32(c[system+10:]))
			data := system + 14 + 4*n
			for j := range n - 1 {
				data += int(le.Uint16(c[system+14+4*j:]))
			}
			if !defines(data + 4) {
				last = i
			}
		}
		off += int(le.Uint32(c[off+4:]))
	}
	if last < 1 {
		t.Fatal("no record of chunk 0 reuses its templates")
	}
	return last
}

func mustHex(t *testing.T, s string) uint64 {
	v, err := strconv.ParseUint(strings.TrimPrefix(s, "0x"), 16, 64)
	if err != nil {
		t.Fatalf("%q: %v", s, err)
	}
	return v
}

// TestClearedFirstLogIsReadWhole: a Security log whose first chunk holds
// only "log cleared" records gives every process creation after it.
func TestClearedFirstLogIsReadWhole(t *testing.T) {
	const processes = 1503
	b, err := ClearedFirstLog("DC01", t0, processes)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "Security.evtx")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	evs, s := scan(t, path)
	lastOfChunk0 := le.Uint64(b[evtx.FileHeaderSize+16:])
	cleared := s.Census[parser.CensusKey{Channel: SecurityChannel, Provider: EventlogProvider, EventID: 1102}]
	if s.Chunks.Slots < 6 || cleared <= lastOfChunk0 || len(s.Census) != 2 {
		t.Fatalf("not the crafted shape: %d slots, %d records in chunk 0, census %v", s.Chunks.Slots, lastOfChunk0, s.Census)
	}
	if len(evs) != processes || s.ProcessEvents[parser.SourceSecurity4688] != processes || !s.Clean() || evs[0].RecordNumber <= lastOfChunk0 {
		t.Errorf("%d process events (%v), want %d after chunk 0; errors %v", len(evs), s.ProcessEvents, processes, s.Errors)
	}
}

// TestDecodersAgreeOnDamage: the native decoder and golang-evtx give the
// same process events on a damaged file (the chunks the native decoder
// refuses go to golang-evtx).
func TestDecodersAgreeOnDamage(t *testing.T) {
	_, b := writeFile(t, sampleEvents())
	MarkDirty(b, 2)
	if err := BreakChunkCRC(b, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := GarbleRecord(b, 2, 5); err != nil {
		t.Fatal(err)
	}
	b = TruncateInChunk(b, 6, 20000)
	path := filepath.Join(t.TempDir(), "damaged.evtx")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	events := map[string][]parser.ProcessEvent{}
	for _, decoder := range []string{parser.DecoderNative, parser.DecoderGolangEvtx} {
		if _, err := parser.NewScanner(parser.Options{Decoder: decoder}).Scan(context.Background(), []string{path}, func(ev *parser.ProcessEvent) error {
			events[decoder] = append(events[decoder], *ev)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	a, g := events[parser.DecoderNative], events[parser.DecoderGolangEvtx]
	if len(a) < 100 || len(a) != len(g) {
		t.Fatalf("native %d events, golang-evtx %d", len(a), len(g))
	}
	for i := range a {
		if a[i] != g[i] {
			t.Fatalf("event %d:\nnative      %+v\ngolang-evtx %+v", i, a[i], g[i])
		}
	}
}

// TestNumberFrom: a log numbered from 434 holds records 434 on, in its
// records and its chunk headers, and NumberFrom comes before any record.
func TestNumberFrom(t *testing.T) {
	const first, n = 434, 400
	var buf Buffer
	w := NewWriter(&buf)
	if err := w.NumberFrom(first); err != nil {
		t.Fatal(err)
	}
	for _, ev := range ProcessCreations("DC01", t0, n, 2) {
		if _, err := w.Write(ev); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.NumberFrom(1); err == nil {
		t.Error("NumberFrom after a record accepted")
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	path := filepath.Join(t.TempDir(), "Security.evtx")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	evs, s := scan(t, path)
	if len(evs) != n || !s.Clean() || evs[0].RecordNumber != first || evs[n-1].RecordNumber != first+n-1 {
		t.Fatalf("%d events, records %d to %d, errors %v; want %d from %d", len(evs), evs[0].RecordNumber, evs[len(evs)-1].RecordNumber, s.Errors, n, first)
	}
	var total uint64
	for i := range s.Chunks.Slots {
		c, err := ChunkRecords(b, i)
		if err != nil {
			t.Fatal(err)
		}
		total += c
	}
	if s.Chunks.Slots < 2 || total != n {
		t.Errorf("chunk headers count %d records in %d chunks, want %d", total, s.Chunks.Slots, n)
	}
	if err := ZeroChunk(b, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := ChunkRecords(b, 0); err == nil {
		t.Error("a wiped chunk has records")
	}
	if err := NewWriter(&Buffer{}).NumberFrom(0); err == nil {
		t.Error("record id 0 accepted")
	}
}
