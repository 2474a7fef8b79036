package evtx_test

import (
	"fmt"
	"log"
	"os"

	"github.com/evtxhunt/evtxhunt/parser/evtx"
)

// Count the records of a log chunk by chunk (the generator's manifest,
// testdata/evidence/EXPECTED.json, says 1514), and say where it breaks the
// format.
func ExampleNewFile() {
	f, err := os.Open("../../testdata/evidence/WKS01/C/Windows/System32/winevt/Logs/Security.evtx")
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		log.Fatal(err)
	}
	ef, err := evtx.NewFile(f, info.Size())
	if err != nil {
		log.Fatal(err)
	}
	records := 0
	for c, err := range ef.Chunks() {
		if err != nil {
			fmt.Println(err)
			continue
		}
		for _, p := range c.Problems {
			fmt.Println(p)
		}
		records += len(c.Records)
	}
	fmt.Printf("EVTX %d.%d, %d chunks, %d records\n", ef.Header.MajorVersion, ef.Header.MinorVersion, ef.NumChunks(), records)
	// Output: EVTX 3.1, 15 chunks, 1514 records
}
