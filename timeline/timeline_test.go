package timeline

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/evtxhunt/evtxhunt/parser"
)

var t0 = time.Date(2024, 3, 14, 10, 0, 0, 0, time.UTC)

func sec(n float64) time.Time { return t0.Add(time.Duration(n * float64(time.Second))) }

var recordIDs uint64

func security(host string, at time.Time, pid, ppid uint32, image, parentImage string) *parser.ProcessEvent {
	recordIDs++
	return &parser.ProcessEvent{Host: host, Time: at, Source: parser.SourceSecurity4688, RecordID: recordIDs, PID: pid, PPID: ppid,
		Image: image, ParentImage: parentImage, File: host + "/Security.evtx", User: `CORP\alice`}
}

func sysmon(host string, at time.Time, pid, ppid uint32, image, guid, parentGUID, parentImage string) *parser.ProcessEvent {
	recordIDs++
	return &parser.ProcessEvent{Host: host, Time: at, Source: parser.SourceSysmon1, RecordID: recordIDs, PID: pid, PPID: ppid,
		Image: image, ParentImage: parentImage, ProcessGUID: guid, ParentProcessGUID: parentGUID, File: host + "/Sysmon.evtx", User: `CORP\alice`}
}

func exit(host string, at time.Time, pid uint32, image string) *parser.ProcessEvent {
	recordIDs++
	return &parser.ProcessEvent{Host: host, Time: at, Source: parser.SourceSecurity4689, RecordID: recordIDs, PID: pid, Image: image, File: host + "/Security.evtx"}
}

func build(evs ...*parser.ProcessEvent) *Timeline {
	b := NewBuilder(Options{})
	for _, ev := range evs {
		b.Add(ev)
	}
	return b.Build()
}

func find(t *testing.T, h *Host, image string, at time.Time) *Process {
	t.Helper()
	for _, p := range h.Processes {
		if p.Image == image && p.Time.Equal(at) {
			return p
		}
	}
	t.Fatalf("%s: no %s at %v", h.Name, image, at)
	return nil
}

func TestCanonicalHost(t *testing.T) {
	for in, want := range map[string]string{"WKS01": "WKS01", "wks01": "WKS01", "WKS01.corp.local": "WKS01", " wks01.CORP.local ": "WKS01", "10.0.0.5": "10.0.0.5", "": "UNKNOWN"} {
		if got := CanonicalHost(in); got != want {
			t.Errorf("CanonicalHost(%q) = %q, want %q", in, got, want)
		}
	}
	tl := build(security("WKS01.corp.local", sec(1), 8, 4, `C:\a.exe`, ""), security("wks01", sec(2), 12, 4, `C:\b.exe`, ""), security("SRV01", sec(3), 8, 4, `C:\a.exe`, ""))
	if len(tl.Hosts) != 2 || tl.Hosts[1].Name != "WKS01" || !slices.Equal(tl.Hosts[1].Spellings, []string{"WKS01.corp.local", "wks01"}) {
		t.Errorf("hosts %+v", tl.Hosts)
	}
	if tl.Host("wks01.corp.local") != tl.Hosts[1] {
		t.Error("Host lookup by another spelling")
	}
}

func TestMergeAndDuplicates(t *testing.T) {
	sec4688 := security("WKS01", sec(10), 100, 40, `\Device\Mup\tsclient\c\x.exe`, `C:\Windows\explorer.exe`)
	sys1 := sysmon("wks01.corp.local", sec(10.03), 100, 40, `\\tsclient\c\x.exe`, "G-100", "G-40", `C:\Windows\explorer.exe`)
	sys1.Hashes = "SHA256=AB"
	again := *sec4688
	again.File = "WKS01/VSS/Security.evtx"
	other := sysmon("WKS01", sec(15), 100, 40, `C:\other.exe`, "G-101", "G-40", `C:\Windows\explorer.exe`) // same pid, other image
	tl := build(sec4688, sys1, &again, other)
	h := tl.Hosts[0]
	if len(h.Processes) != 2 || tl.Duplicates != 1 {
		t.Fatalf("%d processes, %d duplicates", len(h.Processes), tl.Duplicates)
	}
	p := h.Processes[0]
	if len(p.Evidence) != 2 || !slices.Equal(p.Sources(), []parser.Source{parser.SourceSecurity4688, parser.SourceSysmon1}) ||
		len(p.Copies) != 1 || p.Copies[0].File != "WKS01/VSS/Security.evtx" {
		t.Errorf("merged: evidence %v copies %v", p.Evidence, p.Copies)
	}
	if p.ProcessGUID != "G-100" || p.Hashes != "SHA256=AB" || !p.Time.Equal(sec(10)) || p.Image != `\Device\Mup\tsclient\c\x.exe` {
		t.Errorf("merged fields: %+v", p.ProcessEvent)
	}
}

