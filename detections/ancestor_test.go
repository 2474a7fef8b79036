package detections

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/evtxhunt/evtxhunt/parser"
	"github.com/evtxhunt/evtxhunt/timeline"
)

// Issue 12, item 14: an ancestor condition sees every ancestor, however
// deep the tree: no rule result depends on where a displayed chain is cut.
func TestAncestorConditionIsNotCut(t *testing.T) {
	dir := t.TempDir()
	rule := `id: test-ancestor-netscan
name: mstsc.exe below netscan.exe
description: mstsc.exe anywhere below netscan.exe.
severity: high
risk_score: 70
version: "1.0"
author: evtxhunt
attack:
  - {tactic: TA0008, tactic_name: Lateral Movement, technique: T1021.001, technique_name: "Remote Services: Remote Desktop Protocol"}
data_sources: [Sysmon 1]
false_positives: [none]
response: [look]
references: [https://attack.mitre.org/techniques/T1021/001/]
match:
  process:
    image|endswith: \mstsc.exe
  ancestor:
    image|endswith: \netscan.exe
tests:
  - name: below
    expect: match
    process: {image: 'C:\Windows\System32\mstsc.exe'}
    parent: {image: 'C:\Windows\System32\cmd.exe'}
    ancestors: [{image: 'C:\Tools\netscan.exe'}]
  - name: not below
    expect: no-match
    process: {image: 'C:\Windows\System32\mstsc.exe'}
    parent: {image: 'C:\Windows\System32\cmd.exe'}
`
	if err := os.WriteFile(filepath.Join(dir, "r.yml"), []byte(rule), 0o644); err != nil {
		t.Fatal(err)
	}
	rules, errs := LoadDir(dir)
	if len(errs) > 0 || len(rules) != 1 {
		t.Fatalf("%d rules, errors %v", len(rules), errs)
	}
	// netscan.exe, then 400 nested cmd.exe, with an mstsc.exe child at
	// every level: each mstsc.exe has netscan.exe as an ancestor.
	b := timeline.NewBuilder(timeline.Options{})
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	const depth = 400
	add := func(i int, image, guid, parentGUID string) {
		b.Add(&parser.ProcessEvent{Host: "DEEP", Time: t0.Add(time.Duration(i) * time.Millisecond), Source: parser.SourceSysmon1,
			RecordID: uint64(i + 1), PID: uint32(4 * (i + 1)), Image: image, ProcessGUID: guid, ParentProcessGUID: parentGUID})
	}
	add(0, `C:\Tools\netscan.exe`, "L0", "")
	for i := 1; i <= depth; i++ {
		add(2*i, `C:\Windows\System32\cmd.exe`, fmt.Sprint("L", i), fmt.Sprint("L", i-1))
		add(2*i+1, `C:\Windows\System32\mstsc.exe`, fmt.Sprint("M", i), fmt.Sprint("L", i))
	}
	// The hits share one shape, so they are aggregated into one finding.
	findings := NewEngine(rules).Run(b.Build())
	if len(findings) != 1 || len(findings[0].Hits) != depth {
		t.Fatalf("%d findings, want 1 with %d hits", len(findings), depth)
	}
	hits := findings[0].Hits
	if last := hits[depth-1].Process; last.Depth != depth+2 { // below a placeholder for pid 0
		t.Errorf("deepest hit at depth %d", last.Depth)
	}
}
