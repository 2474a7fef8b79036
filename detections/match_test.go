package detections

import (
	"strings"
	"testing"

	"github.com/evtxhunt/evtxhunt/parser"
	"github.com/evtxhunt/evtxhunt/timeline"
)

// packHead is a pack rule's fields but its match section.
const packHead = `id: t
name: t
description: t
severity: high
risk_score: 50
attack:
  - {tactic: TA0008, tactic_name: Lateral Movement, technique: T1021, technique_name: Remote Services}
false_positives: [none]
response: [look]
references: [https://attack.mitre.org/techniques/T1021/]
`

// packRule compiles a pack rule around a match section.
func packRule(t *testing.T, match string) *Rule {
	t.Helper()
	r, errs := ParseRule("t.yml", []byte(packHead+"match:\n"+match))
	if len(errs) > 0 {
		t.Fatalf("%v\n%s", errs, match)
	}
	return r
}

// chain builds a timeline of the events, each the parent of the next
// (linked by GUID when Sysmon saw both, else by pid), and returns the last.
func chain(t *testing.T, evs ...parser.ProcessEvent) *timeline.Process {
	t.Helper()
	b := timeline.NewBuilder(timeline.Options{})
	for i := range evs {
		ev := evs[i]
		ev.Host, ev.File, ev.RecordID = "H", "f", uint64(i+1)
		ev.Time = ev.Time.AddDate(2024, 0, i)
		ev.PID, ev.PPID = uint32(100+4*i), uint32(100+4*(i-1))
		if ev.Source == "" {
			ev.Source, ev.ProcessGUID = parser.SourceSysmon1, "G"+string(rune('A'+i))
			if i > 0 && evs[i-1].Source == "" {
				ev.ParentProcessGUID = "G" + string(rune('A'+i-1))
			}
		}
		b.Add(&ev)
	}
	procs := b.Build().Hosts[0].Processes
	return procs[len(procs)-1]
}

