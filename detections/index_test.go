package detections

import (
	"fmt"
	"maps"
	"testing"
	"time"

	"github.com/evtxhunt/evtxhunt/parser"
	"github.com/evtxhunt/evtxhunt/timeline"
)

// engineHits is what the engine finds: "rule id, process" keys.
func engineHits(e *Engine, tl *timeline.Timeline) map[string]bool {
	got := map[string]bool{}
	for _, f := range e.Run(tl) {
		for _, h := range f.Hits {
			got[fmt.Sprintf("%s %p", f.Rule.ID, h.Process)] = true
		}
	}
	return got
}

// everyRuleOnEveryProcess is what trying every rule on every process finds.
func everyRuleOnEveryProcess(rules []*Rule, tl *timeline.Timeline) map[string]bool {
	want := map[string]bool{}
	c := newFieldCache()
	for _, h := range tl.Hosts {
		for _, p := range h.Processes {
			for _, r := range rules {
				if r.matcher.match(p, c) {
					want[fmt.Sprintf("%s %p", r.ID, p)] = true
				}
			}
		}
	}
	return want
}

// craftedTimeline has processes that run the same thing under other
// parents and ancestors (which the memo must tell apart) and images spelt
// in ways only winpath.Normalize makes equal (which the image index
// must find), on host CRAFT.
func craftedTimeline(t *testing.T) *timeline.Timeline {
	b := timeline.NewBuilder(timeline.Options{})
	t0 := time.Date(2024, 5, 1, 9, 0, 0, 0, time.UTC)
	var n int
	type proc struct{ image, cmd, ofn string }
	// add logs a chain of processes, each the parent of the next.
	add := func(source parser.Source, chain ...proc) {
		for i, p := range chain {
			n++
			ev := parser.ProcessEvent{Host: "CRAFT", File: "craft.evtx", RecordID: uint64(n), Time: t0.Add(time.Duration(n) * time.Second),
				Source: source, PID: uint32(1000 + 4*n), PPID: uint32(1000 + 4*(n-1)), Image: p.image, CommandLine: p.cmd, OriginalFileName: p.ofn}
			if i == 0 {
				ev.PPID = 4
			}
			if source == parser.SourceSysmon1 {
				ev.ProcessGUID = fmt.Sprint("G", n)
				if i > 0 {
					ev.ParentProcessGUID = fmt.Sprint("G", n-1)
				}
			}
			b.Add(&ev)
		}
	}
	const (
		netscan  = `C:\Tools\netscan.exe`
		explorer = `C:\Windows\explorer.exe`
		cmd      = `C:\Windows\System32\cmd.exe`
	)
	sysmon, security := parser.SourceSysmon1, parser.SourceSecurity4688
	add(sysmon, proc{`\Device\Mup\tsclient\C\Tools\netscan.exe`, "", ""}, proc{cmd, "", ""}, proc{`C:\Windows\System32\mstsc.exe`, "mstsc /v:SRV01", ""})
	add(sysmon, proc{explorer, "", ""}, proc{cmd, "", ""}, proc{`C:\Windows\System32\mstsc.exe`, "mstsc /v:SRV01", ""})
	add(sysmon, proc{netscan, "", ""}, proc{`C:\Windows\System32\mstsc.exe `, "mstsc /v:X", ""})
	add(sysmon, proc{explorer, "", ""}, proc{`C:/Windows/System32/MSTSC.EXE`, "mstsc /v:X", ""})
	add(sysmon, proc{netscan, "", ""}, proc{`\??\C:\Windows\System32\mstsc.exe`, "mstsc /v:X", ""})
	add(sysmon, proc{explorer, "", ""}, proc{`\??\C:\Windows\System32\mstsc.exe`, "mstsc /v:X", ""})
	add(security, proc{`C:\Windows\System32\services.exe`, "", ""}, proc{cmd, "cmd /c WHOAMI", ""})
	add(sysmon, proc{`C:\Windows\System32\wbem\WmiPrvSE.exe`, "", ""}, proc{cmd, "cmd /c whoami", ""})
	add(sysmon, proc{`C:\Windows\System32\services.exe`, "", ""}, proc{`C:\Windows\x.exe`, "x", "PSEXESVC.exe"})
	return b.Build()
}

// TestEngineIndexIsExactForPackRules: for the pack's rules too (parent
// and ancestor conditions, paths in winpath.Normalize's form), the
// engine's image and command line indexes and its memoized results find
// exactly what trying every rule on every process finds.
func TestEngineIndexIsExactForPackRules(t *testing.T) {
	rules, err := Builtin()
	if err != nil {
		t.Fatal(err)
	}
	for id, match := range map[string]string{
		"t-ancestor": "  process:\n    image|endswith: \\mstsc.exe\n  ancestor:\n    image|endswith: \\netscan.exe\n",
		"t-command":  "  process:\n    command_line|contains|all: [/c, whoami]\n",
		"t-cased":    "  process:\n    command_line|contains|cased: WHOAMI\n",
	} {
		r := packRule(t, match)
		r.ID = id
		rules = append(rules, r)
	}
	e := NewEngine(rules)
	for _, tl := range []*timeline.Timeline{craftedTimeline(t), scanTimeline(t, "../testdata/evidence")} {
		got, want := engineHits(e, tl), everyRuleOnEveryProcess(rules, tl)
		if len(want) == 0 || !maps.Equal(got, want) {
			t.Errorf("engine %d hits, every rule on every process %d", len(got), len(want))
			for k := range want {
				if !got[k] {
					t.Logf("engine misses %s", k)
				}
			}
		}
	}
	// The crafted processes give each rule what it should.
	perRule := map[string]int{}
	tl := craftedTimeline(t)
	for _, f := range e.Run(tl) {
		perRule[f.Rule.ID] += len(f.Hits)
	}
	for id, n := range map[string]int{"t-ancestor": 3, "HuntQuery-CrowdStrike-NetscanMstscRDP": 2, "t-command": 2, "t-cased": 1,
		"evtxhunt-lm-psexec-renamed": 1, "evtxhunt-lm-wmi-shell": 1, "evtxhunt-lm-service-shell": 1} {
		if perRule[id] != n {
			t.Errorf("%s: %d hits, want %d", id, perRule[id], n)
		}
	}
}
