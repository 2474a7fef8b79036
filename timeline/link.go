package timeline

import (
	"cmp"
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/evtxhunt/evtxhunt/parser"
	"github.com/evtxhunt/evtxhunt/parser/winpath"
)

// sourceRank orders records of equal time: Security before Sysmon, which
// logs a few milliseconds later.
func sourceRank(s parser.Source) int {
	if s == parser.SourceSecurity4688 {
		return 0
	}
	return 1
}

// byTime is the order of a host's processes: a total order on records, so
// that the timeline does not depend on the order files were read in.
func byTime(a, b *Process) int {
	return cmp.Or(a.Time.Compare(b.Time), cmp.Compare(sourceRank(a.Source), sourceRank(b.Source)),
		cmp.Compare(a.File, b.File), cmp.Compare(a.Offset, b.Offset), cmp.Compare(a.RecordID, b.RecordID))
}

// build joins one machine's records into processes and trees. Every step
// is O(n log n) whatever the records say: lookups by pid or GUID are binary
// searches in time order, never scans.
func (pt *hostPart) build(o Options) {
	procs := pt.creations
	for _, p := range procs {
		slices.SortFunc(p.Copies, compareEvidence)
	}
	slices.SortStableFunc(procs, byTime)
	procs, moved := mergeSources(procs, o.MergeWindow)
	if moved { // a merged process took its Sysmon record's earlier time
		slices.SortStableFunc(procs, byTime)
	}
	pt.host.Processes = procs

	l := &linker{host: pt.host, byGUID: map[string][]*Process{}, byPID: map[uint32][]*Process{}, placeholders: map[string]*Process{}, skew: o.SkewTolerance}
	for _, p := range procs {
		if p.ProcessGUID != "" {
			l.byGUID[p.ProcessGUID] = append(l.byGUID[p.ProcessGUID], p)
		}
		l.byPID[p.PID] = append(l.byPID[p.PID], p)
	}
	flagReusedGUIDs(l.byGUID, o.MergeWindow)
	l.applyExits(pt.exits)
	for _, p := range procs {
		l.link(p)
	}
	resolveDepths(procs)
	for _, p := range procs {
		if p.Parent != nil {
			p.Parent.Children = append(p.Parent.Children, p)
		}
	}
	slices.SortStableFunc(pt.host.Placeholders, func(a, b *Process) int { return a.Time.Compare(b.Time) })
	flagOutOfOrder(procs, o.SkewTolerance)
}

// mergeSources joins a Security 4688 and a Sysmon 1 of the same process
// (same pid and image, logged within window) into one node: each Sysmon
// record, in time order, takes the nearest Security record not yet taken.
// It reports whether a merged process moved earlier in time.
func mergeSources(procs []*Process, window time.Duration) ([]*Process, bool) {
	type key struct {
		pid   uint32
		image string
	}
	type sysmonRecord struct {
		p   *Process
		key key
	}
	var sysmon []sysmonRecord
	pids := map[uint32]bool{}
	for _, p := range procs {
		if p.Source == parser.SourceSysmon1 {
			sysmon = append(sysmon, sysmonRecord{p, key{p.PID, winpath.Normalize(p.Image)}})
			pids[p.PID] = true
		}
	}
	if len(sysmon) == 0 {
		return procs, false
	}
	pools := map[key]*pool{}
	for _, p := range procs {
		if p.Source == parser.SourceSecurity4688 && pids[p.PID] {
			k := key{p.PID, winpath.Normalize(p.Image)}
			if pools[k] == nil {
				pools[k] = &pool{}
			}
			pools[k].procs = append(pools[k].procs, p)
		}
	}
	moved := false
	for _, s := range sysmon {
		pl := pools[s.key]
		if pl == nil {
			continue
		}
		if c := pl.take(s.p.Time, window); c != nil {
			moved = moved || s.p.Time.Before(c.Time)
			c.absorb(s.p)
			s.p.Evidence = nil // marks s as merged away
		}
	}
	out := procs[:0]
	for _, p := range procs {
		if p.Evidence != nil {
			out = append(out, p)
		}
	}
	return out, moved
}

