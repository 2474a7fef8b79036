package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	w "github.com/evtxhunt/evtxhunt/parser/evtxwrite"

	"github.com/evtxhunt/evtxhunt/internal/testevidence"
	"github.com/evtxhunt/evtxhunt/parser"
	"github.com/evtxhunt/evtxhunt/parser/evtx"
)

// hostileCase is one crafted file of testdata/hostile. Adding a case is
// adding an entry to hostileCases.
type hostileCase struct {
	name string // the file is name.evtx
	what string // the attack, for the manifest
	// chunks is, for an attack in chunks of their own, how many the
	// committed file holds (-chunks sets another number); 0 when the
	// attack is the whole file.
	chunks int
	// build writes the file in memory, with chunks hostile chunks.
	build func(chunks int) (*hostileFile, error)
}

// hostileFile is a crafted file and what a reader must make of it.
type hostileFile struct {
	data          []byte
	hostileChunks []int                  // slots the reader must report, failed or wiped
	processEvents uint64                 // Security 4688 records it must find
	findings      []testevidence.Finding // findings it must raise from the file's records
	conflicts     []testevidence.Conflict
}

var hostileCases = []hostileCase{
	{
		name: "self-referencing-template", chunks: 1,
		what: "a template definition holding a template instance of itself (issue 12, item 1)",
		build: chunkAttack(func(wr *w.Writer, t time.Time) error {
			_, err := wr.WriteSelfReferencingTemplate(t)
			return err
		}),
	},
	{
		name: "negative-template-size", chunks: 1,
		what: fmt.Sprintf("template definitions of size %d, one of them placed so that stepping back by it reads its instance again (issue 12, item 2)", w.NegativeTemplateSize),
		build: chunkAttack(func(wr *w.Writer, t time.Time) error {
			return wr.WriteNegativeTemplateSize(hostileProcess(t, 0))
		}),
	},
	{
		name: "many-value-descriptors", chunks: 2,
		what: fmt.Sprintf("one record per chunk with %d value descriptors, most of them for values that are not there (issue 12, item 5)", manyDescriptors),
		build: chunkAttack(func(wr *w.Writer, t time.Time) error {
			_, err := wr.WriteManyDescriptors(hostileProcess(t, 0), manyDescriptors)
			return err
		}),
	},
	{
		name: "cleared-first",
		what: fmt.Sprintf("a Security log whose first chunk holds only \"log cleared\" records (1102), then %d process creations (issue 12, item 8)", hostileProcesses),
		build: func(int) (*hostileFile, error) {
			b, err := w.ClearedFirstLog("CLEARED01", hostileTime, hostileProcesses)
			return &hostileFile{data: b, processEvents: hostileProcesses}, err
		},
	},
	{
		name: "planted-template",
		what: "process creations whose template has the GUID and size of the genuine 4688 template but its EventID and Version swapped: read alone, no process creation; it must change how no other file is read (issue 12, item 6)",
		build: func(int) (*hostileFile, error) {
			b, err := w.PlantedTemplateLog("PLANTED01", hostileTime, hostileProcesses)
			return &hostileFile{data: b}, err
		},
	},
	{
		name: "planted-name",
		what: "process creations whose 4688 template has the genuine definition bytes but points to a name renamed Datb: read alone, processes without an image; it must change how no other file is read (issue 12, item 6)",
		build: func(int) (*hostileFile, error) {
			b, err := w.PlantedNameLog("PLANTED02", hostileTime, hostileProcesses)
			return &hostileFile{data: b, processEvents: hostileProcesses}, err
		},
	},
	{
		name: "wiped-chunk",
		what: "a Security log whose first chunk is all zeros, inside the header's chunk count and before a chunk of process creations (issue 12, item 9)",
		build: func(int) (*hostileFile, error) {
			b, err := w.WipedChunkLog("WIPED01", hostileTime, wipedProcesses, 0)
			if err != nil {
				return nil, err
			}
			// Every record is a process creation: those after chunk 0 remain.
			f := &hostileFile{data: b, hostileChunks: []int{0}}
			for i := 1; evtx.FileHeaderSize+i*evtx.ChunkSize < len(b); i++ {
				n, err := w.ChunkRecords(b, i)
				if err != nil {
					return nil, err
				}
				f.processEvents += n
			}
			return f, nil
		},
	},
	{
		name:  "planted-conflict",
		what:  "the 4688 of WKS01's netscan.exe in testdata/evidence (same host, record id, time and pid) with notepad.exe in its place: both versions must be kept and reported as conflicting, and the attack still found (issue 12, item 7)",
		build: plantedConflictLog,
	},
	{
		name:  "pid-reuse-after-child",
		what:  "4688 v1: netscan.exe starts mstsc.exe and exits; notepad.exe reuses its pid 1.5 s after mstsc.exe started: mstsc.exe's parent is still netscan.exe (issue 12, item 11)",
		build: pidReuseLog,
	},
}