func TestPIDLifetimes(t *testing.T) {
	h := "LEGACY01"
	tl := build(
		security(h, sec(0), 100, 4, `C:\Tools\netscan.exe`, ""),
		security(h, sec(1), 200, 100, `C:\Windows\System32\cmd.exe`, ""), // child of netscan
		exit(h, sec(5), 100, `C:\Tools\netscan.exe`),
		security(h, sec(6), 300, 100, `C:\orphan.exe`, ""), // pid 100 has exited, not yet reused
		security(h, sec(10), 100, 4, `C:\Windows\System32\cmd.exe`, ""),
		security(h, sec(12), 400, 100, `C:\Windows\System32\mstsc.exe`, ""), // child of the reused pid
	)
	host := tl.Hosts[0]
	netscan := find(t, host, `C:\Tools\netscan.exe`, sec(0))
	cmd := find(t, host, `C:\Windows\System32\cmd.exe`, sec(10))
	if !netscan.Ended.Equal(sec(5)) || !cmd.Ended.IsZero() {
		t.Errorf("ended: netscan %v, cmd %v", netscan.Ended, cmd.Ended)
	}
	if c := find(t, host, `C:\Windows\System32\cmd.exe`, sec(1)); c.Parent != netscan || c.Link != LinkPID {
		t.Errorf("cmd at 1s: parent %v link %s", c.Parent, c.Link)
	}
	mstsc := find(t, host, `C:\Windows\System32\mstsc.exe`, sec(12))
	if mstsc.Parent != cmd || mstsc.Link != LinkPID || mstsc.ResolvedParentImage() != `C:\Windows\System32\cmd.exe` {
		t.Errorf("mstsc: parent %s link %s", mstsc.Parent.Image, mstsc.Link)
	}
	orphan := find(t, host, `C:\orphan.exe`, sec(6))
	if !orphan.Parent.Placeholder || orphan.Link != LinkPlaceholder || !strings.Contains(orphan.LinkNote, "exited") {
		t.Errorf("orphan: parent %+v link %s note %q", orphan.Parent, orphan.Link, orphan.LinkNote)
	}
	// System (pid 4) is never logged: one placeholder for both roots.
	if netscan.Parent == nil || netscan.Parent != cmd.Parent || netscan.Parent.Image != "System" || netscan.Depth != 1 || mstsc.Depth != 2 {
		t.Errorf("roots: %+v / %+v, depths %d %d", netscan.Parent, cmd.Parent, netscan.Depth, mstsc.Depth)
	}
}

func TestGUIDLinksAndPlaceholders(t *testing.T) {
	h := "SRV01"
	tl := build(
		sysmon(h, sec(0), 100, 50, `C:\Windows\explorer.exe`, "G-100", "G-50", `C:\Windows\System32\userinit.exe`),
		sysmon(h, sec(1), 200, 100, `C:\a.exe`, "G-200", "G-100", `C:\Windows\explorer.exe`),
		sysmon(h, sec(2), 300, 100, `C:\b.exe`, "G-300", "G-100", `C:\Windows\explorer.exe`),
		sysmon(h, sec(3), 400, 999, `C:\c.exe`, "G-400", "G-999", `C:\Windows\System32\services.exe`),
		sysmon(h, sec(4), 500, 999, `C:\d.exe`, "G-500", "G-999", `C:\Windows\System32\services.exe`),
	)
	host := tl.Hosts[0]
	explorer := find(t, host, `C:\Windows\explorer.exe`, sec(0))
	if len(explorer.Children) != 2 || explorer.Children[0].Link != LinkGUID || explorer.Children[1].Image != `C:\b.exe` {
		t.Errorf("explorer children %v", explorer.Children)
	}
	c, d := find(t, host, `C:\c.exe`, sec(3)), find(t, host, `C:\d.exe`, sec(4))
	if c.Parent != d.Parent || !c.Parent.Placeholder || c.Parent.Image != `C:\Windows\System32\services.exe` || c.Parent.PID != 999 ||
		c.Parent.ProcessGUID != "G-999" || c.Link != LinkPlaceholder || !strings.Contains(c.LinkNote, "G-999") {
		t.Errorf("placeholder: %+v link %s note %q", c.Parent, c.Link, c.LinkNote)
	}
	if len(host.Placeholders) != 2 || len(host.Roots()) != 2 {
		t.Errorf("placeholders %d, roots %d", len(host.Placeholders), len(host.Roots()))
	}
}

