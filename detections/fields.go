package detections

import (
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/evtxhunt/evtxhunt/parser"
	"github.com/evtxhunt/evtxhunt/parser/winpath"
	"github.com/evtxhunt/evtxhunt/timeline"
)

// The fields rules read, for both rule formats, in one table: each with its
// Sigma name (Sysmon 1's names; for Security 4688 read from its
// equivalents), its name in the pack's match language, and what the engine
// must know about it.

// fieldFlags say what kind of field a field is.
type fieldFlags uint8

const (
	// sysmonOnly: Security 4688 does not record it. A Sigma test of it
	// never matches on a process Sysmon did not see (the rule has partial
	// coverage there); the pack reads it as it is, empty.
	sysmonOnly fieldFlags = 1 << iota
	// volatile: it differs from one process to the next even when they
	// run the same thing, so the result of a rule reading it is not
	// memoized.
	volatile
	// keyword: a Sigma keyword search looks in it.
	keyword
	// windowsPath: the pack compares it in winpath.Normalize's form.
	windowsPath
)

// field is one field of a process.
type field struct {
	sigma string // its name in Sigma rules; "" when they cannot name it
	pack  string // its name in the pack's match language; "" when it cannot name it
	flags fieldFlags
	get   func(p *timeline.Process) string
}

// The fields, by position in the table.
const (
	fieldCommandLine = iota
	fieldImage
	fieldParentCommandLine
	fieldParentImage
	fieldOriginalFileName
	fieldDescription
	fieldProduct
	fieldCompany
	fieldFileVersion
	fieldCurrentDirectory
	fieldHashes
	fieldImphash
	fieldMD5
	fieldSHA1
	fieldSHA256
	fieldUser
	fieldUserSID
	fieldIntegrityLevel
	fieldTokenElevation
	fieldRecordedParentCommandLine
	fieldParentUser
	fieldProcessID
	fieldParentProcessID
	fieldLogonID
	fieldTerminalSessionID
	fieldLogonGUID
	fieldProcessGUID
	fieldParentProcessGUID
	fieldProviderName
	numFields
)

var fields = [numFields]field{
	fieldCommandLine:       {"CommandLine", "command_line", keyword, func(p *timeline.Process) string { return p.CommandLine }},
	fieldImage:             {"Image", "image", keyword | windowsPath, func(p *timeline.Process) string { return p.Image }},
	fieldParentCommandLine: {"ParentCommandLine", "", keyword, (*timeline.Process).ResolvedParentCommandLine},
	fieldParentImage:       {"ParentImage", "", keyword, (*timeline.Process).ResolvedParentImage},
	fieldOriginalFileName:  {"OriginalFileName", "original_file_name", sysmonOnly | keyword, func(p *timeline.Process) string { return p.OriginalFileName }},
	fieldDescription:       {"Description", "description", sysmonOnly | keyword, func(p *timeline.Process) string { return p.Description }},
	fieldProduct:           {"Product", "product", sysmonOnly, func(p *timeline.Process) string { return p.Product }},
	fieldCompany:           {"Company", "company", sysmonOnly, func(p *timeline.Process) string { return p.Company }},
	fieldFileVersion:       {"FileVersion", "", sysmonOnly, func(p *timeline.Process) string { return p.FileVersion }},
	fieldCurrentDirectory:  {"CurrentDirectory", "current_directory", sysmonOnly | windowsPath, func(p *timeline.Process) string { return p.CurrentDirectory }},
	fieldHashes:            {"Hashes", "hashes", sysmonOnly, func(p *timeline.Process) string { return p.Hashes }},
	fieldImphash:           {"Imphash", "", sysmonOnly, hashPart("IMPHASH")},
	fieldMD5:               {"md5", "", sysmonOnly, hashPart("MD5")},
	fieldSHA1:              {"sha1", "", sysmonOnly, hashPart("SHA1")},
	fieldSHA256:            {"sha256", "", sysmonOnly, hashPart("SHA256")},
	fieldUser:              {"User", "user", 0, func(p *timeline.Process) string { return p.User }},
	fieldUserSID:           {"", "user_sid", 0, func(p *timeline.Process) string { return p.UserSID }},
	fieldIntegrityLevel:    {"IntegrityLevel", "integrity_level", 0, func(p *timeline.Process) string { return p.IntegrityLevel }},
	fieldTokenElevation:    {"", "token_elevation", 0, func(p *timeline.Process) string { return p.TokenElevation }},
	// The pack's parent_command_line is the event's own, as recorded (its
	// parent role reads the linked parent's command line): not Sigma's
	// ParentCommandLine, which falls back to the linked parent's as every
	// report does. The pack's language documents and tests it so.
	fieldRecordedParentCommandLine: {"", "parent_command_line", sysmonOnly, func(p *timeline.Process) string { return p.ParentCommandLine }},
	fieldParentUser:                {"ParentUser", "", sysmonOnly, func(p *timeline.Process) string { return p.ParentUser }},
	fieldProcessID:                 {"ProcessId", "", volatile, func(p *timeline.Process) string { return strconv.FormatUint(uint64(p.PID), 10) }},
	fieldParentProcessID:           {"ParentProcessId", "", volatile, func(p *timeline.Process) string { return strconv.FormatUint(uint64(p.PPID), 10) }},
	fieldLogonID:                   {"LogonId", "", volatile, func(p *timeline.Process) string { return "0x" + strconv.FormatUint(p.LogonID, 16) }},
	fieldTerminalSessionID: {"TerminalSessionId", "", sysmonOnly | volatile, func(p *timeline.Process) string {
		return strconv.FormatUint(uint64(p.TerminalSessionID), 10)
	}},
	fieldLogonGUID:         {"LogonGuid", "", sysmonOnly | volatile, func(p *timeline.Process) string { return braced(p.LogonGUID) }},
	fieldProcessGUID:       {"ProcessGuid", "", sysmonOnly | volatile, func(p *timeline.Process) string { return braced(p.ProcessGUID) }},
	fieldParentProcessGUID: {"ParentProcessGuid", "", sysmonOnly | volatile, func(p *timeline.Process) string { return braced(p.ParentProcessGUID) }},
	fieldProviderName:      {"Provider_Name", "", 0, providerName},
}