// pool hands out records in time order, each once, nearest in time first.
// Taken records are skipped in near-constant time (union-find with path
// halving), so that matching stays O(n log n) however many records share
// a pid and an image.
type pool struct {
	procs []*Process
	right []int32 // leads from i to the first free index >= i; len(procs) is none
	left  []int32 // leads from i+1 to one past the last free index <= i; 0 is none
}

func (pl *pool) firstFree(i int) int {
	r := pl.right
	for int(r[i]) != i {
		r[i] = r[r[i]]
		i = int(r[i])
	}
	return i
}

func (pl *pool) lastFree(i int) int {
	l, x := pl.left, i+1
	for int(l[x]) != x {
		l[x] = l[l[x]]
		x = int(l[x])
	}
	return x - 1
}

// take removes and returns the record nearest to t within window, the
// earlier one on a tie, or nil.
func (pl *pool) take(t time.Time, window time.Duration) *Process {
	n := len(pl.procs)
	if pl.right == nil {
		pl.right, pl.left = make([]int32, n+1), make([]int32, n+1)
		for i := range n + 1 {
			pl.right[i], pl.left[i] = int32(i), int32(i)
		}
	}
	i := sort.Search(n, func(k int) bool { return !pl.procs[k].Time.Before(t) })
	best, bestGap := -1, time.Duration(0)
	if l := pl.lastFree(i - 1); l >= 0 {
		if gap := t.Sub(pl.procs[l].Time); gap <= window {
			// The first free record of that time, as a scan in time order finds it.
			at := pl.procs[l].Time
			best, bestGap = pl.firstFree(sort.Search(n, func(k int) bool { return !pl.procs[k].Time.Before(at) })), gap
		}
	}
	if r := pl.firstFree(i); r < n {
		if gap := pl.procs[r].Time.Sub(t); gap <= window && (best < 0 || gap < bestGap) {
			best = r
		}
	}
	if best < 0 {
		return nil
	}
	pl.right[best], pl.left[best+1] = int32(best+1), int32(best)
	return pl.procs[best]
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
	p.Flags = append(p.Flags, s.Flags...)
	slices.Sort(p.Flags)
	p.Flags = slices.Compact(p.Flags)
}

// flagReusedGUIDs flags the processes of a GUID that more than one process
// claims with different images, or starting more than window apart.
func flagReusedGUIDs(byGUID map[string][]*Process, window time.Duration) {
	for _, claimants := range byGUID {
		if len(claimants) < 2 {
			continue
		}
		image := winpath.Normalize(claimants[0].Image)
		reused := false
		for i, c := range claimants[1:] {
			if c.Time.Sub(claimants[i].Time) > window || winpath.Normalize(c.Image) != image {
				reused = true
				break
			}
		}
		if reused {
			for _, c := range claimants {
				c.Flags = append(c.Flags, FlagGUIDReused)
			}
		}
	}
}

// lifetime places a candidate process against the moment a record refers
// to; the higher, the likelier it is the process meant.
type lifetime int

const (
	startedLongAfter lifetime = iota // created after the skew tolerance: only a GUID can name it
	exitedBefore                     // created, and already exited
	startedSoonAfter                 // created within the skew tolerance after: clock skew
	alive                            // created, and not exited
)

// query is what a record says of the process it refers to (a parent, or the
// process that exited).
type query struct {
	at     time.Time
	except *Process   // the child itself, when it is among the candidates
	image  string     // the image the record names, "" when none
	files  []Evidence // where the record was read
	byGUID bool       // a GUID names the process: any time will do
	exit   bool       // an exit: lifetimes are not known yet
}

