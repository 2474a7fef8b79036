package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"time"
	_ "time/tzdata" // --tz works on machines without a zone database

	"github.com/evtxhunt/evtxhunt/detections"
	"github.com/evtxhunt/evtxhunt/internal/termsafe"
	"github.com/evtxhunt/evtxhunt/parser"
	"github.com/evtxhunt/evtxhunt/parser/evidence"
	"github.com/evtxhunt/evtxhunt/parser/winpath"
	"github.com/evtxhunt/evtxhunt/reports"
	"github.com/evtxhunt/evtxhunt/timeline"
)

// analysis holds the flags scan and merge share: what to find, how to show
// it and where to write it.
type analysis struct {
	out, formats, tz, from, to, host, rules, minSeverity, failOn string
	force, quiet                                                 bool
	sigma                                                        stringList

	// parsed
	formatList []string
	zone       *time.Location
	filter     timeline.Filter
	min, fail  detections.Severity
	set        *detections.RuleSet
}

func (a *analysis) register(fs *flag.FlagSet) {
	fs.StringVar(&a.out, "out", "", "case `folder` to write (default ./evtxhunt-<UTC time>); must be empty unless --force")
	fs.StringVar(&a.formats, "format", strings.Join(reports.Formats, ","), "comma-separated `formats` to write: "+strings.Join(reports.Formats, ", "))
	fs.StringVar(&a.tz, "tz", "UTC", "time `zone` reports show times in (stored times stay UTC), e.g. Europe/Paris")
	fs.StringVar(&a.from, "from", "", "only processes and findings at or after `T` (UTC)")
	fs.StringVar(&a.to, "to", "", "only processes and findings at or before `T` (UTC)")
	fs.StringVar(&a.host, "host", "", "only this `host`, any spelling")
	fs.StringVar(&a.rules, "rules", "", "also run the rules in `DIR`")
	fs.Var(&a.sigma, "sigma", "also run the Sigma process_creation rules in `DIR` (repeatable)")
	fs.StringVar(&a.minSeverity, "min-severity", "informational", "drop findings below this `severity`")
	fs.StringVar(&a.failOn, "fail-on", "", "exit 3 when a finding reaches this `severity` (for pipelines)")
	fs.BoolVar(&a.force, "force", false, "write into a non-empty case folder")
	fs.BoolVar(&a.quiet, "quiet", false, "no progress bar")
}

// parse checks the flags and loads the rules, saying on stderr which rule
// files did not load; inputs are the evidence or case folders read, which
// the output must stay out of.
func (a *analysis) parse(inputs []string, now time.Time, stderr io.Writer) error {
	for _, f := range strings.Split(a.formats, ",") {
		f = strings.ToLower(strings.TrimSpace(f))
		if f == "" {
			continue
		}
		if !slices.Contains(reports.Formats, f) {
			return fmt.Errorf("unknown format %q (known: %s)", f, strings.Join(reports.Formats, ", "))
		}
		a.formatList = append(a.formatList, f)
	}
	var err error
	if a.zone, err = time.LoadLocation(a.tz); err != nil {
		return fmt.Errorf("--tz: %v", err)
	}
	a.filter.Host = a.host
	if a.filter.From, err = parseTimeFlag(a.from); err != nil {
		return err
	}
	if a.filter.To, err = parseTimeFlag(a.to); err != nil {
		return err
	}
	if a.min, err = detections.ParseSeverity(a.minSeverity); err != nil {
		return fmt.Errorf("--min-severity: %v", err)
	}
	if a.failOn != "" {
		if a.fail, err = detections.ParseSeverity(a.failOn); err != nil {
			return fmt.Errorf("--fail-on: %v", err)
		}
	}
	if a.set, err = loadRuleSet(a.rules, a.sigma); err != nil {
		return err
	}
	printNotLoaded(stderr, a.set, " (all listed in summary.json, rules.not_loaded)")
	if a.out == "" {
		a.out = "evtxhunt-" + now.UTC().Format("20060102T150405Z")
	}
	if err := checkOutsideEvidence(a.out, inputs); err != nil {
		return err
	}
	return prepareCaseDir(a.out, a.force)
}

func (a *analysis) has(format string) bool { return slices.Contains(a.formatList, format) }