func providerName(p *timeline.Process) string {
	if p.SeenBy(parser.SourceSysmon1) {
		return parser.ProviderSysmon
	}
	return parser.ProviderSecurityAuditing
}

func braced(guid string) string { return "{" + strings.ToLower(guid) + "}" }

// hashPart reads one hash of Sysmon's Hashes list (MD5=...,SHA256=...).
func hashPart(name string) func(p *timeline.Process) string {
	return func(p *timeline.Process) string {
		for _, part := range strings.Split(p.Hashes, ",") {
			if k, v, ok := strings.Cut(part, "="); ok && strings.EqualFold(k, name) {
				return v
			}
		}
		return ""
	}
}

// role is which process of a rule a field is read from: the process
// matched, or its parent as the timeline resolved it (the pack's parent
// role). Ancestors are not a role: a test of them is a condition evaluated
// on each (condAncestor).
type role int

const (
	roleProcess role = iota
	roleParent
	numRoles
)

// fieldID names a field of a role: role*numFields + the field's position.
type fieldID int

func (r role) field(i int) fieldID { return fieldID(int(r)*numFields + i) }
func (id fieldID) role() role      { return role(int(id) / numFields) }
func (id fieldID) def() *field     { return &fields[int(id)%numFields] }
func (id fieldID) is(flag fieldFlags) bool {
	return id.def().flags&flag != 0
}

// fieldNamed finds a field by the name a rule format gives it: nameOf
// picks that format's name out of an entry.
func fieldNamed(name string, nameOf func(f *field) string) (int, bool) {
	for i := range fields {
		if n := nameOf(&fields[i]); n != "" && n == name {
			return i, true
		}
	}
	return 0, false
}

func sigmaName(f *field) string { return f.sigma }
func packName(f *field) string  { return f.pack }

// presence says whether a field has a value for a process.
type presence uint8

const (
	noProcess  presence = iota // the role's process is not known (no parent)
	unrecorded                 // the event's source does not record the field
	recorded
)

// textForm is the form of a field's text a value compares with.
type textForm uint8

const (
	formRaw   textForm = iota // as recorded: cased tests, Sigma's regular expressions
	formLower                 // in lower case
	formPath                  // in winpath.Normalize's form: the pack's path fields
	numForms
)

// fieldValue is one field of the process being matched, read once for all
// rules, its forms made when first asked for.
type fieldValue struct {
	gen    uint64 // the cache generation it was read in
	raw    string
	state  presence
	formed uint8 // a bit per textForm made
	forms  [numForms][]byte
}

// text is the field in the given form. Buffers are reused from one
// process to the next.
func (f *fieldValue) text(form textForm) []byte {
	if f.formed&(1<<form) == 0 {
		b := f.forms[form][:0]
		switch form {
		case formRaw:
			b = append(b, f.raw...)
		case formLower:
			b = lowerInto(b, f.raw)
		case formPath:
			b = append(b, winpath.Normalize(f.raw)...)
		}
		f.forms[form] = b
		f.formed |= 1 << form
	}
	return f.forms[form]
}

// fieldCache holds the fields of the process being matched, read once for
// all the rules: matching allocates nothing per event for the text fields.
type fieldCache struct {
	p      *timeline.Process
	gen    uint64 // counts processes: a value of another generation is stale
	values []fieldValue
	// ancestors holds, per ancestor condition, whether each process seen
	// has an ancestor that passes it (see condAncestor); up is the cache
	// the ancestors are read through, walk the walk's buffer.
	ancestors map[*condAncestor]map[*timeline.Process]bool
	up        *fieldCache
	walk      []*timeline.Process
}

func newFieldCache() *fieldCache {
	return &fieldCache{values: make([]fieldValue, int(numRoles)*numFields)}
}

// get reads field id of p (of its parent, for the parent role).
func (c *fieldCache) get(p *timeline.Process, id fieldID) *fieldValue {
	if c.p != p {
		c.p = p
		c.gen++
	}
	f := &c.values[id]
	if f.gen == c.gen {
		return f
	}
	f.gen, f.formed = c.gen, 0
	of := p
	if id.role() == roleParent {
		of = p.Parent
	}
	switch {
	case of == nil:
		f.raw, f.state = "", noProcess
	case id.is(sysmonOnly) && !of.SeenBy(parser.SourceSysmon1):
		f.raw, f.state = id.def().get(of), unrecorded
	default:
		f.raw, f.state = id.def().get(of), recorded
	}
	return f
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
