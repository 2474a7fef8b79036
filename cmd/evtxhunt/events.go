package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"

	"github.com/evtxhunt/evtxhunt/internal/termsafe"
	"github.com/evtxhunt/evtxhunt/parser"
)

func runEvents(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("events", "[--workers N] [--stats FILE] [--exits] PATH...", stderr)
	var dec decodeFlags
	dec.register(fs)
	statsPath := fs.String("stats", "", "write per-file parse statistics as JSON to `FILE`")
	exits := fs.Bool("exits", false, "also print process exits (Security 4689, Sysmon 5)")
	paths, err := parseEvidenceArgs(fs, &dec, args)
	if err != nil {
		return usageError(stderr, fs, err)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	out := bufio.NewWriterSize(stdout, 1<<16)
	enc := termsafe.NewEncoder(out)
	res, err := scanEvidence(ctx, paths, dec.options(), nil, stderr, func(ev *parser.ProcessEvent) error {
		if ev.Source.IsExit() && !*exits {
			return nil
		}
		return enc.Encode(ev)
	})
	if ferr := out.Flush(); err == nil {
		err = ferr
	}
	if err != nil {
		fmt.Fprintf(stderr, "evtxhunt events: %s\n", safeError(err))
		return exitEvidence
	}
	if *statsPath != "" {
		if err := writeJSONFile(*statsPath, struct {
			Totals parser.Totals       `json:"totals"`
			Files  []*parser.FileStats `json:"files"`
		}{res.totals, res.stats}); err != nil {
			fmt.Fprintf(stderr, "evtxhunt events: %s\n", safeError(err))
			return exitEvidence
		}
	}
	printParseSummary(stderr, res)
	if !res.clean() {
		return exitEvidence
	}
	return exitClean
}

func writeJSONFile(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(termsafe.AppendJSON(nil, b), '\n'), 0o644)
}

// printParseSummary prints the one-screen account of what was read.
func printParseSummary(w io.Writer, res *scanResult) {
	t, stats, notRead := res.totals, res.stats, len(res.notRead)
	mb := float64(t.Bytes) / 1e6
	secs := res.wall.Seconds()
	fmt.Fprintf(w, "\nevtxhunt: %d files (%.1f MB) in %.2fs: %.1f MB/s, %.0f records/s\n", t.Files, mb, secs, mb/secs, float64(t.Records.Seen)/secs)
	fmt.Fprintf(w, "  chunks:   %d slots, %d decoded, %d empty, %d bad magic, %d header CRC, %d data CRC, %d truncated, %d failed, %d wiped, %d unread\n",
		t.Chunks.Slots, t.Chunks.Decoded, t.Chunks.Empty, t.Chunks.BadMagic, t.Chunks.HeaderCRCFailures, t.Chunks.DataCRCFailures, t.Chunks.Truncated, t.Chunks.Failed,
		t.Chunks.Wiped, t.Chunks.Unread)
	fmt.Fprintf(w, "  records:  %d seen, %d decoded, %d failed\n", t.Records.Seen, t.Records.Decoded, t.Records.Failed)
	fmt.Fprintf(w, "  process:  %d Security 4688, %d Sysmon 1 (exits: %d Security 4689, %d Sysmon 5)\n", t.ProcessEvents[parser.SourceSecurity4688],
		t.ProcessEvents[parser.SourceSysmon1], t.ProcessEvents[parser.SourceSecurity4689], t.ProcessEvents[parser.SourceSysmon5])
	fmt.Fprintf(w, "  errors:   %d in %d files", t.Errors, t.FilesWithErrs)
	if notRead > 0 {
		fmt.Fprintf(w, ", %d paths not read", notRead)
	}
	fmt.Fprintln(w)
	const show = 10
	shown := 0
	for _, f := range stats {
		for i := range f.Errors {
			if shown == show {
				fmt.Fprintf(w, "  ... %d more (see --stats)\n", t.Errors-show)
				return
			}
			fmt.Fprintf(w, "  %s\n", safeError(&f.Errors[i]))
			shown++
		}
	}
}
