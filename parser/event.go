package parser

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"
)

// Source names the kind of record a ProcessEvent came from.
type Source string

const (
	SourceSecurity4688 Source = "security-4688" // process creation
	SourceSysmon1      Source = "sysmon-1"      // process creation
	SourceSecurity4689 Source = "security-4689" // process exit
	SourceSysmon5      Source = "sysmon-5"      // process exit
)

// IsExit reports whether the event records a process ending rather than a
// creation. Exits carry the process's pid, image, user and, from Sysmon,
// its GUID; they bound process lifetimes in the timeline.
func (s Source) IsExit() bool { return s == SourceSecurity4689 || s == SourceSysmon5 }

// Provider names as they appear in System/Provider/@Name.
const (
	ProviderSecurityAuditing = "Microsoft-Windows-Security-Auditing"
	ProviderSysmon           = "Microsoft-Windows-Sysmon"
)

// processSource tells whether a record with this provider and event id is a
// process creation or exit, and of which kind.
func processSource(provider string, eventID uint16) (Source, bool) {
	switch {
	case strings.EqualFold(provider, ProviderSecurityAuditing):
		switch eventID {
		case 4688:
			return SourceSecurity4688, true
		case 4689:
			return SourceSecurity4689, true
		}
	case strings.EqualFold(provider, ProviderSysmon):
		switch eventID {
		case 1:
			return SourceSysmon1, true
		case 5:
			return SourceSysmon5, true
		}
	}
	return "", false
}

// ProcessEvent is one process creation, normalized from either a Security
// 4688 or a Sysmon 1 record, or one process exit (4689, Sysmon 5), which
// fills the fields its record has. It is a plain value: later stages never
// go back to the record.
type ProcessEvent struct {
	Host     string    `json:"host"`
	Time     time.Time `json:"time"` // UTC, 100 ns precision
	Source   Source    `json:"source"`
	Version  uint8     `json:"version"`
	RecordID uint64    `json:"record_id"` // System/EventRecordID, as Event Viewer shows it
	// RecordNumber is the record header's number. It equals RecordID in a
	// live log; exported logs renumber it from 1.
	RecordNumber uint64 `json:"record_number"`

	PID               uint32 `json:"pid"`
	PPID              uint32 `json:"ppid"`
	Image             string `json:"image"`
	ParentImage       string `json:"parent_image"`
	CommandLine       string `json:"command_line"`
	ParentCommandLine string `json:"parent_command_line"`
	CurrentDirectory  string `json:"current_directory"`

	// User is the account the new process runs as: Sysmon's User, or for 4688
	// the Target account (v2) when it names one, else the Subject.
	User           string `json:"user"`
	UserSID        string `json:"user_sid"`
	LogonID        uint64 `json:"logon_id"`
	IntegrityLevel string `json:"integrity_level"`
	TokenElevation string `json:"token_elevation"`

	// 4688 keeps both accounts: the creator (Subject) and the new process's
	// (Target, version 2 only).
	SubjectUser    string `json:"subject_user,omitempty"`
	SubjectUserSID string `json:"subject_user_sid,omitempty"`
	SubjectLogonID uint64 `json:"subject_logon_id,omitempty"`
	TargetUser     string `json:"target_user,omitempty"`
	TargetUserSID  string `json:"target_user_sid,omitempty"`
	TargetLogonID  uint64 `json:"target_logon_id,omitempty"`

	// Sysmon only.
	ProcessGUID       string `json:"process_guid"`
	ParentProcessGUID string `json:"parent_process_guid"`
	Hashes            string `json:"hashes"`
	OriginalFileName  string `json:"original_file_name,omitempty"`
	Description       string `json:"description,omitempty"`
	Product           string `json:"product,omitempty"`
	Company           string `json:"company,omitempty"`
	FileVersion       string `json:"file_version,omitempty"`
	LogonGUID         string `json:"logon_guid,omitempty"`
	TerminalSessionID uint32 `json:"terminal_session_id,omitempty"`
	ParentUser        string `json:"parent_user,omitempty"`
	RuleName          string `json:"rule_name,omitempty"`

	// Provenance.
	File   string `json:"file"`
	Chunk  int    `json:"chunk"`
	Offset int64  `json:"offset"` // of the record in the file
}

// TimeLayout prints times with all seven digits Windows records.
const TimeLayout = "2006-01-02T15:04:05.0000000Z07:00"

// MarshalJSON writes Time with its full 100 ns precision, always seven digits,
// so that output is stable and sorts as text. Its receiver is a value, so
// that an event marshalled by value, or as a field of a value, is written
// the same way.
func (e ProcessEvent) MarshalJSON() ([]byte, error) {
	type plain ProcessEvent
	return json.Marshal(struct {
		plain
		Time string `json:"time"`
	}{plain(e), e.Time.UTC().Format(TimeLayout)})
}

// fieldError reports a field whose value could not be read.
type fieldError struct {
	name, value string
}

// eventBuilder fills a ProcessEvent from a record's EventData fields, given by
// name in any order. It is the one place that knows both schemas; every
// decoder feeds it.
type eventBuilder struct {
	ev  *ProcessEvent
	bad []fieldError

	subjectUser, subjectDomain string
	targetUser, targetDomain   string
}

func (b *eventBuilder) reset(ev *ProcessEvent) {
	*b = eventBuilder{ev: ev, bad: b.bad[:0]}
}

// set records one EventData field. Unknown names are ignored: both providers
// add fields across versions.
func (b *eventBuilder) set(name, value string) {
	ev := b.ev
	security := ev.Source == SourceSecurity4688 || ev.Source == SourceSecurity4689
	if security { // the creator (4688) or the exiting process's account (4689)
		switch name {
		case "SubjectUserSid":
			ev.SubjectUserSID = value
			return
		case "SubjectUserName":
			b.subjectUser = value
			return
		case "SubjectDomainName":
			b.subjectDomain = value
			return
		case "SubjectLogonId":
			ev.SubjectLogonID = b.uint64(name, value)
			return
		}
	}
	if ev.Source == SourceSecurity4689 {
		switch name {
		case "ProcessId":
			ev.PID = b.uint32(name, value)
		case "ProcessName":
			ev.Image = value
		}
		return
	}
	if ev.Source == SourceSecurity4688 {
		switch name {
		case "NewProcessId":
			ev.PID = b.uint32(name, value)
		case "ProcessId":
			ev.PPID = b.uint32(name, value)
		case "NewProcessName":
			ev.Image = value
		case "ParentProcessName":
			ev.ParentImage = value
		case "CommandLine":
			ev.CommandLine = value
		case "TargetUserSid":
			ev.TargetUserSID = value
		case "TargetUserName":
			b.targetUser = value
		case "TargetDomainName":
			b.targetDomain = value
		case "TargetLogonId":
			ev.TargetLogonID = b.uint64(name, value)
		case "TokenElevationType":
			ev.TokenElevation = tokenElevationName(value)
		case "MandatoryLabel":
			ev.IntegrityLevel = integrityLevelName(value)
		}
		return
	}
	switch name {
	case "ProcessId":
		ev.PID = b.uint32(name, value)
	case "ParentProcessId":
		ev.PPID = b.uint32(name, value)
	case "Image":
		ev.Image = value
	case "ParentImage":
		ev.ParentImage = value
	case "CommandLine":
		ev.CommandLine = value
	case "ParentCommandLine":
		ev.ParentCommandLine = value
	case "CurrentDirectory":
		ev.CurrentDirectory = value
	case "User":
		ev.User = value
	case "LogonId":
		ev.LogonID = b.uint64(name, value)
	case "IntegrityLevel":
		ev.IntegrityLevel = value
	case "ProcessGuid":
		ev.ProcessGUID = normalizeGUID(value)
	case "ParentProcessGuid":
		ev.ParentProcessGUID = normalizeGUID(value)
	case "LogonGuid":
		ev.LogonGUID = normalizeGUID(value)
	case "Hashes":
		ev.Hashes = value
	case "OriginalFileName":
		ev.OriginalFileName = value
	case "Description":
		ev.Description = value
	case "Product":
		ev.Product = value
	case "Company":
		ev.Company = value
	case "FileVersion":
		ev.FileVersion = value
	case "TerminalSessionId":
		ev.TerminalSessionID = b.uint32(name, value)
	case "ParentUser":
		ev.ParentUser = value
	case "RuleName":
		ev.RuleName = value
	}
}

