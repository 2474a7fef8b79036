package main

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/evtxhunt/evtxhunt/internal/testevidence"
	w "github.com/evtxhunt/evtxhunt/parser/evtxwrite"
)

// logFile collects a log's events; they are sorted by time and written at
// the end, so scenario code can add events in any order.
type logFile struct {
	rel     string // path inside the evidence folder
	firstID uint64 // the id of the log's first record
	events  []*w.Event
	ids     map[*w.Event]uint64 // filled by write

	// stream, when set, takes events as they come instead: for large
	// benchmark files that must not sit in memory. written, when set, is
	// told each streamed event and its record id.
	stream  *w.Writer
	written func(ev *w.Event, id uint64)
	err     error
}

// newLog is a log of a machine that has run for a while: its record ids
// start past 1, at most span records on, at an id drawn from its path and
// the seed alone, so that the simulation's own draws (every pid and GUID)
// do not depend on it.
func newLog(rel string, seed, span uint64) *logFile {
	h := fnv.New64a()
	h.Write([]byte(rel))
	h.Write(binary.LittleEndian.AppendUint64(nil, seed))
	return &logFile{rel: rel, firstID: 1 + h.Sum64()%span}
}

// Spans of first record ids: busy Security logs are in the millions.
const (
	securitySpan = 3_000_000
	sysmonSpan   = 1_000_000
	rcmSpan      = 5_000
)

func (l *logFile) add(ev *w.Event) *w.Event {
	if l.stream != nil {
		id, err := l.stream.Write(ev)
		if err != nil && l.err == nil {
			l.err = err
		}
		if err == nil && l.written != nil {
			l.written(ev, id)
		}
		return ev
	}
	l.events = append(l.events, ev)
	return ev
}

