package parser

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestParseWindowsUint(t *testing.T) {
	cases := []struct {
		in   string
		want uint64
		ok   bool
	}{
		{"0x00000ae8", 0xae8, true},
		{"0x0000000000000ae8", 0xae8, true}, // python-evtx's padding of the same value
		{"0XAE8", 0xae8, true},
		{"4236", 4236, true},
		{"", 0, true},
		{"-", 0, true},
		{"0x", 0, false},
		{"12a", 0, false},
	}
	for _, c := range cases {
		got, ok := parseWindowsUint(c.in)
		if got != c.want || ok != c.ok {
			t.Errorf("parseWindowsUint(%q) = %d, %v; want %d, %v", c.in, got, ok, c.want, c.ok)
		}
	}
}

func TestEventBuilder4688v2(t *testing.T) {
	ev := ProcessEvent{Source: SourceSecurity4688, Version: 2}
	var b eventBuilder
	b.reset(&ev)
	for _, f := range [][2]string{
		{"SubjectUserSid", "S-1-5-18"}, {"SubjectUserName", "WKS01$"}, {"SubjectDomainName", "CORP"},
		{"SubjectLogonId", "0x3e7"}, {"NewProcessId", "0x00001a2c"}, {"NewProcessName", `C:\Tools\netscan.exe`},
		{"TokenElevationType", "%%1938"}, {"ProcessId", "0x0000000000000d10"}, {"CommandLine", `netscan.exe /hide`},
		{"TargetUserSid", "S-1-5-21-1-2-3-1104"}, {"TargetUserName", "alice"}, {"TargetDomainName", "CORP"},
		{"TargetLogonId", "0x0000000000a1b2c3"}, {"ParentProcessName", `C:\Windows\explorer.exe`},
		{"MandatoryLabel", "S-1-16-8192"}, {"SomeFutureField", "x"},
	} {
		b.set(f[0], f[1])
	}
	b.finish()
	want := ProcessEvent{Source: SourceSecurity4688, Version: 2, PID: 0x1a2c, PPID: 0xd10,
		Image: `C:\Tools\netscan.exe`, ParentImage: `C:\Windows\explorer.exe`, CommandLine: "netscan.exe /hide",
		User: `CORP\alice`, UserSID: "S-1-5-21-1-2-3-1104", LogonID: 0xa1b2c3, IntegrityLevel: "Medium",
		TokenElevation: "TokenElevationTypeLimited", SubjectUser: `CORP\WKS01$`, SubjectUserSID: "S-1-5-18",
		SubjectLogonID: 0x3e7, TargetUser: `CORP\alice`, TargetUserSID: "S-1-5-21-1-2-3-1104", TargetLogonID: 0xa1b2c3}
	if ev != want {
		t.Errorf("got  %+v\nwant %+v", ev, want)
	}
	if len(b.bad) != 0 {
		t.Errorf("bad fields: %v", b.bad)
	}
}

func TestEventBuilderSysmonAndBadNumbers(t *testing.T) {
	ev := ProcessEvent{Source: SourceSysmon1}
	var b eventBuilder
	b.reset(&ev)
	b.set("ProcessGuid", "{747f3d96-40f5-5f08-0000-001095812d00}")
	b.set("ParentProcessGuid", "747F3D96-94CF-5F07-0000-0010BD590400")
	b.set("ProcessId", "4236")
	b.set("ParentProcessId", "not a pid")
	b.set("LogonId", "0x000000000003bfab")
	b.set("TerminalSessionId", "99999999999")
	b.finish()
	if ev.ProcessGUID != "747F3D96-40F5-5F08-0000-001095812D00" || ev.ParentProcessGUID != "747F3D96-94CF-5F07-0000-0010BD590400" {
		t.Errorf("GUIDs = %q, %q", ev.ProcessGUID, ev.ParentProcessGUID)
	}
	if ev.PID != 4236 || ev.PPID != 0 || ev.LogonID != 0x3bfab || ev.TerminalSessionID != 0 {
		t.Errorf("numbers = %d %d %d %d", ev.PID, ev.PPID, ev.LogonID, ev.TerminalSessionID)
	}
	if len(b.bad) != 2 || b.bad[0].name != "ParentProcessId" || b.bad[1].name != "TerminalSessionId" {
		t.Errorf("bad = %v, want ParentProcessId and TerminalSessionId", b.bad)
	}
	// Subject is the user when 4688 has no Target account.
	ev4688 := ProcessEvent{Source: SourceSecurity4688}
	b.reset(&ev4688)
	b.set("SubjectUserName", "bob")
	b.set("SubjectDomainName", "-")
	b.set("SubjectUserSid", "S-1-5-21-9")
	b.set("TargetUserSid", "S-1-0-0")
	b.set("TargetUserName", "-")
	b.finish()
	if ev4688.User != "bob" || ev4688.UserSID != "S-1-5-21-9" || ev4688.TargetUser != "" {
		t.Errorf("user = %q %q target %q", ev4688.User, ev4688.UserSID, ev4688.TargetUser)
	}
}

func TestLevelNames(t *testing.T) {
	for in, want := range map[string]string{"S-1-16-4096": "Low", "S-1-16-8192": "Medium", "S-1-16-12288": "High", "S-1-16-16384": "System", "S-1-16-99": "S-1-16-99"} {
		if got := integrityLevelName(in); got != want {
			t.Errorf("integrityLevelName(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]string{"%%1936": "TokenElevationTypeDefault", "%%1937": "TokenElevationTypeFull", "%%1938": "TokenElevationTypeLimited", "%%9": "%%9"} {
		if got := tokenElevationName(in); got != want {
			t.Errorf("tokenElevationName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestProcessEventJSON(t *testing.T) {
	ev := ProcessEvent{Host: "WKS01", Time: time.Date(2024, 5, 1, 10, 0, 0, 123400, time.UTC), Source: SourceSysmon1, PID: 42}
	b, err := json.Marshal(&ev)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for _, want := range []string{`"time":"2024-05-01T10:00:00.0001234Z"`, `"source":"sysmon-1"`, `"pid":42`, `"host":"WKS01"`, `"parent_image":""`} {
		if !strings.Contains(s, want) {
			t.Errorf("JSON %s lacks %s", s, want)
		}
	}
	if strings.Count(s, `"time"`) != 1 {
		t.Errorf("time written twice: %s", s)
	}
}

// TestProcessEventJSONByValue: an event marshalled by value, alone or as a
// field of another value, writes its time with all seven digits, as by
// pointer.
func TestProcessEventJSONByValue(t *testing.T) {
	ev := ProcessEvent{Time: time.Date(2024, 5, 1, 10, 0, 5, 100_000_000, time.UTC), Source: SourceSysmon1}
	const want = `"time":"2024-05-01T10:00:05.1000000Z"`
	for name, v := range map[string]any{
		"value":          ev,
		"pointer":        &ev,
		"field by value": struct{ Event ProcessEvent }{ev},
	} {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), want) {
			t.Errorf("%s: %s lacks %s", name, b, want)
		}
	}
}
