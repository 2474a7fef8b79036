package detections

import (
	"encoding/base64"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Sigma rules of the process_creation category compile into the same Rule
// the pack uses, so their findings go through the same engine and reports.
// Fields follow Sysmon 1's names; for Security 4688 they are mapped to its
// equivalents, and a field 4688 cannot have (OriginalFileName, Hashes...)
// never matches on 4688: such rules have partial coverage there.

type sigmaDoc struct {
	Title          string   `yaml:"title"`
	ID             string   `yaml:"id"`
	Description    string   `yaml:"description"`
	Author         string   `yaml:"author"`
	References     []string `yaml:"references"`
	Tags           []string `yaml:"tags"`
	Level          string   `yaml:"level"`
	FalsePositives []string `yaml:"falsepositives"`
	Modified       string   `yaml:"modified"`
	Date           string   `yaml:"date"`
	Status         string   `yaml:"status"`
	LogSource      struct {
		Category string `yaml:"category"`
		Product  string `yaml:"product"`
	} `yaml:"logsource"`
	Detection yaml.Node `yaml:"detection"`
}

var sigmaRisk = map[Severity]int{Informational: 10, Low: 25, Medium: 50, High: 73, Critical: 90}

// ParseSigma compiles one Sigma rule. applicable is false when its logsource
// is not windows process_creation; partial is true when it uses a field
// Security 4688 does not have.
func ParseSigma(file string, b []byte) (r *Rule, applicable, partial bool, err error) {
	if err := checkRuleSize(file, b); err != nil {
		return nil, false, false, err
	}
	var doc sigmaDoc
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, false, false, &RuleError{File: file, Line: yamlErrorLine(err), Msg: err.Error()}
	}
	if doc.LogSource.Category != "process_creation" || (doc.LogSource.Product != "" && doc.LogSource.Product != "windows") {
		return nil, false, false, nil
	}
	c := sigmaCompiler{file: file}
	m, err := c.detection(&doc.Detection)
	if err != nil {
		return nil, true, false, err
	}
	sev, err := ParseSeverity(doc.Level)
	if err != nil {
		sev = Medium
	}
	r = &Rule{ID: doc.ID, Name: doc.Title, Description: doc.Description, Severity: sev, RiskScore: sigmaRisk[sev], Author: doc.Author,
		Version: doc.Modified, Origin: "Sigma rule " + filepath.Base(file) + " (" + doc.Status + ")", References: doc.References,
		FalsePositives: doc.FalsePositives, File: file, Tags: doc.Tags, DataSources: []string{"Sysmon 1", "Security 4688 (fields mapped)"},
		Response: []string{"Review the process, its parent chain and the rule's references; see the Sigma rule for its context."},
		matcher:  m}
	if r.Version == "" {
		r.Version = doc.Date
	}
	r.Attack = sigmaAttack(doc.Tags)
	return r, true, c.partial, nil
}

var tacticIDs = map[string][2]string{
	"reconnaissance": {"TA0043", "Reconnaissance"}, "resource_development": {"TA0042", "Resource Development"},
	"initial_access": {"TA0001", "Initial Access"}, "execution": {"TA0002", "Execution"}, "persistence": {"TA0003", "Persistence"},
	"privilege_escalation": {"TA0004", "Privilege Escalation"}, "defense_evasion": {"TA0005", "Defense Evasion"},
	"credential_access": {"TA0006", "Credential Access"}, "discovery": {"TA0007", "Discovery"}, "lateral_movement": {"TA0008", "Lateral Movement"},
	"collection": {"TA0009", "Collection"}, "command_and_control": {"TA0011", "Command and Control"}, "exfiltration": {"TA0010", "Exfiltration"},
	"impact": {"TA0040", "Impact"},
}

// sigmaAttack turns attack.* tags into ATT&CK mappings: each technique with
// the rule's first tactic.
func sigmaAttack(tags []string) []Attack {
	var tactic [2]string
	var out []Attack
	for _, tag := range tags {
		t, ok := strings.CutPrefix(strings.ToLower(tag), "attack.")
		if !ok {
			continue
		}
		if v, ok := tacticIDs[strings.ReplaceAll(t, "-", "_")]; ok && tactic[0] == "" {
			tactic = v
		}
	}
	for _, tag := range tags {
		t, ok := strings.CutPrefix(strings.ToLower(tag), "attack.t")
		if !ok {
			continue
		}
		if _, err := strconv.Atoi(strings.ReplaceAll(t, ".", "")); err == nil {
			out = append(out, Attack{Tactic: tactic[0], TacticName: tactic[1], Technique: "T" + strings.ToUpper(t), TechniqueName: "T" + strings.ToUpper(t)})
		}
	}
	return out
}

// sigmaCompiler compiles a Sigma detection section into the conditions
// tree: each search a search, the condition text over them.
type sigmaCompiler struct {
	file    string
	partial bool // a field test reads a field Security 4688 lacks
}

func (c *sigmaCompiler) fail(format string, args ...any) error {
	return &RuleError{File: c.file, Msg: fmt.Sprintf(format, args...)}
}

func (c *sigmaCompiler) detection(n *yaml.Node) (*matcher, error) {
	if n.Kind != yaml.MappingNode {
		return nil, c.fail("detection is not a mapping")
	}
	searches := map[string]*search{}
	var names []string
	var conditions []string
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		switch k.Value {
		case "condition":
			if v.Kind == yaml.SequenceNode {
				for _, item := range v.Content {
					conditions = append(conditions, item.Value)
				}
			} else {
				conditions = append(conditions, v.Value)
			}
		case "timeframe":
			return nil, c.fail("timeframe (correlation) is not supported")
		default:
			s, err := c.search(v)
			if err != nil {
				return nil, c.fail("%s: %v", k.Value, err)
			}
			searches[k.Value] = s
			names = append(names, k.Value)
		}
	}
	if len(conditions) == 0 {
		return nil, c.fail("no condition")
	}
	var conds []cond
	for _, text := range conditions {
		cond, err := parseCondition(text, searches, names)
		if err != nil {
			return nil, c.fail("condition %q: %v", text, err)
		}
		conds = append(conds, cond)
	}
	return newMatcher(or(conds)), nil
}

