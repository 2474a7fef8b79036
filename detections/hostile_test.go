package detections

import (
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
)

// smallStack makes a runaway recursion fail within a second instead of
// growing the goroutine stack to a gigabyte first.
func smallStack(t *testing.T) {
	old := debug.SetMaxStack(64 << 20)
	t.Cleanup(func() { debug.SetMaxStack(old) })
}

func sigmaRule(condition string) []byte {
	return []byte("title: t\nid: deep\nlogsource:\n    category: process_creation\n    product: windows\ndetection:\n    sel:\n        Image|endswith: '\\cmd.exe'\n    condition: " + condition + "\n")
}

// TestDeepSigmaConditionIsARuleError: conditions nested far beyond any real
// rule are refused with an error naming the file, never a stack overflow,
// whether they nest by parentheses or by 'not'.
func TestDeepSigmaConditionIsARuleError(t *testing.T) {
	smallStack(t)
	for name, cond := range map[string]string{
		"parentheses": strings.Repeat("(", 300_000) + "sel" + strings.Repeat(")", 300_000),
		"not":         strings.Repeat("not ", 200_000) + "sel",
		"unclosed":    strings.Repeat("(", 400_000),
	} {
		_, applicable, _, err := ParseSigma("deep.yml", sigmaRule(cond))
		if err == nil || !applicable || !strings.Contains(err.Error(), "deep.yml") || !strings.Contains(err.Error(), "nested deeper than 64") {
			t.Errorf("%s: applicable %v, err %v", name, applicable, err)
		}
	}
	// Real rules nest a few levels: those still compile, at the limit too.
	for _, depth := range []int{3, maxNesting - 1} {
		if _, _, _, err := ParseSigma("ok.yml", sigmaRule(strings.Repeat("(", depth)+"sel"+strings.Repeat(")", depth))); err != nil {
			t.Errorf("depth %d: %v", depth, err)
		}
	}
}

// TestHugeRuleFileIsARuleError: the 1.5 million parentheses of the issue,
// and any file too large to be a rule, are refused before parsing; the
// folder's other rules still load and the refused one is named.
func TestHugeRuleFileIsARuleError(t *testing.T) {
	smallStack(t)
	dir := t.TempDir()
	huge := sigmaRule(strings.Repeat("(", 1_500_000) + "sel" + strings.Repeat(")", 1_500_000))
	if err := os.WriteFile(filepath.Join(dir, "huge.yml"), huge, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "good.yml"), sigmaRule("sel"), 0o644); err != nil {
		t.Fatal(err)
	}
	load := LoadSigma(dir)
	if len(load.Rules) != 1 || len(load.Errors) != 1 || !strings.Contains(load.Errors[0].Error(), "huge.yml") ||
		!strings.Contains(load.Errors[0].Error(), "larger than") {
		t.Errorf("%d rules, errors %v", len(load.Rules), load.Errors)
	}
	if _, errs := ParseRule("huge.yml", huge); len(errs) != 1 || !strings.Contains(errs[0].Error(), "larger than") {
		t.Errorf("pack rule: %v", errs)
	}
}

// TestDeepYAMLIsARuleError: YAML nested as deep as the YAML library allows
// (10,000 levels) gives an error, in a Sigma rule and in a pack rule's match
// section, whose any_of and not nest no deeper than maxNesting.
func TestDeepYAMLIsARuleError(t *testing.T) {
	smallStack(t)
	flow := strings.Repeat("[", 9_999) + "x" + strings.Repeat("]", 9_999)
	tooDeep := strings.Repeat("[", 20_000)
	for name, doc := range map[string]string{
		"deep values":    "title: t\nlogsource:\n    category: process_creation\ndetection:\n    sel:\n        Image: " + flow + "\n    condition: sel\n",
		"too deep":       "title: t\nlogsource:\n    category: process_creation\ndetection:\n    sel:\n        Image: " + tooDeep + "\n    condition: sel\n",
		"deep reference": "title: t\nreferences: " + flow + "\nlogsource:\n    category: process_creation\ndetection:\n    sel:\n        Image: x\n    condition: sel\n",
	} {
		if _, _, _, err := ParseSigma("y.yml", []byte(doc)); err == nil {
			t.Errorf("%s: compiled", name)
		}
	}
	good, err := os.ReadFile("rules/lm_winrs_child.yml")
	if err != nil {
		t.Fatal(err)
	}
	nested := "{process: {image: x.exe}}"
	for range 2_000 {
		nested = "{any_of: [" + nested + "]}"
	}
	at := strings.Index(string(good), "\nmatch:")
	end := strings.Index(string(good)[at+1:], "\ntests:") + at + 1
	rule := string(good)[:at] + "\nmatch: " + nested + string(good)[end:]
	_, errs := ParseRule("nested.yml", []byte(rule))
	if len(errs) == 0 || !strings.Contains(errs[0].Error(), "nested deeper than 64") {
		t.Errorf("match nested 2,000 deep: %v", errs)
	}
}
