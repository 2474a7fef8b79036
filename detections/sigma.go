package detections

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"

	"github.com/evtxhunt/evtxhunt/timeline"
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

// sigmaField reads a field of the event, and whether the event's source can
// have it at all.
type sigmaField func(p *timeline.Process) (string, bool)

func sysmonOnly(get func(p *timeline.Process) string) sigmaField {
	return func(p *timeline.Process) (string, bool) {
		if p.ProcessGUID == "" { // not seen by Sysmon
			return "", false
		}
		return get(p), true
	}
}

func always(get func(p *timeline.Process) string) sigmaField {
	return func(p *timeline.Process) (string, bool) { return get(p), true }
}

func hashPart(name string) sigmaField {
	return sysmonOnly(func(p *timeline.Process) string {
		for _, part := range strings.Split(p.Hashes, ",") {
			if k, v, ok := strings.Cut(part, "="); ok && strings.EqualFold(k, name) {
				return v
			}
		}
		return ""
	})
}

var sigmaFields = map[string]sigmaField{
	"Image":       always(func(p *timeline.Process) string { return p.Image }),
	"CommandLine": always(func(p *timeline.Process) string { return p.CommandLine }),
	"ParentImage": always(func(p *timeline.Process) string { return p.ResolvedParentImage() }),
	"ParentCommandLine": always(func(p *timeline.Process) string {
		if p.ParentCommandLine != "" || p.Parent == nil {
			return p.ParentCommandLine
		}
		return p.Parent.CommandLine
	}),
	"User":              always(func(p *timeline.Process) string { return p.User }),
	"IntegrityLevel":    always(func(p *timeline.Process) string { return p.IntegrityLevel }),
	"ProcessId":         always(func(p *timeline.Process) string { return strconv.FormatUint(uint64(p.PID), 10) }),
	"ParentProcessId":   always(func(p *timeline.Process) string { return strconv.FormatUint(uint64(p.PPID), 10) }),
	"LogonId":           always(func(p *timeline.Process) string { return "0x" + strconv.FormatUint(p.LogonID, 16) }),
	"OriginalFileName":  sysmonOnly(func(p *timeline.Process) string { return p.OriginalFileName }),
	"Description":       sysmonOnly(func(p *timeline.Process) string { return p.Description }),
	"Product":           sysmonOnly(func(p *timeline.Process) string { return p.Product }),
	"Company":           sysmonOnly(func(p *timeline.Process) string { return p.Company }),
	"FileVersion":       sysmonOnly(func(p *timeline.Process) string { return p.FileVersion }),
	"CurrentDirectory":  sysmonOnly(func(p *timeline.Process) string { return p.CurrentDirectory }),
	"Hashes":            sysmonOnly(func(p *timeline.Process) string { return p.Hashes }),
	"ParentUser":        sysmonOnly(func(p *timeline.Process) string { return p.ParentUser }),
	"TerminalSessionId": sysmonOnly(func(p *timeline.Process) string { return strconv.FormatUint(uint64(p.TerminalSessionID), 10) }),
	"LogonGuid":         sysmonOnly(func(p *timeline.Process) string { return "{" + strings.ToLower(p.LogonGUID) + "}" }),
	"ProcessGuid":       sysmonOnly(func(p *timeline.Process) string { return "{" + strings.ToLower(p.ProcessGUID) + "}" }),
	"ParentProcessGuid": sysmonOnly(func(p *timeline.Process) string { return "{" + strings.ToLower(p.ParentProcessGUID) + "}" }),
	"Imphash":           hashPart("IMPHASH"),
	"md5":               hashPart("MD5"),
	"sha1":              hashPart("SHA1"),
	"sha256":            hashPart("SHA256"),
	"Provider_Name": always(func(p *timeline.Process) string {
		if p.ProcessGUID != "" {
			return "Microsoft-Windows-Sysmon"
		}
		return "Microsoft-Windows-Security-Auditing"
	}),
}

// sigmaFieldIDs numbers the fields, for the per-process field cache.
var sigmaFieldIDs, sigmaFieldList, sigmaFieldNames = func() (map[string]int, []sigmaField, []string) {
	names := make([]string, 0, len(sigmaFields))
	for n := range sigmaFields {
		names = append(names, n)
	}
	sort.Strings(names)
	ids := map[string]int{}
	list := make([]sigmaField, len(names))
	for i, n := range names {
		ids[n], list[i] = i, sigmaFields[n]
	}
	return ids, list, names
}()

