package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestScanWithSigma(t *testing.T) {
	const rules = "../../../shared/sigma/rules"
	if _, err := os.Stat(rules); err != nil {
		t.Skipf("SKIP: the shared Sigma rules are absent: %v", err)
	}
	code, stdout, stderr := runCmd("rules", "--sigma", rules)
	if code != exitClean || !strings.Contains(stdout, "1183 Sigma rules in "+rules+": 1183 loaded, 0 not applicable (not windows process_creation), 0 failed to compile") {
		t.Errorf("rules --sigma: exit %d\n%s%s", code, stdout, stderr)
	}
	out := filepath.Join(t.TempDir(), "case")
	code, stdout, stderr = runCmd("scan", "--quiet", "--format", "jsonl", "--sigma", rules, "--out", out, generatedEvidence)
	if code != exitClean {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	s := readSummary(t, out)
	sigma := 0
	for _, r := range s.Findings.ByRule {
		if !strings.HasPrefix(r.RuleID, "evtxhunt-") && r.RuleID != "HuntQuery-CrowdStrike-NetscanMstscRDP" && r.RuleID != "4fe9d835-40e1-452d-8230-17c147cafad8" {
			sigma += r.Findings
		}
	}
	if s.Findings.Total <= 19 || sigma != s.Findings.Total-19 {
		t.Errorf("%d findings, %d from Sigma rules:\n%s", s.Findings.Total, sigma, stdout)
	}
	// The pack's findings are all still there.
	keys := findingKeys(t, out)
	for _, want := range manifestKeys(t) {
		found := false
		for _, k := range keys {
			found = found || k == want
		}
		if !found {
			t.Errorf("with Sigma, lost %s", want)
		}
	}
}
