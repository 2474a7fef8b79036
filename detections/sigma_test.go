package detections

import (
	"encoding/base64"
	"maps"
	"os"
	"path/filepath"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/evtxhunt/evtxhunt/parser"
	"github.com/evtxhunt/evtxhunt/timeline"
)

const sharedSigma = "../../shared/sigma"

func needSigma(t *testing.T) {
	if _, err := os.Stat(sharedSigma); err != nil {
		t.Skipf("SKIP: the shared Sigma material is absent: %v", err)
	}
}

// TestSigmaRulesCompile: at least 99% of SigmaHQ's process_creation rules
// compile; the rest are listed with their reasons.
func TestSigmaRulesCompile(t *testing.T) {
	needSigma(t)
	load := LoadSigma(sharedSigma + "/rules/process_creation")
	total := len(load.Rules) + len(load.Errors) + len(load.NotApplicable)
	for _, err := range load.Errors {
		t.Logf("not compiled: %v", err)
	}
	t.Logf("%d of %d rules compiled, %d not applicable, %d with fields Security 4688 lacks", len(load.Rules), total, len(load.NotApplicable), len(load.Partial4688))
	if total != 1183 || float64(len(load.Rules)) < 0.99*float64(total) {
		t.Errorf("%d of %d rules compiled, want 99%%", len(load.Rules), total)
	}
}

// TestSigmaRegression runs SigmaHQ's own regression cases: the rule named in
// info.yml, on its .evtx, matches exactly match_count events.
func TestSigmaRegression(t *testing.T) {
	needSigma(t)
	load := LoadSigma(sharedSigma + "/rules/process_creation")
	byID := map[string]*Rule{}
	for _, r := range load.Rules {
		byID[r.ID] = r
	}
	cases, err := os.ReadDir(sharedSigma + "/regression")
	if err != nil {
		t.Fatal(err)
	}
	passed := 0
	for _, c := range cases {
		dir := filepath.Join(sharedSigma, "regression", c.Name())
		b, err := os.ReadFile(filepath.Join(dir, "info.yml"))
		if err != nil {
			t.Fatal(err)
		}
		var info struct {
			Rule []struct {
				ID string `yaml:"id"`
			} `yaml:"rule_metadata"`
			Tests []struct {
				MatchCount *int   `yaml:"match_count"`
				Path       string `yaml:"path"`
			} `yaml:"regression_tests_info"`
		}
		if err := yaml.Unmarshal(b, &info); err != nil || len(info.Rule) == 0 || len(info.Tests) == 0 {
			t.Fatalf("%s: %v", dir, err)
		}
		rule := byID[info.Rule[0].ID]
		if rule == nil {
			t.Errorf("%s: rule %s did not compile", c.Name(), info.Rule[0].ID)
			continue
		}
		evtxFile := filepath.Join(dir, filepath.Base(info.Tests[0].Path))
		tl := scanTimeline(t, evtxFile)
		got := 0
		for _, f := range NewEngine([]*Rule{rule}).Run(tl) {
			got += len(f.Hits)
		}
		want := info.Tests[0].MatchCount
		if want != nil && got == *want || want == nil && got > 0 {
			passed++
		} else {
			t.Errorf("%s (%s): %d matches, want %v", c.Name(), rule.Name, got, want)
		}
	}
	t.Logf("Sigma regression: %d of %d cases pass", passed, len(cases))
}

// sigmaCase builds a rule from a detection section and reports whether it
// matches the process described by fields (Sysmon-sourced unless sec).
func sigmaMatches(t *testing.T, detection string, ev parser.ProcessEvent) bool {
	t.Helper()
	rule := "title: t\nid: 11111111-2222-3333-4444-555555555555\nlevel: high\nlogsource:\n    category: process_creation\n    product: windows\ndetection:\n" + detection
	r, applicable, _, err := ParseSigma("t.yml", []byte(rule))
	if err != nil || !applicable {
		t.Fatalf("%v (applicable %v)\n%s", err, applicable, rule)
	}
	ev.Host, ev.File, ev.RecordID = "H", "f", 1
	if ev.Source == "" {
		ev.Source, ev.ProcessGUID = parser.SourceSysmon1, "G"
	}
	b := timeline.NewBuilder(timeline.Options{})
	b.Add(&ev)
	tl := b.Build()
	return r.matcher.match(tl.Hosts[0].Processes[0], newFieldCache())
}