// prepareCaseDir creates the case folder, refusing to write into a non-empty
// one unless forced.
func prepareCaseDir(dir string, force bool) error {
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return os.MkdirAll(dir, 0o755)
	case err != nil:
		return err
	case len(entries) > 0 && !force:
		return fmt.Errorf("case folder %s is not empty: choose another --out or add --force", dir)
	}
	return nil
}

func runScan(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("scan", "[--out DIR] [--format html,xlsx,jsonl,csv] [--workers N] [--tz ZONE] [--from T] [--to T] [--host H] [--rules DIR] [--min-severity S] [--fail-on S] [--quiet] [--force] EVIDENCE...", stderr)
	var a analysis
	a.register(fs)
	var dec decodeFlags
	dec.register(fs)
	paths, err := parseEvidenceArgs(fs, &dec, args)
	if err != nil {
		return usageError(stderr, fs, err)
	}
	started := time.Now()
	if err := a.parse(paths, started, stderr); err != nil {
		return usageError(stderr, fs, err)
	}

	// Ctrl-C stops the scan and the case folder is written with what was
	// read; a second Ctrl-C ends the process at once.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	context.AfterFunc(ctx, stop)
	events := newEventLog(a.out, a.has("jsonl"))
	b := timeline.NewBuilder(timeline.Options{})
	res, err := scanEvidence(ctx, paths, dec.options(),
		func(files []string) *progress { return newProgress(stderr, a.quiet, files) }, stderr,
		func(ev *parser.ProcessEvent) error {
			b.Add(ev)
			events.write(ev)
			return nil
		})
	switch {
	case errors.Is(err, context.Canceled):
		fmt.Fprintf(stderr, "evtxhunt scan: interrupted: the case folder holds what was read; what was not is listed in summary.json\n")
	case err != nil:
		events.abort(err)
		fmt.Fprintf(stderr, "evtxhunt scan: %s\n", safeError(err))
		return exitEvidence
	}
	c := &reports.Case{Version: version, CommandLine: append([]string{"evtxhunt", "scan"}, args...), Started: started,
		Files: res.stats, NotRead: res.notRead, Output: events.close()}
	code := a.finish(c, b, stdout, stderr)
	printParseSummary(stderr, res)
	if code == exitClean && !res.clean() {
		code = exitEvidence
	}
	return code
}

// finish builds the timeline, runs the rules, writes the case folder and
// prints the findings; it returns exitClean, exitIncomplete when a file of
// the case folder could not be written, or with --fail-on exitFindings.
func (a *analysis) finish(c *reports.Case, b *timeline.Builder, stdout, stderr io.Writer) int {
	c.Zone, c.Filter, c.MinSeverity = a.zone, a.filter, a.min
	c.Rules, c.RulesNotLoaded, c.RulesNotApplicable = a.set.Rules, a.set.NotLoaded, a.set.NotApplicable
	c.Timeline = b.Build()
	for _, f := range detections.NewEngine(a.set.Rules).Run(c.Timeline) {
		if f.Rule.Severity.Rank() < a.min.Rank() {
			continue
		}
		// A finding gathers many hits: keep those the filters select.
		var hits []detections.Hit
		for _, h := range f.Hits {
			if a.filter.Match(h.Process) {
				hits = append(hits, h)
			}
		}
		if len(hits) > 0 {
			f.Hits, f.Time = hits, hits[0].Process.Time
			c.Findings = append(c.Findings, f)
		}
	}
	slices.SortStableFunc(c.Findings, func(x, y *detections.Finding) int { return x.Time.Compare(y.Time) })
	c.Finished = time.Now()
	werr := reports.WriteCase(a.out, c, a.formatList, reports.WriteOptions{})
	printFindings(stdout, c, a.out)
	if werr != nil {
		fmt.Fprintf(stderr, "evtxhunt: %s\n", safeError(werr))
		return exitIncomplete
	}
	if a.fail != "" && slices.ContainsFunc(c.Findings, func(f *detections.Finding) bool { return f.Rule.Severity.Rank() >= a.fail.Rank() }) {
		return exitFindings
	}
	return exitClean
}