const manyDescriptors = 15000

// hostileProcesses is how many ordinary process creations the logs that
// hide or plant them hold; wipedProcesses fill a chunk and part of another.
const (
	hostileProcesses = 20
	wipedProcesses   = 200
)

var hostileTime = day.Add(9 * time.Hour)

// generateHostile writes every case whose name is only (all when empty) to
// dir, each attack in chunks of its own with chunks hostile chunks (each
// case's own count when 0), and the manifest EXPECTED.json, as testevidence
// defines it for the tests that scan the files.
func generateHostile(dir, only string, chunks int) (*testevidence.Hostile, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	m := &testevidence.Hostile{Description: "crafted EVTX files that attack the reader; written by go generate ./cmd/evtxgen"}
	for _, c := range hostileCases {
		if only != "" && c.name != only {
			continue
		}
		n := c.chunks
		if chunks > 0 && n > 0 {
			n = chunks
		}
		f, err := c.build(n)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", c.name, err)
		}
		facts, err := f.facts(c)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", c.name, err)
		}
		if err := os.WriteFile(filepath.Join(dir, facts.File), f.data, 0o644); err != nil {
			return nil, err
		}
		m.Files = append(m.Files, facts)
	}
	if len(m.Files) == 0 {
		return nil, fmt.Errorf("no hostile case named %q", only)
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	return m, os.WriteFile(filepath.Join(dir, testevidence.ManifestName), append(b, '\n'), 0o644)
}

// facts describes the file for the manifest: where its hostile chunks are
// and how many records the others hold, as their headers say.
func (f *hostileFile) facts(c hostileCase) (testevidence.HostileFile, error) {
	facts := testevidence.HostileFile{File: c.name + ".evtx", What: c.what, ProcessEvents: f.processEvents, Findings: f.findings, Conflicts: f.conflicts}
	slots := (len(f.data) - evtx.FileHeaderSize) / evtx.ChunkSize
	for i := range slots {
		if slices.Contains(f.hostileChunks, i) {
			facts.HostileChunks = append(facts.HostileChunks, testevidence.Chunk{Index: i, Offset: evtx.FileHeaderSize + int64(i)*evtx.ChunkSize})
			continue
		}
		n, err := w.ChunkRecords(f.data, i)
		if err != nil {
			return facts, err
		}
		facts.Records += n
	}
	return facts, nil
}

// chunkAttack makes a case of hostile chunks, each written by write. A
// reader fails such a chunk whole; the other files of a scan show that it
// goes on (the crafted files are kept to a chunk each where they can be,
// for the repository's sake).
func chunkAttack(write func(wr *w.Writer, t time.Time) error) func(chunks int) (*hostileFile, error) {
	return func(chunks int) (*hostileFile, error) {
		var buf w.Buffer
		wr := w.NewWriter(&buf)
		f := &hostileFile{}
		t := hostileTime
		for i := range chunks {
			f.hostileChunks = append(f.hostileChunks, i)
			t = t.Add(time.Second)
			if err := write(wr, t); err != nil {
				return nil, err
			}
			if err := wr.EndChunk(); err != nil {
				return nil, err
			}
		}
		if err := wr.Close(); err != nil {
			return nil, err
		}
		f.data = buf.Bytes()
		return f, nil
	}
}

// hostileProcess is an ordinary 4688 process creation, the n-th of its file.
func hostileProcess(t time.Time, n int) *w.Event {
	user := w.Account{Domain: "CORP", Name: "alice", SID: "S-1-5-21-1004336348-1177238915-682003330-1104"}
	parent := w.Proc{PID: 0x1000, Image: `C:\Windows\explorer.exe`, User: user, LogonID: 0x3e7a1}
	child := w.Proc{PID: 0x2000 + 4*uint32(n), Image: `C:\Windows\System32\cmd.exe`, CommandLine: fmt.Sprintf(`cmd.exe /c echo %d`, n),
		User: user, LogonID: 0x3e7a1, Integrity: "Medium", Elevation: "%%1938"}
	return w.Security4688("HOSTILE01", t, 2, child, parent)
}