func TestSigmaLanguage(t *testing.T) {
	cmd := func(s string) parser.ProcessEvent {
		return parser.ProcessEvent{Image: `C:\Windows\System32\cmd.exe`, CommandLine: s, OriginalFileName: "Cmd.Exe", User: `CORP\alice`, IntegrityLevel: "High"}
	}
	cases := []struct {
		name, detection string
		ev              parser.ProcessEvent
		want            bool
	}{
		{"equals ignores case", "    sel:\n        Image: 'c:\\windows\\system32\\CMD.EXE'\n    condition: sel", cmd(""), true},
		{"cased", "    sel:\n        Image|cased: 'c:\\windows\\system32\\CMD.EXE'\n    condition: sel", cmd(""), false},
		{"endswith list is any", "    sel:\n        Image|endswith: ['\\powershell.exe', '\\cmd.exe']\n    condition: sel", cmd(""), true},
		{"contains all", "    sel:\n        CommandLine|contains|all: ['/c', 'whoami']\n    condition: sel", cmd("cmd /c WHOAMI /all"), true},
		{"contains all, one missing", "    sel:\n        CommandLine|contains|all: ['/c', 'ipconfig']\n    condition: sel", cmd("cmd /c whoami"), false},
		{"wildcard inside", "    sel:\n        CommandLine: '*who?mi*'\n    condition: sel", cmd("cmd /c whoami"), true},
		{"escaped wildcard", "    sel:\n        CommandLine|contains: 'a\\*b'\n    condition: sel", cmd("x a*b y"), true},
		{"escaped wildcard is literal", "    sel:\n        CommandLine|contains: 'a\\*b'\n    condition: sel", cmd("x aXb y"), false},
		{"trailing backslash before an added wildcard", "    sel:\n        CommandLine|contains: '\\sysvol\\'\n    condition: sel", cmd(`findstr \\dc\sysvol\x.xml`), true},
		{"re", "    sel:\n        CommandLine|re: 'who[a-z]mi'\n    condition: sel", cmd("whoami"), true},
		{"re is cased without i", "    sel:\n        CommandLine|re: 'WHOAMI'\n    condition: sel", cmd("whoami"), false},
		{"re|i", "    sel:\n        CommandLine|re|i: 'WHOAMI'\n    condition: sel", cmd("whoami"), true},
		{"windash", "    sel:\n        CommandLine|windash|contains: ' -enc '\n    condition: sel", cmd("powershell /enc AAAA"), true},
		{"base64offset", "    sel:\n        CommandLine|base64offset|contains: 'Invoke-Expression'\n    condition: sel",
			cmd("powershell -e " + base64.StdEncoding.EncodeToString([]byte("xxInvoke-Expression(foo)"))), true},
		{"utf16 base64offset", "    sel:\n        CommandLine|wide|base64offset|contains: 'IEX'\n    condition: sel",
			cmd("powershell -e " + base64.StdEncoding.EncodeToString(utf16Bytes("a IEX b", false))), true},
		{"null", "    sel:\n        OriginalFileName: null\n    condition: sel", parser.ProcessEvent{Image: "x.exe"}, true},
		{"exists false on 4688", "    sel:\n        Hashes|exists: false\n    condition: sel", parser.ProcessEvent{Image: "x.exe", Source: parser.SourceSecurity4688}, true},
		{"field 4688 lacks never matches", "    sel:\n        OriginalFileName: 'cmd.exe'\n    condition: sel",
			parser.ProcessEvent{Image: "x.exe", Source: parser.SourceSecurity4688}, false},
		{"fieldref", "    sel:\n        CommandLine|fieldref: Image\n    condition: sel", parser.ProcessEvent{Image: "a.exe", CommandLine: "A.EXE"}, true},
		{"numeric", "    sel:\n        ProcessId|gt: 100\n    condition: sel", parser.ProcessEvent{Image: "a.exe", PID: 4000}, true},
		{"empty value", "    sel:\n        CommandLine: ''\n    condition: sel", cmd(""), true},
		{"keywords", "    keywords:\n        - 'mimikatz'\n    condition: keywords", cmd("run mimikatz now"), true},
		{"and not", "    sel:\n        Image|endswith: '\\cmd.exe'\n    filter:\n        User|contains: 'alice'\n    condition: sel and not filter", cmd(""), false},
		{"parentheses", "    a:\n        Image|endswith: '\\x.exe'\n    b:\n        Image|endswith: '\\cmd.exe'\n    c:\n        User|contains: bob\n    condition: (a or b) and not c", cmd(""), true},
		{"1 of pattern", "    sel_a:\n        Image|endswith: '\\x.exe'\n    sel_b:\n        IntegrityLevel: High\n    condition: 1 of sel_*", cmd(""), true},
		{"all of pattern", "    sel_a:\n        Image|endswith: '\\x.exe'\n    sel_b:\n        IntegrityLevel: High\n    condition: all of sel_*", cmd(""), false},
		{"1 of them", "    a:\n        Image|endswith: '\\x.exe'\n    b:\n        IntegrityLevel: High\n    condition: 1 of them", cmd(""), true},
		{"all of them", "    a:\n        Image|endswith: '\\cmd.exe'\n    b:\n        IntegrityLevel: High\n    condition: all of them", cmd(""), true},
		{"list of maps is any", "    sel:\n        - Image|endswith: '\\x.exe'\n        - OriginalFileName: 'cmd.exe'\n    condition: sel", cmd(""), true},
		// Sysmon recorded the fields of a record it wrote, even one that
		// lacks its ProcessGuid (a damaged or crafted record).
		{"Sysmon without a GUID records OriginalFileName", "    sel:\n        OriginalFileName: 'cmd.exe'\n    condition: sel",
			parser.ProcessEvent{Image: "x.exe", OriginalFileName: "Cmd.Exe", Source: parser.SourceSysmon1}, true},
		{"Sysmon without a GUID is Sysmon's", "    sel:\n        Provider_Name: 'Microsoft-Windows-Sysmon'\n    condition: sel",
			parser.ProcessEvent{Image: "x.exe", Source: parser.SourceSysmon1}, true},
		{"ProcessGuid braced, lower case", "    sel:\n        ProcessGuid: '{0a1b-c2}'\n    condition: sel",
			parser.ProcessEvent{Image: "x.exe", ProcessGUID: "0A1B-C2", Source: parser.SourceSysmon1}, true},
		{"one hash of Hashes", "    sel:\n        sha256: 'abc'\n    condition: sel",
			parser.ProcessEvent{Image: "x.exe", Hashes: "MD5=123,SHA256=ABC,IMPHASH=456", Source: parser.SourceSysmon1, ProcessGUID: "G"}, true},
		{"ParentImage from the resolved parent on 4688", "    sel:\n        ParentImage|endswith: '\\cmd.exe'\n    condition: sel",
			parser.ProcessEvent{Image: "x.exe", Source: parser.SourceSecurity4688}, false},
	}
	for _, tc := range cases {
		if got := sigmaMatches(t, tc.detection, tc.ev); got != tc.want {
			t.Errorf("%s: matched %v, want %v", tc.name, got, tc.want)
		}
	}
	for _, bad := range []string{
		"    sel:\n        Imagepath: x\n    condition: sel",
		"    sel:\n        Image|fuzzy: x\n    condition: sel",
		"    sel:\n        Image: x\n    condition: sel and",
		"    sel:\n        Image: x\n    condition: other",
		"    sel:\n        Image|re: '('\n    condition: sel",
	} {
		rule := "title: t\nlogsource:\n    category: process_creation\ndetection:\n" + bad
		if _, _, _, err := ParseSigma("t.yml", []byte(rule)); err == nil {
			t.Errorf("compiled:\n%s", bad)
		}
	}
	if _, applicable, _, err := ParseSigma("t.yml", []byte("title: t\nlogsource:\n    category: network_connection\ndetection:\n    sel:\n        x: 1\n    condition: sel")); applicable || err != nil {
		t.Errorf("network_connection rule: applicable %v, err %v", applicable, err)
	}
}