func TestAmbiguousLinks(t *testing.T) {
	h := "WKS01"
	tl := build(
		security(h, sec(10), 200, 100, `C:\child.exe`, ""),
		security(h, sec(10.5), 100, 4, `C:\late-parent.exe`, ""),                  // logged after its child: skew
		security(h, sec(20), 300, 100, `C:\other.exe`, `C:\Windows\explorer.exe`), // v2 names another parent
	)
	host := tl.Hosts[0]
	child := find(t, host, `C:\child.exe`, sec(10))
	if child.Link != LinkAmbiguous || child.Parent.Image != `C:\late-parent.exe` || !slices.Contains(child.Flags, FlagClockSkew) || !strings.Contains(child.LinkNote, "clock skew") {
		t.Errorf("skew: %s %s %v %q", child.Link, child.Parent.Image, child.Flags, child.LinkNote)
	}
	other := find(t, host, `C:\other.exe`, sec(20))
	if other.Link != LinkAmbiguous || !other.Parent.Placeholder || other.Parent.Image != `C:\Windows\explorer.exe` || !strings.Contains(other.LinkNote, `C:\late-parent.exe`) {
		t.Errorf("image mismatch: %s %+v %q", other.Link, other.Parent, other.LinkNote)
	}
}

func TestChainAndDescendants(t *testing.T) {
	h := "WKS01"
	tl := build(
		sysmon(h, sec(0), 1, 4, `C:\a.exe`, "A", "SYS", "System"),
		sysmon(h, sec(2), 2, 1, `C:\b.exe`, "B", "A", `C:\a.exe`),
		sysmon(h, sec(5), 3, 2, `C:\c.exe`, "C", "B", `C:\b.exe`),
		sysmon(h, sec(6), 4, 1, `C:\d.exe`, "D", "A", `C:\a.exe`),
	)
	host := tl.Hosts[0]
	c := find(t, host, `C:\c.exe`, sec(5))
	chain := c.Chain()
	var got []string
	for _, s := range chain {
		got = append(got, s.Image+"+"+s.SinceParent.String())
	}
	if want := []string{"System+0s", `C:\a.exe+0s`, `C:\b.exe+2s`, `C:\c.exe+3s`}; !slices.Equal(got, want) {
		t.Errorf("chain %v, want %v", got, want)
	}
	got = nil
	for _, s := range find(t, host, `C:\a.exe`, sec(0)).Descendants() {
		got = append(got, s.Image+"+"+s.SinceParent.String())
	}
	if want := []string{`C:\b.exe+2s`, `C:\c.exe+3s`, `C:\d.exe+6s`}; !slices.Equal(got, want) {
		t.Errorf("descendants %v, want %v", got, want)
	}
}

func TestFilterAndOrder(t *testing.T) {
	a := security("WKS01", sec(30), 100, 4, `C:\Tools\NetScan.exe`, "")
	b := security("WKS01", sec(10), 104, 4, `C:\Windows\System32\cmd.exe`, "")
	b.CommandLine = "cmd /c whoami"
	b.User = `CORP\bob`
	c := security("SRV01", sec(20), 108, 4, `C:\x.exe`, "")
	tl := build(a, b, c) // record ids in this order: b is logged after a with an earlier time
	count := func(f Filter) int { return len(tl.Select(f)) }
	if count(Filter{}) != 3 || count(Filter{Host: "wks01.corp.local"}) != 2 || count(Filter{User: "BOB"}) != 1 ||
		count(Filter{Text: "netscan"}) != 1 || count(Filter{Text: "WHOAMI"}) != 1 || count(Filter{From: sec(15), To: sec(25)}) != 1 {
		t.Error("filters select the wrong processes")
	}
	wks := tl.Host("WKS01")
	if wks.Processes[0].Image != `C:\Windows\System32\cmd.exe` || !slices.Contains(wks.Processes[0].Flags, FlagOutOfOrder) || len(wks.Processes[1].Flags) != 0 {
		t.Errorf("order/flags: %s %v / %v", wks.Processes[0].Image, wks.Processes[0].Flags, wks.Processes[1].Flags)
	}
}

