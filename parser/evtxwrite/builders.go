package evtxwrite

import (
	"fmt"
	"time"
)

// Providers, channels and their constant System fields, as Windows writes them.
const (
	SecurityProvider     = "Microsoft-Windows-Security-Auditing"
	SecurityProviderGUID = "54849625-5478-4994-A5BA-3E3B0328C30D"
	SecurityChannel      = "Security"
	SysmonProvider       = "Microsoft-Windows-Sysmon"
	SysmonProviderGUID   = "5770385F-C22A-43E0-BF4C-06F5698FFBD9"
	SysmonChannel        = "Microsoft-Windows-Sysmon/Operational"
	RCMProvider          = "Microsoft-Windows-TerminalServices-RemoteConnectionManager"
	RCMProviderGUID      = "C76BAA63-AE81-421C-B425-340B4B24157F"
	RCMChannel           = "Microsoft-Windows-TerminalServices-RemoteConnectionManager/Operational"

	auditSuccess   = 0x8020000000000000
	sysmonKeywords = 0x8000000000000000
	lsassPID       = 636
	sysmonPID      = 2044
)

// Account is a Windows account.
type Account struct {
	Domain, Name, SID string
}

// NoAccount is how 4688 v2 writes an absent Target account.
var NoAccount = Account{"-", "-", "S-1-0-0"}

// Proc is a process as the builders need it. Fields a log does not carry
// are ignored by its builder.
type Proc struct {
	PID              uint32
	Image            string
	CommandLine      string
	CurrentDirectory string
	User             Account
	LogonID          uint64
	LogonGUID        string // Sysmon
	GUID             string // Sysmon ProcessGuid
	Integrity        string // Low, Medium, High or System
	Elevation        string // %%1936, %%1937 or %%1938
	SessionID        uint32
	Hashes           string
	FileVersion      string
	Description      string
	Product          string
	Company          string
	OriginalFileName string
}

var integritySIDs = map[string]string{"Untrusted": "S-1-16-0", "Low": "S-1-16-4096", "Medium": "S-1-16-8192", "High": "S-1-16-12288", "System": "S-1-16-16384"}

func securityEvent(host string, t time.Time, id uint16, version uint8, task uint16, data []Field) *Event {
	return &Event{Provider: SecurityProvider, ProviderGUID: SecurityProviderGUID, Channel: SecurityChannel, Computer: host,
		EventID: id, Version: version, Task: task, Keywords: auditSuccess, Time: t, ProcessID: lsassPID, ThreadID: 700 + uint32(id%97), Data: data}
}

func sysmonEvent(host string, t time.Time, id uint16, version uint8, data []Field) *Event {
	return &Event{Provider: SysmonProvider, ProviderGUID: SysmonProviderGUID, Channel: SysmonChannel, Computer: host,
		EventID: id, Version: version, Level: 4, Task: id, Keywords: sysmonKeywords, Time: t, ProcessID: sysmonPID, ThreadID: 3000 + uint32(id),
		UserID: "S-1-5-18", Data: data}
}

func subjectFields(a Account, logonID uint64) []Field {
	return []Field{F("SubjectUserSid", SID(a.SID)), F("SubjectUserName", String(a.Name)), F("SubjectDomainName", String(a.Domain)), F("SubjectLogonId", HexInt64(logonID))}
}

// Security4688 is a process creation as Security logs it, in schema version
// 0 (Windows Vista/2008), 1 (adds CommandLine) or 2 (Windows 10/2016: adds
// the Target account, ParentProcessName and MandatoryLabel). The Subject is
// the creator: the parent's account. The Target names the child's account
// only when it differs.
func Security4688(host string, t time.Time, version uint8, child, parent Proc) *Event {
	data := subjectFields(parent.User, parent.LogonID)
	data = append(data, F("NewProcessId", SizeT(uint64(child.PID))), F("NewProcessName", String(child.Image)),
		F("TokenElevationType", String(child.Elevation)), F("ProcessId", SizeT(uint64(parent.PID))))
	if version >= 1 {
		data = append(data, F("CommandLine", String(child.CommandLine)))
	}
	if version >= 2 {
		target, targetLogon := NoAccount, uint64(0)
		if child.User.SID != parent.User.SID {
			target, targetLogon = child.User, child.LogonID
		}
		data = append(data, F("TargetUserSid", SID(target.SID)), F("TargetUserName", String(target.Name)),
			F("TargetDomainName", String(target.Domain)), F("TargetLogonId", HexInt64(targetLogon)),
			F("ParentProcessName", String(parent.Image)), F("MandatoryLabel", SID(integritySIDs[child.Integrity])))
	}
	return securityEvent(host, t, 4688, version, 13312, data)
}