// TestPackLanguage: the match language keeps its own semantics in the
// shared engine: paths in winpath.Normalize's form, values without
// wildcards but for the wildcard modifier (where a backslash is a path's),
// regular expressions ignoring case unless cased, a field the source does
// not record read as empty, a missing parent matching nothing.
func TestPackLanguage(t *testing.T) {
	img := func(image, cmd string) parser.ProcessEvent {
		return parser.ProcessEvent{Image: image, CommandLine: cmd}
	}
	sec := func(image, cmd string) parser.ProcessEvent {
		return parser.ProcessEvent{Image: image, CommandLine: cmd, Source: parser.SourceSecurity4688}
	}
	const ancestor = "  process:\n    image|endswith: \\x.exe\n  ancestor:\n    image|endswith: \\netscan.exe\n    command_line|contains: /hidden\n"
	const anyOfNot = "  any_of:\n    - process: {image|endswith: \\a.exe}\n    - process: {image|endswith: \\x.exe}\n  not:\n    - process: {command_line|contains: safe}\n"
	cases := []struct {
		name, match string
		evs         []parser.ProcessEvent
		want        bool
	}{
		{"endswith any spelling of the path", "  process:\n    image|endswith: \\mstsc.exe\n",
			[]parser.ProcessEvent{img(`\??\C:\Windows\System32\MSTSC.EXE`, "")}, true},
		{"equals a path spelt another way", "  process:\n    image: C:\\Windows\\System32\\cmd.exe\n",
			[]parser.ProcessEvent{img(`\\?\c:\windows\system32\CMD.exe`, "")}, true},
		{"path with forward slashes", "  process:\n    image|startswith: 'C:\\Tools\\'\n",
			[]parser.ProcessEvent{img(`C:/Tools/x.exe`, "")}, true},
		{"wildcard: a backslash before * is the path's", "  process:\n    image|wildcard: \\Device\\Mup\\tsclient\\*.exe\n",
			[]parser.ProcessEvent{img(`\\tsclient\C\Tools\x.exe`, "")}, true},
		{"wildcard elsewhere", "  process:\n    image|wildcard: \\Device\\Mup\\tsclient\\*.exe\n",
			[]parser.ProcessEvent{img(`C:\Tools\x.exe`, "")}, false},
		{"wildcard ? is one character", "  process:\n    command_line|wildcard: 'net? use*'\n",
			[]parser.ProcessEvent{img(`C:\x.exe`, "NET1 USE x")}, true},
		{"wildcard across a line break", "  process:\n    command_line|wildcard: '*whoami*'\n",
			[]parser.ProcessEvent{img(`C:\x.exe`, "cmd /c echo x\nwhoami /all")}, true},
		{"* without wildcard is itself", "  process:\n    command_line|contains: 'a*b'\n",
			[]parser.ProcessEvent{img(`C:\x.exe`, "axb")}, false},
		{"* without wildcard, there", "  process:\n    command_line|contains: 'a*b'\n",
			[]parser.ProcessEvent{img(`C:\x.exe`, "x A*B y")}, true},
		{"cased", "  process:\n    command_line|contains|cased: Invoke\n",
			[]parser.ProcessEvent{img(`C:\x.exe`, "invoke-x")}, false},
		{"re ignores case", "  process:\n    command_line|re: 'WHO[a-z]MI'\n",
			[]parser.ProcessEvent{img(`C:\x.exe`, "whoami")}, true},
		{"re|cased", "  process:\n    command_line|re|cased: 'WHO[a-z]MI'\n",
			[]parser.ProcessEvent{img(`C:\x.exe`, "whoami")}, false},
		{"all", "  process:\n    command_line|contains|all: [/node:, create]\n",
			[]parser.ProcessEvent{img(`C:\x.exe`, "wmic /node:x process call create")}, true},
		{"all, one missing", "  process:\n    command_line|contains|all: [/node:, delete]\n",
			[]parser.ProcessEvent{img(`C:\x.exe`, "wmic /node:x process call create")}, false},
		{"parent role", "  parent:\n    image|endswith: \\netscan.exe\n    command_line|contains: scan\n",
			[]parser.ProcessEvent{img(`C:\netscan.exe`, "netscan /scan"), img(`C:\x.exe`, "")}, true},
		{"parent role reads the parent, not the process", "  parent:\n    command_line|contains: run\n",
			[]parser.ProcessEvent{img(`C:\netscan.exe`, "netscan"), img(`C:\x.exe`, "run")}, false},
		{"ancestor", ancestor, []parser.ProcessEvent{img(`C:\netscan.exe`, "netscan /hidden"), img(`C:\cmd.exe`, ""), img(`C:\x.exe`, "")}, true},
		{"ancestor: one ancestor passes every test", ancestor,
			[]parser.ProcessEvent{img(`C:\netscan.exe`, "netscan"), img(`C:\cmd.exe`, "/hidden"), img(`C:\x.exe`, "")}, false},
		{"any_of and not", anyOfNot, []parser.ProcessEvent{img(`C:\x.exe`, "run")}, true},
		{"not", anyOfNot, []parser.ProcessEvent{img(`C:\x.exe`, "run safe")}, false},
		{"a field 4688 does not record reads as empty", "  process:\n    image|endswith: \\x.exe\n  not:\n    process: {original_file_name|re: '.'}\n",
			[]parser.ProcessEvent{sec(`C:\x.exe`, "")}, true},
		{"empty original_file_name on 4688", "  process:\n    original_file_name: ''\n",
			[]parser.ProcessEvent{sec(`C:\x.exe`, "")}, true},
		{"parent_command_line as the event recorded it", "  process:\n    parent_command_line: ''\n",
			[]parser.ProcessEvent{sec(`C:\p.exe`, "p.exe /run"), sec(`C:\x.exe`, "")}, true},
		{"the parent's command line as the timeline resolved it", "  parent:\n    command_line: p.exe /run\n",
			[]parser.ProcessEvent{sec(`C:\p.exe`, "p.exe /run"), sec(`C:\x.exe`, "")}, true},
	}
	for _, tc := range cases {
		if got := packRule(t, tc.match).matcher.match(chain(t, tc.evs...), newFieldCache()); got != tc.want {
			t.Errorf("%s: matched %v, want %v", tc.name, got, tc.want)
		}
	}
	// Sigma reads the same field of the same 4688 process as absent.
	if sigmaMatches(t, "    sel:\n        OriginalFileName: ''\n    condition: sel", sec(`C:\x.exe`, "")) {
		t.Error("Sigma: an empty OriginalFileName matched on 4688")
	}
	// A process without a parent (a link cycle cut) passes no parent test,
	// so 'not' of one holds.
	orphan := &timeline.Process{ProcessEvent: parser.ProcessEvent{Image: `C:\x.exe`, ParentImage: `C:\netscan.exe`}}
	if packRule(t, "  parent:\n    image|endswith: \\netscan.exe\n").matcher.match(orphan, newFieldCache()) {
		t.Error("a parent test matched a process without a parent")
	}
	if !packRule(t, "  process:\n    image|endswith: \\x.exe\n  not:\n    - parent: {image: ''}\n").matcher.match(orphan, newFieldCache()) {
		t.Error("not of a parent test failed on a process without a parent")
	}
	for _, bad := range []string{"  process:\n    image|fuzzy: x\n", "  process:\n    imagepath: x\n", "  process:\n    command_line|re: '('\n",
		"  not:\n    process: {image: x}\n", "  process: {}\n", "  process:\n    image: [[x]]\n"} {
		if _, errs := ParseRule("t.yml", []byte(packHead+"match:\n"+bad)); len(errs) == 0 || !strings.Contains(errs[0].Error(), "match") {
			t.Errorf("compiled:\n%s(%v)", bad, errs)
		}
	}
}
