package reports

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/evtxhunt/evtxhunt/detections"
	"github.com/evtxhunt/evtxhunt/parser"
	"github.com/evtxhunt/evtxhunt/timeline"
)

// millionCase is a case of one million process creations on 100 hosts, with
// a netscan.exe starting mstsc.exe every 50,000 processes.
func millionCase(b *testing.B) *Case {
	const events, hosts = 1_000_000, 100
	images := make([]string, 300)
	for i := range images {
		images[i] = fmt.Sprintf(`C:\Program Files\Vendor%d\bin\tool_%d.exe`, i%40, i)
	}
	t0 := time.Date(2024, 3, 14, 0, 0, 0, 0, time.UTC)
	bld := timeline.NewBuilder(timeline.Options{})
	for i := range events {
		host, n := i%hosts, i/hosts
		image, parent := images[i%len(images)], images[(max(n-50, 0)*hosts+host)%len(images)]
		if i%50_000 == 0 {
			image = `C:\Tools\netscan.exe`
		}
		if i%50_000 == hosts { // the next process on that host
			image, parent = `C:\Windows\System32\mstsc.exe`, `C:\Tools\netscan.exe`
		}
		ev := parser.ProcessEvent{Host: fmt.Sprintf("HOST%03d", host), Time: t0.Add(time.Duration(n) * 50 * time.Millisecond),
			Source: parser.SourceSecurity4688, Version: 2, RecordID: uint64(n + 1), PID: uint32(4 * (n + 10)), PPID: uint32(4 * (max(n-50, 0) + 10)),
			Image: image, ParentImage: parent, CommandLine: fmt.Sprintf(`"%s" --job %d /v:SRV%d`, image, n, i%7), User: `CORP\alice`,
			File: fmt.Sprintf("/evidence/HOST%03d/Security.evtx", host)}
		if i%50_000 == hosts {
			ev.PPID = uint32(4 * (n - 1 + 10))
		}
		bld.Add(&ev)
	}
	tl := bld.Build()
	rules, err := detections.Builtin()
	if err != nil {
		b.Fatal(err)
	}
	return &Case{Version: "bench", Zone: time.UTC, Timeline: tl, Rules: rules, Findings: detections.NewEngine(rules).Run(tl)}
}

// peakHeap runs f and reports the highest live heap above what was live
// before it. Samples are taken after a forced collection, every 200 ms, so
// that garbage waiting for the collector (which GOGC lets grow as large as
// the live heap) is not counted as memory the report needs.
func peakHeap(f func() error) (uint64, error) {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapAlloc
	var peak atomic.Uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		var s runtime.MemStats
		for {
			select {
			case <-stop:
				return
			case <-time.After(200 * time.Millisecond):
				runtime.GC()
				runtime.ReadMemStats(&s)
				if s.HeapAlloc > peak.Load() {
					peak.Store(s.HeapAlloc)
				}
			}
		}
	})
	err := f()
	close(stop)
	wg.Wait()
	if peak.Load() < base {
		return 0, err
	}
	return peak.Load() - base, err
}

// BenchmarkReportMillion writes the XLSX and HTML reports of a case of one
// million process events and reports the memory each needs above the case
// itself:
//
//	go test -run '^$' -bench ReportMillion -benchtime 1x ./reports
func BenchmarkReportMillion(b *testing.B) {
	c := millionCase(b)
	if len(c.Findings) == 0 {
		b.Fatal("no findings")
	}
	for b.Loop() {
		start := time.Now()
		var xlsxSize, htmlSize countingWriter
		xlsxPeak, err := peakHeap(func() error { return WriteXLSX(&xlsxSize, c, XLSXOptions{}) })
		if err != nil {
			b.Fatal(err)
		}
		xlsxTime := time.Since(start)
		start = time.Now()
		htmlPeak, err := peakHeap(func() error { return WriteHTML(&htmlSize, c, HTMLOptions{}) })
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(xlsxPeak)/(1<<20), "xlsx-peak-MiB")
		b.ReportMetric(xlsxTime.Seconds(), "xlsx-s")
		b.ReportMetric(float64(htmlPeak)/(1<<20), "html-peak-MiB")
		b.ReportMetric(time.Since(start).Seconds(), "html-s")
		b.ReportMetric(float64(len(c.Findings)), "findings")
		b.ReportMetric(float64(xlsxSize)/1e6, "xlsx-MB")
		b.ReportMetric(float64(htmlSize)/1e6, "html-MB")
	}
}

type countingWriter int64

func (c *countingWriter) Write(p []byte) (int, error) {
	*c += countingWriter(len(p))
	return len(p), nil
}
