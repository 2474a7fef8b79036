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
