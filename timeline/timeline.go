// Package timeline rebuilds per-host process timelines and process trees from
// the parser's events: one canonical name per machine, one node per process
// however many records saw it, parent links by GUID or by PID within process
// lifetimes, placeholders for parents that were never logged, and a note on
// every link that is not certain.
package timeline

import (
	"cmp"
	"fmt"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/evtxhunt/evtxhunt/parser"
)

// LinkKind says how a process's parent was found.
type LinkKind string

const (
	LinkGUID        LinkKind = "guid"        // Sysmon ParentProcessGuid
	LinkPID         LinkKind = "pid"         // parent pid, the process holding it at the time
	LinkPlaceholder LinkKind = "placeholder" // the parent was never logged
	LinkAmbiguous   LinkKind = "ambiguous"   // a best guess, with LinkNote saying why
)

// Flags raised on a process.
const (
	FlagOutOfOrder = "out-of-order" // logged with a time earlier than a record written before it
	FlagClockSkew  = "clock-skew"   // created before its own parent
	FlagPIDClash   = "pid-mismatch" // the GUID parent's pid differs from the recorded parent pid
)

// Evidence names one record behind a process.
type Evidence struct {
	Source   parser.Source `json:"source"`
	File     string        `json:"file"`
	RecordID uint64        `json:"record_id"`
	Chunk    int           `json:"chunk"`
	Offset   int64         `json:"offset"`
}

// Process is one process on one host: the merged view of every record that
// saw it. Placeholders stand for parents that no record shows.
type Process struct {
	parser.ProcessEvent // merged; Source is the first record's
	Host                *Host
	Evidence            []Evidence // one per record read, sources merged
	Copies              []Evidence // the same records read again from other files (VSS, backups)
	Placeholder         bool
	Parent              *Process
	Link                LinkKind
	LinkNote            string
	Children            []*Process
	Ended               time.Time // from 4689 or Sysmon 5; zero when not logged
	Depth               int
	Flags               []string
	mark                uint8 // for resolveDepths
}

// Sources lists the kinds of record that saw the process.
func (p *Process) Sources() []parser.Source {
	var out []parser.Source
	for _, e := range p.Evidence {
		if !slices.Contains(out, e.Source) {
			out = append(out, e.Source)
		}
	}
	return out
}

// ResolvedParentImage is the parent's image: from the event when it names one,
// otherwise from the resolved parent.
func (p *Process) ResolvedParentImage() string {
	if p.ParentImage != "" {
		return p.ParentImage
	}
	if p.Parent != nil {
		return p.Parent.Image
	}
	return ""
}

// Step is one process in a chain, with the time since the step before it.
type Step struct {
	*Process
	SinceParent time.Duration // zero for the first step and after placeholders
}

// Ancestors lists the process's parent, its parent's parent, and so on up to
// the root.
func (p *Process) Ancestors() []*Process {
	var out []*Process
	for a := p.Parent; a != nil && len(out) <= maxDepth; a = a.Parent {
		out = append(out, a)
	}
	return out
}

// Chain is the path from the root to p, with the time between steps.
func (p *Process) Chain() []Step {
	anc := p.Ancestors()
	steps := make([]Step, 0, len(anc)+1)
	for i := len(anc) - 1; i >= 0; i-- {
		steps = append(steps, Step{Process: anc[i]})
	}
	steps = append(steps, Step{Process: p})
	for i := 1; i < len(steps); i++ {
		if prev := steps[i-1]; !prev.Placeholder {
			steps[i].SinceParent = steps[i].Time.Sub(prev.Time)
		}
	}
	return steps
}

// Descendants lists every process below p, depth first, children in time
// order, each with the time since its own parent.
func (p *Process) Descendants() []Step {
	var out []Step
	var walk func(*Process, int)
	walk = func(q *Process, depth int) {
		if depth > maxDepth {
			return
		}
		for _, c := range q.Children {
			s := Step{Process: c}
			if !q.Placeholder {
				s.SinceParent = c.Time.Sub(q.Time)
			}
			out = append(out, s)
			walk(c, depth+1)
		}
	}
	walk(p, 0)
	return out
}

// maxDepth bounds walks, so that corrupt links can never loop.
const maxDepth = 256

