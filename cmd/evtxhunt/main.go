// Command evtxhunt analyses Windows event logs collected as evidence: it reads
// Security 4688 and Sysmon 1 process creations straight from .evtx files,
// rebuilds each host's process timeline and trees, runs lateral-movement
// rules (its own pack and SigmaHQ's) and writes a case folder of reports.
// Its subcommands (scan, merge, events, timeline, rules, bench, version) are
// described in README.md and by evtxhunt help.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/debug"

	"github.com/evtxhunt/evtxhunt/internal/termsafe"
	"github.com/evtxhunt/evtxhunt/parser"
)

// Exit codes shared by every subcommand.
const (
	exitClean      = 0 // everything read, nothing to report
	exitEvidence   = 1 // some evidence could not be read; the rest was analysed
	exitUsage      = 2
	exitFindings   = 3 // a finding reached --fail-on
	exitIncomplete = 4 // a file of the case folder could not be written; it says which
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

type command struct {
	name, summary string
	run           func(args []string, stdout, stderr io.Writer) int
}

func commands() []command {
	return []command{
		{"scan", "analyse evidence: timeline, detections and the case folder with reports", runScan},
		{"merge", "combine case folders (scanned with --format jsonl) into one", runMerge},
		{"events", "print every process creation in the evidence as JSON lines", runEvents},
		{"bench", "measure the scanner on evidence files, beside golang-evtx alone", runBench},
		{"timeline", "rebuild per-host process timelines and trees", runTimeline},
		{"rules", "list the detection rules, or check a rule folder", runRules},
		{"version", "print the version", func(_ []string, stdout, _ io.Writer) int {
			fmt.Fprintln(stdout, "evtxhunt", version)
			return exitClean
		}},
	}
}

func main() {
	// The collector is tuned alike in the decoding child, so that bench
	// compares golang-evtx with the scanner on equal terms.
	tuneGC()
	if len(os.Args) > 1 && os.Args[1] == parser.DecodeChildCommand {
		// Not a command for people: the process a scan starts to run
		// golang-evtx in, which sets its own memory limit.
		os.Exit(parser.ServeDecodeChild())
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// tuneGC lets the heap grow further between collections, unless GOGC or
// GOMEMLIMIT say otherwise. The decoder keeps a small heap (a few MiB) and
// allocates steadily for process events, so with the default the collector
// runs every few MiB and takes about half of a scan's CPU. A soft limit of
// 4 GiB keeps large timelines from growing the heap five-fold.
func tuneGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(4 << 30)
	}
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr)
		if len(args) == 0 {
			return exitUsage
		}
		return exitClean
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return c.run(args[1:], stdout, stderr)
		}
	}
	fmt.Fprintf(stderr, "evtxhunt: unknown command %q\n\n", args[0])
	usage(stderr)
	return exitUsage
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: evtxhunt COMMAND [flags] PATH...")
	fmt.Fprintln(w, "\ncommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun 'evtxhunt COMMAND -h' for a command's flags.")
}

// parseFlags parses flags placed anywhere among the arguments, as responders
// type them ("events ./evidence --workers 4"), and returns the positional
// arguments. After "--" everything is positional.
func parseFlags(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return positional, nil
		}
		if args[0] == "--" {
			return append(positional, args[1:]...), nil
		}
		positional = append(positional, args[0])
		args = args[1:]
	}
}

// newFlagSet returns a FlagSet whose errors do not exit. The flag package
// prints bad flags raw, and a flag can be a file name from a shell glob: its
// errors are printed by usageError, made safe, instead.
func newFlagSet(name, synopsis string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: evtxhunt %s %s\n\nflags:\n", name, synopsis)
		fs.SetOutput(stderr)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
	}
	return fs
}

// usageError prints a usage problem and returns the usage exit code.
func usageError(stderr io.Writer, fs *flag.FlagSet, err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return exitClean
	}
	if err != nil {
		fmt.Fprintf(stderr, "evtxhunt %s: %s\n", fs.Name(), safeError(err))
	}
	return exitUsage
}

// safeError is an error's message made safe for a terminal: messages quote
// file names, host names and values from the evidence.
func safeError(err error) string { return termsafe.String(err.Error()) }