func TestGUIDCycleIsCut(t *testing.T) {
	tl := build(
		sysmon("H", sec(1), 10, 20, `C:\a.exe`, "A", "B", `C:\b.exe`),
		sysmon("H", sec(2), 20, 10, `C:\b.exe`, "B", "A", `C:\a.exe`),
	)
	h := tl.Hosts[0]
	a, b := find(t, h, `C:\a.exe`, sec(1)), find(t, h, `C:\b.exe`, sec(2))
	if a.Parent != nil || a.Link != LinkAmbiguous || !strings.Contains(a.LinkNote, "leads back") || b.Parent != a || len(h.Roots()) != 1 {
		t.Errorf("a: %v %s %q; b parent %v; roots %d", a.Parent, a.Link, a.LinkNote, b.Parent, len(h.Roots()))
	}
}

// TestParentFieldsRule holds ResolvedParentImage, ResolvedParentCommandLine
// and SeenBy to their one rule: the event's own field first, then the linked
// parent's; a placeholder was seen by nothing and knows only its image.
func TestParentFieldsRule(t *testing.T) {
	const h = "WKS20"
	parent := security(h, sec(1), 0x100, 4, `C:\Tools\p.exe`, "")
	parent.CommandLine = "p.exe /linked"
	parentSysmon := sysmon(h, sec(1.1), 0x100, 4, `C:\Tools\p.exe`, "G-100", "G-4", "")
	parentSysmon.CommandLine = parent.CommandLine
	child := security(h, sec(2), 0x200, 0x100, `C:\x.exe`, `\??\C:\Tools\P.EXE`) // 4688 v2: no parent command line
	childSysmon := sysmon(h, sec(2.1), 0x200, 0x100, `C:\x.exe`, "G-200", "G-100", `C:\Tools\p.exe`)
	childSysmon.ParentCommandLine = "p.exe /recorded"
	v1 := security(h, sec(3), 0x300, 0x100, `C:\v1.exe`, "") // 4688 v1: no parent image either
	orphan := sysmon(h, sec(4), 0x400, 0x999, `C:\o.exe`, "G-400", "G-999", `C:\gone.exe`)
	host := build(parent, parentSysmon, child, childSysmon, v1, orphan).Hosts[0]

	p := find(t, host, `C:\Tools\p.exe`, sec(1))
	merged := find(t, host, `C:\x.exe`, sec(2))
	for _, tc := range []struct {
		name                       string
		got                        *Process
		image, commandLine         string
		sysmon, security, isParent bool
	}{
		// The event's image wins over the linked parent's spelling of it,
		// and Sysmon's recorded command line over the linked parent's.
		{"4688 and Sysmon merged", merged, `\??\C:\Tools\P.EXE`, "p.exe /recorded", true, true, true},
		{"4688 v1", find(t, host, `C:\v1.exe`, sec(3)), `C:\Tools\p.exe`, "p.exe /linked", false, true, true},
		{"placeholder parent", find(t, host, `C:\o.exe`, sec(4)), `C:\gone.exe`, "", true, false, false},
	} {
		if got := tc.got.ResolvedParentImage(); got != tc.image {
			t.Errorf("%s: parent image %q, want %q", tc.name, got, tc.image)
		}
		if got := tc.got.ResolvedParentCommandLine(); got != tc.commandLine {
			t.Errorf("%s: parent command line %q, want %q", tc.name, got, tc.commandLine)
		}
		if tc.got.SeenBy(parser.SourceSysmon1) != tc.sysmon || tc.got.SeenBy(parser.SourceSecurity4688) != tc.security {
			t.Errorf("%s: seen by Sysmon %v, by 4688 %v", tc.name, tc.got.SeenBy(parser.SourceSysmon1), tc.got.SeenBy(parser.SourceSecurity4688))
		}
		if (tc.got.Parent == p) != tc.isParent {
			t.Errorf("%s: linked to %v", tc.name, tc.got.Parent)
		}
	}
	// A 4688 child without Sysmon reads the linked parent's command line.
	only4688 := build(parent, security(h, sec(5), 0x500, 0x100, `C:\y.exe`, `C:\Tools\p.exe`)).Hosts[0]
	if y := find(t, only4688, `C:\y.exe`, sec(5)); y.ResolvedParentCommandLine() != "p.exe /linked" || y.SeenBy(parser.SourceSysmon1) {
		t.Errorf("4688 only: parent command line %q, seen by Sysmon %v", y.ResolvedParentCommandLine(), y.SeenBy(parser.SourceSysmon1))
	}
	ph := find(t, host, `C:\o.exe`, sec(4)).Parent
	if !ph.Placeholder || len(ph.Sources()) != 0 || ph.SeenBy(parser.SourceSysmon1) || ph.ResolvedParentImage() != "" {
		t.Errorf("placeholder %+v: sources %v", ph, ph.Sources())
	}
}
