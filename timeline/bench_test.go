package timeline

import (
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"testing"
	"time"

	"github.com/evtxhunt/evtxhunt/parser"
)

// BenchmarkBuildMillion builds a timeline of one million process creations
// (and as many exits, an hour later) on 100 hosts, each process started by
// one created 50 processes earlier, and reports the memory it keeps per
// process: the timeline's memory grows with process events, not with the
// bytes of evidence they came from.
//
//	go test -run '^$' -bench BuildMillion -benchtime 1x ./timeline
func BenchmarkBuildMillion(b *testing.B) {
	const events, hosts = 1_000_000, 100
	images := make([]string, 300)
	for i := range images {
		images[i] = fmt.Sprintf(`C:\Program Files\Vendor%d\bin\tool_%d.exe`, i%40, i)
	}
	users := []string{`CORP\alice`, `CORP\bob`, `NT AUTHORITY\SYSTEM`, `CORP\adm_jdoe`, `NT AUTHORITY\NETWORK SERVICE`}
	t0 := time.Date(2024, 3, 14, 0, 0, 0, 0, time.UTC)
	for b.Loop() {
		runtime.GC()
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		bld := NewBuilder(Options{})
		var ev parser.ProcessEvent
		for i := range events {
			host := i % hosts
			n := i / hosts
			ev = parser.ProcessEvent{
				Host: fmt.Sprintf("HOST%03d.corp.local", host), Time: t0.Add(time.Duration(n) * 50 * time.Millisecond),
				Source: parser.SourceSecurity4688, Version: 2, RecordID: uint64(n + 1), PID: uint32(4 * (n + 10)),
				PPID: uint32(4 * (max(n-50, 0) + 10)), Image: images[i%len(images)], ParentImage: images[(max(n-50, 0)*hosts+host)%len(images)],
				CommandLine: fmt.Sprintf(`"%s" --job %d --target \\fs01\share\%d`, images[i%len(images)], n, i),
				User:        users[i%len(users)], UserSID: "S-1-5-21-1-2-3-1104", IntegrityLevel: "Medium", TokenElevation: "TokenElevationTypeLimited",
				SubjectUser: users[i%len(users)], SubjectUserSID: "S-1-5-21-1-2-3-1104",
				File: fmt.Sprintf("/evidence/HOST%03d/C/Windows/System32/winevt/Logs/Security.evtx", host), Offset: int64(n) * 900,
			}
			bld.Add(&ev)
			ev.Source, ev.RecordID, ev.Time = parser.SourceSecurity4689, ev.RecordID+1_000_000, ev.Time.Add(time.Hour)
			bld.Add(&ev)
		}
		tl := bld.Build()
		runtime.GC()
		var after runtime.MemStats
		runtime.ReadMemStats(&after)
		if tl.Processes() != events {
			b.Fatalf("%d processes", tl.Processes())
		}
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/events, "bytes/process")
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/(1<<20), "MiB/Mprocesses")
		if path := os.Getenv("EVTXHUNT_HEAP_PROFILE"); path != "" {
			f, _ := os.Create(path)
			pprof.WriteHeapProfile(f)
			f.Close()
		}
		runtime.KeepAlive(tl)
	}
}

// Adversarial shapes of issue 12, item 15: the build must stay O(n log n)
// whatever pids and GUIDs the records repeat; ns/process stays flat from
// 10k to 40k processes.
//
//	go test -run '^$' -bench 'BuildOne' ./timeline
func BenchmarkBuildOnePID(b *testing.B) {
	// Every process has pid 4242 and parent pid 4242: each one's parent is
	// the one before, and every lookup lands in one list.
	benchShape(b, func(n int) []parser.ProcessEvent {
		evs := make([]parser.ProcessEvent, n)
		for i := range evs {
			evs[i] = benchEvent(parser.SourceSecurity4688, i, time.Duration(i)*time.Millisecond)
		}
		return evs
	})
}

func BenchmarkBuildOnePIDMerge(b *testing.B) {
	// n Security 4688 and n Sysmon 1 of one pid and image, 30 ms apart:
	// every Sysmon record has thousands of Security records in its window.
	benchShape(b, func(n int) []parser.ProcessEvent {
		evs := make([]parser.ProcessEvent, 0, 2*n)
		for i := range n {
			evs = append(evs, benchEvent(parser.SourceSecurity4688, i, time.Duration(i)*time.Millisecond))
			s := benchEvent(parser.SourceSysmon1, i, time.Duration(i)*time.Millisecond+30*time.Millisecond)
			s.ProcessGUID, s.ParentProcessGUID = fmt.Sprintf("{G-%d}", i), fmt.Sprintf("{G-%d}", max(i-1, 0))
			evs = append(evs, s)
		}
		return evs
	})
}

func BenchmarkBuildOneGUID(b *testing.B) {
	// Every Sysmon process claims one GUID and names it as its parent's.
	benchShape(b, func(n int) []parser.ProcessEvent {
		evs := make([]parser.ProcessEvent, n)
		for i := range evs {
			evs[i] = benchEvent(parser.SourceSysmon1, i, time.Duration(i)*time.Millisecond)
			evs[i].PID, evs[i].ProcessGUID, evs[i].ParentProcessGUID = uint32(8+4*i), "{G}", "{G}"
		}
		return evs
	})
}

func benchEvent(src parser.Source, i int, at time.Duration) parser.ProcessEvent {
	return parser.ProcessEvent{Host: "ADV01", Time: time.Date(2024, 3, 14, 0, 0, 0, 0, time.UTC).Add(at), Source: src, Version: 1,
		RecordID: uint64(i + 1), PID: 4242, PPID: 4242, Image: `C:\Windows\System32\svchost.exe`, ParentImage: `C:\Windows\System32\svchost.exe`,
		File: "/evidence/ADV01/" + string(src) + ".evtx", Offset: int64(i) * 900}
}

func benchShape(b *testing.B, events func(n int) []parser.ProcessEvent) {
	for _, n := range []int{10_000, 20_000, 40_000} {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			evs := events(n)
			for b.Loop() {
				bld := NewBuilder(Options{})
				for i := range evs {
					bld.Add(&evs[i])
				}
				if tl := bld.Build(); tl.Processes() == 0 {
					b.Fatal("no processes")
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(evs)), "ns/record")
		})
	}
}