// Host is one machine and its processes.
type Host struct {
	Name         string     // canonical: short name, upper case
	Spellings    []string   // every Computer value seen, sorted
	Processes    []*Process // logged processes in time order (stable)
	Placeholders []*Process // parents that were never logged
}

// Roots are the processes without a parent, placeholders included, in time
// order: the tops of the host's process trees.
func (h *Host) Roots() []*Process {
	var out []*Process
	for _, p := range h.Placeholders {
		if p.Parent == nil {
			out = append(out, p)
		}
	}
	for _, p := range h.Processes {
		if p.Parent == nil {
			out = append(out, p)
		}
	}
	slices.SortStableFunc(out, func(a, b *Process) int { return a.Time.Compare(b.Time) })
	return out
}

// Timeline is every host's processes.
type Timeline struct {
	Hosts      []*Host // by name
	Duplicates int     // records read more than once (VSS or backup copies of a log), counted once
}

// Host returns the host with that name, in any spelling, or nil.
func (t *Timeline) Host(name string) *Host {
	c := CanonicalHost(name)
	for _, h := range t.Hosts {
		if h.Name == c {
			return h
		}
	}
	return nil
}

// Processes counts the logged processes of every host.
func (t *Timeline) Processes() int {
	n := 0
	for _, h := range t.Hosts {
		n += len(h.Processes)
	}
	return n
}

// CanonicalHost names a machine the same way whatever the log wrote:
// WKS01, wks01 and WKS01.corp.local are all WKS01. IP addresses stay as they are.
func CanonicalHost(s string) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return "UNKNOWN"
	}
	if net.ParseIP(s) != nil {
		return s
	}
	if i := strings.IndexByte(s, '.'); i > 0 {
		s = s[:i]
	}
	return strings.ToUpper(s)
}

// Filter selects processes. Zero fields match everything.
type Filter struct {
	From, To time.Time
	Host     string // any spelling
	User     string // substring, any case
	Text     string // substring of image or command line, any case
}

// Match reports whether p passes the filter.
func (f Filter) Match(p *Process) bool {
	switch {
	case !f.From.IsZero() && p.Time.Before(f.From),
		!f.To.IsZero() && p.Time.After(f.To),
		f.Host != "" && CanonicalHost(f.Host) != p.Host.Name,
		f.User != "" && !containsFold(p.User, f.User),
		f.Text != "" && !containsFold(p.Image, f.Text) && !containsFold(p.CommandLine, f.Text):
		return false
	}
	return true
}

func containsFold(s, sub string) bool {
	return strings.Contains(strings.ToLower(s), strings.ToLower(sub))
}

// Select lists the logged processes that pass f, host by host, in time order.
func (t *Timeline) Select(f Filter) []*Process {
	var out []*Process
	for _, h := range t.Hosts {
		for _, p := range h.Processes {
			if f.Match(p) {
				out = append(out, p)
			}
		}
	}
	return out
}

// Options tune how records are joined.
type Options struct {
	// MergeWindow is how far apart in time a Security 4688 and a Sysmon 1 of
	// the same process may be logged (same host, pid and image). Default 2s.
	MergeWindow time.Duration
	// SkewTolerance is how far after its child a parent's creation may be
	// logged and still be taken as the parent (with an ambiguous link).
	// Default 2s.
	SkewTolerance time.Duration
}

// Builder collects process events and builds the timeline.
type Builder struct {
	opts    Options
	hosts   map[string]*hostBuilder
	interns map[string]string
	dupes   int
}

type hostBuilder struct {
	host      *Host
	creations []*Process
	exits     []exitRecord
	seen      map[recordKey]*Process
	seenExit  map[recordKey]bool
	spellings map[string]bool
}

// exitRecord is what a 4689 or Sysmon 5 tells: which process ended, when.
type exitRecord struct {
	time time.Time
	guid string
	pid  uint32
}

// recordKey identifies a record whichever file it was read from.
type recordKey struct {
	source   parser.Source
	recordID uint64
	time     int64
	pid      uint32
}

