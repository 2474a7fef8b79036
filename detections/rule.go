// Package detections runs lateral-movement rules over the timeline and turns
// their hits into findings a responder can act on. Rules are data: one YAML
// file each, the pack embedded in the binary (rules/), more from a team's
// own folder (LoadDir), and SigmaHQ's process_creation rules (LoadSigma).
// Both formats compile into one condition tree over one table of process
// fields, which one Engine evaluates.
//
// NewEngine(rules).Run(timeline) matches every rule against every logged
// process and returns Findings: a rule's Hits on one host, gathered per
// host or per thing run (the same image, parent and command line shape),
// each hit with the machine its command line moves to (NextHop), and the
// records behind them (Finding.Evidence). A RuleSet keeps, beside the rules, every file that
// did not load and why; RunTests runs the tests a rule file carries on a
// timeline built from them. Rules read a process's parent as the timeline
// resolves it (timeline.Process's accessors); the pack's language and
// Sigma's keep their own documented semantics as options of one compiler.
package detections

import (
	"errors"
	"fmt"
	"io/fs"
	"regexp"
	"slices"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Severity grades a finding.
type Severity string

const (
	Informational Severity = "informational"
	Low           Severity = "low"
	Medium        Severity = "medium"
	High          Severity = "high"
	Critical      Severity = "critical"
)

// Severities in increasing order.
var Severities = []Severity{Informational, Low, Medium, High, Critical}

// Rank orders severities; unknown ones rank below informational.
func (s Severity) Rank() int { return slices.Index(Severities, s) }

// ParseSeverity reads a severity name.
func ParseSeverity(s string) (Severity, error) {
	v := Severity(strings.ToLower(strings.TrimSpace(s)))
	if v.Rank() < 0 {
		return "", fmt.Errorf("unknown severity %q (want one of informational, low, medium, high, critical)", s)
	}
	return v, nil
}

// Attack is one ATT&CK mapping.
type Attack struct {
	Tactic        string `yaml:"tactic" json:"tactic"`
	TacticName    string `yaml:"tactic_name" json:"tactic_name"`
	Technique     string `yaml:"technique" json:"technique"`
	TechniqueName string `yaml:"technique_name" json:"technique_name"`
}

// Change is one entry of a rule's version history.
type Change struct {
	Version string `yaml:"version" json:"version"`
	Date    string `yaml:"date" json:"date"`
	Notes   string `yaml:"notes" json:"notes"`
}

// NextHop says how to read the next machine an attacker moves to from a
// hit's command line: the first capture group of Pattern.
type NextHop struct {
	Pattern string `yaml:"pattern" json:"pattern"`
	re      *regexp.Regexp
}

// Rule is one detection with everything a responder needs to act on it.
type Rule struct {
	ID             string     `yaml:"id" json:"id"`
	Name           string     `yaml:"name" json:"name"`
	Description    string     `yaml:"description" json:"description"`
	Severity       Severity   `yaml:"severity" json:"severity"`
	RiskScore      int        `yaml:"risk_score" json:"risk_score"`
	Version        string     `yaml:"version" json:"version"`
	Author         string     `yaml:"author" json:"author"`
	Origin         string     `yaml:"origin" json:"origin,omitempty"` // where the rule comes from
	License        string     `yaml:"license" json:"license,omitempty"`
	Platforms      []string   `yaml:"platforms" json:"platforms,omitempty"`
	Tags           []string   `yaml:"tags" json:"tags,omitempty"`
	Attack         []Attack   `yaml:"attack" json:"attack"`
	FPRate         string     `yaml:"false_positive_rate" json:"false_positive_rate,omitempty"`
	Requirements   []string   `yaml:"requirements" json:"requirements,omitempty"`
	Considerations []string   `yaml:"considerations" json:"considerations,omitempty"`
	OriginalQuery  string     `yaml:"original_query" json:"original_query,omitempty"` // the seed's own query, for reference
	QueryLanguage  string     `yaml:"query_language" json:"query_language,omitempty"`
	DataSources    []string   `yaml:"data_sources" json:"data_sources"`
	FalsePositives []string   `yaml:"false_positives" json:"false_positives"`
	Response       []string   `yaml:"response" json:"response"`
	References     []string   `yaml:"references" json:"references"`
	History        []Change   `yaml:"history" json:"history,omitempty"`
	GroupBy        string     `yaml:"group_by" json:"group_by,omitempty"` // "host": one finding per host with every hit
	NextHop        *NextHop   `yaml:"next_hop" json:"next_hop,omitempty"`
	Tests          []RuleTest `yaml:"tests" json:"-"`

	File    string   `yaml:"-" json:"file"`
	matcher *matcher // compiled from the match section, or from Sigma
}

// TechniqueIDs lists the rule's ATT&CK technique ids.
func (r *Rule) TechniqueIDs() []string {
	out := []string{}
	for _, a := range r.Attack {
		if !slices.Contains(out, a.Technique) {
			out = append(out, a.Technique)
		}
	}
	return out
}

// RuleError is a problem in a rule file, with its place.
type RuleError struct {
	File string
	Line int
	Msg  string
}

func (e *RuleError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return e.File + ": " + e.Msg
}

// Merge combines rule sets, refusing two rules with one id.
func Merge(sets ...[]*Rule) ([]*Rule, error) {
	byID := map[string]*Rule{}
	var out []*Rule
	for _, set := range sets {
		for _, r := range set {
			if prev := byID[r.ID]; prev != nil {
				return nil, fmt.Errorf("rule id %s is defined twice: %s and %s", r.ID, prev.File, r.File)
			}
			byID[r.ID] = r
			out = append(out, r)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// RuleSet is the rules an analysis runs and the rule files it could not
// use, each with the reason: nothing offered as a rule is dropped unsaid.
type RuleSet struct {
	Rules         []*Rule     // by id
	NotLoaded     []NotLoaded // by file
	NotApplicable []string    // Sigma rules for other logs than process creation
}

// NotLoaded is a rule file that was not loaded, and why.
type NotLoaded struct {
	File   string `json:"file"`
	Reason string `json:"reason"`
}

// Add adds rules, and the errors of the files that did not load. A rule
// whose id is already taken is not loaded either.
func (s *RuleSet) Add(rules []*Rule, errs []error) {
	byID := map[string]*Rule{}
	for _, r := range s.Rules {
		byID[r.ID] = r
	}
	for _, r := range rules {
		if prev := byID[r.ID]; prev != nil {
			s.NotLoaded = append(s.NotLoaded, NotLoaded{File: r.File, Reason: fmt.Sprintf("rule id %s is already defined by %s", r.ID, prev.File)})
			continue
		}
		byID[r.ID] = r
		s.Rules = append(s.Rules, r)
	}
	// One entry per file, its problems joined.
	at := map[string]int{}
	for _, err := range errs {
		nl := NotLoaded{Reason: err.Error()}
		var re *RuleError
		var pe *fs.PathError
		switch {
		case errors.As(err, &re):
			nl = NotLoaded{File: re.File, Reason: re.Msg}
			if re.Line > 0 {
				nl.Reason = fmt.Sprintf("line %d: %s", re.Line, re.Msg)
			}
		case errors.As(err, &pe):
			nl = NotLoaded{File: pe.Path, Reason: pe.Err.Error()}
		}
		if i, ok := at[nl.File]; ok && nl.File != "" {
			s.NotLoaded[i].Reason += "; " + nl.Reason
			continue
		}
		at[nl.File] = len(s.NotLoaded)
		s.NotLoaded = append(s.NotLoaded, nl)
	}
	sort.SliceStable(s.Rules, func(i, j int) bool { return s.Rules[i].ID < s.Rules[j].ID })
	sort.SliceStable(s.NotLoaded, func(i, j int) bool { return s.NotLoaded[i].File < s.NotLoaded[j].File })
}

var (
	techniqueID = regexp.MustCompile(`^T\d{4}(\.\d{3})?$`)
	tacticID    = regexp.MustCompile(`^TA\d{4}$`)
)

// Bounds on rule files, which may come from anywhere: the largest SigmaHQ
// rule is 30 KB and nests conditions a few levels deep. The YAML library
// stops at 10,000 levels of nesting by itself; the bounds below keep our own
// recursive descents (conditions, match sections) far shallower.
const (
	maxRuleFileSize = 1 << 20
	maxNesting      = 64
)

// ParseRule reads one rule file. Every problem is reported with its line;
// the rule is returned only when there is none.
func ParseRule(file string, b []byte) (*Rule, []*RuleError) {
	if err := checkRuleSize(file, b); err != nil {
		return nil, []*RuleError{err}
	}
	var errs []*RuleError
	fail := func(line int, format string, args ...any) {
		errs = append(errs, &RuleError{File: file, Line: line, Msg: fmt.Sprintf(format, args...)})
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, []*RuleError{{File: file, Line: yamlErrorLine(err), Msg: err.Error()}}
	}
	if len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, []*RuleError{{File: file, Line: 1, Msg: "a rule is a YAML mapping (id: ..., name: ..., match: ...)"}}
	}
	top := doc.Content[0]
	r := &Rule{File: file}
	known := map[string]any{
		"id": &r.ID, "name": &r.Name, "description": &r.Description, "severity": &r.Severity, "risk_score": &r.RiskScore,
		"version": &r.Version, "author": &r.Author, "origin": &r.Origin, "license": &r.License, "platforms": &r.Platforms,
		"tags": &r.Tags, "false_positive_rate": &r.FPRate, "requirements": &r.Requirements, "considerations": &r.Considerations,
		"original_query": &r.OriginalQuery, "query_language": &r.QueryLanguage, "attack": &r.Attack, "data_sources": &r.DataSources,
		"false_positives": &r.FalsePositives, "response": &r.Response, "references": &r.References, "history": &r.History,
		"group_by": &r.GroupBy, "next_hop": &r.NextHop, "tests": &r.Tests,
	}
	var match *yaml.Node
	seen := map[string]bool{}
	for i := 0; i+1 < len(top.Content); i += 2 {
		k, v := top.Content[i], top.Content[i+1]
		if seen[k.Value] {
			fail(k.Line, "%s is given twice", k.Value)
		}
		seen[k.Value] = true
		if k.Value == "match" {
			match = v
			continue
		}
		dst, ok := known[k.Value]
		if !ok {
			fail(k.Line, "unknown field %q", k.Value)
			continue
		}
		if err := v.Decode(dst); err != nil {
			fail(v.Line, "%s: %v", k.Value, err)
		}
	}
	for _, req := range []string{"id", "name", "description", "severity", "risk_score", "attack", "false_positives", "response", "references", "match"} {
		if !seen[req] {
			fail(top.Line, "missing %s", req)
		}
	}
	line := func(key string) int {
		for i := 0; i+1 < len(top.Content); i += 2 {
			if top.Content[i].Value == key {
				return top.Content[i].Line
			}
		}
		return top.Line
	}
	if seen["severity"] && r.Severity.Rank() < 0 {
		fail(line("severity"), "unknown severity %q (want one of informational, low, medium, high, critical)", r.Severity)
	}
	if seen["risk_score"] && (r.RiskScore < 0 || r.RiskScore > 100) {
		fail(line("risk_score"), "risk_score %d is not within 0-100", r.RiskScore)
	}
	itemLine := func(key string, i int) int {
		for j := 0; j+1 < len(top.Content); j += 2 {
			if v := top.Content[j+1]; top.Content[j].Value == key && v.Kind == yaml.SequenceNode && i < len(v.Content) {
				return v.Content[i].Line
			}
		}
		return line(key)
	}
	for i, a := range r.Attack {
		if !techniqueID.MatchString(a.Technique) || a.TechniqueName == "" {
			fail(itemLine("attack", i), "ATT&CK technique %q must look like T1021 or T1021.001 and have a technique_name", a.Technique)
		}
		if !tacticID.MatchString(a.Tactic) || a.TacticName == "" {
			fail(itemLine("attack", i), "ATT&CK tactic %q must look like TA0008 and have a tactic_name", a.Tactic)
		}
	}
	if r.GroupBy != "" && r.GroupBy != "host" {
		fail(line("group_by"), "group_by %q: only host is supported", r.GroupBy)
	}
	if r.NextHop != nil {
		re, err := regexp.Compile(r.NextHop.Pattern)
		switch {
		case err != nil:
			fail(line("next_hop"), "next_hop pattern: %v", err)
		case re.NumSubexp() < 1:
			fail(line("next_hop"), "next_hop pattern needs a capture group for the host")
		}
		r.NextHop.re = re
	}
	if match != nil {
		m, merrs := compileMatch(match)
		for _, e := range merrs {
			fail(e.line, "match: %s", e.msg)
		}
		r.matcher = m
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return r, nil
}

var yamlLine = regexp.MustCompile(`line (\d+)`)

func yamlErrorLine(err error) int {
	if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
		var n int
		fmt.Sscan(m[1], &n)
		return n
	}
	return 0
}
