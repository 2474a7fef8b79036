package parser

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"testing"

	golangevtx "github.com/0xrawsec/golang-evtx/evtx"

	"github.com/evtxhunt/evtxhunt/parser/evidence"
	"github.com/evtxhunt/evtxhunt/parser/evtx"
)

// benchCorpus is the attack-samples set restricted to the files golang-evtx's
// own FastEvents survives (a panic there would kill the benchmark): those our
// scanner reads without a single error.
func benchCorpus(b *testing.B) (files []string, bytes int64, records uint64) {
	needShared(b)
	all, _ := evidence.Find([]string{sharedEVTX + "/attack-samples"})
	stats, err := NewScanner(Options{}).Scan(context.Background(), all, func(*ProcessEvent) error { return nil })
	if err != nil {
		b.Fatal(err)
	}
	for _, s := range stats {
		if s.Clean() {
			files = append(files, s.Path)
			bytes += s.Size
			records += s.Records.Seen
		}
	}
	return files, bytes, records
}

// reportPerRecord adds records/s and allocations per record to a benchmark.
func reportPerRecord(b *testing.B, records uint64, before *runtime.MemStats) {
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	n := float64(records) * float64(b.N)
	b.ReportMetric(n/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/n, "allocs/record")
}

// BenchmarkScan measures evtxhunt's scanner (read, hash, check, decode,
// normalize) over the corpus, with each decoder and worker count.
//
//	go test -run '^$' -bench 'Scan|FastEvents' -benchtime 3x ./parser
func BenchmarkScan(b *testing.B) {
	files, size, records := benchCorpus(b)
	for _, decoder := range []string{DecoderNative, DecoderGolangEvtx} {
		for _, workers := range []int{1, runtime.GOMAXPROCS(0)} {
			b.Run(fmt.Sprintf("%s/workers=%d", decoder, workers), func(b *testing.B) {
				b.SetBytes(size)
				var before runtime.MemStats
				runtime.ReadMemStats(&before)
				for b.Loop() {
					var events int
					if _, err := NewScanner(Options{Workers: workers, Decoder: decoder}).Scan(context.Background(), files, func(*ProcessEvent) error {
						events++
						return nil
					}); err != nil {
						b.Fatal(err)
					}
					if events == 0 {
						b.Fatal("no process events")
					}
				}
				reportPerRecord(b, records, &before)
			})
		}
	}
}

// BenchmarkGolangEvtxFastEvents is the baseline: golang-evtx alone, through
// the FastEvents call evtxhunt must not use, on the same files.
func BenchmarkGolangEvtxFastEvents(b *testing.B) {
	files, size, records := benchCorpus(b)
	b.SetBytes(size)
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	for b.Loop() {
		var n uint64
		for _, path := range files {
			f, err := os.Open(path)
			if err != nil {
				b.Fatal(err)
			}
			ef, err := golangevtx.New(f)
			if err != nil {
				b.Fatal(err)
			}
			for range ef.FastEvents() {
				n++
			}
			f.Close()
		}
		if n == 0 {
			b.Fatal("no events")
		}
	}
	reportPerRecord(b, records, &before)
}

// readChunks reads every whole chunk slot of files that holds records,
// checked, as the scanner hands them to a decoder.
func readChunks(b *testing.B, files []string) (chunks []*chunk, records uint64) {
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			b.Fatal(err)
		}
		for i, off := 0, evtx.FileHeaderSize; off+evtx.ChunkSize <= len(data); i, off = i+1, off+evtx.ChunkSize {
			var r chunkResult
			r.reset()
			if c := inspectChunk(f, data[off:off+evtx.ChunkSize], i, int64(off), &r); c != nil {
				chunks = append(chunks, c)
				records += r.Records.Seen
			}
		}
	}
	return chunks, records
}

// BenchmarkGolangEvtxIsolation measures what running golang-evtx in its
// child process costs: every chunk of the generated evidence decoded by
// golang-evtx in this process, as the scanner did before, and through the
// child, as --decoder golang-evtx does now (one worker each); and one chunk
// handed to a child that is started for it and ended, as the first chunk
// the native decoder refuses in a scan.
//
//	go test -run '^$' -bench GolangEvtxIsolation -benchtime 5x ./parser
func BenchmarkGolangEvtxIsolation(b *testing.B) {
	files, _ := evidence.Find([]string{"../testdata/evidence"})
	chunks, records := readChunks(b, files)
	run := func(b *testing.B, dec chunkDecoder) {
		var r chunkResult
		var events int
		for b.Loop() {
			events = 0
			for _, c := range chunks {
				r.reset()
				r.Records.Seen = uint64(len(c.Records))
				dec.Decode(c, &r)
				if len(r.Errors) > 0 {
					b.Fatal(r.Errors)
				}
				events += len(r.Events)
			}
		}
		if events == 0 {
			b.Fatal("no process events")
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(chunks)), "ns/chunk")
		b.ReportMetric(float64(records)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
	}
	b.Run("in-process", func(b *testing.B) {
		d := newGolangEvtxDecoder()
		defer d.close()
		run(b, d)
	})
	iso, err := Isolation{}.withDefaults()
	if err != nil {
		b.Fatal(err)
	}
	b.Run("child", func(b *testing.B) {
		d := newChildDecoder(context.Background(), iso, nil)
		defer d.close()
		run(b, d)
	})
	b.Run("one-chunk-new-child", func(b *testing.B) {
		var r chunkResult
		for b.Loop() {
			d := newChildDecoder(context.Background(), iso, nil)
			r.reset()
			d.Decode(chunks[0], &r)
			d.close()
			if r.Chunks.Decoded != 1 {
				b.Fatal(r.Errors)
			}
		}
	})
}

// BenchmarkNativeDecode measures the native decoder alone, one decoder over
// every chunk of the corpus held in memory, as one worker of a scan sees
// them: no reading, no hashing.
//
//	go test -run '^$' -bench NativeDecode ./parser
func BenchmarkNativeDecode(b *testing.B) {
	files, _, _ := benchCorpus(b)
	chunks, records := readChunks(b, files)
	size := int64(len(chunks)) * evtx.ChunkSize
	b.SetBytes(size)
	d := newNativeDecoder(nil)
	var r chunkResult
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	for b.Loop() {
		for _, c := range chunks {
			r.reset()
			d.Decode(c, &r)
		}
	}
	reportPerRecord(b, records, &before)
}