// finish derives the fields that depend on several others.
func (b *eventBuilder) finish() {
	ev := b.ev
	if ev.Source != SourceSecurity4688 && ev.Source != SourceSecurity4689 {
		return
	}
	ev.SubjectUser = accountName(b.subjectDomain, b.subjectUser)
	ev.TargetUser = accountName(b.targetDomain, b.targetUser)
	// Target fields are "-" and the NULL SID unless the process was started
	// under another account than its creator's.
	if ev.TargetUserSID != "" && ev.TargetUserSID != "S-1-0-0" {
		ev.User, ev.UserSID, ev.LogonID = ev.TargetUser, ev.TargetUserSID, ev.TargetLogonID
	} else {
		ev.User, ev.UserSID, ev.LogonID = ev.SubjectUser, ev.SubjectUserSID, ev.SubjectLogonID
	}
}

func (b *eventBuilder) uint64(name, value string) uint64 {
	n, ok := parseWindowsUint(value)
	if !ok {
		b.bad = append(b.bad, fieldError{name, value})
	}
	return n
}

func (b *eventBuilder) uint32(name, value string) uint32 {
	n := b.uint64(name, value)
	if n > 1<<32-1 {
		b.bad = append(b.bad, fieldError{name, value})
		return 0
	}
	return uint32(n)
}

// parseWindowsUint reads the integers event logs print: decimal, or hex with
// a 0x prefix and any zero padding. Empty means absent and reads as zero.
func parseWindowsUint(s string) (uint64, bool) {
	s = strings.TrimSpace(s)
	if s == "" || s == "-" {
		return 0, true
	}
	base := 10
	if len(s) > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X') {
		s, base = s[2:], 16
	}
	n, err := strconv.ParseUint(s, base, 64)
	return n, err == nil
}

func accountName(domain, user string) string {
	switch {
	case user == "" || user == "-":
		return ""
	case domain == "" || domain == "-":
		return user
	}
	return domain + `\` + user
}

// normalizeGUID writes GUIDs upper case without braces, the form Sysmon uses
// in its own text.
func normalizeGUID(s string) string {
	s = strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(s), "{"), "}")
	return strings.ToUpper(s)
}

// tokenElevationName maps 4688's TokenElevationType message ids to the names
// Windows documents.
func tokenElevationName(v string) string {
	switch strings.TrimSpace(v) {
	case "%%1936":
		return "TokenElevationTypeDefault"
	case "%%1937":
		return "TokenElevationTypeFull"
	case "%%1938":
		return "TokenElevationTypeLimited"
	}
	return v
}

// integrityLevelName maps a mandatory label SID to the level names Sysmon
// prints, so both sources compare equal.
func integrityLevelName(sid string) string {
	switch strings.ToUpper(strings.TrimSpace(sid)) {
	case "S-1-16-0":
		return "Untrusted"
	case "S-1-16-4096":
		return "Low"
	case "S-1-16-8192":
		return "Medium"
	case "S-1-16-8448":
		return "MediumPlus"
	case "S-1-16-12288":
		return "High"
	case "S-1-16-16384":
		return "System"
	case "S-1-16-20480":
		return "Protected"
	}
	return sid
}