// printFindings is the one-screen account of what was found.
func printFindings(w io.Writer, c *reports.Case, out string) {
	by := c.FindingsBySeverity()
	fmt.Fprintf(w, "evtxhunt: %d processes on %d hosts (%d duplicate records counted once); case folder %s\n",
		c.Timeline.Processes(), len(c.Timeline.Hosts), c.Timeline.Duplicates, termsafe.String(out))
	if n := len(c.Timeline.Conflicts); n > 0 {
		fmt.Fprintf(w, "warning: %d records conflict with another record of the same id, time and pid (possible tampering; both kept, listed in summary.json)\n", n)
	}
	fmt.Fprintf(w, "findings: %d (critical %d, high %d, medium %d, low %d, informational %d); times in %s\n", len(c.Findings),
		by[detections.Critical], by[detections.High], by[detections.Medium], by[detections.Low], by[detections.Informational], c.Zone)
	const show = 15
	for i, f := range c.Findings {
		if i == show {
			fmt.Fprintf(w, "  ... %d more in %s\n", len(c.Findings)-show, termsafe.String(filepath.Join(out, reports.DetectionsFile)))
			break
		}
		h := f.Hits[0]
		line := fmt.Sprintf("  %s  %-8s %-9s %s: %s", f.Time.In(c.Zone).Format("2006-01-02 15:04:05"), f.Host, f.Rule.Severity, f.Rule.Name, winpath.Base(h.Process.Image))
		if parent := h.Process.ResolvedParentImage(); parent != "" {
			line += " <- " + winpath.Base(parent)
		}
		if hops := f.NextHops(); len(hops) > 0 {
			const most = 5
			line += " -> " + strings.Join(hops[:min(len(hops), most)], ", ")
			if len(hops) > most {
				line += fmt.Sprintf(" and %d more", len(hops)-most)
			}
		}
		if len(f.Hits) > 1 {
			line += fmt.Sprintf(" (%d hits)", len(f.Hits))
		}
		fmt.Fprintln(w, termsafe.String(line))
	}
}

// eventLog writes every process event read to events.jsonl, which merge
// rebuilds a case from. A write that fails (a full disk) does not stop the
// analysis: the file is then not committed, and close says why.
type eventLog struct {
	file   *reports.AtomicFile
	w      *bufio.Writer
	enc    *termsafe.Encoder
	failed bool
}

func newEventLog(dir string, enabled bool) *eventLog {
	if !enabled {
		return &eventLog{}
	}
	f := reports.CreateAtomic(dir, reports.EventsFile, nil)
	w := bufio.NewWriterSize(f, 1<<16)
	return &eventLog{file: f, w: w, enc: termsafe.NewEncoder(w)}
}

func (l *eventLog) write(ev *parser.ProcessEvent) {
	if l.enc == nil || l.failed {
		return
	}
	if err := l.enc.Encode(ev); err != nil {
		l.failed = true
		l.file.Fail(err)
	}
}

// abort removes events.jsonl: the analysis stopped before its end.
func (l *eventLog) abort(err error) {
	if l.file != nil {
		l.file.Fail(err)
		l.file.Commit()
	}
}

// close commits events.jsonl and gives its outcome, if it was written at all.
func (l *eventLog) close() []reports.CaseFile {
	if l.file == nil {
		return nil
	}
	if err := l.w.Flush(); err != nil {
		l.file.Fail(err)
	}
	return []reports.CaseFile{l.file.Commit()}
}