// NewBuilder returns an empty Builder.
func NewBuilder(o Options) *Builder {
	if o.MergeWindow <= 0 {
		o.MergeWindow = 2 * time.Second
	}
	if o.SkewTolerance <= 0 {
		o.SkewTolerance = 2 * time.Second
	}
	return &Builder{opts: o, hosts: map[string]*hostBuilder{}, interns: map[string]string{}}
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

// Add takes one event. The event is copied: the parser's events are only
// valid during its callback.
func (b *Builder) Add(ev *parser.ProcessEvent) {
	name := CanonicalHost(ev.Host)
	hb := b.hosts[name]
	if hb == nil {
		hb = &hostBuilder{host: &Host{Name: name}, seen: map[recordKey]*Process{}, seenExit: map[recordKey]bool{}, spellings: map[string]bool{}}
		b.hosts[name] = hb
	}
	hb.spellings[ev.Host] = true
	key := recordKey{ev.Source, ev.RecordID, ev.Time.UnixNano(), ev.PID}
	ref := Evidence{Source: ev.Source, File: b.intern(ev.File), RecordID: ev.RecordID, Chunk: ev.Chunk, Offset: ev.Offset}
	if ev.Source.IsExit() {
		if hb.seenExit[key] {
			b.dupes++
			return
		}
		hb.seenExit[key] = true
		hb.exits = append(hb.exits, exitRecord{ev.Time, strings.Clone(ev.ProcessGUID), ev.PID})
		return
	}
	if p := hb.seen[key]; p != nil {
		b.dupes++
		// The copy in the first file by name is the evidence, whatever
		// order the files were read in, so merged scans equal one scan.
		if ref.File < p.Evidence[0].File {
			ref, p.Evidence[0] = p.Evidence[0], ref
			p.File, p.Chunk, p.Offset = p.Evidence[0].File, p.Evidence[0].Chunk, p.Evidence[0].Offset
		}
		p.Copies = append(p.Copies, ref)
		slices.SortFunc(p.Copies, func(a, b Evidence) int { return cmp.Compare(a.File, b.File) })
		return
	}
	p := &Process{ProcessEvent: *ev, Host: hb.host, Evidence: []Evidence{ref}}
	b.internEvent(&p.ProcessEvent)
	hb.seen[key] = p
	hb.creations = append(hb.creations, p)
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
	for _, name := range sortedKeys(b.hosts) {
		hb := b.hosts[name]
		hb.host.Spellings = sortedKeys(hb.spellings)
		hb.build(b.opts)
		t.Hosts = append(t.Hosts, hb.host)
	}
	b.hosts, b.interns = nil, nil // the timeline keeps none of the builder's indexes
	return t
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// sourceRank orders records of equal time: Security before Sysmon, which
// logs a few milliseconds later.
func sourceRank(s parser.Source) int {
	if s == parser.SourceSecurity4688 {
		return 0
	}
	return 1
}

func byTime(a, b *Process) int {
	return cmp.Or(a.Time.Compare(b.Time), cmp.Compare(sourceRank(a.Source), sourceRank(b.Source)),
		cmp.Compare(a.File, b.File), cmp.Compare(a.Offset, b.Offset))
}

func (hb *hostBuilder) build(o Options) {
	procs := hb.creations
	slices.SortStableFunc(procs, byTime)
	procs = mergeSources(procs, o.MergeWindow)
	hb.host.Processes = procs

	byGUID := map[string]*Process{}
	byPID := map[uint32][]*Process{}
	for _, p := range procs {
		if p.ProcessGUID != "" {
			byGUID[p.ProcessGUID] = p
		}
		byPID[p.PID] = append(byPID[p.PID], p)
	}
	applyExits(hb.exits, byGUID, byPID, o.SkewTolerance)

	placeholders := map[string]*Process{}
	placeholder := func(child *Process, key string, pid uint32, image, guid string) *Process {
		ph := placeholders[key]
		if ph == nil {
			if image == "" && pid == 4 {
				image = "System"
			}
			ph = &Process{Host: hb.host, Placeholder: true}
			ph.ProcessEvent = parser.ProcessEvent{Host: child.Host.Name, Time: child.Time, PID: pid, Image: image, ProcessGUID: guid}
			placeholders[key] = ph
			hb.host.Placeholders = append(hb.host.Placeholders, ph)
		}
		if child.Time.Before(ph.Time) {
			ph.Time = child.Time
		}
		return ph
	}
	for _, p := range procs {
		linkParent(p, byGUID, byPID, placeholder, o.SkewTolerance)
	}
	resolveDepths(procs)
	for _, p := range procs {
		if p.Parent != nil {
			p.Parent.Children = append(p.Parent.Children, p)
		}
	}
	slices.SortStableFunc(hb.host.Placeholders, func(a, b *Process) int { return a.Time.Compare(b.Time) })
	flagOutOfOrder(procs, o.SkewTolerance)
}

// mergeSources joins a Security 4688 and a Sysmon 1 of the same process
// (same pid and image, logged within window) into one node.
func mergeSources(procs []*Process, window time.Duration) []*Process {
	security := map[uint32][]*Process{}
	for _, p := range procs {
		if p.Source == parser.SourceSecurity4688 {
			security[p.PID] = append(security[p.PID], p)
		}
	}
	merged := map[*Process]bool{}
	for _, s := range procs {
		if s.Source != parser.SourceSysmon1 {
			continue
		}
		var best *Process
		var bestGap time.Duration
		for _, c := range security[s.PID] {
			gap := s.Time.Sub(c.Time).Abs()
			if merged[c] || gap > window || parser.NormalizePath(c.Image) != parser.NormalizePath(s.Image) {
				continue
			}
			if best == nil || gap < bestGap {
				best, bestGap = c, gap
			}
		}
		if best != nil {
			merged[best] = true
			merged[s] = true
			best.absorb(s)
			s.Evidence = nil // marks s as merged away
		}
	}
	out := procs[:0]
	for _, p := range procs {
		if p.Evidence != nil {
			out = append(out, p)
		}
	}
	return out
}

// absorb takes a Sysmon view of the same process into a Security one: the
// fields 4688 lacks, the evidence, and the earlier time.
func (p *Process) absorb(s *Process) {
	e, o := &p.ProcessEvent, &s.ProcessEvent
	fill := func(dst *string, src string) {
		if *dst == "" {
			*dst = src
		}
	}
	fill(&e.ParentImage, o.ParentImage)
	fill(&e.CommandLine, o.CommandLine)
	fill(&e.IntegrityLevel, o.IntegrityLevel)
	e.ProcessGUID, e.ParentProcessGUID = o.ProcessGUID, o.ParentProcessGUID
	e.ParentCommandLine, e.CurrentDirectory, e.Hashes = o.ParentCommandLine, o.CurrentDirectory, o.Hashes
	e.OriginalFileName, e.Description, e.Product, e.Company, e.FileVersion = o.OriginalFileName, o.Description, o.Product, o.Company, o.FileVersion
	e.LogonGUID, e.TerminalSessionID, e.ParentUser, e.RuleName = o.LogonGUID, o.TerminalSessionID, o.ParentUser, o.RuleName
	if o.Time.Before(e.Time) {
		e.Time = o.Time
	}
	p.Evidence = append(p.Evidence, s.Evidence...)
	p.Copies = append(p.Copies, s.Copies...)
}

// applyExits ends process lifetimes: Sysmon 5 by GUID, 4689 by the process
// that held the pid when it exited.
func applyExits(exits []exitRecord, byGUID map[string]*Process, byPID map[uint32][]*Process, skew time.Duration) {
	for _, x := range exits {
		var p *Process
		if x.guid != "" {
			p = byGUID[x.guid]
		}
		if p == nil {
			p = holder(byPID[x.pid], x.time.Add(skew), nil)
		}
		if p != nil && (p.Ended.IsZero() || x.time.Before(p.Ended)) {
			p.Ended = x.time
		}
	}
}

// holder is the latest process in cands (time order) created by t.
func holder(cands []*Process, t time.Time, except *Process) *Process {
	for i := len(cands) - 1; i >= 0; i-- {
		if c := cands[i]; c != except && !c.Time.After(t) {
			return c
		}
	}
	return nil
}

type placeholderFunc func(child *Process, key string, pid uint32, image, guid string) *Process

func linkParent(p *Process, byGUID map[string]*Process, byPID map[uint32][]*Process, placeholder placeholderFunc, skew time.Duration) {
	if g := p.ParentProcessGUID; g != "" {
		if parent := byGUID[g]; parent != nil && parent != p {
			p.Parent, p.Link = parent, LinkGUID
			if parent.Time.After(p.Time) {
				p.Flags = append(p.Flags, FlagClockSkew)
			}
			if parent.PID != p.PPID {
				p.Flags = append(p.Flags, FlagPIDClash)
			}
			return
		}
		p.Parent, p.Link = placeholder(p, "guid:"+g, p.PPID, p.ParentImage, g), LinkPlaceholder
		p.LinkNote = fmt.Sprintf("parent %s (GUID %s) was not logged", orUnknown(p.ParentImage), g)
		return
	}
	key := func() string { return fmt.Sprintf("pid:%d:%s", p.PPID, parser.NormalizePath(p.ParentImage)) }
	c := holder(byPID[p.PPID], p.Time.Add(skew), p)
	switch {
	case c == nil:
		p.Parent, p.Link = placeholder(p, key(), p.PPID, p.ParentImage, ""), LinkPlaceholder
		p.LinkNote = fmt.Sprintf("no process with pid %d was logged before this one", p.PPID)
	case !c.Ended.IsZero() && c.Ended.Before(p.Time):
		p.Parent, p.Link = placeholder(p, key(), p.PPID, p.ParentImage, ""), LinkPlaceholder
		p.LinkNote = fmt.Sprintf("pid %d last belonged to %s, started %s, which exited at %s before this process started",
			p.PPID, c.Image, c.Time.Format(parser.TimeLayout), c.Ended.Format(parser.TimeLayout))
	case p.ParentImage != "" && parser.NormalizePath(c.Image) != parser.NormalizePath(p.ParentImage):
		p.Parent, p.Link = placeholder(p, key(), p.PPID, p.ParentImage, ""), LinkAmbiguous
		p.LinkNote = fmt.Sprintf("pid %d belonged to %s (started %s), but the event names %s as the parent: a log gap?",
			p.PPID, c.Image, c.Time.Format(parser.TimeLayout), p.ParentImage)
	case c.Time.After(p.Time):
		p.Parent, p.Link = c, LinkAmbiguous
		p.LinkNote = fmt.Sprintf("the parent's creation is logged %v after this process's: clock skew?", c.Time.Sub(p.Time))
		p.Flags = append(p.Flags, FlagClockSkew)
	default:
		p.Parent, p.Link = c, LinkPID
	}
}

// resolveDepths sets every process's depth in one pass over the parent
// links, and cuts a link that leads back to its own process, which only
// corrupt or crafted records produce (two GUIDs naming each other).
func resolveDepths(procs []*Process) {
	const (
		unseen = iota
		onPath
		done
	)
	var path []*Process
	for _, p := range procs {
		for {
			path = path[:0]
			q := p
			for q != nil && q.mark == unseen {
				q.mark = onPath
				path = append(path, q)
				q = q.Parent
			}
			if q != nil && q.mark == onPath { // the walk came back to itself
				q.LinkNote = fmt.Sprintf("the parent link (%s to %s) leads back to this process: corrupt or crafted records", q.Link, q.Parent.Image)
				q.Parent, q.Link = nil, LinkAmbiguous
				for _, r := range path {
					r.mark = unseen
				}
				continue
			}
			for i := len(path) - 1; i >= 0; i-- { // from the top of the chain down
				r := path[i]
				if r.Parent != nil {
					r.Depth = r.Parent.Depth + 1
				}
				r.mark = done
			}
			break
		}
	}
}

func orUnknown(s string) string {
	if s == "" {
		return "(image unknown)"
	}
	return s
}

// flagOutOfOrder marks processes whose record carries a time earlier than
// a record written before it in the same log.
func flagOutOfOrder(procs []*Process, tolerance time.Duration) {
	type rec struct {
		p  *Process
		id uint64
		t  time.Time
	}
	byFile := map[string][]rec{}
	for _, p := range procs {
		for _, e := range p.Evidence {
			byFile[e.File] = append(byFile[e.File], rec{p, e.RecordID, p.Time})
		}
	}
	for _, recs := range byFile {
		slices.SortFunc(recs, func(a, b rec) int { return cmp.Compare(a.id, b.id) })
		var latest time.Time
		for _, r := range recs {
			if r.t.Add(tolerance).Before(latest) && !slices.Contains(r.p.Flags, FlagOutOfOrder) {
				r.p.Flags = append(r.p.Flags, FlagOutOfOrder)
			}
			if r.t.After(latest) {
				latest = r.t
			}
		}
	}
}
