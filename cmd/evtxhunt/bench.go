package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/evtxhunt/evtxhunt/internal/termsafe"
	"github.com/evtxhunt/evtxhunt/parser"
)

// runBench measures evtxhunt's scanner on the given files in one run (the
// native decoder, with 1 worker and then GOMAXPROCS; a chunk it refuses
// goes to golang-evtx in its child process as in any scan), then
// golang-evtx alone as the baseline (its FastEvents, which evtxhunt never
// uses), in a child process like the scanner's use of the library: a file
// that kills it fails the baseline, not the bench.
func runBench(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("bench", "[--baseline-time D] FILE...", stderr)
	baselineTime := fs.Duration("baseline-time", 60*time.Second, "stop golang-evtx alone after `D` and rate it on what it read by then")
	files, err := parseFlags(fs, args)
	if err != nil {
		return usageError(stderr, fs, err)
	}
	if len(files) == 0 {
		return usageError(stderr, fs, errors.New("no file given"))
	}
	var size int64
	for _, f := range files {
		info, err := os.Stat(f)
		if err != nil {
			return usageError(stderr, fs, err)
		}
		size += info.Size()
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "run\tseconds\tMB/s\trecords/s\tprocess events\tpeak heap MiB\t\n")
	type result struct{ recordsPerSec float64 }
	row := func(name string, secs float64, bytes int64, records, events uint64, peak uint64) result {
		fmt.Fprintf(tw, "%s\t%.2f\t%.1f\t%.0f\t%d\t%.0f\t\n", name, secs, float64(bytes)/1e6/secs, float64(records)/secs, events, float64(peak)/(1<<20))
		return result{float64(records) / secs}
	}
	var results []result
	for _, run := range []struct {
		name    string
		decoder string
		workers int
	}{
		{"evtxhunt native, 1 worker", parser.DecoderNative, 1},
		{fmt.Sprintf("evtxhunt native, %d workers", runtime.GOMAXPROCS(0)), parser.DecoderNative, runtime.GOMAXPROCS(0)},
	} {
		var events uint64
		var stats []*parser.FileStats
		start := time.Now()
		peak, err := measurePeak(func() error {
			var err error
			stats, err = parser.NewScanner(parser.Options{Decoder: run.decoder, Workers: run.workers}).Scan(context.Background(), files,
				func(*parser.ProcessEvent) error { events++; return nil })
			return err
		})
		if err != nil {
			fmt.Fprintln(stderr, "evtxhunt bench:", safeError(err))
			return exitEvidence
		}
		t := parser.Sum(stats)
		results = append(results, row(run.name, time.Since(start).Seconds(), t.Bytes, t.Records.Seen, events, peak))
	}
	// golang-evtx alone, last, a file at a time in a child process, as the
	// scanner runs it: FastEvents panics in goroutines of its own on
	// crafted files.
	var records, bytes int64
	failed := 0
	start := time.Now()
	deadline := start.Add(*baselineTime)
	for _, path := range files {
		n, whole, err := parser.FastEventsBaseline(context.Background(), path, deadline, parser.Isolation{MemoryLimit: baselineMemory})
		if err != nil {
			fmt.Fprintf(stderr, "evtxhunt bench: baseline failed on %s: %s\n", termsafe.String(path), safeError(err))
			failed++
			continue
		}
		records += n
		info, err := os.Stat(path)
		if err != nil {
			fmt.Fprintln(stderr, "evtxhunt bench:", safeError(err))
			return exitEvidence
		}
		if !whole {
			// Rate it on the part it read: the records it returned, and
			// bytes in proportion.
			if total := countRecords(path); total > 0 {
				bytes += info.Size() * n / total
			}
			break
		}
		bytes += info.Size()
	}
	switch {
	case failed > 0:
		tw.Flush()
		fmt.Fprintf(stdout, "golang-evtx FastEvents alone failed on %d of %d files: no speed-up computed\n", failed, len(files))
	case records == 0:
		tw.Flush()
		fmt.Fprintln(stdout, "golang-evtx FastEvents alone read no record: no speed-up computed")
	default:
		secs := time.Since(start).Seconds()
		base := row("golang-evtx FastEvents alone", secs, bytes, uint64(records), 0, 0)
		tw.Flush()
		for i, r := range results {
			fmt.Fprintf(stdout, "speed-up of run %d over golang-evtx alone: %.1fx (records/s)\n", i+1, r.recordsPerSec/base.recordsPerSec)
		}
	}
	fmt.Fprintf(stdout, "evidence: %d files, %.1f MB; machine: %d CPUs, %s/%s\n", len(files), float64(size)/1e6, runtime.NumCPU(), runtime.GOOS, runtime.GOARCH)
	return exitClean
}

// baselineMemory bounds the baseline's child: FastEvents reads chunks in
// parallel and keeps more in memory than the scanner's child, which decodes
// one chunk at a time.
const baselineMemory = 2 << 30

// countRecords counts a file's records with the scanner, for rating a
// baseline that stopped part way.
func countRecords(path string) int64 {
	stats, err := parser.NewScanner(parser.Options{}).Scan(context.Background(), []string{path}, func(*parser.ProcessEvent) error { return nil })
	if err != nil || len(stats) == 0 {
		return 0
	}
	return int64(stats[0].Records.Seen)
}

// measurePeak runs f and samples the heap in use every 20 ms.
func measurePeak(f func() error) (uint64, error) {
	var peak atomic.Uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	})
	err := f()
	close(stop)
	wg.Wait()
	return peak.Load(), err
}
