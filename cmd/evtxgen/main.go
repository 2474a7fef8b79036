// Command evtxgen writes synthetic evidence: the incident committed in
// testdata/evidence, and large logs for benchmarks. Output depends only on
// the flags, byte for byte.
//
//	go run ./cmd/evtxgen -o testdata/evidence            # the incident
//	go run ./cmd/evtxgen -size 1GiB -o /tmp/Security.evtx  # one large Security log
//	go run ./cmd/evtxgen -hosts 50 -size 2GiB -o /tmp/fleet # many hosts
//	go run ./cmd/evtxgen -hostile -o testdata/hostile         # crafted files that attack the reader
//	go run ./cmd/evtxgen -hostile -case many-value-descriptors -chunks 200 -o /tmp/h # 13 MB of one attack
package main

//go:generate go run . -o ../../testdata/evidence
//go:generate go run . -hostile -o ../../testdata/hostile

import (
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
)

func main() {
	out := flag.String("o", "", "output `path`: a folder for the incident and -hosts, a file for -size alone")
	seed := flag.Uint64("seed", 1, "random seed")
	size := flag.String("size", "", "write one Security log of about this `size` (e.g. 1GiB, 200MB) instead of the incident; with -hosts, the total")
	hosts := flag.Int("hosts", 0, "with -size: a folder of this many hosts, each with a Security and a Sysmon log")
	hostile := flag.Bool("hostile", false, "write the crafted files that attack the reader, and their manifest, to the -o folder")
	only := flag.String("case", "", "with -hostile: write only the case of this `name`")
	chunks := flag.Int("chunks", 0, "with -hostile: `N` hostile chunks in each attack made of chunks, instead of each case's own number")
	flag.Parse()
	if *out == "" || flag.NArg() > 0 {
		flag.Usage()
		os.Exit(2)
	}
	if *hostile {
		m, err := generateHostile(*out, *only, *chunks)
		if err != nil {
			fmt.Fprintln(os.Stderr, "evtxgen:", err)
			os.Exit(1)
		}
		fmt.Fprintf(os.Stderr, "evtxgen: %d crafted files written to %s\n", len(m.Files), *out)
		return
	}
	if err := run(*out, *seed, *size, *hosts); err != nil {
		fmt.Fprintln(os.Stderr, "evtxgen:", err)
		os.Exit(1)
	}
}

func run(out string, seed uint64, size string, hosts int) error {
	if size == "" {
		if hosts > 0 {
			return fmt.Errorf("-hosts needs -size")
		}
		m, _, err := generateIncident(out, seed)
		if err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "evtxgen: %d hosts, %d detections, %d decoys written to %s\n", len(m.Hosts), len(m.Detections), len(m.MustNotFire), out)
		return nil
	}
	n, err := parseSize(size)
	if err != nil {
		return err
	}
	if hosts > 0 {
		return generateFleet(out, seed, n, hosts)
	}
	return generateLargeLog(out, seed, n)
}

// parseSize reads sizes like 1GiB, 512MiB, 200MB or 1000000.
func parseSize(s string) (int64, error) {
	units := []struct {
		suffix string
		mult   int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"GB", 1e9}, {"MB", 1e6}, {"KB", 1e3}, {"B", 1}}
	for _, u := range units {
		if num, ok := strings.CutSuffix(s, u.suffix); ok {
			v, err := strconv.ParseFloat(num, 64)
			if err != nil || v <= 0 {
				return 0, fmt.Errorf("bad size %q", s)
			}
			return int64(v * float64(u.mult)), nil
		}
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v <= 0 {
		return 0, fmt.Errorf("bad size %q", s)
	}
	return v, nil
}