// search compiles a search: a map of field tests, a list of them (any
// holds), or keywords, alone or in a list.
func (c *sigmaCompiler) search(n *yaml.Node) (*search, error) {
	s := &search{}
	items := []*yaml.Node{n}
	if n.Kind == yaml.SequenceNode {
		items = n.Content
	}
	for _, item := range items {
		switch item.Kind {
		case yaml.MappingNode:
			m, err := c.fieldMap(item)
			if err != nil {
				return nil, err
			}
			s.maps = append(s.maps, m)
		case yaml.ScalarNode:
			vs, err := c.values([]string{"contains"}, item)
			if err != nil {
				return nil, err
			}
			s.keywords = append(s.keywords, vs...)
		default:
			return nil, fmt.Errorf("expected field tests or keywords")
		}
	}
	return s, nil
}

func (c *sigmaCompiler) fieldMap(n *yaml.Node) ([]fieldTest, error) {
	var tests []fieldTest
	for i := 0; i+1 < len(n.Content); i += 2 {
		parts := strings.Split(n.Content[i].Value, "|")
		f, ok := fieldNamed(parts[0], sigmaName)
		if !ok {
			return nil, fmt.Errorf("field %q is not a process creation field", parts[0])
		}
		t := fieldTest{field: roleProcess.field(f), all: slices.Contains(parts[1:], "all")}
		if t.field.is(sysmonOnly) {
			c.partial = true
		}
		vs, err := c.values(parts[1:], n.Content[i+1])
		if err != nil {
			return nil, err
		}
		t.values = vs
		tests = append(tests, t)
	}
	return tests, nil
}

// values compiles the value(s) of a field test with its modifiers.
// Sigma compares the field as recorded, ignoring case unless cased; its
// wildcards are * and ?, escaped with \.
func (c *sigmaCompiler) values(mods []string, n *yaml.Node) ([]value, error) {
	var raw []*yaml.Node
	if n.Kind == yaml.SequenceNode {
		raw = n.Content
	} else {
		raw = []*yaml.Node{n}
	}
	has := func(m string) bool { return slices.Contains(mods, m) }
	for _, m := range mods {
		switch m {
		case "contains", "startswith", "endswith", "all", "re", "i", "m", "s", "windash", "cased", "exists", "base64",
			"base64offset", "utf16le", "utf16be", "wide", "utf16", "fieldref", "lt", "lte", "gt", "gte":
		default:
			return nil, fmt.Errorf("modifier %q is not supported", m)
		}
	}
	form, fold := formLower, true
	if has("cased") {
		form, fold = formRaw, false
	}
	var out []value
	for _, item := range raw {
		if item.Kind != yaml.ScalarNode {
			return nil, fmt.Errorf("values must be scalars")
		}
		s := item.Value
		switch {
		case item.Tag == "!!null":
			out = append(out, value{op: opNull})
			continue
		case has("exists"):
			out = append(out, value{op: opExists, exists: strings.EqualFold(s, "true")})
			continue
		case has("fieldref"):
			ref, ok := fieldNamed(s, sigmaName)
			if !ok {
				return nil, fmt.Errorf("fieldref to unknown field %q", s)
			}
			out = append(out, value{op: opFieldRef, ref: roleProcess.field(ref), form: form})
			continue
		case has("lt") || has("lte") || has("gt") || has("gte"):
			num, err := strconv.ParseFloat(s, 64)
			if err != nil {
				return nil, fmt.Errorf("%q is not a number", s)
			}
			v := value{num: num}
			for _, cmp := range []struct {
				mod string
				op  valueOp
			}{{"lt", opLess}, {"lte", opLessOrEqual}, {"gt", opGreater}, {"gte", opGreaterOrEqual}} {
				if has(cmp.mod) {
					v.op = cmp.op
				}
			}
			out = append(out, v)
			continue
		case has("re"):
			flags := ""
			for _, f := range []string{"i", "m", "s"} {
				if has(f) {
					flags += f
				}
			}
			if flags != "" {
				s = "(?" + flags + ")" + s
			}
			re, err := regexp.Compile(s)
			if err != nil {
				return nil, err
			}
			out = append(out, value{op: opMatch, form: formRaw, re: re})
			continue
		}
		// windash and base64offset write one value several ways: it
		// matches if any of them does (and 'all' asks each value once).
		written := []string{s}
		if has("windash") {
			written = windash(s)
		}
		lead := has("contains") || has("endswith")
		trail := has("contains") || has("startswith")
		var ways []value
		for _, s := range written {
			for _, pat := range encodings(s, has) {
				ways = append(ways, compilePattern(pat, sigmaWildcards, lead, trail, form, fold))
			}
		}
		out = append(out, oneOf(ways))
	}
	return out, nil
}

// encodings gives the forms of s that the base64 modifiers ask for, or s.
func encodings(s string, has func(string) bool) []string {
	if !has("base64") && !has("base64offset") {
		return []string{s}
	}
	data := []byte(s)
	switch {
	case has("utf16le") || has("wide") || has("utf16"):
		data = utf16Bytes(s, false)
	case has("utf16be"):
		data = utf16Bytes(s, true)
	}
	if has("base64offset") {
		return base64Offsets(data)
	}
	return []string{base64.StdEncoding.EncodeToString(data)}
}