func runMerge(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("merge", "--out DIR [--format ...] [--tz ZONE] [--rules DIR] [--min-severity S] [--fail-on S] [--force] CASEDIR...", stderr)
	var a analysis
	a.register(fs)
	dirs, err := parseFlags(fs, args)
	if err != nil {
		return usageError(stderr, fs, err)
	}
	if len(dirs) == 0 {
		return usageError(stderr, fs, errors.New("no case folder given"))
	}
	started := time.Now()
	if err := a.parse(dirs, started, stderr); err != nil {
		return usageError(stderr, fs, err)
	}
	c := &reports.Case{Version: version, CommandLine: append([]string{"evtxhunt", "merge"}, args...), Started: started, MergedFrom: dirs}
	b := timeline.NewBuilder(timeline.Options{})
	eventLog := newEventLog(a.out, a.has("jsonl"))
	// A case folder that is damaged or incomplete is merged as far as it
	// can be read, and what could not be is reported; only when no case
	// gives anything is the merge refused.
	usable := 0
	for _, dir := range dirs {
		var problems []evidence.NotRead
		s, serr := reports.ReadSummary(dir)
		if err := serr; err != nil {
			problems = append(problems, evidence.NotRead{Path: dir, Reason: fmt.Sprintf("%v: its evidence inventory and parse health are not in the merge", err)})
		} else {
			c.Files = append(c.Files, s.Parse.Files...)
			c.NotRead = append(c.NotRead, s.Evidence.NotRead...)
		}
		events := filepath.Join(dir, reports.EventsFile)
		skipped, eerr := readEvents(events, func(ev *parser.ProcessEvent) error {
			b.Add(ev)
			eventLog.write(ev)
			return nil
		})
		if err := eerr; err != nil {
			why := err.Error()
			if errors.Is(err, os.ErrNotExist) {
				why = "missing"
			}
			problems = append(problems, evidence.NotRead{Path: events, Reason: fmt.Sprintf("%s: its events are not in the merge (was it scanned with --format jsonl?)", why)})
		}
		for _, why := range skipped {
			problems = append(problems, evidence.NotRead{Path: events, Reason: why})
		}
		if serr == nil || eerr == nil {
			usable++
		}
		for _, p := range problems {
			fmt.Fprintf(stderr, "evtxhunt merge: %s\n", termsafe.String(p.String()))
		}
		c.NotRead = append(c.NotRead, problems...)
	}
	if usable == 0 {
		fmt.Fprintln(stderr, "evtxhunt merge: no case folder could be read")
		return exitUsage
	}
	c.Output = eventLog.close()
	slices.SortStableFunc(c.Files, func(x, y *parser.FileStats) int { return strings.Compare(x.Path, y.Path) })
	code := a.finish(c, b, stdout, stderr)
	if code == exitClean && parser.Sum(c.Files).Errors+len(c.NotRead) > 0 {
		code = exitEvidence
	}
	return code
}

// maxEventLine bounds a line of events.jsonl: an event with the longest
// command lines Windows records is well under 1 MiB.
const maxEventLine = 16 << 20

// readEvents reads a case's events.jsonl, calling fn for the event of every
// complete line. A line that is not an event (damaged, a last line cut short
// by a full disk, longer than any event) is skipped and described in
// skipped, with its file and line number. err is set when the file cannot
// be read at all, or fn fails.
func readEvents(path string, fn func(*parser.ProcessEvent) error) (skipped []string, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	const listed = 10 // lines described one by one; the rest are counted
	bad := 0
	skip := func(line int, why string) {
		if bad++; bad <= listed {
			skipped = append(skipped, fmt.Sprintf("line %d: %s; line skipped", line, why))
		}
	}
	r := bufio.NewReaderSize(f, 1<<16)
	var buf []byte
	for line := 1; ; line++ {
		buf = buf[:0]
		tooLong := false
		var rerr error
		for {
			var part []byte
			part, rerr = r.ReadSlice('\n')
			if len(buf)+len(part) <= maxEventLine {
				buf = append(buf, part...)
			} else {
				tooLong = true
			}
			if rerr != bufio.ErrBufferFull {
				break
			}
		}
		if rerr != nil && rerr != io.EOF {
			return skipped, fmt.Errorf("%s:%d: %w", path, line, rerr)
		}
		complete := len(buf) > 0 && buf[len(buf)-1] == '\n'
		switch text := bytes.TrimSpace(buf); {
		case tooLong:
			skip(line, fmt.Sprintf("longer than %d bytes", maxEventLine))
		case len(text) == 0:
		default:
			var ev parser.ProcessEvent
			if err := json.Unmarshal(text, &ev); err != nil {
				if !complete {
					skip(line, fmt.Sprintf("last line cut short (%d bytes, no end of line)", len(buf)))
				} else {
					skip(line, "not an event: "+err.Error())
				}
				break
			}
			if !knownSource(ev.Source) {
				skip(line, fmt.Sprintf("not an event: source %q", ev.Source))
				break
			}
			if err := fn(&ev); err != nil {
				return skipped, err
			}
		}
		if rerr == io.EOF {
			break
		}
	}
	if bad > listed {
		skipped = append(skipped, fmt.Sprintf("%d more lines skipped", bad-listed))
	}
	return skipped, nil
}

func knownSource(s parser.Source) bool {
	switch s {
	case parser.SourceSecurity4688, parser.SourceSysmon1, parser.SourceSecurity4689, parser.SourceSysmon5:
		return true
	}
	return false
}

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }
