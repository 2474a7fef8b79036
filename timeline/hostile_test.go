package timeline

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/evtxhunt/evtxhunt/parser"
)

// Tests of issue 12 (items 7, 11-15): evidence built to fool the timeline.

// inFile moves an event to another evidence file.
func inFile(ev *parser.ProcessEvent, file string, offset int64) *parser.ProcessEvent {
	c := *ev
	c.File, c.Offset = file, offset
	return &c
}

// Item 7: a record read in two versions is a conflict, both are kept and
// reported; an identical copy is a duplicate.
func TestConflictingVersionsAreKept(t *testing.T) {
	const h = "WKS07"
	netscan := security(h, sec(0), 0x1100, 0x900, `C:\Tools\netscan.exe`, "")
	mstsc := security(h, sec(1), 0x1200, 0x1100, `C:\Windows\System32\mstsc.exe`, "")
	mstsc.CommandLine = "mstsc.exe /v:SRV09"
	notepad, calc := *netscan, *mstsc
	notepad.Image, calc.Image, calc.CommandLine = `C:\Windows\System32\notepad.exe`, `C:\Windows\System32\calc.exe`, "calc.exe"
	tl := build(
		inFile(netscan, "B/Security.evtx", 1000), inFile(mstsc, "B/Security.evtx", 2000), // genuine
		inFile(&notepad, "A/Security.evtx", 1000), inFile(&calc, "A/Security.evtx", 2000), // planted, sorts first
		inFile(netscan, "C/Security.evtx", 1000), inFile(mstsc, "C/Security.evtx", 2000), // a backup of the genuine log
	)
	host := tl.Hosts[0]
	if len(host.Processes) != 4 || tl.Duplicates != 2 || len(tl.Conflicts) != 2 {
		t.Fatalf("%d processes, %d duplicates, %d conflicts", len(host.Processes), tl.Duplicates, len(tl.Conflicts))
	}
	gotMstsc, gotCalc := find(t, host, mstsc.Image, sec(1)), find(t, host, calc.Image, sec(1))
	if gotMstsc.Parent == nil || gotMstsc.Parent.Image != netscan.Image || gotMstsc.Link != LinkPID {
		t.Errorf("mstsc: parent %v link %s %q", gotMstsc.Parent, gotMstsc.Link, gotMstsc.LinkNote)
	}
	if gotCalc.Parent == nil || gotCalc.Parent.Image != notepad.Image || gotCalc.Link != LinkPID {
		t.Errorf("calc: parent %v link %s %q", gotCalc.Parent, gotCalc.Link, gotCalc.LinkNote)
	}
	if len(gotMstsc.Copies) != 1 || gotMstsc.Copies[0].File != "C/Security.evtx" || gotMstsc.File != "B/Security.evtx" {
		t.Errorf("mstsc evidence %v copies %v", gotMstsc.Evidence, gotMstsc.Copies)
	}
	for _, p := range host.Processes {
		if !slices.Contains(p.Flags, FlagConflict) {
			t.Errorf("%s not flagged: %v", p.Image, p.Flags)
		}
	}
	c := tl.Conflicts[1]
	if c.Host != h || c.Source != parser.SourceSecurity4688 || c.RecordID != mstsc.RecordID || !c.Time.Equal(sec(1)) || c.PID != 0x1200 ||
		len(c.Versions) != 2 || c.Versions[0].File != "A/Security.evtx" || c.Versions[1].File != "B/Security.evtx" {
		t.Errorf("conflict %+v", c)
	}
}

// Item 7: an exit read in two versions is a conflict too.
func TestConflictingExits(t *testing.T) {
	x := exit("H", sec(5), 100, `C:\a.exe`)
	y := *x
	y.Image = `C:\b.exe`
	tl := build(security("H", sec(1), 100, 4, `C:\a.exe`, ""), inFile(x, "B/Security.evtx", 10), inFile(&y, "A/Security.evtx", 10), inFile(x, "C/Security.evtx", 10))
	if tl.Duplicates != 1 || len(tl.Conflicts) != 1 || len(tl.Conflicts[0].Versions) != 2 || tl.Conflicts[0].Versions[0].File != "A/Security.evtx" {
		t.Errorf("%d duplicates, conflicts %+v", tl.Duplicates, tl.Conflicts)
	}
}

// Item 11: the pid of netscan, which started mstsc, is reused by notepad
// 1.5 s after mstsc started: mstsc's parent is the process alive when it
// started, not the one created after it.
func TestPIDReuseAfterChild(t *testing.T) {
	for _, tc := range []struct {
		name       string
		parentName string // 4688 v2's ParentProcessName
		exitLogged bool
	}{{"v1", "", true}, {"v2", `C:\Tools\netscan.exe`, true}, {"v1 without exit", "", false}, {"v2 without exit", `C:\Tools\netscan.exe`, false}} {
		t.Run(tc.name, func(t *testing.T) {
			h := "LEGACY07"
			evs := []*parser.ProcessEvent{
				security(h, sec(0), 100, 4, `C:\Tools\netscan.exe`, ""),
				security(h, sec(1), 200, 100, `C:\Windows\System32\mstsc.exe`, tc.parentName),
				security(h, sec(2.5), 100, 4, `C:\Windows\System32\notepad.exe`, ""),
				security(h, sec(3), 300, 100, `C:\Windows\System32\conhost.exe`, ""),
			}
			if tc.exitLogged {
				evs = append(evs, exit(h, sec(2), 100, `C:\Tools\netscan.exe`))
			}
			host := build(evs...).Hosts[0]
			netscan, notepad := find(t, host, `C:\Tools\netscan.exe`, sec(0)), find(t, host, `C:\Windows\System32\notepad.exe`, sec(2.5))
			mstsc := find(t, host, `C:\Windows\System32\mstsc.exe`, sec(1))
			if mstsc.Parent != netscan || mstsc.Link != LinkPID {
				t.Errorf("mstsc: parent %s link %s %q", mstsc.Parent.Image, mstsc.Link, mstsc.LinkNote)
			}
			if conhost := find(t, host, `C:\Windows\System32\conhost.exe`, sec(3)); conhost.Parent != notepad {
				t.Errorf("conhost: parent %s", conhost.Parent.Image)
			}
			if tc.exitLogged && (!netscan.Ended.Equal(sec(2)) || !notepad.Ended.IsZero()) {
				t.Errorf("ended: netscan %v, notepad %v", netscan.Ended, notepad.Ended)
			}
		})
	}
}

// Item 11: the parent image a record names must agree with the parent
// chosen, by pid or by GUID, or the link is ambiguous.
func TestParentImageMustAgree(t *testing.T) {
	h := "WKS08"
	tl := build(
		sysmon(h, sec(0), 100, 4, `C:\Tools\netscan.exe`, "G-100", "G-4", "System"),
		sysmon(h, sec(1), 200, 100, `C:\Windows\System32\mstsc.exe`, "G-200", "G-100", `C:\Windows\explorer.exe`),
		security(h, sec(2), 300, 100, `C:\Windows\System32\cmd.exe`, `C:\Windows\explorer.exe`),
		// A parent created soon after the child, of the named image, beats a
		// running one of another image.
		security(h, sec(5), 400, 500, `C:\x.exe`, `C:\Windows\System32\svchost.exe`),
		security(h, sec(4), 500, 4, `C:\Windows\System32\wbem\WmiPrvSE.exe`, ""),
		security(h, sec(5.5), 500, 4, `C:\Windows\System32\svchost.exe`, ""),
	)
	host := tl.Hosts[0]
	mstsc := find(t, host, `C:\Windows\System32\mstsc.exe`, sec(1))
	if mstsc.Link != LinkAmbiguous || mstsc.Parent.Image != `C:\Tools\netscan.exe` || !strings.Contains(mstsc.LinkNote, `C:\Windows\explorer.exe`) {
		t.Errorf("mstsc: %s %s %q", mstsc.Parent.Image, mstsc.Link, mstsc.LinkNote)
	}
	cmd := find(t, host, `C:\Windows\System32\cmd.exe`, sec(2))
	if cmd.Link != LinkAmbiguous || !cmd.Parent.Placeholder || cmd.Parent.Image != `C:\Windows\explorer.exe` {
		t.Errorf("cmd: %s %s %q", cmd.Parent.Image, cmd.Link, cmd.LinkNote)
	}
	x := find(t, host, `C:\x.exe`, sec(5))
	if x.Link != LinkAmbiguous || x.Parent.Image != `C:\Windows\System32\svchost.exe` || !slices.Contains(x.Flags, FlagClockSkew) {
		t.Errorf("x: %s %s %q", x.Parent.Image, x.Link, x.LinkNote)
	}
}

// Item 12: machines of the same short name in two domains stay apart; a
// short name joins a FQDN only when exactly one FQDN has it.
func TestHostsOfOtherDomainsStayApart(t *testing.T) {
	tl := build(
		security("DC01.alpha.local", sec(0), 100, 4, `C:\Tools\netscan.exe`, ""),
		security("DC01.beta.local", sec(1), 200, 100, `C:\Windows\System32\mstsc.exe`, ""), // pid 100 is on another machine
		security("dc01.BETA.local", sec(2), 300, 200, `C:\Windows\System32\rdpclip.exe`, ""),
		security("DC01", sec(3), 400, 100, `C:\Windows\System32\cmd.exe`, ""), // which DC01? neither
		security("wks01.corp.local", sec(4), 500, 4, `C:\a.exe`, ""),
		security("WKS01", sec(5), 600, 500, `C:\b.exe`, ""),
	)
	var names []string
	for _, h := range tl.Hosts {
		names = append(names, h.Name)
	}
	if want := "DC01,DC01.ALPHA.LOCAL,DC01.BETA.LOCAL,WKS01"; strings.Join(names, ",") != want {
		t.Fatalf("hosts %v, want %s", names, want)
	}
	beta := tl.Host("dc01.beta.local")
	if beta == nil || len(beta.Processes) != 2 || !slices.Equal(beta.Spellings, []string{"DC01.beta.local", "dc01.BETA.local"}) {
		t.Fatalf("beta: %+v", beta)
	}
	if mstsc := beta.Processes[0]; !mstsc.Parent.Placeholder || mstsc.Link != LinkPlaceholder {
		t.Errorf("mstsc linked across domains to %s (%s)", mstsc.Parent.Image, mstsc.Link)
	}
	if rdpclip := beta.Processes[1]; rdpclip.Parent != beta.Processes[0] {
		t.Errorf("rdpclip: parent %v", rdpclip.Parent)
	}
	if dc := tl.Host("dc01"); dc == nil || dc.Name != "DC01" || len(dc.Processes) != 1 || !dc.Processes[0].Parent.Placeholder {
		t.Errorf("DC01: %+v", dc)
	}
	if tl.Host("dc01.gamma.local") != tl.Host("DC01") {
		t.Error("a FQDN never seen should name the host known only by its short name")
	}
	if wks := tl.Host("WKS01.corp.local"); wks == nil || wks.Name != "WKS01" || len(wks.Processes) != 2 || wks.Processes[1].Parent != wks.Processes[0] {
		t.Errorf("WKS01: %+v", wks)
	}
	if tl.Host("wks01.other.local") != nil {
		t.Error("WKS01 seen in corp.local answers to another domain")
	}
	// A filter by FQDN also selects the records that name only the short
	// name: they may be that machine's.
	count := func(host string) int { return len(tl.Select(Filter{Host: host})) }
	if count("DC01") != 4 || count("dc01.alpha.local") != 1+1 || count("DC01.BETA.LOCAL") != 2+1 || count("wks01") != 2 {
		t.Errorf("filters: DC01 %d, alpha %d, beta %d, wks01 %d", count("DC01"), count("dc01.alpha.local"), count("DC01.BETA.LOCAL"), count("wks01"))
	}
}

// Item 13: a ProcessGuid claimed by two processes: each child is linked to
// the claimant running when it started, of the image it names, and both
// claimants are flagged.
func TestGUIDReuse(t *testing.T) {
	h := "SRV07"
	evs := []*parser.ProcessEvent{
		sysmon(h, sec(0), 100, 4, `C:\Tools\netscan.exe`, "G-1", "G-4", "System"),
		sysmon(h, sec(1), 200, 100, `C:\Windows\System32\mstsc.exe`, "G-2", "G-1", `C:\Tools\netscan.exe`),
		sysmon(h, sec(60), 300, 4, `C:\Windows\System32\notepad.exe`, "G-1", "G-4", "System"), // the same GUID again
		sysmon(h, sec(61), 400, 300, `C:\Windows\System32\conhost.exe`, "G-3", "G-1", `C:\Windows\System32\notepad.exe`),
	}
	x := exit(h, sec(30), 100, `C:\Tools\netscan.exe`)
	x.Source, x.ProcessGUID = parser.SourceSysmon5, "G-1"
	for _, order := range [][]*parser.ProcessEvent{append(evs, x), {x, evs[3], evs[2], evs[1], evs[0]}} {
		host := build(order...).Hosts[0]
		netscan, notepad := find(t, host, `C:\Tools\netscan.exe`, sec(0)), find(t, host, `C:\Windows\System32\notepad.exe`, sec(60))
		mstsc, conhost := find(t, host, `C:\Windows\System32\mstsc.exe`, sec(1)), find(t, host, `C:\Windows\System32\conhost.exe`, sec(61))
		if mstsc.Parent != netscan || mstsc.Link != LinkGUID || conhost.Parent != notepad || conhost.Link != LinkGUID {
			t.Errorf("mstsc: %s (%s %q); conhost: %s (%s)", mstsc.Parent.Image, mstsc.Link, mstsc.LinkNote, conhost.Parent.Image, conhost.Link)
		}
		if !slices.Contains(netscan.Flags, "guid-reused") || !slices.Contains(notepad.Flags, "guid-reused") || len(mstsc.Flags) != 0 {
			t.Errorf("flags: netscan %v notepad %v mstsc %v", netscan.Flags, notepad.Flags, mstsc.Flags)
		}
		if !netscan.Ended.Equal(sec(30)) || !notepad.Ended.IsZero() {
			t.Errorf("ended: netscan %v notepad %v", netscan.Ended, notepad.Ended)
		}
	}
}

// chainOf builds one host with a chain of n Sysmon processes, each the
// child of the one before, the first one named first.
func chainOf(n int, first string) *Timeline {
	b := NewBuilder(Options{})
	for i := range n {
		image := `C:\Windows\System32\cmd.exe`
		if i == 0 {
			image = first
		}
		ev := sysmon("DEEP", sec(float64(i)), uint32(1000+4*i), uint32(996+4*i), image, fmt.Sprint("G", i), fmt.Sprint("G", i-1), "")
		b.Add(ev)
	}
	return b.Build()
}

// Item 14: chains and descendant lists cut at maxSteps say so with a
// marker step, and Ancestors is never cut.
func TestWalksMarkTheirCut(t *testing.T) {
	const n = 300
	host := chainOf(n, `C:\Tools\netscan.exe`).Hosts[0]
	last := host.Processes[n-1]
	if anc := last.Ancestors(); len(anc) != n || anc[n-2].Image != `C:\Tools\netscan.exe` || last.Depth != n {
		t.Fatalf("ancestors: %d, depth %d", len(anc), last.Depth)
	}
	chain := last.Chain()
	top := chain[0]
	if len(chain) != 258 || !top.Placeholder || top.Image != "(44 ancestors not shown)" || top.Omitted != 44 ||
		chain[1].Process != host.Processes[43] || chain[1].SinceParent != 0 || chain[2].SinceParent != time.Second {
		t.Errorf("chain: %d steps, first %q (%d), second %v", len(chain), top.Image, top.Omitted, chain[1].Process.Time)
	}
	desc := host.Roots()[0].Descendants() // from the System placeholder
	mark := desc[len(desc)-1]
	if len(desc) != 257 || !mark.Placeholder || mark.Image != "(44 descendants not shown)" || mark.Omitted != 44 || mark.Depth != 257 {
		t.Errorf("descendants: %d, last %q (%d) depth %d", len(desc), mark.Image, mark.Omitted, mark.Depth)
	}
	// Short walks have no marker.
	if c := host.Processes[10].Chain(); len(c) != 12 || c[0].Omitted != 0 || c[0].Placeholder != true || c[0].Image != "" {
		t.Errorf("short chain starts with %q", c[0].Image)
	}
}

