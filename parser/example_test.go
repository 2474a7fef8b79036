package parser_test

import (
	"context"
	"fmt"
	"log"

	"github.com/evtxhunt/evtxhunt/parser"
	"github.com/evtxhunt/evtxhunt/parser/evidence"
)

// Scan a host's logs, count its process creations and exits, and say how
// well each file read. (The generator's manifest,
// testdata/evidence/EXPECTED.json, says 1514 records, 516 of them 4688 and
// 499 of them 4689.)
func ExampleScanner() {
	files, notRead := evidence.Find([]string{"../testdata/evidence/WKS01/C/Windows/System32/winevt/Logs/Security.evtx"})
	for _, n := range notRead {
		fmt.Println("not read:", n)
	}
	bySource := map[parser.Source]int{}
	stats, err := parser.NewScanner(parser.Options{}).Scan(context.Background(), files, func(ev *parser.ProcessEvent) error {
		bySource[ev.Source]++
		return nil
	})
	if err != nil {
		log.Fatal(err)
	}
	for _, s := range stats {
		fmt.Printf("%d records in %d chunks, %d errors\n", s.Records.Decoded, s.Chunks.Decoded, s.ErrorCount)
	}
	fmt.Println(bySource[parser.SourceSecurity4688], "created,", bySource[parser.SourceSecurity4689], "ended")
	// Output:
	// 1514 records in 15 chunks, 0 errors
	// 516 created, 499 ended
}