// choice is the process a record most likely refers to.
type choice struct {
	best    *Process
	agrees  bool       // best's image is the one the record names (or it names none)
	life    lifetime   // best's
	ties    []*Process // as likely as best: the evidence cannot tell them apart
	byTime  *Process   // the likeliest by time alone, whatever its image
	latest  *Process   // the latest process created by the record's time
	crowded int        // processes of the same time not examined
}

// maxTies bounds the processes of one time examined for one record: only
// crafted logs have more, and their links are marked ambiguous.
const maxTies = 8

// choose rates the processes that may hold cands' identity at q.at: first
// the image the record names, then the lifetime, and between equals being
// read from the same file or folder as the record, which separates the
// versions of a record that two files disagree on.
func (l *linker) choose(cands []*Process, q query) choice {
	before, after, crowded := around(cands, q.at, q.except)
	ch := choice{crowded: crowded}
	if len(before) > 0 {
		ch.latest = before[0]
	}
	type rated struct {
		p      *Process
		life   lifetime
		agrees bool
	}
	var buf [2 * maxTies]rated
	all := buf[:0]
	for _, c := range before {
		life := alive
		if !q.exit && !c.Ended.IsZero() && c.Ended.Before(q.at) {
			life = exitedBefore
		}
		all = append(all, rated{c, life, false})
	}
	for _, c := range after {
		life := startedLongAfter
		if c.Time.Sub(q.at) <= l.skew {
			life = startedSoonAfter
		}
		all = append(all, rated{c, life, false})
	}
	// The best by time alone, then the best with the image.
	var topBuf [2 * maxTies]*Process
	top := topBuf[:0]
	for pass := range 2 {
		top = top[:0]
		var bestLife lifetime
		bestAgrees := false
		for i := range all {
			r := &all[i]
			if !q.byGUID && r.life < startedSoonAfter {
				continue
			}
			if pass == 1 {
				r.agrees = q.image == "" || sameImage(r.p.Image, q.image)
			}
			d := cmp.Or(cmp.Compare(b2i(r.agrees), b2i(bestAgrees)), cmp.Compare(r.life, bestLife))
			if len(top) == 0 || d > 0 {
				top, bestLife, bestAgrees = append(top[:0], r.p), r.life, r.agrees
			} else if d == 0 {
				top = append(top, r.p)
			}
		}
		if len(top) == 0 {
			return ch
		}
		best, ties := closest(top, q.files)
		if pass == 0 {
			ch.byTime = best
		} else {
			ch.best, ch.agrees, ch.life, ch.ties = best, bestAgrees, bestLife, ties
		}
	}
	return ch
}

func b2i(v bool) int {
	if v {
		return 1
	}
	return 0
}

// closest picks among equally likely processes the one logged closest to
// the record (see affinity); ties are the others as close.
func closest(top []*Process, files []Evidence) (*Process, []*Process) {
	if len(top) == 1 {
		return top[0], nil
	}
	best, bestAff := top[0], affinity(top[0], files)
	var ties []*Process
	for _, c := range top[1:] {
		switch a := affinity(c, files); {
		case a > bestAff:
			best, bestAff, ties = c, a, ties[:0]
		case a == bestAff:
			ties = append(ties, c)
		}
	}
	return best, ties
}

// sameImage compares paths in any spelling; most are the same string.
func sameImage(a, b string) bool {
	return a == b || winpath.Normalize(a) == winpath.Normalize(b)
}

// around finds, in cands (time order), the processes that may hold an
// identity (a pid, a GUID) at t: the latest created by t, latest first, and
// the earliest created after t. Each is a group of equal times of which at
// most maxTies are returned; crowded counts the others. except, which must
// be in cands if not nil, is skipped.
func around(cands []*Process, t time.Time, except *Process) (before, after []*Process, crowded int) {
	n := len(cands)
	i := sort.Search(n, func(k int) bool { return cands[k].Time.After(t) })
	for end := i; end > 0 && len(before) == 0; {
		at := cands[end-1].Time
		lo := sort.Search(end, func(k int) bool { return !cands[k].Time.Before(at) })
		members := end - lo
		if except != nil && except.Time.Equal(at) {
			members--
		}
		for k := end - 1; k >= lo && len(before) < maxTies; k-- {
			if cands[k] != except {
				before = append(before, cands[k])
			}
		}
		crowded += members - len(before)
		end = lo
	}
	if i < n {
		at := cands[i].Time
		hi := i + sort.Search(n-i, func(k int) bool { return cands[i+k].Time.After(at) })
		after = cands[i:min(hi, i+maxTies)]
		crowded += hi - i - len(after)
	}
	return before, after, crowded
}

