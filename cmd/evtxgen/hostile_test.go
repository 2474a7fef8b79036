package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/evtxhunt/evtxhunt/parser"
)

// TestHostileIsReproducible regenerates the crafted files and their
// manifest and compares them byte for byte with what is committed.
func TestHostileIsReproducible(t *testing.T) {
	const committed = "../../testdata/hostile"
	dir := t.TempDir()
	m, err := generateHostile(dir, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Files) != len(hostileCases) {
		t.Fatalf("%d files for %d cases", len(m.Files), len(hostileCases))
	}
	names := []string{"EXPECTED.json"}
	for _, f := range m.Files {
		names = append(names, f.File)
	}
	entries, _ := os.ReadDir(committed)
	if len(entries) != len(names) {
		t.Errorf("%d files committed, %d generated", len(entries), len(names))
	}
	for _, name := range names {
		got, _ := os.ReadFile(filepath.Join(dir, name))
		want, err := os.ReadFile(filepath.Join(committed, name))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s differs from the committed file (%v): run go generate ./cmd/evtxgen", name, err)
		}
	}
	if _, err := generateHostile(dir, "no-such-case", 0); err == nil {
		t.Error("an unknown case accepted")
	}
}

// BenchmarkScanManyDescriptors scans the 13 MB log of issue 12's item 5,
// 200 chunks of one record with 15,000 value descriptors each, beside a
// clean Security log of the same size, and reports the size of the stats
// that go into summary.json.
//
//	go test -run '^$' -bench ScanManyDescriptors -benchtime 3x ./cmd/evtxgen
func BenchmarkScanManyDescriptors(b *testing.B) {
	dir := b.TempDir()
	m, err := generateHostile(dir, "many-value-descriptors", 200)
	if err != nil {
		b.Fatal(err)
	}
	hostile := filepath.Join(dir, m.Files[0].File)
	info, err := os.Stat(hostile)
	if err != nil {
		b.Fatal(err)
	}
	clean := filepath.Join(dir, "Security.evtx")
	if err := generateLargeLog(clean, 1, info.Size()); err != nil {
		b.Fatal(err)
	}
	for _, file := range []string{clean, hostile} {
		b.Run(filepath.Base(file), func(b *testing.B) {
			info, _ := os.Stat(file)
			b.SetBytes(info.Size())
			var stats []*parser.FileStats
			for b.Loop() {
				stats, err = parser.NewScanner(parser.Options{}).Scan(context.Background(), []string{file}, func(*parser.ProcessEvent) error { return nil })
				if err != nil {
					b.Fatal(err)
				}
			}
			summary, _ := json.Marshal(stats)
			b.ReportMetric(float64(len(summary)), "summary-bytes")
			b.ReportMetric(float64(stats[0].ErrorCount), "errors")
			b.ReportMetric(float64(len(stats[0].Errors)), "errors-listed")
		})
	}
}
