package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, body := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

const sigmaHead = "title: t\nlogsource:\n    category: process_creation\n    product: windows\ndetection:\n"

// TestScanListsRulesNotLoaded: every rule file of --rules and --sigma that
// does not load is named with its reason on stderr and in summary.json; a
// folder that cannot be read says why.
func TestScanListsRulesNotLoaded(t *testing.T) {
	root := t.TempDir()
	sigma, team := filepath.Join(root, "sigma"), filepath.Join(root, "team")
	writeFiles(t, sigma, map[string]string{
		"good.yml":     "id: s-good\n" + sigmaHead + "    sel:\n        Image|endswith: '\\whoami.exe'\n    condition: sel\n",
		"fuzzy.yml":    "id: s-fuzzy\n" + sigmaHead + "    sel:\n        Image|fuzzy: x\n    condition: sel\n",
		"deep.yml":     "id: s-deep\n" + sigmaHead + "    sel:\n        Image: x\n    condition: " + strings.Repeat("(", 100) + "sel" + strings.Repeat(")", 100) + "\n",
		"network.yml":  "id: s-net\ntitle: n\nlogsource:\n    category: network_connection\ndetection:\n    sel:\n        x: 1\n    condition: sel\n",
		"same-id.yaml": "id: evtxhunt-lm-winrs-child\n" + sigmaHead + "    sel:\n        Image: x\n    condition: sel\n",
	})
	good, err := os.ReadFile("../../detections/rules/lm_winrs_child.yml")
	if err != nil {
		t.Fatal(err)
	}
	teamRule := strings.Replace(string(good), "id: evtxhunt-lm-winrs-child", "id: team-winrs", 1)
	writeFiles(t, team, map[string]string{
		"team.yml":   teamRule,
		"broken.yml": strings.Replace(teamRule, "severity: high", "severity: urgent", 1),
	})
	out := filepath.Join(root, "case")
	code, _, stderr := runCmd("scan", "--quiet", "--format", "jsonl", "--out", out, "--rules", team, "--sigma", sigma, generatedEvidence)
	if code != exitClean {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	want := map[string]string{
		filepath.Join(sigma, "fuzzy.yml"):    `modifier "fuzzy" is not supported`,
		filepath.Join(sigma, "deep.yml"):     "nested deeper than 64 levels",
		filepath.Join(sigma, "same-id.yaml"): "rule id evtxhunt-lm-winrs-child is already defined by rules/lm_winrs_child.yml",
		filepath.Join(team, "broken.yml"):    `line 6: unknown severity "urgent"`,
	}
	if !strings.Contains(stderr, "evtxhunt: 4 rule files not loaded (all listed in summary.json, rules.not_loaded):") ||
		!strings.Contains(stderr, "evtxhunt: 1 Sigma rules not applicable") {
		t.Errorf("stderr:\n%s", stderr)
	}
	for file, reason := range want {
		if !strings.Contains(stderr, file+": ") || !strings.Contains(stderr, reason) {
			t.Errorf("stderr lacks %s: %s\n%s", file, reason, stderr)
		}
	}
	b, err := os.ReadFile(filepath.Join(out, "summary.json"))
	if err != nil {
		t.Fatal(err)
	}
	var s struct {
		Rules struct {
			Loaded    int `json:"loaded"`
			NotLoaded []struct {
				File, Reason string
			} `json:"not_loaded"`
			NotApplicable []string `json:"not_applicable"`
		} `json:"rules"`
	}
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	if s.Rules.Loaded != 26+2 || len(s.Rules.NotLoaded) != len(want) || len(s.Rules.NotApplicable) != 1 || s.Rules.NotApplicable[0] != filepath.Join(sigma, "network.yml") {
		t.Errorf("summary rules: %+v", s.Rules)
	}
	for _, nl := range s.Rules.NotLoaded {
		if !strings.Contains(nl.Reason, want[nl.File]) || want[nl.File] == "" {
			t.Errorf("not_loaded %s: %q", nl.File, nl.Reason)
		}
	}

	// Folders that give nothing say why.
	for _, tc := range []struct{ flag, dir, why string }{
		{"--sigma", filepath.Join(root, "nonexistent"), "no such file or directory"},
		{"--rules", filepath.Join(root, "nonexistent"), "no such file or directory"},
		{"--sigma", team, "2 files not applicable, 0 failed"},
	} {
		code, _, stderr := runCmd("scan", "--quiet", "--out", filepath.Join(root, "case2"), tc.flag, tc.dir, generatedEvidence)
		if code != exitUsage || !strings.Contains(stderr, tc.flag+" "+tc.dir+": ") || !strings.Contains(stderr, tc.why) {
			t.Errorf("%s %s: exit %d, %s", tc.flag, tc.dir, code, stderr)
		}
	}
}
