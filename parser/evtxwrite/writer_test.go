package evtxwrite

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2024, 3, 14, 9, 26, 53, 589793200, time.UTC)

func account(name string) Account {
	return Account{"CORP", name, "S-1-5-21-3623811015-3361044348-30300820-" + strconv.Itoa(1000+len(name))}
}

// sampleEvents is every builder, many times over, with values that exercise
// the encoding: non-ASCII text, empty strings, long command lines, the
// extremes of integers. It spans several chunks.
func sampleEvents() []*Event {
	rng := rand.New(rand.NewPCG(1, 2))
	explorer := Proc{PID: 4242, Image: `C:\Windows\explorer.exe`, CommandLine: `C:\Windows\Explorer.EXE`, User: account("alice"),
		LogonID: 0x5a3f1, LogonGUID: "9d3c5c1a-0a5e-4f7c-8c1d-1b2e3f405162", GUID: "9D3C5C1A-1111-65F0-0000-0010A1B2C3D4",
		Integrity: "Medium", Elevation: "%%1938", SessionID: 1}
	var evs []*Event
	for i := range 150 {
		t := t0.Add(time.Duration(i) * 1234567 * time.Microsecond)
		child := Proc{PID: uint32(1000 + 4*i), Image: fmt.Sprintf(`C:\Users\alice\Desktop\tool_%d.exe`, i),
			CommandLine:      fmt.Sprintf(`tool_%d.exe --flag "résumé ü 日本" %s`, i, strings.Repeat("A", rng.IntN(300))),
			CurrentDirectory: `C:\Users\alice\Desktop\`, User: explorer.User, LogonID: explorer.LogonID, LogonGUID: explorer.LogonGUID,
			GUID: fmt.Sprintf("9D3C5C1A-%04X-65F0-0000-0010A1B2C3D4", i), Integrity: []string{"Low", "Medium", "High", "System"}[i%4],
			Elevation: "%%1936", SessionID: 1, Hashes: "SHA256=" + strings.Repeat("AB", 32), FileVersion: "1.0", Description: "",
			Product: "Tool", Company: "Example", OriginalFileName: "tool.exe"}
		if i%5 == 0 {
			child.User = account("svc_backup") // runs as another account: 4688 v2 Target
			child.LogonID = 0xffffffffffff
		}
		evs = append(evs,
			Security4688(fmt.Sprintf("WKS%02d.corp.local", i%3), t, uint8(i%3), child, explorer),
			Sysmon1("WKS01", t, child, explorer),
			Security4689("WKS01", t.Add(time.Second), child),
			Sysmon5("WKS01", t.Add(time.Second), child),
		)
		if i%50 == 0 {
			// Every value type. (Without a provider GUID, golang-evtx renders
			// <Provider Name="x"/> as a key "x": real manifest providers
			// always carry one.)
			evs = append(evs, &Event{Provider: "Evtxhunt-Types", ProviderGUID: "0AB1C2D3-E4F5-4A6B-8C7D-9E0F1A2B3C4D", Channel: "Application", Computer: "WKS01", EventID: 9999, Version: 1, Time: t,
				Data: []Field{F("u8", UInt8(255)), F("u16", UInt16(65535)), F("u32", UInt32(4294967295)), F("u64", UInt64(1<<63+5)),
					F("hex32", HexInt32(0xdeadbeef)), F("hex64", HexInt64(0xfedcba9876543210)), F("yes", Bool(true)), F("no", Bool(false)),
					F("systime", SysTime(t)), F("filetime", FileTime(t)), F("binary", Binary([]byte{1, 2, 0xab})),
					F("guid", GUID("{01234567-89ab-cdef-0123-456789abcdef}")), F("sid", SID("S-1-5-21-1-2-3-500")), F("empty", String(""))}})
		}
		if i%10 == 0 {
			l := Logon{Type: []uint32{3, 10}[i%2], User: account("bob"), LogonID: uint64(0x100000 + i), Workstation: "JUMP01", IP: "10.0.0.7", Port: 50123, Package: "NTLM"}
			conn := Conn{Outbound: i%20 == 0, Protocol: 6, SrcIP: "10.0.0.5", SrcPort: uint16(49152 + i), DstIP: "10.0.0.9", DstPort: 3389}
			evs = append(evs,
				Security4624("WKS01", t, l), Security4634("WKS01", t.Add(time.Minute), l),
				Security4648("WKS01", t, child, account("admin"), "SRV01"),
				Security5156("WKS01", t, child, conn), Sysmon3("WKS01", t, child, conn),
				Sysmon11("WKS01", t, child, `C:\Users\alice\AppData\Local\Temp\x.dll`),
				TerminalServices1149("WKS01", t, account("bob"), "10.0.0.7"),
				Eventlog1102("WKS01", t, account("admin"), 0x7e57))
		}
	}
	return evs
}

func writeFile(t *testing.T, evs []*Event) (string, []byte) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "test.evtx")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := NewWriter(f)
	for i, ev := range evs {
		id, err := w.Write(ev)
		if err != nil {
			t.Fatal(err)
		}
		if id != uint64(i+1) {
			t.Fatalf("record %d got id %d", i, id)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return path, b
}

func TestDeterministic(t *testing.T) {
	_, a := writeFile(t, sampleEvents())
	_, b := writeFile(t, sampleEvents())
	if !bytes.Equal(a, b) {
		t.Error("the same events written twice differ")
	}
}

func TestInvalidValues(t *testing.T) {
	var buf writerAtBuffer
	wr := NewWriter(&buf)
	ev := Sysmon5("H", t0, Proc{GUID: "not-a-guid"})
	if _, err := wr.Write(ev); err == nil || !strings.Contains(err.Error(), "ProcessGuid") {
		t.Errorf("bad GUID: err = %v", err)
	}
	big := Sysmon5("H", t0, Proc{GUID: "9D3C5C1A-1111-65F0-0000-0010A1B2C3D4", Image: strings.Repeat("x", 32000)})
	if _, err := wr.Write(big); err == nil || !strings.Contains(err.Error(), "more than a chunk") {
		t.Errorf("oversized record: err = %v", err)
	}
}

// writerAtBuffer is an in-memory io.WriterAt.
type writerAtBuffer struct{ b []byte }

func (w *writerAtBuffer) WriteAt(p []byte, off int64) (int, error) {
	if need := int(off) + len(p); need > len(w.b) {
		w.b = append(w.b, make([]byte, need-len(w.b))...)
	}
	return copy(w.b[off:], p), nil
}