// Security4689 is a process exit.
func Security4689(host string, t time.Time, p Proc) *Event {
	data := append(subjectFields(p.User, p.LogonID), F("Status", HexInt32(0)), F("ProcessId", SizeT(uint64(p.PID))), F("ProcessName", String(p.Image)))
	return securityEvent(host, t, 4689, 0, 13313, data)
}

// Logon describes a logon session for 4624 and 4634.
type Logon struct {
	Type        uint32 // 2 interactive, 3 network, 10 remote interactive
	User        Account
	LogonID     uint64
	Workstation string
	IP          string
	Port        uint16
	Package     string // NTLM, Kerberos, Negotiate
}

// Security4624 is a successful logon, version 2.
func Security4624(host string, t time.Time, l Logon) *Event {
	system := Account{"NT AUTHORITY", host + "$", "S-1-5-18"}
	process, processName, logonProcess := uint64(lsassPID), `C:\Windows\System32\lsass.exe`, "User32 "
	if l.Type == 3 {
		process, processName, logonProcess = 0, "-", "NtLmSsp "
	}
	data := append(subjectFields(system, 0x3e7),
		F("TargetUserSid", SID(l.User.SID)), F("TargetUserName", String(l.User.Name)), F("TargetDomainName", String(l.User.Domain)),
		F("TargetLogonId", HexInt64(l.LogonID)), F("LogonType", UInt32(l.Type)), F("LogonProcessName", String(logonProcess)),
		F("AuthenticationPackageName", String(l.Package)), F("WorkstationName", String(l.Workstation)),
		F("LogonGuid", GUID("00000000-0000-0000-0000-000000000000")), F("TransmittedServices", String("-")),
		F("LmPackageName", String("-")), F("KeyLength", UInt32(0)), F("ProcessId", SizeT(process)),
		F("ProcessName", String(processName)), F("IpAddress", String(l.IP)), F("IpPort", String(fmt.Sprint(l.Port))),
		F("ImpersonationLevel", String("%%1833")), F("RestrictedAdminMode", String("-")), F("TargetOutboundUserName", String("-")),
		F("TargetOutboundDomainName", String("-")), F("VirtualAccount", String("%%1843")), F("TargetLinkedLogonId", HexInt64(0)),
		F("ElevatedToken", String("%%1842")))
	return securityEvent(host, t, 4624, 2, 12544, data)
}

// Security4634 is a logoff.
func Security4634(host string, t time.Time, l Logon) *Event {
	data := []Field{F("TargetUserSid", SID(l.User.SID)), F("TargetUserName", String(l.User.Name)), F("TargetDomainName", String(l.User.Domain)),
		F("TargetLogonId", HexInt64(l.LogonID)), F("LogonType", UInt32(l.Type))}
	return securityEvent(host, t, 4634, 0, 12545, data)
}

// Security4648 is a logon with explicit credentials, made by process p.
func Security4648(host string, t time.Time, p Proc, target Account, targetServer string) *Event {
	data := append(subjectFields(p.User, p.LogonID), F("LogonGuid", GUID("00000000-0000-0000-0000-000000000000")),
		F("TargetUserName", String(target.Name)), F("TargetDomainName", String(target.Domain)),
		F("TargetLogonGuid", GUID("00000000-0000-0000-0000-000000000000")), F("TargetServerName", String(targetServer)),
		F("TargetInfo", String(targetServer)), F("ProcessId", SizeT(uint64(p.PID))), F("ProcessName", String(p.Image)),
		F("IpAddress", String("-")), F("IpPort", String("-")))
	return securityEvent(host, t, 4648, 0, 12544, data)
}

// Conn is a network connection.
type Conn struct {
	Outbound bool
	Protocol uint32 // 6 TCP, 17 UDP
	SrcIP    string
	SrcPort  uint16
	DstIP    string
	DstPort  uint16
}

// Security5156 is a connection the Windows Filtering Platform allowed.
func Security5156(host string, t time.Time, p Proc, c Conn) *Event {
	direction := "%%14592" // inbound
	if c.Outbound {
		direction = "%%14593"
	}
	data := []Field{F("ProcessID", UInt64(uint64(p.PID))), F("Application", String(deviceImage(p.Image))), F("Direction", String(direction)),
		F("SourceAddress", String(c.SrcIP)), F("SourcePort", String(fmt.Sprint(c.SrcPort))), F("DestAddress", String(c.DstIP)),
		F("DestPort", String(fmt.Sprint(c.DstPort))), F("Protocol", UInt32(c.Protocol)), F("FilterRTID", UInt64(0x1021f)),
		F("LayerName", String("%%14611")), F("LayerRTID", UInt64(48)), F("RemoteUserID", SID("S-1-0-0")), F("RemoteMachineID", SID("S-1-0-0"))}
	return securityEvent(host, t, 5156, 1, 12810, data)
}

