package timeline

import (
	"cmp"
	"hash/maphash"
	"slices"
	"strings"
	"time"

	"github.com/evtxhunt/evtxhunt/parser"
)

// Options tune how records are joined.
type Options struct {
	// MergeWindow is how far apart in time a Security 4688 and a Sysmon 1 of
	// the same process may be logged (same host, pid and image). It is also
	// how far apart two processes claiming one GUID may start before the
	// GUID counts as reused. Default 2s.
	MergeWindow time.Duration
	// SkewTolerance is how far after its child a parent's creation may be
	// logged and still be taken as the parent (with an ambiguous link).
	// Default 2s.
	SkewTolerance time.Duration
}

// Builder collects process events and builds the timeline.
type Builder struct {
	opts    Options
	hosts   map[string]*hostBuilder // by short name: spellings are told apart in Build
	interns map[string]string
	seed    maphash.Seed
	dupes   int
}

type hostBuilder struct {
	creations    []*Process
	exits        []exitRecord
	seen         map[recordKey]*Process    // the first version of each record
	versions     map[recordKey]*versionSet // records read in more than one version
	seenExit     map[recordKey]int         // index in exits
	exitVers     map[recordKey][]int       // exits read in more than one version: every version
	exitByHash   map[exitVersion]int       // those versions by content
	spellings    map[string]int32          // index in spellingList
	spellingList []string
}

// versionSet holds the versions of a record that files disagree on.
type versionSet struct {
	procs  []*Process
	byHash map[uint64]*Process
}

type exitVersion struct {
	key  recordKey
	hash uint64
}

// exitRecord is what a 4689 or Sysmon 5 tells: which process ended, when.
// It keeps where it was read (the first copy by file name) for the report
// of a conflict, and its content's hash to tell copies from versions.
type exitRecord struct {
	sec      int64 // Unix time
	hash     uint64
	offset   int64
	nsec     int32
	pid      uint32
	chunk    int32
	spelling int32 // of the host, in hostBuilder.spellingList
	guid     string
	image    string
	file     string
}

// recordKey identifies a record whichever file it was read from. The time
// is kept whole: Unix nanoseconds overflow past 2262, and a FILETIME can
// say 30828.
type recordKey struct {
	source   parser.Source
	recordID uint64
	sec      int64
	nsec     int32
	pid      uint32
}

func (k recordKey) time() time.Time { return time.Unix(k.sec, int64(k.nsec)).UTC() }

// NewBuilder returns an empty Builder.
func NewBuilder(o Options) *Builder {
	if o.MergeWindow <= 0 {
		o.MergeWindow = 2 * time.Second
	}
	if o.SkewTolerance <= 0 {
		o.SkewTolerance = 2 * time.Second
	}
	return &Builder{opts: o, hosts: map[string]*hostBuilder{}, interns: map[string]string{}, seed: maphash.MakeSeed()}
}

// intern keeps one copy of each repeated string (images, users, files),
// which is most of a timeline's memory.
func (b *Builder) intern(s string) string {
	if s == "" {
		return ""
	}
	if v, ok := b.interns[s]; ok {
		return v
	}
	s = strings.Clone(s)
	b.interns[s] = s
	return s
}

// content is what a record says, without where it was read: two records
// are copies of one another exactly when their contents are equal.
func content(ev *parser.ProcessEvent) parser.ProcessEvent {
	c := *ev
	c.File, c.Chunk, c.Offset, c.RecordNumber = "", 0, 0, 0
	c.Time = ev.Time.UTC().Round(0) // one representation per instant
	return c
}

func sameContent(a, b *parser.ProcessEvent) bool { return content(a) == content(b) }

func (b *Builder) contentHash(ev *parser.ProcessEvent) uint64 {
	return maphash.Comparable(b.seed, content(ev))
}