// write sorts the events by time (stably) and writes them; limit > 0 keeps
// only the first limit records, as an older copy of the same log.
func (l *logFile) write(root string, limit int) error {
	slices.SortStableFunc(l.events, func(a, b *w.Event) int { return a.Time.Compare(b.Time) })
	path := filepath.Join(root, filepath.FromSlash(l.rel))
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	wr := w.NewWriterFrom(f, l.firstID)
	l.ids = map[*w.Event]uint64{}
	for i, ev := range l.events {
		if limit > 0 && i == limit {
			break
		}
		id, err := wr.Write(ev)
		if err != nil {
			f.Close()
			return fmt.Errorf("%s: %w", l.rel, err)
		}
		l.ids[ev] = id
	}
	if err := wr.Close(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// proc is a process alive on a simulated host.
type proc struct {
	w.Proc
	started time.Time
	records []testevidence.Record // the creation records, filled when logs are written
	events  []*w.Event
	logs    []*logFile
}

// host simulates one machine: its logs, its process table and its clock.
type host struct {
	name        string // short name
	domain      string
	ip          string
	secComputer string // how each log spells the computer name
	sysComputer string
	audit       uint8 // 4688 version logged; 0xff when process auditing is off
	sec, sysmon *logFile
	rng         *rand.Rand
	live        map[uint32]*proc
	guidPrefix  string
	guidSeq     uint32
	explorer    map[string]*proc // by user name
	services    *proc
	winlogon    *proc
	dcomLaunch  *proc
	svchosts    []*proc
	clock       time.Time
	exits       []exitAt
	noiseGap    int             // seconds between noise steps, up to
	extraNoise  int             // background records per noise step
	reserved    map[uint32]bool // pids kept for scenario steps
}

const auditOff = 0xff

func newHost(name, ip string, audit uint8, withSysmon bool, seed uint64) *host {
	h := &host{name: name, domain: "corp.local", ip: ip, audit: audit, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		live: map[uint32]*proc{}, explorer: map[string]*proc{}, noiseGap: 60, reserved: map[uint32]bool{}}
	h.secComputer = name + ".corp.local"
	h.sysComputer = name + ".corp.local"
	logs := name + "/C/Windows/System32/winevt/Logs/"
	h.sec = newLog(logs+"Security.evtx", seed, securitySpan)
	if withSysmon {
		h.sysmon = newLog(logs+"Microsoft-Windows-Sysmon%4Operational.evtx", seed, sysmonSpan)
	}
	h.guidPrefix = fmt.Sprintf("%08X", h.rng.Uint32())
	return h
}

// newPID picks a free process id, a multiple of 4 as Windows hands out.
func (h *host) newPID() uint32 {
	for {
		pid := uint32(4 * (100 + h.rng.IntN(4000)))
		if h.live[pid] == nil && !h.reserved[pid] {
			return pid
		}
	}
}

func (h *host) newGUID(t time.Time) string {
	h.guidSeq++
	return fmt.Sprintf("%s-%04X-%04X-%04X-%012X", h.guidPrefix, uint16(t.Unix()>>16), uint16(t.Unix()), 0x1000|h.guidSeq>>16, uint64(h.guidSeq)*0x10001)
}

// start creates a process: a 4688 in the Security log when process auditing
// is on, and a Sysmon 1 a few milliseconds later when Sysmon runs. pid 0
// picks a free one.
func (h *host) start(t time.Time, parent *proc, pid uint32, image, cmdline string, user w.Account, logonID uint64, integrity string) *proc {
	if pid == 0 {
		pid = h.newPID()
	}
	dir := `C:\Windows\system32\`
	if parent != nil && parent.CurrentDirectory != "" {
		dir = parent.CurrentDirectory
	}
	p := &proc{Proc: w.Proc{PID: pid, Image: image, CommandLine: cmdline, CurrentDirectory: dir, User: user, LogonID: logonID,
		LogonGUID: h.newGUID(t), GUID: h.newGUID(t), Integrity: integrity, Elevation: "%%1936", SessionID: 0,
		Hashes: fakeHashes(image), FileVersion: "10.0.19041.1", Description: baseName(image), Product: "Microsoft® Windows® Operating System",
		Company: "Microsoft Corporation", OriginalFileName: baseName(image)}, started: t}
	if user.SID != "S-1-5-18" && user.SID != "S-1-5-19" && user.SID != "S-1-5-20" {
		p.SessionID = 1
		if integrity == "Medium" {
			p.Elevation = "%%1938"
		} else {
			p.Elevation = "%%1937"
		}
	}
	par := parent
	if par == nil {
		par = &proc{Proc: w.Proc{PID: 4, Image: "System", User: w.Account{Domain: "NT AUTHORITY", Name: "SYSTEM", SID: "S-1-5-18"}, LogonID: 0x3e7, GUID: h.newGUID(t)}}
	}
	h.live[pid] = p
	if h.audit != auditOff {
		ev := h.sec.add(w.Security4688(h.secComputer, t, h.audit, p.Proc, par.Proc))
		p.remember(ev, h.sec)
	}
	if h.sysmon != nil {
		lag := time.Duration(3+h.rng.IntN(40)) * time.Millisecond
		ev := h.sysmon.add(w.Sysmon1(h.sysComputer, t.Add(lag), p.Proc, par.Proc))
		p.remember(ev, h.sysmon)
	}
	return p
}

// exit ends a process: 4689 and Sysmon 5.
func (h *host) exit(t time.Time, p *proc) {
	if h.live[p.PID] == p {
		delete(h.live, p.PID)
	}
	if h.audit != auditOff {
		h.sec.add(w.Security4689(h.secComputer, t, p.Proc))
	}
	if h.sysmon != nil {
		h.sysmon.add(w.Sysmon5(h.sysComputer, t.Add(2*time.Millisecond), p.Proc))
	}
}

func baseName(image string) string {
	if i := strings.LastIndexAny(image, `\/`); i >= 0 {
		return image[i+1:]
	}
	return image
}

func fakeHashes(image string) string {
	var h uint64 = 1469598103934665603
	for _, c := range strings.ToLower(baseName(image)) {
		h = (h ^ uint64(c)) * 1099511628211
	}
	return fmt.Sprintf("SHA1=%016X%016X%08X,MD5=%016X%016X,SHA256=%016X%016X%016X%016X,IMPHASH=%016X%016X",
		h, h*3, uint32(h*5), h*7, h*11, h*13, h*17, h*19, h*23, h*29, h*31)
}

// remember keeps a creation record for the manifest; streamed logs keep none.
func (p *proc) remember(ev *w.Event, l *logFile) {
	if l.stream == nil {
		p.events, p.logs = append(p.events, ev), append(p.logs, l)
	}
}

// refs resolves a process's creation records once the logs are written.
func (p *proc) refs() []testevidence.Record {
	var out []testevidence.Record
	for i, ev := range p.events {
		out = append(out, testevidence.Record{File: p.logs[i].rel, RecordID: p.logs[i].ids[ev]})
	}
	slices.SortFunc(out, func(a, b testevidence.Record) int {
		return cmp.Or(cmp.Compare(a.File, b.File), cmp.Compare(a.RecordID, b.RecordID))
	})
	return out
}