// affinity tells how close c was logged to the record read from files:
// 2 in the same file, 1 in the same folder. It separates the versions of a
// record that two files disagree on. A few files of each side are compared.
func affinity(c *Process, files []Evidence) int {
	best := 0
	for _, f := range files[:min(len(files), 4)] {
		for _, list := range [][]Evidence{c.Evidence, c.Copies} {
			for _, e := range list[:min(len(list), 4)] {
				switch {
				case e.File == f.File:
					return 2
				case filepath.Dir(e.File) == filepath.Dir(f.File):
					best = 1
				}
			}
		}
	}
	return best
}

// linker links one host's processes to their parents.
type linker struct {
	host         *Host
	byGUID       map[string][]*Process // time order
	byPID        map[uint32][]*Process // time order
	placeholders map[string]*Process
	skew         time.Duration
}

// evidenceOf is where a process's records were read, copies included.
func evidenceOf(p *Process) []Evidence {
	if len(p.Copies) == 0 {
		return p.Evidence
	}
	return append(slices.Clip(p.Evidence), p.Copies[:min(len(p.Copies), 4)]...)
}

// applyExits ends process lifetimes: Sysmon 5 by GUID, 4689 by the process
// that held the pid when it exited, preferring one of the exit's image.
func (l *linker) applyExits(exits []exitRecord) {
	for i := range exits {
		x := &exits[i]
		at := time.Unix(x.sec, int64(x.nsec)).UTC()
		q := query{at: at, image: x.image, files: []Evidence{{File: x.file}}, exit: true}
		var cands []*Process
		if x.guid != "" {
			cands, q.byGUID = l.byGUID[x.guid], true
		}
		if len(cands) == 0 {
			cands, q.byGUID = l.byPID[x.pid], false
		}
		if p := l.choose(cands, q).best; p != nil && (p.Ended.IsZero() || at.Before(p.Ended)) {
			p.Ended = at
		}
	}
}

// placeholder stands for a parent that was never logged, one per key.
func (l *linker) placeholder(child *Process, key string, pid uint32, image, guid string) *Process {
	ph := l.placeholders[key]
	if ph == nil {
		if image == "" && pid == 4 {
			image = "System"
		}
		ph = &Process{Host: l.host, Placeholder: true}
		ph.ProcessEvent = parser.ProcessEvent{Host: l.host.Name, Time: child.Time, PID: pid, Image: image, ProcessGUID: guid}
		l.placeholders[key] = ph
		l.host.Placeholders = append(l.host.Placeholders, ph)
	}
	if child.Time.Before(ph.Time) {
		ph.Time = child.Time
	}
	return ph
}

