package timeline_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/evtxhunt/evtxhunt/detections"
	"github.com/evtxhunt/evtxhunt/parser"
	w "github.com/evtxhunt/evtxhunt/parser/evtxwrite"
	"github.com/evtxhunt/evtxhunt/parser/winpath"
	"github.com/evtxhunt/evtxhunt/reports"
	"github.com/evtxhunt/evtxhunt/timeline"
)

// End-to-end tests of issue 12 (items 7 and 11): real .evtx files written by
// parser/evtxwrite, read by parser.Scanner, and the builtin rules' seed
// finding (netscan.exe starting mstsc.exe) looked for.

const seedRule = "HuntQuery-CrowdStrike-NetscanMstscRDP"

var t0 = time.Date(2024, 3, 14, 10, 0, 0, 0, time.UTC)

func at(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }

func writeLog(t *testing.T, path string, evs ...*w.Event) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	wr := w.NewWriter(f)
	for _, ev := range evs {
		if _, err := wr.Write(ev); err != nil {
			t.Fatal(err)
		}
	}
	if err := wr.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// scan reads the files in the order given.
func scan(t *testing.T, files ...string) *timeline.Timeline {
	t.Helper()
	b := timeline.NewBuilder(timeline.Options{})
	if _, err := parser.NewScanner(parser.Options{Workers: 2}).Scan(context.Background(), files, func(ev *parser.ProcessEvent) error {
		b.Add(ev)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return b.Build()
}

// render is everything a scan outputs about the timeline and the seed
// finding, to compare scans.
func render(t *testing.T, tl *timeline.Timeline) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := reports.WriteTimelineJSONL(&buf, tl.Select(timeline.Filter{}), time.UTC); err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(&buf, "duplicates %d\nconflicts %+v\n", tl.Duplicates, tl.Conflicts)
	for _, h := range tl.Hosts {
		for _, p := range h.Processes {
			fmt.Fprintf(&buf, "record number %s %d\n", p.File, p.RecordNumber)
		}
		for _, p := range h.Placeholders {
			fmt.Fprintf(&buf, "placeholder %s %d %s %v\n", h.Name, p.PID, p.Image, p.Time)
		}
	}
	return buf.Bytes()
}

// seedFindings lists the seed rule's hits as "host: parent image (evidence) -> image".
func seedFindings(t *testing.T, tl *timeline.Timeline) []string {
	t.Helper()
	rules, err := detections.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, f := range detections.NewEngine(rules).Run(tl) {
		if f.Rule.ID != seedRule {
			continue
		}
		for _, h := range f.Hits {
			var ev []string
			for _, e := range f.Evidence(-1) {
				ev = append(ev, fmt.Sprintf("%s#%d", filepath.Base(filepath.Dir(e.File)), e.RecordID))
			}
			out = append(out, fmt.Sprintf("%s: %s -> %s [%s] %s", f.Host, winpath.Base(h.Process.Parent.Image), winpath.Base(h.Process.Image),
				h.Process.Link, strings.Join(ev, " ")))
		}
	}
	return out
}

var (
	alice    = w.Account{Domain: "CORP", Name: "alice", SID: "S-1-5-21-1-2-3-1104"}
	explorer = w.Proc{PID: 0x900, Image: `C:\Windows\explorer.exe`, User: alice, LogonID: 0x3e7a1}
)

func proc(pid uint32, image, cmd string) w.Proc {
	return w.Proc{PID: pid, Image: image, CommandLine: cmd, User: alice, LogonID: 0x3e7a1, Integrity: "Medium", Elevation: "%%1938"}
}

// Item 7: a planted Security log that sorts first holds the genuine log's
// record ids, times and pids with notepad/calc in place of netscan/mstsc.
// Both versions are kept and reported, the seed finding is found on the
// genuine records, and nothing depends on the order the files are read in.
func TestPlantedLogDoesNotEraseTheAttack(t *testing.T) {
	dir := t.TempDir()
	const host = "LEGACY07.corp.local"
	log := func(scanner, client string, cmd string) []*w.Event {
		s := proc(0x1100, scanner, scanner)
		return []*w.Event{
			w.Security4688(host, at(0), 1, s, explorer),
			w.Security4688(host, at(1), 1, proc(0x1200, client, cmd), s),
			w.Security4689(host, at(5), s),
		}
	}
	genuine := log(`C:\Users\alice\Downloads\netscan.exe`, `C:\Windows\System32\mstsc.exe`, "mstsc.exe /v:SRV09.corp.local")
	planted := log(`C:\Windows\System32\notepad.exe`, `C:\Windows\System32\calc.exe`, "calc.exe")
	files := map[string][]*w.Event{"A": planted, "B": genuine, "C": genuine} // C: a backup copy of the genuine log
	var paths []string
	for _, name := range []string{"A", "B", "C"} {
		paths = append(paths, filepath.Join(dir, name, "Security.evtx"))
		writeLog(t, paths[len(paths)-1], files[name]...)
	}

	tl := scan(t, paths...)
	want := []string{"LEGACY07: netscan.exe -> mstsc.exe [pid] B#1 B#2"}
	if got := seedFindings(t, tl); !slices.Equal(got, want) {
		t.Errorf("seed findings %q, want %q", got, want)
	}
	if tl.Processes() != 4 || tl.Duplicates != 3 || len(tl.Conflicts) != 3 {
		t.Errorf("%d processes, %d duplicates, %d conflicts", tl.Processes(), tl.Duplicates, len(tl.Conflicts))
	}
	for _, p := range tl.Hosts[0].Processes {
		if !slices.Contains(p.Flags, "conflicting-record") {
			t.Errorf("%s (%s) not flagged: %v", p.Image, p.File, p.Flags)
		}
	}
	summary, err := json.Marshal((&reports.Case{Timeline: tl}).Summary().Timeline)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(summary, []byte(`"conflicting_records":3`)) || !bytes.Contains(summary, []byte(`"record_id":2,"time":"2024-03-14T10:00:01.0000000Z","pid":4608,"versions":[{"source":"security-4688","file":"`+filepath.Join(dir, "A", "Security.evtx"))) {
		t.Errorf("summary.json's timeline: %s", summary)
	}
	first := render(t, tl)
	orders := [][]string{{paths[2], paths[1], paths[0]}, {paths[1], paths[0], paths[2]}, {paths[0], paths[2], paths[1]}}
	for _, order := range orders {
		if got := render(t, scan(t, order...)); !bytes.Equal(got, first) {
			t.Errorf("reading %v gives another timeline:\n%s\nthan in name order:\n%s", order, got, first)
		}
	}
}

// Item 7: the same events added in every order give the same timeline.
func TestBuildDoesNotDependOnOrder(t *testing.T) {
	ev := func(file string, offset int64, src parser.Source, id uint64, s float64, pid, ppid uint32, image string) *parser.ProcessEvent {
		return &parser.ProcessEvent{Host: "WKS07", Time: at(s), Source: src, RecordID: id, RecordNumber: id, PID: pid, PPID: ppid,
			Image: image, File: file, Offset: offset, User: `CORP\alice`}
	}
	const a, b, c = "A/Security.evtx", "B/Security.evtx", "C/Security.evtx"
	evs := []*parser.ProcessEvent{
		ev(b, 100, parser.SourceSecurity4688, 1, 0, 0x1100, 0x900, `C:\Tools\netscan.exe`),
		ev(b, 200, parser.SourceSecurity4688, 2, 1, 0x1200, 0x1100, `C:\Windows\System32\mstsc.exe`),
		ev(b, 300, parser.SourceSecurity4689, 3, 2, 0x1100, 0, `C:\Tools\netscan.exe`),
		ev(a, 100, parser.SourceSecurity4688, 1, 0, 0x1100, 0x900, `C:\Windows\System32\notepad.exe`),
		ev(a, 200, parser.SourceSecurity4688, 2, 1, 0x1200, 0x1100, `C:\Windows\System32\calc.exe`),
		ev(a, 300, parser.SourceSecurity4689, 3, 2, 0x1100, 0, `C:\Windows\System32\notepad.exe`),
		ev(c, 200, parser.SourceSecurity4688, 2, 1, 0x1200, 0x1100, `C:\Windows\System32\mstsc.exe`),
	}
	evs[6].RecordNumber = 77 // an exported copy: renumbered, same content
	buildIn := func(order []int) []byte {
		bld := timeline.NewBuilder(timeline.Options{})
		for _, i := range order {
			bld.Add(evs[i])
		}
		return render(t, bld.Build())
	}
	order := make([]int, len(evs))
	for i := range order {
		order[i] = i
	}
	want := buildIn(order)
	if !bytes.Contains(want, []byte(`"image":"C:\\Windows\\System32\\mstsc.exe"`)) || !bytes.Contains(want, []byte("conflicting-record")) {
		t.Fatalf("timeline lost a version:\n%s", want)
	}
	// Every permutation (Heap's algorithm).
	n := 0
	var permute func(k int)
	permute = func(k int) {
		if t.Failed() {
			return
		}
		if k == 1 {
			n++
			if got := buildIn(order); !bytes.Equal(got, want) {
				t.Errorf("order %v gives\n%s\nwant\n%s", order, got, want)
			}
			return
		}
		for i := range k {
			permute(k - 1)
			if k%2 == 0 {
				order[i], order[k-1] = order[k-1], order[i]
			} else {
				order[0], order[k-1] = order[k-1], order[0]
			}
		}
	}
	permute(len(order))
	if n != 5040 {
		t.Errorf("%d orders tried", n)
	}
}

// Item 11: netscan starts mstsc, exits, and notepad reuses its pid 1.5 s
// after mstsc started; in 4688 v1 (pids only) and v2 (ParentProcessName)
// the seed finding names the logged netscan.
func TestPIDReusedAfterTheChild(t *testing.T) {
	dir := t.TempDir()
	var paths []string
	for _, tc := range []struct {
		host    string
		version uint8
	}{{"LEGACY11", 1}, {"WKS11.corp.local", 2}} {
		netscan := proc(0x1100, `C:\Users\alice\Downloads\netscan.exe`, "netscan.exe")
		path := filepath.Join(dir, tc.host, "Security.evtx")
		writeLog(t, path,
			w.Security4688(tc.host, at(0), tc.version, netscan, explorer),
			w.Security4688(tc.host, at(1), tc.version, proc(0x1200, `C:\Windows\System32\mstsc.exe`, "mstsc.exe /v:SRV11"), netscan),
			w.Security4689(tc.host, at(2), netscan),
			w.Security4688(tc.host, at(2.5), tc.version, proc(0x1100, `C:\Windows\System32\notepad.exe`, "notepad.exe"), explorer),
		)
		paths = append(paths, path)
	}
	got := seedFindings(t, scan(t, paths...))
	want := []string{"LEGACY11: netscan.exe -> mstsc.exe [pid] LEGACY11#1 LEGACY11#2", "WKS11: netscan.exe -> mstsc.exe [pid] WKS11.corp.local#1 WKS11.corp.local#2"}
	if !slices.Equal(got, want) {
		t.Errorf("seed findings %q, want %q", got, want)
	}
}

// Item 12: the tree printed for --host names only the machine asked for.
func TestTreeOfOneDomain(t *testing.T) {
	b := timeline.NewBuilder(timeline.Options{})
	for i, host := range []string{"DC01.alpha.local", "DC01.beta.local", "dc01.beta.local"} {
		b.Add(&parser.ProcessEvent{Host: host, Time: at(float64(i)), Source: parser.SourceSecurity4688, RecordID: uint64(i + 1),
			PID: uint32(100 + 4*i), PPID: 100, Image: fmt.Sprintf(`C:\p%d.exe`, i), File: host + ".evtx"})
	}
	var buf bytes.Buffer
	if err := reports.WriteTree(&buf, b.Build(), timeline.Filter{Host: "dc01.beta.local"}, time.UTC); err != nil {
		t.Fatal(err)
	}
	if out := buf.String(); !strings.HasPrefix(out, "== DC01.BETA.LOCAL (DC01.beta.local, dc01.beta.local): 2 processes\n") || strings.Contains(out, "ALPHA") ||
		!strings.Contains(out, `p2.exe (108)`) || strings.Contains(out, "p0.exe") {
		t.Errorf("tree:\n%s", out)
	}
}