// Issue 13, bug 7: a merge that moves a process earlier keeps the host's
// processes in time order.
func TestMergeKeepsTimeOrder(t *testing.T) {
	h := "WKS09"
	sec4688 := security(h, sec(10), 100, 4, `C:\a.exe`, "")
	sys1 := sysmon(h, sec(9.5), 100, 4, `C:\a.exe`, "G-100", "G-4", "System") // Sysmon's clock is ahead
	other := security(h, sec(9.7), 200, 4, `C:\b.exe`, "")
	host := build(sec4688, sys1, other).Hosts[0]
	if len(host.Processes) != 2 || !slices.IsSortedFunc(host.Processes, func(a, b *Process) int { return a.Time.Compare(b.Time) }) {
		t.Errorf("processes out of order: %v at %v, %v at %v", host.Processes[0].Image, host.Processes[0].Time, host.Processes[1].Image, host.Processes[1].Time)
	}
}

// Item 7: when the versions of a parent cannot be told apart (the child's
// record is in both files), the link says so; so does a crowd of processes
// holding one pid at one time.
func TestTiedParentsAreAmbiguous(t *testing.T) {
	const h = "WKS07"
	netscan := security(h, sec(0), 0x1100, 0x900, `C:\Tools\netscan.exe`, "")
	mstsc := security(h, sec(1), 0x1200, 0x1100, `C:\Windows\System32\mstsc.exe`, "")
	notepad := *netscan
	notepad.Image = `C:\Windows\System32\notepad.exe`
	host := build(inFile(netscan, "B/Security.evtx", 1), inFile(mstsc, "B/Security.evtx", 2), inFile(&notepad, "A/Security.evtx", 1), inFile(mstsc, "A/Security.evtx", 2)).Hosts[0]
	child := find(t, host, mstsc.Image, sec(1))
	if child.Link != LinkAmbiguous || child.Parent.Image != netscan.Image || !strings.Contains(child.LinkNote, `notepad.exe in A/Security.evtx`) {
		t.Errorf("mstsc: %s %s %q", child.Parent.Image, child.Link, child.LinkNote)
	}

	var evs []*parser.ProcessEvent
	for i := range 20 {
		evs = append(evs, inFile(security(h, sec(0), 100, 4, fmt.Sprintf(`C:\crowd%02d.exe`, i), ""), "C/Security.evtx", int64(i)))
	}
	evs = append(evs, security(h, sec(1), 200, 100, `C:\child.exe`, ""))
	child = find(t, build(evs...).Hosts[0], `C:\child.exe`, sec(1))
	if child.Link != LinkAmbiguous || child.Parent.Image != `C:\crowd19.exe` || !strings.Contains(child.LinkNote, "16 more") {
		t.Errorf("crowd: %s %s %q", child.Parent.Image, child.Link, child.LinkNote)
	}
}

// Item 7: records 2^64 ns apart (a FILETIME can say year 2608) are two
// records, not one read twice: times are compared whole.
func TestFarTimesAreNotCopies(t *testing.T) {
	a := security("H", sec(0), 100, 4, `C:\a.exe`, "")
	b := *a
	b.Time = a.Time.Add(math.MaxInt64).Add(math.MaxInt64).Add(2)
	if a.Time.UnixNano() != b.Time.UnixNano() {
		t.Fatal("the times do not collide in Unix nanoseconds")
	}
	tl := build(inFile(a, "A/Security.evtx", 1), inFile(&b, "B/Security.evtx", 1))
	if n := len(tl.Hosts[0].Processes); n != 2 || tl.Duplicates != 0 || tl.Hosts[0].Processes[1].Time.Year() != 2608 {
		t.Errorf("%d processes, %d duplicates", n, tl.Duplicates)
	}
}