// fieldCache holds the fields of the process being matched, read and
// lowered once for all the rules: buffers are reused from one process to the
// next, so matching allocates nothing per event for the text fields.
type fieldCache struct {
	p    *timeline.Process
	have []bool
	ok   []bool
	raw  []string
	low  [][]byte
	// ancestors holds, per matcher with an ancestor test, whether each
	// process seen has an ancestor that passes it (see ancestorHolds).
	ancestors map[*matcher]map[*timeline.Process]bool
}

func newFieldCache() *fieldCache {
	n := len(sigmaFieldList)
	return &fieldCache{have: make([]bool, n), ok: make([]bool, n), raw: make([]string, n), low: make([][]byte, n)}
}

func (c *fieldCache) get(p *timeline.Process, id int) (string, []byte, bool) {
	if c.p != p {
		c.p = p
		clear(c.have)
	}
	if !c.have[id] {
		c.raw[id], c.ok[id] = sigmaFieldList[id](p)
		c.low[id] = lowerInto(c.low[id][:0], c.raw[id])
		c.have[id] = true
	}
	return c.raw[id], c.low[id], c.ok[id]
}

// lowerInto appends s in lower case: the same folding patterns get.
func lowerInto(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return append(dst, strings.ToLower(s)...)
		}
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		dst = append(dst, c)
	}
	return dst
}

// fields Security 4688 cannot have.
var sysmonOnlyFields = []string{"OriginalFileName", "Description", "Product", "Company", "FileVersion", "CurrentDirectory", "Hashes",
	"ParentUser", "TerminalSessionId", "LogonGuid", "ProcessGuid", "ParentProcessGuid", "Imphash", "md5", "sha1", "sha256"}

// sigmaValue is one compiled value test.
type sigmaValue struct {
	re       *regexp.Regexp // wildcards and regular expressions
	exact    string         // equality
	contains string
	prefix   string
	suffix   string
	cased    bool // else the strings above are lower case, compared with the lowered field
	any      bool // a bare * : anything, even empty
	null     bool // matches an absent or empty field
	fieldRef int  // +1: compare with that field (0: none)
	cmp      string
	num      float64
	exists   int // 1: must exist, -1: must not, 0: no test
	// byte forms of contains, prefix and suffix, for the lowered field
	containsB, prefixB, suffixB []byte
	// variants: one value written several ways (windash, base64offset),
	// matching if any of them does
	variants []sigmaValue
}

func (v *sigmaValue) match(c *fieldCache, p *timeline.Process, raw string, low []byte, ok bool) bool {
	switch {
	case v.variants != nil:
		for i := range v.variants {
			if v.variants[i].match(c, p, raw, low, ok) {
				return true
			}
		}
		return false
	case v.exists != 0:
		return (ok && raw != "") == (v.exists > 0)
	case v.null:
		return !ok || raw == ""
	case !ok:
		return false
	case v.any:
		return true
	case v.fieldRef > 0:
		o, olow, ok2 := c.get(p, v.fieldRef-1)
		return ok2 && (raw == o || !v.cased && string(low) == string(olow))
	case v.cmp != "":
		n, err := strconv.ParseFloat(strings.TrimSpace(raw), 64)
		if err != nil {
			return false
		}
		switch v.cmp {
		case "lt":
			return n < v.num
		case "lte":
			return n <= v.num
		case "gt":
			return n > v.num
		}
		return n >= v.num
	case v.re != nil:
		return v.re.MatchString(raw)
	}
	if v.cased {
		switch {
		case v.contains != "":
			return strings.Contains(raw, v.contains)
		case v.prefix != "" || v.suffix != "":
			return len(raw) >= len(v.prefix)+len(v.suffix) && strings.HasPrefix(raw, v.prefix) && strings.HasSuffix(raw, v.suffix)
		}
		return raw == v.exact
	}
	switch {
	case v.contains != "":
		return bytes.Contains(low, v.containsB)
	case v.prefix != "" || v.suffix != "":
		return len(low) >= len(v.prefix)+len(v.suffix) && bytes.HasPrefix(low, v.prefixB) && bytes.HasSuffix(low, v.suffixB)
	}
	return string(low) == v.exact
}

