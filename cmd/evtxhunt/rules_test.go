package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRulesCommand(t *testing.T) {
	code, stdout, _ := runCmd("rules")
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if code != exitClean || len(lines) != 27 || !strings.Contains(stdout, "HuntQuery-CrowdStrike-NetscanMstscRDP  high      94    T1021.001,T1105,T1087") {
		t.Errorf("exit %d, %d lines:\n%s", code, len(lines), stdout)
	}

	dir := t.TempDir()
	good, err := os.ReadFile("../../detections/rules/lm_winrs_child.yml")
	if err != nil {
		t.Fatal(err)
	}
	team := strings.Replace(string(good), "id: evtxhunt-lm-winrs-child", "id: team-winrs", 1)
	if err := os.WriteFile(filepath.Join(dir, "team.yml"), []byte(team), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, stdout, stderr := runCmd("rules", "--check", dir); code != exitClean || !strings.Contains(stdout, "1 rules loaded") {
		t.Errorf("good folder: exit %d %s %s", code, stdout, stderr)
	}
	if code, stdout, _ := runCmd("rules", "--rules", dir); code != exitClean || !strings.Contains(stdout, "team-winrs") {
		t.Errorf("--rules: exit %d", code)
	}
	broken := strings.Replace(team, "image|endswith: \\winrshost.exe", "image|endswith: \\winrshost.exe\n    command_line|regex: x", 1)
	if err := os.WriteFile(filepath.Join(dir, "team.yml"), []byte(broken), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runCmd("rules", "--check", dir)
	if code != exitEvidence || !strings.Contains(stderr, "team.yml:23: match: unknown modifier \"regex\"") {
		t.Errorf("broken folder: exit %d, %s", code, stderr)
	}
	if code, _, _ := runCmd("rules", "--rules", dir); code != exitUsage {
		t.Errorf("--rules with a broken folder: exit %d", code)
	}
}
