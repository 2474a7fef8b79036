package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"time"

	"github.com/evtxhunt/evtxhunt/parser"
	"github.com/evtxhunt/evtxhunt/reports"
	"github.com/evtxhunt/evtxhunt/timeline"
)

func runTimeline(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("timeline", "[--out DIR] [--tree] [--from T] [--to T] [--host H] [--user U] [--grep TEXT] [--workers N] PATH...", stderr)
	out := fs.String("out", "", "write timeline.jsonl and timeline.csv (Timesketch) to `DIR`")
	tree := fs.Bool("tree", false, "print the process trees per host (the default without --out)")
	from := fs.String("from", "", "only processes created at or after `T` (UTC)")
	to := fs.String("to", "", "only processes created at or before `T` (UTC)")
	host := fs.String("host", "", "only this `host`, any spelling")
	user := fs.String("user", "", "only processes whose user contains `TEXT`")
	grep := fs.String("grep", "", "only processes whose image or command line contains `TEXT`")
	var dec decodeFlags
	dec.register(fs)
	paths, err := parseEvidenceArgs(fs, &dec, args)
	if err != nil {
		return usageError(stderr, fs, err)
	}
	filter := timeline.Filter{Host: *host, User: *user, Text: *grep}
	if filter.From, err = parseTimeFlag(*from); err == nil {
		filter.To, err = parseTimeFlag(*to)
	}
	if err != nil {
		return usageError(stderr, fs, err)
	}
	if *out != "" {
		if err := checkOutsideEvidence(*out, paths); err != nil {
			return usageError(stderr, fs, err)
		}
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	b := timeline.NewBuilder(timeline.Options{})
	res, err := scanEvidence(ctx, paths, dec.options(), nil, stderr, func(ev *parser.ProcessEvent) error {
		b.Add(ev)
		return nil
	})
	if err != nil {
		fmt.Fprintf(stderr, "evtxhunt timeline: %s\n", safeError(err))
		return exitEvidence
	}
	tl := b.Build()
	if *out != "" {
		if err := os.MkdirAll(*out, 0o755); err != nil {
			fmt.Fprintf(stderr, "evtxhunt timeline: %s\n", safeError(err))
			return exitEvidence
		}
		if err := reports.WriteTimelineFiles(*out, tl.Select(filter), time.UTC, reports.WriteOptions{}); err != nil {
			fmt.Fprintf(stderr, "evtxhunt timeline: %s\n", safeError(err))
			return exitIncomplete
		}
	}
	if *tree || *out == "" {
		if err := reports.WriteTree(stdout, tl, filter, time.UTC); err != nil {
			fmt.Fprintf(stderr, "evtxhunt timeline: %s\n", safeError(err))
			return exitEvidence
		}
	}
	printParseSummary(stderr, res)
	fmt.Fprintf(stderr, "  timeline: %d processes on %d hosts, %d duplicate records counted once\n", tl.Processes(), len(tl.Hosts), tl.Duplicates)
	if n := len(tl.Conflicts); n > 0 {
		fmt.Fprintf(stderr, "  warning: %d records conflict with another record of the same id, time and pid (possible tampering; both kept)\n", n)
	}
	if !res.clean() {
		return exitEvidence
	}
	return exitClean
}