// Add takes one event. The event is copied: the parser's events are only
// valid during its callback. A record read again from another file is a
// copy when its content is the same, and a conflicting version (both kept)
// when it is not.
func (b *Builder) Add(ev *parser.ProcessEvent) {
	short := CanonicalHost(ev.Host)
	hb := b.hosts[short]
	if hb == nil {
		hb = &hostBuilder{seen: map[recordKey]*Process{}, seenExit: map[recordKey]int{}, spellings: map[string]int32{}}
		b.hosts[short] = hb
	}
	spelling, ok := hb.spellings[ev.Host]
	if !ok {
		spelling = int32(len(hb.spellingList))
		hb.spellingList = append(hb.spellingList, b.intern(ev.Host))
		hb.spellings[hb.spellingList[spelling]] = spelling
	}
	key := recordKey{ev.Source, ev.RecordID, ev.Time.Unix(), int32(ev.Time.Nanosecond()), ev.PID}
	ref := Evidence{Source: ev.Source, File: b.intern(ev.File), RecordID: ev.RecordID, Chunk: ev.Chunk, Offset: ev.Offset}
	if ev.Source.IsExit() {
		b.addExit(hb, key, ev, ref, spelling)
		return
	}
	first := hb.seen[key]
	if first == nil {
		hb.seen[key] = b.newProcess(hb, ev, ref)
		return
	}
	vs := hb.versions[key]
	if vs == nil {
		if sameContent(&first.ProcessEvent, ev) {
			b.dupes++
			first.addCopy(ref, ev.RecordNumber)
			return
		}
		vs = &versionSet{procs: []*Process{first}, byHash: map[uint64]*Process{b.contentHash(&first.ProcessEvent): first}}
		if hb.versions == nil {
			hb.versions = map[recordKey]*versionSet{}
		}
		hb.versions[key] = vs
	}
	h := b.contentHash(ev)
	if p := vs.byHash[h]; p != nil && sameContent(&p.ProcessEvent, ev) {
		b.dupes++
		p.addCopy(ref, ev.RecordNumber)
		return
	}
	p := b.newProcess(hb, ev, ref)
	vs.procs = append(vs.procs, p)
	if vs.byHash[h] == nil {
		vs.byHash[h] = p
	}
}

func (b *Builder) newProcess(hb *hostBuilder, ev *parser.ProcessEvent, ref Evidence) *Process {
	p := &Process{ProcessEvent: *ev, Evidence: []Evidence{ref}}
	b.internEvent(&p.ProcessEvent)
	hb.creations = append(hb.creations, p)
	return p
}

// addCopy records another copy of p's record. The copy in the first file by
// name is the evidence, whatever order the files were read in, so that
// merged scans equal one scan.
func (p *Process) addCopy(ref Evidence, recordNumber uint64) {
	if compareEvidence(ref, p.Evidence[0]) < 0 {
		ref, p.Evidence[0] = p.Evidence[0], ref
		p.File, p.Chunk, p.Offset, p.RecordNumber = p.Evidence[0].File, p.Evidence[0].Chunk, p.Evidence[0].Offset, recordNumber
	}
	p.Copies = append(p.Copies, ref) // sorted in Build
}

func compareEvidence(a, b Evidence) int {
	return cmp.Or(cmp.Compare(a.File, b.File), cmp.Compare(a.Offset, b.Offset), cmp.Compare(a.Chunk, b.Chunk))
}

func (b *Builder) addExit(hb *hostBuilder, key recordKey, ev *parser.ProcessEvent, ref Evidence, spelling int32) {
	h := b.contentHash(ev)
	if first, seen := hb.seenExit[key]; seen {
		i, known := first, hb.exits[first].hash == h
		if !known && hb.exitVers[key] != nil {
			i, known = hb.exitByHash[exitVersion{key, h}]
		}
		if known {
			b.dupes++
			if x := &hb.exits[i]; compareEvidence(ref, Evidence{File: x.file, Offset: x.offset, Chunk: int(x.chunk)}) < 0 {
				x.file, x.chunk, x.offset = ref.File, int32(ref.Chunk), ref.Offset
			}
			return
		}
		if hb.exitVers == nil {
			hb.exitVers, hb.exitByHash = map[recordKey][]int{}, map[exitVersion]int{}
		}
		if hb.exitVers[key] == nil {
			hb.exitVers[key] = []int{first}
			hb.exitByHash[exitVersion{key, hb.exits[first].hash}] = first
		}
		hb.exitVers[key] = append(hb.exitVers[key], len(hb.exits))
		hb.exitByHash[exitVersion{key, h}] = len(hb.exits)
	} else {
		hb.seenExit[key] = len(hb.exits)
	}
	hb.exits = append(hb.exits, exitRecord{sec: key.sec, nsec: key.nsec, hash: h, offset: ev.Offset, pid: ev.PID, chunk: int32(ev.Chunk), spelling: spelling,
		guid: strings.Clone(ev.ProcessGUID), image: b.intern(ev.Image), file: ref.File})
}