// writeEvents writes events as a whole file numbered from first.
func writeEvents(first uint64, evs ...*w.Event) ([]byte, error) {
	var buf w.Buffer
	wr := w.NewWriter(&buf)
	if err := wr.NumberFrom(first); err != nil {
		return nil, err
	}
	for _, ev := range evs {
		if _, err := wr.Write(ev); err != nil {
			return nil, err
		}
	}
	if err := wr.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// plantedConflictLog writes the incident of testdata/evidence (into a
// temporary folder, removed after) to take the 4688 of its first seed
// finding's parent, and plants a version of that record with notepad.exe in
// netscan.exe's place: same host, record id, time and pid.
func plantedConflictLog(int) (*hostileFile, error) {
	tmp, err := os.MkdirTemp("", "evtxgen-incident-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	m, _, err := generateIncident(tmp, 1)
	if err != nil {
		return nil, err
	}
	p := m.seedParent
	var genuine *w.Event
	var log *logFile
	for i, ev := range p.events {
		if ev.Provider == w.SecurityProvider {
			genuine, log = ev, p.logs[i]
		}
	}
	if genuine == nil {
		return nil, fmt.Errorf("the seed finding's parent %s has no 4688", p.Image)
	}
	const notepad = `C:\Windows\System32\notepad.exe`
	planted := *genuine
	planted.Data = slices.Clone(genuine.Data)
	replaced := 0
	for i, fd := range planted.Data {
		switch fd.Name {
		case "NewProcessName":
			planted.Data[i].Value = w.String(notepad)
			replaced++
		case "CommandLine":
			planted.Data[i].Value = w.String(`"C:\Windows\system32\notepad.exe" `)
			replaced++
		}
	}
	if replaced != 2 {
		return nil, fmt.Errorf("the 4688 of %s has %d of NewProcessName and CommandLine", p.Image, replaced)
	}
	id := log.ids[genuine]
	conflict := testevidence.Conflict{Host: m.Hosts[0].Name, RecordID: id, Time: p.started.Format(parser.TimeLayout), PID: p.PID, Image: notepad,
		Genuine: []testevidence.Record{{File: log.rel, RecordID: id}}, GenuineImage: p.Image}
	for _, l := range m.Hosts[0].Logs {
		if l.CopyOf == log.rel && id < log.firstID+uint64(l.Records) { // the copy shares the log's ids
			conflict.Genuine = append(conflict.Genuine, testevidence.Record{File: l.File, RecordID: id})
		}
	}
	b, err := writeEvents(id, &planted)
	return &hostileFile{data: b, processEvents: 1, conflicts: []testevidence.Conflict{conflict}}, err
}

// pidReuseLog is a 4688 v1 log in which netscan.exe starts mstsc.exe and
// exits, and notepad.exe gets netscan.exe's pid 1.5 s after mstsc.exe
// started. Version 1 names no parent image: only times tell the parents.
func pidReuseLog(int) (*hostileFile, error) {
	const host, file = "LEGACY02", "pid-reuse-after-child.evtx"
	user := w.Account{Domain: "CORP", Name: "alice", SID: "S-1-5-21-1004336348-1177238915-682003330-1104"}
	proc := func(pid uint32, image, cmd string) w.Proc {
		return w.Proc{PID: pid, Image: image, CommandLine: cmd, User: user, LogonID: 0x3e7a1, Integrity: "Medium", Elevation: "%%1938"}
	}
	explorer := proc(0x900, `C:\Windows\explorer.exe`, `C:\Windows\Explorer.EXE`)
	netscan := proc(0x1100, `C:\Users\alice\Downloads\netscan.exe`, `"C:\Users\alice\Downloads\netscan.exe" `)
	mstsc := proc(0x1200, sys32+"mstsc.exe", `"C:\Windows\system32\mstsc.exe" /v:SRV11`)
	notepad := proc(netscan.PID, sys32+"notepad.exe", `"C:\Windows\system32\notepad.exe" `)
	at := func(sec float64) time.Time { return hostileTime.Add(time.Duration(sec * float64(time.Second))) }
	b, err := writeEvents(1,
		w.Security4688(host, at(0), 1, netscan, explorer),
		w.Security4688(host, at(1), 1, mstsc, netscan),
		w.Security4689(host, at(2), netscan),
		w.Security4688(host, at(2.5), 1, notepad, explorer),
	)
	ref := func(p w.Proc, id uint64) *testevidence.Process {
		return &testevidence.Process{Image: p.Image, CommandLine: p.CommandLine, PID: p.PID, User: user.Domain + `\` + user.Name,
			Records: []testevidence.Record{{File: file, RecordID: id}}}
	}
	var findings []testevidence.Finding
	for _, rule := range []string{ruleNetscanMstsc, ruleDetect("mstsc-unusual-parent")} {
		findings = append(findings, testevidence.Finding{Rule: rule, What: "netscan.exe spawned mstsc.exe; its pid reused after", Host: host,
			Time: at(1).Format(parser.TimeLayout), NextHop: "SRV11", Parent: ref(netscan, 1), Process: *ref(mstsc, 2)})
	}
	return &hostileFile{data: b, processEvents: 3, findings: findings}, err
}