// TestSigmaMatchingDoesNotAllocate: with the field cache filled, matching a
// rule on text fields allocates nothing.
func TestSigmaMatchingDoesNotAllocate(t *testing.T) {
	rule := "title: t\nlogsource:\n    category: process_creation\ndetection:\n    sel:\n        Image|endswith: ['\\\\cmd.exe', '\\\\x.exe']\n        CommandLine|contains|all: ['/c', 'whoami']\n    filter:\n        ParentImage|startswith: 'C:\\\\Program Files\\\\'\n    condition: sel and not filter\n"
	r, _, _, err := ParseSigma("t.yml", []byte(rule))
	if err != nil {
		t.Fatal(err)
	}
	b := timeline.NewBuilder(timeline.Options{})
	b.Add(&parser.ProcessEvent{Host: "H", Source: parser.SourceSysmon1, ProcessGUID: "G", Image: `C:\Windows\System32\cmd.exe`, CommandLine: "cmd /c whoami", ParentImage: `C:\Windows\explorer.exe`, File: "f", RecordID: 1})
	p := b.Build().Hosts[0].Processes[0]
	c := newFieldCache()
	if !r.matcher.match(p, c) {
		t.Fatal("no match")
	}
	if allocs := testing.AllocsPerRun(100, func() { r.matcher.match(p, c) }); allocs != 0 {
		t.Errorf("%.1f allocations per match", allocs)
	}
}