func (b *Builder) internEvent(e *parser.ProcessEvent) {
	// Command lines are mostly unique: copied, not interned.
	e.CommandLine, e.ParentCommandLine = strings.Clone(e.CommandLine), strings.Clone(e.ParentCommandLine)
	e.ProcessGUID, e.ParentProcessGUID, e.LogonGUID = strings.Clone(e.ProcessGUID), strings.Clone(e.ParentProcessGUID), strings.Clone(e.LogonGUID)
	for _, s := range []*string{&e.Host, &e.Image, &e.ParentImage, &e.CurrentDirectory,
		&e.User, &e.UserSID, &e.IntegrityLevel, &e.TokenElevation, &e.SubjectUser, &e.SubjectUserSID, &e.TargetUser,
		&e.TargetUserSID, &e.Hashes, &e.OriginalFileName, &e.Description, &e.Product, &e.Company, &e.FileVersion,
		&e.ParentUser, &e.RuleName, &e.File} {
		*s = b.intern(*s)
	}
}

// Build joins the events into processes and trees. The Builder must not be
// used afterwards.
func (b *Builder) Build() *Timeline {
	t := &Timeline{Duplicates: b.dupes}
	for _, short := range sortedKeys(b.hosts) {
		hb := b.hosts[short]
		hosts, names := hb.split(short)
		t.Conflicts = append(t.Conflicts, hb.conflicts(names)...)
		for _, name := range sortedKeys(hosts) {
			part := hosts[name]
			part.build(b.opts)
			t.Hosts = append(t.Hosts, part.host)
		}
	}
	slices.SortFunc(t.Hosts, func(a, b *Host) int { return cmp.Compare(a.Name, b.Name) })
	slices.SortFunc(t.Conflicts, func(a, b Conflict) int {
		return cmp.Or(cmp.Compare(a.Host, b.Host), a.Time.Compare(b.Time), cmp.Compare(a.Source, b.Source),
			cmp.Compare(a.RecordID, b.RecordID), cmp.Compare(a.PID, b.PID), compareEvidence(a.Versions[0], b.Versions[0]))
	})
	b.hosts, b.interns = nil, nil // the timeline keeps none of the builder's indexes
	return t
}

// hostPart is the records of one machine, ready to build.
type hostPart struct {
	host      *Host
	creations []*Process
	exits     []exitRecord
}

// split sorts the records of one short name into machines (see hostNames),
// and says which machine each spelling names.
func (hb *hostBuilder) split(short string) (map[string]*hostPart, map[string]string) {
	spellings := sortedKeys(hb.spellings) // sorted copy of spellingList
	names := hostNames(short, spellings)
	parts := map[string]*hostPart{}
	part := func(spelling string) *hostPart {
		name := names[spelling]
		pt := parts[name]
		if pt == nil {
			pt = &hostPart{host: &Host{Name: name}}
			parts[name] = pt
		}
		return pt
	}
	for _, s := range spellings {
		pt := part(s)
		pt.host.Spellings = append(pt.host.Spellings, s)
	}
	for _, pt := range parts {
		pt.host.names = newHostNameSet(pt.host.Spellings)
	}
	if len(parts) == 1 {
		pt := parts[short]
		pt.creations, pt.exits = hb.creations, hb.exits
		for _, p := range pt.creations {
			p.Host = pt.host
		}
		return parts, names
	}
	for _, p := range hb.creations {
		pt := part(p.ProcessEvent.Host)
		p.Host = pt.host
		pt.creations = append(pt.creations, p)
	}
	for _, x := range hb.exits {
		pt := part(hb.spellingList[x.spelling])
		pt.exits = append(pt.exits, x)
	}
	return parts, names
}

// conflicts lists the records read in more than one version and flags their
// processes. Runs after split, which names the hosts.
func (hb *hostBuilder) conflicts(names map[string]string) []Conflict {
	var out []Conflict
	for key, vs := range hb.versions {
		c := Conflict{Host: vs.procs[0].Host.Name, Source: key.source, RecordID: key.recordID, Time: key.time(), PID: key.pid}
		for _, p := range vs.procs {
			p.Flags = append(p.Flags, FlagConflict)
			c.Versions = append(c.Versions, p.Evidence[0])
		}
		out = append(out, c)
	}
	for key, vers := range hb.exitVers {
		c := Conflict{Host: names[hb.spellingList[hb.exits[vers[0]].spelling]], Source: key.source, RecordID: key.recordID, Time: key.time(), PID: key.pid}
		for _, i := range vers {
			x := hb.exits[i]
			c.Versions = append(c.Versions, Evidence{Source: key.source, File: x.file, RecordID: key.recordID, Chunk: int(x.chunk), Offset: x.offset})
		}
		out = append(out, c)
	}
	for i := range out {
		slices.SortFunc(out[i].Versions, compareEvidence)
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