// sigmaTest is field|modifiers: values.
type sigmaTest struct {
	field  int
	values []sigmaValue
	all    bool
}

func (t *sigmaTest) match(c *fieldCache, p *timeline.Process) bool {
	raw, low, ok := c.get(p, t.field)
	for i := range t.values {
		hit := t.values[i].match(c, p, raw, low, ok)
		if hit != t.all {
			return hit
		}
	}
	return t.all
}

// sigmaSearch is one search identifier: maps OR'd, each map's tests AND'ed;
// or keywords.
type sigmaSearch struct {
	maps     [][]sigmaTest
	keywords []sigmaValue
}

func (s *sigmaSearch) match(c *fieldCache, p *timeline.Process) bool {
	for _, m := range s.maps {
		ok := true
		for i := range m {
			if !m[i].match(c, p) {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	for i := range s.keywords {
		for _, f := range keywordFields {
			if raw, low, ok := c.get(p, f); ok && s.keywords[i].match(c, p, raw, low, ok) {
				return true
			}
		}
	}
	return false
}

// keywordFields are the fields a keyword search looks in.
var keywordFields = []int{sigmaFieldIDs["CommandLine"], sigmaFieldIDs["Image"], sigmaFieldIDs["ParentCommandLine"],
	sigmaFieldIDs["ParentImage"], sigmaFieldIDs["OriginalFileName"], sigmaFieldIDs["Description"]}

// sigmaCond is a compiled condition.
type sigmaCond interface {
	eval(c *fieldCache, p *timeline.Process) bool
}

type condSearch struct{ s *sigmaSearch }
type condNot struct{ c sigmaCond }
type condAnd []sigmaCond
type condOr []sigmaCond

func (c condSearch) eval(fc *fieldCache, p *timeline.Process) bool { return c.s.match(fc, p) }
func (c condNot) eval(fc *fieldCache, p *timeline.Process) bool    { return !c.c.eval(fc, p) }
func (c condAnd) eval(fc *fieldCache, p *timeline.Process) bool {
	for _, x := range c {
		if !x.eval(fc, p) {
			return false
		}
	}
	return true
}
func (c condOr) eval(fc *fieldCache, p *timeline.Process) bool {
	for _, x := range c {
		if x.eval(fc, p) {
			return true
		}
	}
	return false
}

// sigmaMatcher is a compiled Sigma detection.
type sigmaMatcher struct {
	cond   sigmaCond
	fields []int // the fields it reads
}

// volatileFields differ from one process to the next even when it runs the
// same thing; a rule that reads one is not memoized.
var volatileFields = []string{"ProcessId", "ParentProcessId", "LogonId", "LogonGuid", "ProcessGuid", "ParentProcessGuid", "TerminalSessionId"}

// memoFields returns the fields a rule's result depends on, or false when
// its result cannot be reused for another process with the same fields.
func (m *sigmaMatcher) memoFields() ([]int, bool) {
	for _, f := range m.fields {
		if slices.Contains(volatileFields, sigmaFieldNames[f]) {
			return nil, false
		}
	}
	return m.fields, true
}

func (m *sigmaMatcher) match(p *timeline.Process, c *fieldCache) bool { return m.cond.eval(c, p) }

type sigmaCompiler struct {
	file    string
	partial bool
	fields  []int
}

func (c *sigmaCompiler) use(id int) {
	if !slices.Contains(c.fields, id) {
		c.fields = append(c.fields, id)
	}
}

func (c *sigmaCompiler) fail(format string, args ...any) error {
	return &RuleError{File: c.file, Msg: fmt.Sprintf(format, args...)}
}

func (c *sigmaCompiler) detection(n *yaml.Node) (*sigmaMatcher, error) {
	if n.Kind != yaml.MappingNode {
		return nil, c.fail("detection is not a mapping")
	}
	searches := map[string]*sigmaSearch{}
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
	var conds condOr
	for _, text := range conditions {
		cond, err := parseCondition(text, searches, names)
		if err != nil {
			return nil, c.fail("condition %q: %v", text, err)
		}
		conds = append(conds, cond)
	}
	for _, s := range searches {
		if len(s.keywords) > 0 {
			for _, f := range keywordFields {
				c.use(f)
			}
		}
	}
	if len(conds) == 1 {
		return &sigmaMatcher{conds[0], c.fields}, nil
	}
	return &sigmaMatcher{conds, c.fields}, nil
}

func (c *sigmaCompiler) search(n *yaml.Node) (*sigmaSearch, error) {
	s := &sigmaSearch{}
	switch n.Kind {
	case yaml.MappingNode:
		m, err := c.fieldMap(n)
		if err != nil {
			return nil, err
		}
		s.maps = append(s.maps, m)
	case yaml.SequenceNode:
		for _, item := range n.Content {
			switch item.Kind {
			case yaml.MappingNode:
				m, err := c.fieldMap(item)
				if err != nil {
					return nil, err
				}
				s.maps = append(s.maps, m)
			case yaml.ScalarNode:
				vs, err := c.values("", []string{"contains"}, item)
				if err != nil {
					return nil, err
				}
				s.keywords = append(s.keywords, vs...)
			default:
				return nil, fmt.Errorf("unexpected list item")
			}
		}
	case yaml.ScalarNode:
		vs, err := c.values("", []string{"contains"}, n)
		if err != nil {
			return nil, err
		}
		s.keywords = vs
	}
	return s, nil
}

func (c *sigmaCompiler) fieldMap(n *yaml.Node) ([]sigmaTest, error) {
	var tests []sigmaTest
	for i := 0; i+1 < len(n.Content); i += 2 {
		parts := strings.Split(n.Content[i].Value, "|")
		id, ok := sigmaFieldIDs[parts[0]]
		if !ok {
			return nil, fmt.Errorf("field %q is not a process creation field", parts[0])
		}
		if slices.Contains(sysmonOnlyFields, parts[0]) {
			c.partial = true
		}
		c.use(id)
		t := sigmaTest{field: id}
		mods := parts[1:]
		if slices.Contains(mods, "all") {
			t.all = true
		}
		vs, err := c.values(parts[0], mods, n.Content[i+1])
		if err != nil {
			return nil, err
		}
		t.values = vs
		tests = append(tests, t)
	}
	return tests, nil
}

// values compiles the value(s) of a field test with its modifiers.
func (c *sigmaCompiler) values(field string, mods []string, n *yaml.Node) ([]sigmaValue, error) {
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
	var out []sigmaValue
	for _, item := range raw {
		if item.Kind != yaml.ScalarNode {
			return nil, fmt.Errorf("values must be scalars")
		}
		v := sigmaValue{cased: has("cased")}
		s := item.Value
		switch {
		case item.Tag == "!!null":
			v.null = true
			out = append(out, v)
			continue
		case has("exists"):
			if strings.EqualFold(s, "true") {
				v.exists = 1
			} else {
				v.exists = -1
			}
			out = append(out, v)
			continue
		case has("fieldref"):
			ref, ok := sigmaFieldIDs[s]
			if !ok {
				return nil, fmt.Errorf("fieldref to unknown field %q", s)
			}
			v.fieldRef = ref + 1
			c.use(ref)
			out = append(out, v)
			continue
		case has("lt") || has("lte") || has("gt") || has("gte"):
			num, err := strconv.ParseFloat(s, 64)
			if err != nil {
				return nil, fmt.Errorf("%q is not a number", s)
			}
			for _, m := range []string{"lt", "lte", "gt", "gte"} {
				if has(m) {
					v.cmp = m
				}
			}
			v.num = num
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
			v.re = re
			out = append(out, v)
			continue
		}
		variants := []string{s}
		if has("windash") {
			variants = windash(s)
		}
		var ways []sigmaValue
		for _, s := range variants {
			patterns := []string{s}
			if has("base64") || has("base64offset") {
				data := []byte(s)
				switch {
				case has("utf16le") || has("wide") || has("utf16"):
					data = utf16Bytes(s, false)
				case has("utf16be"):
					data = utf16Bytes(s, true)
				}
				if has("base64offset") {
					patterns = base64Offsets(data)
				} else {
					patterns = []string{base64.StdEncoding.EncodeToString(data)}
				}
			}
			for _, pat := range patterns {
				// The wildcards a modifier adds are never escaped by a
				// backslash ending the value ('\sysvol\' is a path).
				lead := has("contains") || has("endswith")
				trail := has("contains") || has("startswith")
				ways = append(ways, compileWildcard(pat, lead, trail, v.cased))
			}
		}
		if len(ways) == 1 {
			out = append(out, ways[0])
		} else {
			out = append(out, sigmaValue{variants: ways})
		}
	}
	return out, nil
}

// compileWildcard turns a Sigma value with * and ? (escaped with \), with
// a wildcard added before (lead) and after (trail) it, into the cheapest
// test: equality, prefix, suffix, contains, or a regular expression.
func compileWildcard(w string, lead, trail, cased bool) sigmaValue {
	var lits []string // literal runs between wildcards
	var seps []rune
	var cur strings.Builder
	if lead {
		lits, seps = append(lits, ""), append(seps, '*')
	}
	rs := []rune(w)
	for i := 0; i < len(rs); i++ {
		switch r := rs[i]; {
		case r == '\\' && i+1 < len(rs) && (rs[i+1] == '*' || rs[i+1] == '?' || rs[i+1] == '\\'):
			cur.WriteRune(rs[i+1])
			i++
		case r == '*' || r == '?':
			lits = append(lits, cur.String())
			seps = append(seps, r)
			cur.Reset()
		default:
			cur.WriteRune(r)
		}
	}
	lits = append(lits, cur.String())
	if trail {
		lits, seps = append(lits, ""), append(seps, '*')
	}
	v := sigmaValue{cased: cased}
	fold := func(s string) string {
		if cased {
			return s
		}
		return string(lowerInto(nil, s))
	}
	switch {
	case len(seps) == 0:
		v.exact = fold(lits[0])
		return v
	case len(seps) == 1 && seps[0] == '*':
		v.prefix, v.suffix = fold(lits[0]), fold(lits[1])
		v.prefixB, v.suffixB = []byte(v.prefix), []byte(v.suffix)
		v.any = v.prefix == "" && v.suffix == ""
		return v
	case len(seps) == 2 && seps[0] == '*' && seps[1] == '*' && lits[0] == "" && lits[2] == "" && lits[1] != "":
		v.contains = fold(lits[1])
		v.containsB = []byte(v.contains)
		return v
	}
	var sb strings.Builder
	if !cased {
		sb.WriteString("(?i)")
	}
	sb.WriteString("(?s)^")
	for i, l := range lits {
		sb.WriteString(regexp.QuoteMeta(l))
		if i < len(seps) {
			if seps[i] == '*' {
				sb.WriteString(".*")
			} else {
				sb.WriteString(".")
			}
		}
	}
	sb.WriteString("$")
	v.re = regexp.MustCompile(sb.String()) // quoted literals: always valid
	return v
}

// windash gives the value with every '-' replaced by each of the characters
// Windows command lines accept in its place.
func windash(s string) []string {
	if !strings.Contains(s, "-") {
		return []string{s}
	}
	var out []string
	for _, d := range []string{"-", "/", "\u2013", "\u2014", "\u2015"} {
		out = append(out, strings.ReplaceAll(s, "-", d))
	}
	return out
}

func utf16Bytes(s string, bigEndian bool) []byte {
	u := utf16.Encode([]rune(s))
	b := make([]byte, 2*len(u))
	for i, c := range u {
		if bigEndian {
			b[2*i], b[2*i+1] = byte(c>>8), byte(c)
		} else {
			b[2*i], b[2*i+1] = byte(c), byte(c>>8)
		}
	}
	return b
}

// base64Offsets is the three base64 forms of data at each alignment, cut to
// the characters that do not depend on what surrounds it.
func base64Offsets(data []byte) []string {
	var out []string
	for i := range 3 {
		enc := base64.StdEncoding.EncodeToString(append(make([]byte, i), data...))
		start := []int{0, 2, 3}[i]
		end := len(enc) - []int{0, 3, 2}[(len(data)+i)%3]
		if start < end {
			out = append(out, enc[start:end])
		}
	}
	return out
}

// parseCondition parses a Sigma condition over the named searches.
func parseCondition(text string, searches map[string]*sigmaSearch, names []string) (sigmaCond, error) {
	p := condParser{toks: tokenize(text), searches: searches, names: names}
	c, err := p.or()
	if err != nil {
		return nil, err
	}
	if p.pos != len(p.toks) {
		return nil, fmt.Errorf("unexpected %q", p.toks[p.pos])
	}
	return c, nil
}

func tokenize(s string) []string {
	var toks []string
	var cur strings.Builder
	flush := func() {
		if cur.Len() > 0 {
			toks = append(toks, cur.String())
			cur.Reset()
		}
	}
	for _, r := range s {
		switch r {
		case '(', ')':
			flush()
			toks = append(toks, string(r))
		case ' ', '\t', '\n':
			flush()
		default:
			cur.WriteRune(r)
		}
	}
	flush()
	return toks
}

type condParser struct {
	toks     []string
	pos      int
	depth    int // of parentheses and nots: bounded, so that no condition can exhaust the stack
	searches map[string]*sigmaSearch
	names    []string
}

// enter counts one more level of nesting, refusing more than maxNesting.
// The compiled condition is no deeper than the text, so evaluating it is
// bounded too.
func (p *condParser) enter() error {
	p.depth++
	if p.depth > maxNesting {
		return fmt.Errorf("condition nested deeper than %d levels", maxNesting)
	}
	return nil
}

func (p *condParser) peek() string {
	if p.pos < len(p.toks) {
		return strings.ToLower(p.toks[p.pos])
	}
	return ""
}

func (p *condParser) or() (sigmaCond, error) {
	return p.chain("or", p.and, func(cs []sigmaCond) sigmaCond { return condOr(cs) })
}

func (p *condParser) and() (sigmaCond, error) {
	return p.chain("and", p.not, func(cs []sigmaCond) sigmaCond { return condAnd(cs) })
}

// chain parses operands joined by op, one operand standing for itself.
func (p *condParser) chain(op string, operand func() (sigmaCond, error), join func([]sigmaCond) sigmaCond) (sigmaCond, error) {
	c, err := operand()
	if err != nil {
		return nil, err
	}
	out := []sigmaCond{c}
	for p.peek() == op {
		p.pos++
		c, err := operand()
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	if len(out) == 1 {
		return out[0], nil
	}
	return join(out), nil
}

func (p *condParser) not() (sigmaCond, error) {
	if p.peek() == "not" {
		p.pos++
		if err := p.enter(); err != nil {
			return nil, err
		}
		c, err := p.not()
		p.depth--
		if err != nil {
			return nil, err
		}
		return condNot{c}, nil
	}
	return p.primary()
}

func (p *condParser) primary() (sigmaCond, error) {
	tok := p.peek()
	switch {
	case tok == "":
		return nil, fmt.Errorf("condition ends early")
	case tok == "(":
		p.pos++
		if err := p.enter(); err != nil {
			return nil, err
		}
		c, err := p.or()
		p.depth--
		if err != nil {
			return nil, err
		}
		if p.peek() != ")" {
			return nil, fmt.Errorf("missing )")
		}
		p.pos++
		return c, nil
	case tok == "1" || tok == "all" || tok == "any":
		if p.pos+2 >= len(p.toks) {
			return nil, fmt.Errorf("%q of what?", tok)
		}
		if strings.ToLower(p.toks[p.pos+1]) != "of" {
			return nil, fmt.Errorf("expected 'of' after %q", tok)
		}
		pattern := p.toks[p.pos+2]
		p.pos += 3
		var group []sigmaCond
		for _, n := range p.names {
			if pattern == "them" && !strings.HasPrefix(n, "_") || pattern != "them" && globMatch(pattern, n) {
				group = append(group, condSearch{p.searches[n]})
			}
		}
		if len(group) == 0 {
			return nil, fmt.Errorf("no search matches %q", pattern)
		}
		if tok == "all" {
			return condAnd(group), nil
		}
		return condOr(group), nil
	}
	name := p.toks[p.pos]
	s, ok := p.searches[name]
	if !ok {
		return nil, fmt.Errorf("unknown search %q", name)
	}
	p.pos++
	return condSearch{s}, nil
}

// globMatch matches search names against patterns like selection_*.
func globMatch(pattern, name string) bool {
	ok, err := filepath.Match(pattern, name)
	return err == nil && ok
}

// imageKeys says which images a rule can match at all, when its condition
// requires an Image|endswith '\name.exe' or an OriginalFileName: the engine
// then tries the rule only on processes with one of these names. ok is false
// when the rule may match any image.
func (m *sigmaMatcher) imageKeys() (keys []string, ok bool) { return condKeys(m.cond, imageKey) }

// commandKeys says which strings a rule needs in the lowered command line:
// it can match only if one of them is there.
func (m *sigmaMatcher) commandKeys() (keys []string, ok bool) { return condKeys(m.cond, commandKey) }

var (
	imageField   = sigmaFieldIDs["Image"]
	ofnField     = sigmaFieldIDs["OriginalFileName"]
	commandField = sigmaFieldIDs["CommandLine"]
)

// A keyFunc reads, from one test, the keys one of which must hold for the
// test to match, or says it has none.
type keyFunc func(t *sigmaTest) ([]string, bool)

func condKeys(c sigmaCond, kf keyFunc) ([]string, bool) {
	switch c := c.(type) {
	case condSearch:
		if len(c.s.keywords) > 0 || len(c.s.maps) == 0 {
			return nil, false
		}
		var keys []string
		for _, m := range c.s.maps {
			k, ok := mapKeys(m, kf)
			if !ok {
				return nil, false
			}
			keys = append(keys, k...)
		}
		return keys, true
	case condAnd:
		var best []string
		found := false
		for _, x := range c {
			if k, ok := condKeys(x, kf); ok && (!found || len(k) < len(best)) {
				best, found = k, true
			}
		}
		return best, found
	case condOr:
		var keys []string
		for _, x := range c {
			k, ok := condKeys(x, kf)
			if !ok {
				return nil, false
			}
			keys = append(keys, k...)
		}
		return keys, true
	}
	return nil, false
}

// mapKeys finds, among a search map's tests (AND'ed), one that gives keys.
func mapKeys(tests []sigmaTest, kf keyFunc) ([]string, bool) {
	for i := range tests {
		if keys, ok := kf(&tests[i]); ok && len(keys) > 0 {
			return keys, true
		}
	}
	return nil, false
}

// plain says whether a value is a literal test on the lowered text.
func (v *sigmaValue) plain() bool {
	return v.re == nil && !v.cased && !v.any && !v.null && v.exists == 0 && v.fieldRef == 0 && v.cmp == "" && v.variants == nil
}

// valueKeys gives the keys of a value, one of which must hold for it to
// match: key's for a plain value, all its variants' keys for the others.
func valueKeys(v *sigmaValue, key func(v *sigmaValue) (string, bool)) ([]string, bool) {
	if v.variants == nil {
		k, ok := key(v)
		return []string{k}, ok
	}
	var keys []string
	for i := range v.variants {
		k, ok := valueKeys(&v.variants[i], key)
		if !ok {
			return nil, false
		}
		keys = append(keys, k...)
	}
	return keys, true
}

func imageKey(t *sigmaTest) ([]string, bool) {
	if t.all || (t.field != imageField && t.field != ofnField) {
		return nil, false
	}
	key := func(v *sigmaValue) (string, bool) {
		switch {
		case t.field == imageField && v.plain() && v.prefix == "" && strings.HasPrefix(v.suffix, `\`) && !strings.Contains(v.suffix[1:], `\`):
			return v.suffix[1:], true
		case t.field == ofnField && v.plain() && v.exact != "":
			return v.exact, true
		}
		return "", false
	}
	var keys []string
	for i := range t.values {
		k, ok := valueKeys(&t.values[i], key)
		if !ok {
			return nil, false
		}
		keys = append(keys, k...)
	}
	return keys, true
}

func commandKey(t *sigmaTest) ([]string, bool) {
	if t.field != commandField || len(t.values) == 0 {
		return nil, false
	}
	key := func(v *sigmaValue) (string, bool) {
		if !v.plain() {
			return "", false
		}
		k := v.contains
		switch {
		case k != "":
		case v.exact != "":
			k = v.exact
		case len(v.prefix) >= len(v.suffix):
			k = v.prefix
		default:
			k = v.suffix
		}
		return k, k != ""
	}
	var keys []string
	for i := range t.values {
		k, ok := valueKeys(&t.values[i], key)
		if !ok {
			return nil, false
		}
		keys = append(keys, k...)
		if t.all { // every value must be there: one is enough to look for
			break
		}
	}
	return keys, true
}