// TestEngineIndexIsExact: the engine's shortcuts (image and command line
// indexes, memoized results) find exactly what trying every rule on every
// process finds.
func TestEngineIndexIsExact(t *testing.T) {
	needSigma(t)
	load := LoadSigma(sharedSigma + "/rules/process_creation")
	builtin, _ := Builtin()
	rules := append(append([]*Rule{}, builtin...), load.Rules...)
	e := NewEngine(rules)
	for _, path := range []string{"../testdata/evidence", sharedSigma + "/regression", "../../shared/evtx"} {
		tl := scanTimeline(t, path)
		got, want := engineHits(e, tl), everyRuleOnEveryProcess(rules, tl)
		if len(want) == 0 || !maps.Equal(got, want) {
			t.Errorf("%s: engine %d hits, every rule on every process %d", path, len(got), len(want))
		}
		t.Logf("%s: %d hits", path, len(want))
	}
}

// TestSigmaVariantsWithAll (issue 13, bug 1): a value that windash or
// base64offset writes several ways is one value, matching if any of its
// ways does; 'all' asks every value the rule gives, not every way.
func TestSigmaVariantsWithAll(t *testing.T) {
	enc := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	cmd := func(s string) parser.ProcessEvent {
		return parser.ProcessEvent{Image: `C:\Tools\tool.exe`, CommandLine: s}
	}
	windash := "    sel:\n        CommandLine|windash|contains|all: ['-a', '-b']\n    condition: sel"
	b64 := "    sel:\n        CommandLine|base64offset|contains|all: ['Invoke-Mimikatz', 'DumpCreds']\n    condition: sel"
	for _, tc := range []struct {
		name, detection, cmdLine string
		want                     bool
	}{
		{"windash all, both with -", windash, "tool -a -b", true},
		{"windash all, written with / and -", windash, "tool /a -b", true},
		{"windash all, with an en dash", windash, "tool \u2013a /b", true},
		{"windash all, one missing", windash, "tool -a -c", false},
		{"base64offset all, both there", b64, "powershell -e " + enc("xInvoke-Mimikatz -DumpCreds"), true},
		{"base64offset all, at other offsets", b64, "powershell -e " + enc("Invoke-Mimikatz") + " " + enc("yy DumpCreds"), true},
		{"base64offset all, one missing", b64, "powershell -e " + enc("xInvoke-Mimikatz"), false},
	} {
		if got := sigmaMatches(t, tc.detection, cmd(tc.cmdLine)); got != tc.want {
			t.Errorf("%s: matched %v, want %v", tc.name, got, tc.want)
		}
	}
}