func (l *linker) link(p *Process) {
	if g := p.ParentProcessGUID; g != "" {
		l.linkGUID(p, g)
		return
	}
	q := query{at: p.Time, image: p.ParentImage, files: evidenceOf(p)}
	cands := l.byPID[p.PPID]
	if p.PPID == p.PID {
		q.except = p
	}
	ch := l.choose(cands, q)
	key := func() string { return fmt.Sprintf("pid:%d:%s", p.PPID, winpath.Normalize(p.ParentImage)) }
	switch c := ch.best; {
	case c == nil && ch.latest != nil:
		p.Parent, p.Link = l.placeholder(p, key(), p.PPID, p.ParentImage, ""), LinkPlaceholder
		p.LinkNote = fmt.Sprintf("pid %d last belonged to %s, started %s, which exited at %s before this process started",
			p.PPID, ch.latest.Image, ch.latest.Time.Format(parser.TimeLayout), ch.latest.Ended.Format(parser.TimeLayout))
	case c == nil:
		p.Parent, p.Link = l.placeholder(p, key(), p.PPID, p.ParentImage, ""), LinkPlaceholder
		p.LinkNote = fmt.Sprintf("no process with pid %d was logged before this one", p.PPID)
	case !ch.agrees:
		h := ch.byTime
		p.Parent, p.Link = l.placeholder(p, key(), p.PPID, p.ParentImage, ""), LinkAmbiguous
		p.LinkNote = fmt.Sprintf("pid %d belonged to %s (started %s), but the event names %s as the parent: a log gap?",
			p.PPID, h.Image, h.Time.Format(parser.TimeLayout), p.ParentImage)
	case c.Time.After(p.Time):
		p.Parent, p.Link = c, LinkAmbiguous
		p.LinkNote = fmt.Sprintf("the parent's creation is logged %v after this process's: clock skew?", c.Time.Sub(p.Time))
		p.Flags = append(p.Flags, FlagClockSkew)
		l.noteTies(p, ch, fmt.Sprintf("pid %d", p.PPID))
	default:
		p.Parent, p.Link = c, LinkPID
		l.noteTies(p, ch, fmt.Sprintf("pid %d", p.PPID))
	}
}

func (l *linker) linkGUID(p *Process, g string) {
	cands := l.byGUID[g]
	q := query{at: p.Time, image: p.ParentImage, files: evidenceOf(p), byGUID: true}
	if p.ProcessGUID == g {
		q.except = p
	}
	ch := l.choose(cands, q)
	c := ch.best
	if c == nil {
		p.Parent, p.Link = l.placeholder(p, "guid:"+g, p.PPID, p.ParentImage, g), LinkPlaceholder
		p.LinkNote = fmt.Sprintf("parent %s (GUID %s) was not logged", orUnknown(p.ParentImage), g)
		return
	}
	p.Parent, p.Link = c, LinkGUID
	if c.Time.After(p.Time) {
		p.Flags = append(p.Flags, FlagClockSkew)
	}
	if c.PID != p.PPID {
		p.Flags = append(p.Flags, FlagPIDClash)
	}
	reused := len(cands) > 1 && (q.except == nil || len(cands) > 2)
	switch {
	case !ch.agrees:
		p.Link = LinkAmbiguous
		p.LinkNote = fmt.Sprintf("the event names %s as the parent, but GUID %s belongs to %s (started %s)",
			p.ParentImage, g, c.Image, c.Time.Format(parser.TimeLayout))
	case reused && ch.life != alive:
		p.Link = LinkAmbiguous
		p.LinkNote = fmt.Sprintf("GUID %s is claimed by %d processes; none was running when this one started, %s (started %s) is the nearest",
			g, len(cands), c.Image, c.Time.Format(parser.TimeLayout))
	default:
		l.noteTies(p, ch, "GUID "+g)
	}
}

// noteTies marks a link ambiguous when other processes were as likely to be
// the parent, naming a few of them.
func (l *linker) noteTies(p *Process, ch choice, what string) {
	if len(ch.ties) == 0 && ch.crowded == 0 {
		return
	}
	var others []string
	for _, t := range ch.ties[:min(len(ch.ties), 3)] {
		others = append(others, fmt.Sprintf("%s in %s", t.Image, t.File))
	}
	if n := len(ch.ties) + ch.crowded - len(others); n > 0 {
		others = append(others, fmt.Sprintf("%d more", n))
	}
	p.Link = LinkAmbiguous
	p.LinkNote = fmt.Sprintf("other processes held %s when this one started and are as likely its parent (%s); chose %s in %s",
		what, strings.Join(others, ", "), p.Parent.Image, p.Parent.File)
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