// deviceImage writes a drive path as the kernel does in 5156 (C: is volume 3
// on a default install).
func deviceImage(image string) string {
	if len(image) > 2 && image[1] == ':' {
		return `\device\harddiskvolume3` + image[2:]
	}
	return image
}

func sysmonTime(t time.Time) Value { return String(t.UTC().Format("2006-01-02 15:04:05.000")) }

// Sysmon1 is a Sysmon process creation, schema version 5.
func Sysmon1(host string, t time.Time, child, parent Proc) *Event {
	data := []Field{F("RuleName", String("-")), F("UtcTime", sysmonTime(t)), F("ProcessGuid", GUID(child.GUID)),
		F("ProcessId", UInt32(child.PID)), F("Image", String(child.Image)), F("FileVersion", String(child.FileVersion)),
		F("Description", String(child.Description)), F("Product", String(child.Product)), F("Company", String(child.Company)),
		F("OriginalFileName", String(child.OriginalFileName)), F("CommandLine", String(child.CommandLine)),
		F("CurrentDirectory", String(child.CurrentDirectory)), F("User", String(child.User.Domain+`\`+child.User.Name)),
		F("LogonGuid", GUID(child.LogonGUID)), F("LogonId", HexInt64(child.LogonID)), F("TerminalSessionId", UInt32(child.SessionID)),
		F("IntegrityLevel", String(child.Integrity)), F("Hashes", String(child.Hashes)), F("ParentProcessGuid", GUID(parent.GUID)),
		F("ParentProcessId", UInt32(parent.PID)), F("ParentImage", String(parent.Image)), F("ParentCommandLine", String(parent.CommandLine))}
	return sysmonEvent(host, t, 1, 5, data)
}

// Sysmon3 is a network connection, schema version 5.
func Sysmon3(host string, t time.Time, p Proc, c Conn) *Event {
	proto := "tcp"
	if c.Protocol == 17 {
		proto = "udp"
	}
	data := []Field{F("RuleName", String("-")), F("UtcTime", sysmonTime(t)), F("ProcessGuid", GUID(p.GUID)), F("ProcessId", UInt32(p.PID)),
		F("Image", String(p.Image)), F("User", String(p.User.Domain+`\`+p.User.Name)), F("Protocol", String(proto)),
		F("Initiated", Bool(c.Outbound)), F("SourceIsIpv6", Bool(false)), F("SourceIp", String(c.SrcIP)), F("SourceHostname", String("-")),
		F("SourcePort", UInt16(c.SrcPort)), F("SourcePortName", String("-")), F("DestinationIsIpv6", Bool(false)),
		F("DestinationIp", String(c.DstIP)), F("DestinationHostname", String("-")), F("DestinationPort", UInt16(c.DstPort)),
		F("DestinationPortName", String("-"))}
	return sysmonEvent(host, t, 3, 5, data)
}

// Sysmon5 is a process exit, schema version 3.
func Sysmon5(host string, t time.Time, p Proc) *Event {
	data := []Field{F("RuleName", String("-")), F("UtcTime", sysmonTime(t)), F("ProcessGuid", GUID(p.GUID)), F("ProcessId", UInt32(p.PID)),
		F("Image", String(p.Image)), F("User", String(p.User.Domain+`\`+p.User.Name))}
	return sysmonEvent(host, t, 5, 3, data)
}

// Sysmon11 is a file creation, schema version 2.
func Sysmon11(host string, t time.Time, p Proc, target string) *Event {
	data := []Field{F("RuleName", String("-")), F("UtcTime", sysmonTime(t)), F("ProcessGuid", GUID(p.GUID)), F("ProcessId", UInt32(p.PID)),
		F("Image", String(p.Image)), F("TargetFilename", String(target)), F("CreationUtcTime", sysmonTime(t)),
		F("User", String(p.User.Domain+`\`+p.User.Name))}
	return sysmonEvent(host, t, 11, 2, data)
}

// TerminalServices1149 is "Remote Desktop Services: User authentication
// succeeded", its three parameters under UserData/EventXML as Windows
// writes them.
func TerminalServices1149(host string, t time.Time, user Account, sourceIP string) *Event {
	return &Event{Provider: RCMProvider, ProviderGUID: RCMProviderGUID, Channel: RCMChannel, Computer: host, EventID: 1149,
		Level: 4, Keywords: 0x1000000000000000, Time: t, ProcessID: 1100, ThreadID: 1300, UserID: "S-1-5-20",
		Data: []Field{F("Param1", String(user.Name)), F("Param2", String(user.Domain)), F("Param3", String(sourceIP))},
		UserData: UserData{Element: "EventXML", Attrs: []Attr{
			{"xmlns:auto-ns2", "http://schemas.microsoft.com/win/2004/08/events"}, {"xmlns", "Event_NS"}}}}
}
