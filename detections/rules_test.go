package detections

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestBuiltinRules loads the pack and runs every rule's own tests: each rule
// has at least one positive and one negative case.
func TestBuiltinRules(t *testing.T) {
	rules, err := Builtin()
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rules {
		for _, err := range RunTests(r) {
			t.Error(err)
		}
	}
	t.Logf("%d rules", len(rules))
}

func TestRuleErrorsNameFileAndLine(t *testing.T) {
	good, err := os.ReadFile("rules/lm_winrs_child.yml")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, edit, want string
		line             int
	}{
		{"unknown field", "id: x\nseverty: high\n", `unknown field "severty"`, 2},
		{"bad severity", strings.Replace(string(good), "severity: high", "severity: urgent", 1), `unknown severity "urgent"`, 6},
		{"bad technique", strings.Replace(string(good), "technique: T1021.006", "technique: 1021", 1), `ATT&CK technique "1021"`, 11},
		{"unknown modifier", strings.Replace(string(good), "image|endswith: \\winrshost.exe", "image|endswith|fuzzy: \\winrshost.exe", 1), `unknown modifier "fuzzy"`, 22},
		{"unknown match field", strings.Replace(string(good), "image|endswith: \\winrshost.exe", "imagepath|endswith: \\winrshost.exe", 1), `unknown field "imagepath"`, 22},
		{"bad regexp", strings.Replace(string(good), "image|endswith: \\winrshost.exe", "command_line|re: '(unclosed'", 1), "missing closing )", 22},
		{"YAML syntax", "id: [unclosed\n", "yaml:", 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "r.yml"), []byte(tc.edit), 0o644); err != nil {
				t.Fatal(err)
			}
			rules, errs := LoadDir(dir)
			if len(rules) != 0 || len(errs) == 0 {
				t.Fatalf("loaded %d rules, %d errors", len(rules), len(errs))
			}
			found := false
			for _, err := range errs {
				var re *RuleError
				if errors.As(err, &re) && strings.Contains(re.Msg, tc.want) {
					found = true
					if !strings.HasSuffix(re.File, "r.yml") || (tc.line > 0 && re.Line != tc.line) {
						t.Errorf("error at %s:%d, want line %d: %v", re.File, re.Line, tc.line, err)
					}
				}
			}
			if !found {
				t.Errorf("errors %v lack %q", errs, tc.want)
			}
		})
	}
}

func TestUserRulesMergeWithBuiltin(t *testing.T) {
	builtin, err := Builtin()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	custom := strings.Replace(mustRead(t, "rules/lm_winrs_child.yml"), "id: evtxhunt-lm-winrs-child", "id: team-winrs", 1)
	os.WriteFile(filepath.Join(dir, "team.yaml"), []byte(custom), 0o644)
	os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("not a rule"), 0o644)
	user, errs := LoadDir(dir)
	if len(errs) > 0 || len(user) != 1 {
		t.Fatalf("%d rules, %v", len(user), errs)
	}
	all, err := Merge(builtin, user)
	if err != nil || len(all) != len(builtin)+1 {
		t.Fatalf("merge: %d rules, %v", len(all), err)
	}
	if _, err := Merge(builtin, builtin[:1]); err == nil || !strings.Contains(err.Error(), "defined twice") {
		t.Errorf("duplicate ids: %v", err)
	}
}

func TestBuiltinMetadata(t *testing.T) {
	rules, err := Builtin()
	if err != nil {
		t.Fatal(err)
	}
	if len(rules) < 17 {
		t.Errorf("%d rules: the pack has the two seeds and at least 15 more", len(rules))
	}
	byID := map[string]*Rule{}
	for _, r := range rules {
		byID[r.ID] = r
		if len(r.References) == 0 || len(r.Response) == 0 || len(r.FalsePositives) == 0 || len(r.Attack) == 0 || r.Description == "" {
			t.Errorf("%s lacks metadata", r.ID)
		}
	}
	seed := byID["HuntQuery-CrowdStrike-NetscanMstscRDP"]
	if seed == nil || seed.RiskScore != 94 || seed.Severity != High || !slices.Equal(seed.TechniqueIDs(), []string{"T1021.001", "T1105", "T1087"}) ||
		len(seed.Response) != 5 || len(seed.History) != 1 || seed.GroupBy != "host" || seed.FPRate != "low" {
		t.Errorf("netscan seed: %+v", seed)
	}
	elastic := byID["4fe9d835-40e1-452d-8230-17c147cafad8"]
	if elastic == nil || elastic.RiskScore != 73 || elastic.Severity != High || !slices.Equal(elastic.TechniqueIDs(), []string{"T1021", "T1021.001"}) ||
		elastic.Attack[0].Tactic != "TA0008" || elastic.License != "Elastic License v2" || len(elastic.References) != 2 {
		t.Errorf("tsclient seed: %+v", elastic)
	}
}

func mustRead(t *testing.T, path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
