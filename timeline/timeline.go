// Package timeline rebuilds per-host process timelines and process trees from
// the parser's events: one name per machine, one node per process however
// many records saw it, parent links by GUID or by PID within process
// lifetimes, placeholders for parents that were never logged, and a note on
// every link that is not certain. Evidence is hostile: records that two files
// hold in different versions are all kept and reported, and no input makes
// the build slower than O(n log n).
//
// A Builder takes the events as the scanner delivers them (Add) and Build
// makes the Timeline: its Hosts, each with its Processes in time order and
// the Placeholders standing for parents never logged, the records read
// twice (Duplicates) and those read in conflicting versions (Conflicts).
// A Process embeds its merged event; every report and rule reads its
// parent's fields through ResolvedParentImage and ResolvedParentCommandLine,
// and asks which records saw it with SeenBy and Sources. Chain and
// Descendants are the bounded walks reports draw, Ancestors the whole
// ancestry rules test. Filter and Select pick processes by time, host,
// user and text.
package timeline

import (
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
	// FlagConflict marks every version of a record that files hold with the
	// same source, record id, time and pid but different content: one of
	// them was altered or planted. Timeline.Conflicts lists them.
	FlagConflict = "conflicting-record"
	// FlagGUIDReused marks processes that claim the same ProcessGuid with
	// different images or far apart in time, which Sysmon never does.
	FlagGUIDReused = "guid-reused"
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
//
// Every report and rule reads the parent's fields through
// ResolvedParentImage and ResolvedParentCommandLine, which follow one
// rule: the event's own field first, then the linked parent's. The event's
// field is what Windows wrote when the process started, whatever the
// timeline later made of pids and GUIDs; the linked parent is an inference
// (Link and LinkNote say how sure it is), and where the two disagree on the
// image the link is already marked ambiguous. So the event is never
// overruled, and the linked parent only fills what the event did not
// record: Security 4688 has no parent command line, and no parent image
// before version 2. A placeholder parent was never logged: it knows the
// image the event named (or "System" for pid 4), nothing else.
type Process struct {
	parser.ProcessEvent // merged; Source is the first record's
	Host                *Host
	Evidence            []Evidence // one per record read, sources merged
	Copies              []Evidence // the same records read again from other files (VSS, backups), by file name
	Placeholder         bool
	Parent              *Process
	Link                LinkKind
	LinkNote            string
	Children            []*Process
	Ended               time.Time // from 4689 or Sysmon 5; zero when not logged
	Depth               int       // the number of ancestors
	Flags               []string
	mark                uint8 // for resolveDepths
}

// Sources lists the kinds of record that saw the process, each once. A
// placeholder has none: no record shows it.
func (p *Process) Sources() []parser.Source {
	var out []parser.Source
	for _, e := range p.Evidence {
		if !slices.Contains(out, e.Source) {
			out = append(out, e.Source)
		}
	}
	return out
}

// SeenBy reports whether a record of source s is behind the process: for
// parser.SourceSysmon1, whether the fields only Sysmon records (hashes,
// GUIDs, OriginalFileName, ParentCommandLine, ...) were recorded at all,
// empty or not. A placeholder was seen by nothing.
func (p *Process) SeenBy(s parser.Source) bool {
	for _, e := range p.Evidence {
		if e.Source == s {
			return true
		}
	}
	return false
}

// ResolvedParentImage is the parent's image: the event's ParentImage when
// it records one, otherwise the linked parent's (for 4688 version 1,
// inferred from the parent pid and the time), "" when neither is known.
func (p *Process) ResolvedParentImage() string {
	if p.ParentImage != "" {
		return p.ParentImage
	}
	if p.Parent != nil {
		return p.Parent.Image
	}
	return ""
}

// ResolvedParentCommandLine is the parent's command line: the event's
// ParentCommandLine when it records one (Sysmon 1 does), otherwise the
// linked parent's own, from that parent's record; "" when the parent is
// not linked or is a placeholder.
func (p *Process) ResolvedParentCommandLine() string {
	if p.ParentCommandLine != "" || p.Parent == nil {
		return p.ParentCommandLine
	}
	return p.Parent.CommandLine
}

// Step is one process in a chain, with the time since the step before it.
type Step struct {
	*Process
	SinceParent time.Duration // zero for the first step and after placeholders
	// Omitted is set on marker steps only: the number of processes a
	// bounded walk left out at this place (ancestors above a chain's first
	// step, descendants below the step before the marker). A marker's
	// Process is a placeholder whose Image says so, for a reader that
	// does not look at Omitted; the reports show "… N ancestors not shown".
	Omitted int
}

// Ancestors lists the process's parent, its parent's parent, and so on up to
// the root, however deep: Build cuts every link cycle, so the walk ends.
func (p *Process) Ancestors() []*Process {
	out := make([]*Process, 0, p.Depth)
	for a := p.Parent; a != nil; a = a.Parent {
		out = append(out, a)
	}
	return out
}

// Chain is the path from the root to p, with the time between steps. Past
// maxSteps ancestors it starts with a marker step counting those left out.
func (p *Process) Chain() []Step {
	var anc []*Process
	omitted := 0
	for a := p.Parent; a != nil; a = a.Parent {
		if len(anc) == maxSteps {
			// Depth is the number of ancestors, so the rest is counted
			// without walking it.
			omitted = max(anc[len(anc)-1].Depth, 1)
			break
		}
		anc = append(anc, a)
	}
	steps := make([]Step, 0, len(anc)+2)
	if omitted > 0 {
		steps = append(steps, omittedStep(p.Host, anc[len(anc)-1], omitted, "ancestors"))
	}
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
// order, each with the time since its own parent. Below maxSteps levels a
// marker step counts the processes left out under the step before it.
func (p *Process) Descendants() []Step {
	var out []Step
	var walk func(*Process, int)
	walk = func(q *Process, depth int) {
		for _, c := range q.Children {
			s := Step{Process: c}
			if !q.Placeholder {
				s.SinceParent = c.Time.Sub(q.Time)
			}
			out = append(out, s)
			switch {
			case depth+1 < maxSteps:
				walk(c, depth+1)
			case len(c.Children) > 0:
				m := omittedStep(p.Host, c.Children[0], countBelow(c), "descendants")
				m.Depth = c.Depth + 1
				out = append(out, m)
			}
		}
	}
	walk(p, 0)
	return out
}

// countBelow counts the processes under p, without recursion.
func countBelow(p *Process) int {
	n := 0
	stack := []*Process{p}
	for len(stack) > 0 {
		q := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		n += len(q.Children)
		stack = append(stack, q.Children...)
	}
	return n
}

// omittedStep is the marker of a cut walk, timed like the process next to it.
func omittedStep(h *Host, next *Process, n int, what string) Step {
	m := &Process{Host: h, Placeholder: true}
	m.ProcessEvent = parser.ProcessEvent{Time: next.Time, Image: fmt.Sprintf("(%d %s not shown)", n, what)}
	if h != nil {
		m.ProcessEvent.Host = h.Name
	}
	return Step{Process: m, Omitted: n}
}

// maxSteps bounds the chains and descendant lists shown for one process;
// past it a marker step says how many were left out. Rules never see a cut
// walk: they use Ancestors.
const maxSteps = 256

// Host is one machine and its processes.
type Host struct {
	// Name is the short name, upper case, unless several domains have a
	// machine of that short name: then each is named by its FQDN.
	Name         string
	Spellings    []string   // every Computer value seen, sorted
	Processes    []*Process // logged processes in time order (stable)
	Placeholders []*Process // parents that were never logged
	names        hostNameSet
}

// hostNameSet is what Named needs of the spellings, computed once in Build:
// a crafted log can give one host thousands of spellings.
type hostNameSet struct {
	keys []string // hostKey of every spelling, sorted, unique
	fqdn bool     // some spelling is a FQDN
}

func newHostNameSet(spellings []string) hostNameSet {
	var ns hostNameSet
	for _, s := range spellings {
		k := hostKey(s)
		ns.keys = append(ns.keys, k)
		ns.fqdn = ns.fqdn || isFQDN(k)
	}
	slices.Sort(ns.keys)
	ns.keys = slices.Compact(ns.keys)
	return ns
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

// Named reports whether name is a spelling of this machine. A short name
// names every host of that short name; a FQDN names the host it was seen on,
// or a host known only by its short name.
func (h *Host) Named(name string) bool {
	k := hostKey(name)
	if k == h.Name {
		return true
	}
	if !isFQDN(k) {
		return k == CanonicalHost(h.Name)
	}
	ns := h.names
	if ns.keys == nil { // a Host not made by Build
		ns = newHostNameSet(h.Spellings)
	}
	if _, ok := slices.BinarySearch(ns.keys, k); ok {
		return true
	}
	return !ns.fqdn && CanonicalHost(k) == h.Name
}

// Conflict is a record that files hold in more than one version: the same
// source, record id, time and pid, different content. All versions are kept
// (their processes carry FlagConflict); one of them was altered or planted.
type Conflict struct {
	Host     string
	Source   parser.Source
	RecordID uint64
	Time     time.Time
	PID      uint32
	Versions []Evidence // the first copy of each version by file name, in file order
}

// Timeline is every host's processes.
type Timeline struct {
	Hosts      []*Host    // by name
	Duplicates int        // records read more than once (VSS or backup copies of a log), counted once
	Conflicts  []Conflict // records read in different versions: possible tampering
}

// Host returns the host with that name, in any spelling, or nil when no
// host, or more than one, answers to it (DC01 when only DC01.alpha.local
// and DC01.beta.local were seen).
func (t *Timeline) Host(name string) *Host {
	k := hostKey(name)
	var found *Host
	n := 0
	for _, h := range t.Hosts {
		if h.Name == k {
			return h
		}
		if h.Named(name) {
			found = h
			n++
		}
	}
	if n != 1 {
		return nil
	}
	return found
}

// Processes counts the logged processes of every host.
func (t *Timeline) Processes() int {
	n := 0
	for _, h := range t.Hosts {
		n += len(h.Processes)
	}
	return n
}

// CanonicalHost is a machine's short name whatever the log wrote: WKS01,
// wks01 and WKS01.corp.local are all WKS01. IP addresses stay as they are.
// The Builder names a host this way unless two domains share the short name.
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

// hostKey is a Computer value compared across spellings: upper case, without
// surrounding space or a trailing dot.
func hostKey(s string) string {
	s = strings.TrimSuffix(strings.TrimSpace(s), ".")
	if s == "" {
		return "UNKNOWN"
	}
	if net.ParseIP(s) != nil {
		return s
	}
	return strings.ToUpper(s)
}

// isFQDN tells a domain name from a short name or an address.
func isFQDN(key string) bool {
	return strings.IndexByte(key, '.') > 0 && net.ParseIP(key) == nil
}

// hostNames names the machines behind the spellings of one short name. The
// short name and its one FQDN are one machine, named by the short name; when
// several FQDNs share the short name, nothing says which one a bare short
// name meant, so each FQDN is a machine of its own named by it, and the bare
// short name another.
func hostNames(short string, spellings []string) map[string]string {
	fqdns := map[string]bool{}
	for _, s := range spellings {
		if k := hostKey(s); isFQDN(k) {
			fqdns[k] = true
		}
	}
	names := make(map[string]string, len(spellings))
	for _, s := range spellings {
		names[s] = short
		if k := hostKey(s); len(fqdns) > 1 && fqdns[k] {
			names[s] = k
		}
	}
	return names
}

// Filter selects processes. Zero fields match everything.
type Filter struct {
	From, To time.Time
	Host     string // any spelling (see Host.Named)
	User     string // substring, any case
	Text     string // substring of image or command line, any case
}

// MatchHost reports whether the filter's host names h.
func (f Filter) MatchHost(h *Host) bool {
	return f.Host == "" || h.Named(f.Host)
}

// Match reports whether p passes the filter.
func (f Filter) Match(p *Process) bool {
	switch {
	case !f.From.IsZero() && p.Time.Before(f.From),
		!f.To.IsZero() && p.Time.After(f.To),
		!f.MatchHost(p.Host),
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
		if !f.MatchHost(h) {
			continue
		}
		for _, p := range h.Processes {
			if f.Match(p) {
				out = append(out, p)
			}
		}
	}
	return out
}
