package parser

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/evtxhunt/evtxhunt/parser/evidence"
)

// The public samples live beside the checkout in ../shared and are never
// copied into the repository.
const (
	sharedRoot = "../../shared"
	sharedEVTX = sharedRoot + "/evtx"
)

func needShared(t testing.TB) {
	t.Helper()
	if _, err := os.Stat(sharedEVTX); err != nil {
		t.Skipf("SKIP: the shared evidence corpus is absent (%v); these checks run where ../shared sits beside the checkout", err)
	}
}

type oracleRow struct {
	python, libevtx, security4688, sysmon1 uint64
}

func readOracle(t testing.TB) map[string]oracleRow {
	f, err := os.Open(sharedRoot + "/oracle/process_counts.tsv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows := map[string]oracleRow{}
	sc := bufio.NewScanner(f)
	sc.Scan() // header
	for sc.Scan() {
		col := strings.Split(sc.Text(), "\t")
		n := func(i int) uint64 {
			v, err := strconv.ParseUint(col[i], 10, 64)
			if err != nil {
				t.Fatalf("oracle line %q: %v", sc.Text(), err)
			}
			return v
		}
		rows[filepath.Join(sharedRoot, col[0])] = oracleRow{n(1), n(2), n(3), n(4)}
	}
	return rows
}

// Records that golang-evtx cannot decode although python-evtx counts them.
// Each is still counted as seen and reported as an error naming the record.
// The CAPI2 logs hold binary XML values golang-evtx misreads; the others are
// records torn by a copy of a live log (their size trailer is garbage). The
// native decoder reads them all: it needs only System and the substitution
// array, which are intact.
var golangEvtxUndecoded = map[string]uint64{
	"E_ShadowCopy6_windows_system32_winevt_logs_Microsoft-Windows-CAPI2%4Operational.evtx": 459,
	"E_Windows_system32_winevt_logs_Microsoft-Windows-CAPI2%4Operational.evtx":             340,
	"2-vss_0-Microsoft-Windows-RemoteDesktopServices-RdpCoreTS%4Operational.evtx":          2,
	"2-vss_0-Microsoft-Windows-TerminalServices-RemoteConnectionManager%4Operational.evtx": 1,
	"Microsoft-Windows-LanguagePackSetup%4Operational.evtx":                                1,
}

// Records the native decoder cannot read either: two torn records whose
// substitution arrays run into garbage. Their chunk goes to golang-evtx,
// which reads the rest of it and fails these two as well.
var nativeUndecoded = map[string]uint64{
	"2-vss_0-Microsoft-Windows-RemoteDesktopServices-RdpCoreTS%4Operational.evtx": 2,
}

// TestOracleCounts scans every shared sample, the broken ones included, and
// holds each file to the oracles: as many records as the better of two
// independent parsers, and exactly their count of 4688 and Sysmon 1. With the
// native decoder every record is decoded; golang-evtx alone misses the ones
// listed above.
func TestOracleCounts(t *testing.T) {
	needShared(t)
	for _, decoder := range []string{DecoderNative, DecoderGolangEvtx} {
		t.Run(decoder, func(t *testing.T) { oracleCounts(t, decoder) })
	}
}

func oracleCounts(t *testing.T, decoder string) {
	oracle := readOracle(t)
	files, errs := evidence.Find([]string{sharedEVTX})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if len(files) != len(oracle) {
		t.Fatalf("found %d files, the oracle lists %d", len(files), len(oracle))
	}
	perFile := map[string]map[Source]uint64{}
	stats, err := NewScanner(Options{Decoder: decoder}).Scan(context.Background(), files, func(ev *ProcessEvent) error {
		if perFile[ev.File] == nil {
			perFile[ev.File] = map[Source]uint64{}
		}
		perFile[ev.File][ev.Source]++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range stats {
		o, ok := oracle[s.Path]
		if !ok {
			t.Errorf("%s: not in the oracle", s.Path)
			continue
		}
		want := max(o.python, o.libevtx)
		if s.Records.Seen != want {
			t.Errorf("%s: %d records seen, oracles count %d", s.Path, s.Records.Seen, want)
		}
		undecoded := nativeUndecoded[filepath.Base(s.Path)]
		if decoder == DecoderGolangEvtx {
			undecoded = golangEvtxUndecoded[filepath.Base(s.Path)]
		}
		if s.Records.Decoded != want-undecoded || s.Records.Failed != undecoded {
			t.Errorf("%s: %d decoded, %d failed; want %d and %d", s.Path, s.Records.Decoded, s.Records.Failed, want-undecoded, undecoded)
		}
		var recordErrs uint64
		for _, e := range s.Errors {
			if e.Kind == KindRecord || e.Kind == KindPanic {
				recordErrs += uint64(1 + e.Repeats)
			}
		}
		if undecoded > 100 && !errorsMention(s.Errors, "ERROR - ") {
			t.Errorf("%s: golang-evtx's log lines were not captured into the record errors", s.Path)
		}
		if recordErrs != s.Records.Failed {
			t.Errorf("%s: %d failed records but %d record errors", s.Path, s.Records.Failed, recordErrs)
		}
		if got := s.ProcessEvents[SourceSecurity4688]; got != o.security4688 {
			t.Errorf("%s: %d Security 4688, oracle %d", s.Path, got, o.security4688)
		}
		if got := s.ProcessEvents[SourceSysmon1]; got != o.sysmon1 {
			t.Errorf("%s: %d Sysmon 1, oracle %d", s.Path, got, o.sysmon1)
		}
		if got := perFile[s.Path]; got[SourceSecurity4688] != o.security4688 || got[SourceSysmon1] != o.sysmon1 {
			t.Errorf("%s: emitted %v", s.Path, got)
		}
		var census uint64
		for _, n := range s.Census {
			census += n
		}
		if census != s.Records.Decoded {
			t.Errorf("%s: census holds %d records, %d decoded", s.Path, census, s.Records.Decoded)
		}
	}
}

// TestScanOrderAndWorkers checks that output order is (file, chunk, record)
// and does not depend on the number of workers.
func TestScanOrderAndWorkers(t *testing.T) {
	needShared(t)
	files, _ := evidence.Find([]string{sharedEVTX + "/attack-samples"})
	collect := func(workers int) []ProcessEvent {
		var out []ProcessEvent
		if _, err := NewScanner(Options{Workers: workers}).Scan(context.Background(), files, func(ev *ProcessEvent) error {
			out = append(out, *ev)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return out
	}
	one, four := collect(1), collect(4)
	if len(one) < 1000 || !slices.Equal(one, four) {
		t.Fatalf("1 worker: %d events, 4 workers: %d events, equal %v", len(one), len(four), slices.Equal(one, four))
	}
	fileIndex := map[string]int{}
	for i, f := range files {
		fileIndex[f] = i
	}
	for i := 1; i < len(one); i++ {
		a, b := one[i-1], one[i]
		if fa, fb := fileIndex[a.File], fileIndex[b.File]; fa > fb || fa == fb && a.Offset >= b.Offset {
			t.Fatalf("event %d (%s @%d) before event %d (%s @%d)", i-1, a.File, a.Offset, i, b.File, b.Offset)
		}
	}
}

// TestRealRecordFields checks every field of real records of each kind
// against what python-evtx and libevtx (evtxexport, for the full 100 ns times) print for them.
func TestRealRecordFields(t *testing.T) {
	needShared(t)
	at := func(s string) time.Time {
		tm, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	cases := []struct {
		file string
		want ProcessEvent
	}{
		{"attack-samples/Credential Access/tutto_malseclogon.evtx", ProcessEvent{
			Host: "MSEDGEWIN10", Time: at("2021-12-07T17:33:01.3978144Z"), Source: SourceSecurity4688, Version: 2,
			RecordID: 329914, RecordNumber: 1, PID: 0x21a4, PPID: 0x2480,
			Image:       `\Device\Mup\VBoxSvr\Users\bouss\Downloads\MalSeclogon-master\x64\Debug\MalSeclogon.exe`,
			ParentImage: `C:\Windows\System32\cmd.exe`, User: `MSEDGEWIN10\IEUser`,
			UserSID: "S-1-5-21-3461203602-4096304019-2269080069-1000", LogonID: 0x53ca2, IntegrityLevel: "High",
			TokenElevation: "TokenElevationTypeFull", SubjectUser: `MSEDGEWIN10\IEUser`,
			SubjectUserSID: "S-1-5-21-3461203602-4096304019-2269080069-1000", SubjectLogonID: 0x53ca2,
			TargetUserSID: "S-1-0-0", Chunk: 0, Offset: 0x1200,
		}},
		{"attack-samples/Lateral Movement/LM_WMI_4624_4688_TargetHost.evtx", ProcessEvent{
			Host: "WIN-77LTAPHIQ1R.example.corp", Time: at("2019-03-18T22:15:49.6767481Z"), Source: SourceSecurity4688, Version: 1,
			RecordID: 563299, RecordNumber: 6, PID: 0x424, PPID: 0xae8, Image: `C:\Windows\System32\calc.exe`,
			User: `EXAMPLE\WIN-77LTAPHIQ1R$`, UserSID: "S-1-5-20", LogonID: 0x3e4, TokenElevation: "TokenElevationTypeDefault",
			SubjectUser: `EXAMPLE\WIN-77LTAPHIQ1R$`, SubjectUserSID: "S-1-5-20", SubjectLogonID: 0x3e4,
		}},
		{"attack-samples/Lateral Movement/LM_sysmon_1_12_13_3_tsclient_SharpRdp.evtx", ProcessEvent{
			Host: "MSEDGEWIN10", Time: at("2020-07-10T10:20:37.6371518Z"), Source: SourceSysmon1, Version: 5,
			RecordID: 311411, RecordNumber: 5, PID: 4236, PPID: 3248, Image: `\\tsclient\c\temp\stack\a.exe`,
			ParentImage: `C:\Windows\explorer.exe`, CommandLine: `"\\tsclient\c\temp\stack\a.exe" `,
			ParentCommandLine: `C:\Windows\Explorer.EXE`, CurrentDirectory: `\\tsclient\c\temp\stack\`,
			User: `MSEDGEWIN10\IEUser`, LogonID: 0x3bfab, IntegrityLevel: "Medium",
			ProcessGUID: "747F3D96-40F5-5F08-0000-001095812D00", ParentProcessGUID: "747F3D96-94CF-5F07-0000-0010BD590400",
			Hashes:           "SHA1=C494051E7CBC27552D5E805A18D5EEAA01076F02,MD5=024DC9AA2127EF2A9018612F36CC66EF,SHA256=0EDC55867506DF98243526DC2C0FAFDDA40F5058D6932FAA89D179D57FEBFAB0,IMPHASH=69193DAE402063F5D8E635AA50D6F9BE",
			OriginalFileName: "?", Description: "?", Product: "?", Company: "?", FileVersion: "?",
			LogonGUID: "747F3D96-94CD-5F07-0000-0020ABBF0300", TerminalSessionID: 1,
		}},
	}
	for _, tc := range cases {
		path := filepath.Join(sharedEVTX, tc.file)
		tc.want.File = path
		var got *ProcessEvent
		stats, err := NewScanner(Options{}).Scan(context.Background(), []string{path}, func(ev *ProcessEvent) error {
			if ev.RecordID == tc.want.RecordID {
				c := *ev
				got = &c
			}
			return nil
		})
		if err != nil || !stats[0].Clean() {
			t.Fatalf("%s: err %v, errors %v", tc.file, err, stats[0].Errors)
		}
		if got == nil {
			t.Errorf("%s: record %d not found", tc.file, tc.want.RecordID)
			continue
		}
		if tc.want.Offset == 0 {
			tc.want.Offset = got.Offset // checked by the order test
		}
		if *got != tc.want {
			t.Errorf("%s record %d:\ngot  %+v\nwant %+v", tc.file, tc.want.RecordID, *got, tc.want)
		}
	}
}

func errorsMention(errs []DecodeError, text string) bool {
	for _, e := range errs {
		if strings.Contains(e.Reason, text) {
			return true
		}
	}
	return false
}
