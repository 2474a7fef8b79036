package reports

import (
	"bufio"
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/evtxhunt/evtxhunt/internal/termsafe"
	"github.com/evtxhunt/evtxhunt/parser"
	"github.com/evtxhunt/evtxhunt/parser/winpath"
	"github.com/evtxhunt/evtxhunt/timeline"
)

// formatTime shows a UTC time in the report's zone, with all seven digits.
func formatTime(t time.Time, loc *time.Location) string {
	if t.IsZero() {
		return ""
	}
	return t.In(loc).Format(parser.TimeLayout)
}

// timelineRecord is one line of timeline.jsonl.
type timelineRecord struct {
	Host              string              `json:"host"`
	Time              string              `json:"time"`
	PID               uint32              `json:"pid"`
	PPID              uint32              `json:"ppid"`
	Image             string              `json:"image"`
	CommandLine       string              `json:"command_line"`
	User              string              `json:"user"`
	ParentImage       string              `json:"parent_image"`
	ParentLink        timeline.LinkKind   `json:"parent_link"`
	ParentLinkNote    string              `json:"parent_link_note,omitempty"`
	Depth             int                 `json:"depth"`
	ProcessGUID       string              `json:"process_guid,omitempty"`
	ParentProcessGUID string              `json:"parent_process_guid,omitempty"`
	IntegrityLevel    string              `json:"integrity_level,omitempty"`
	Ended             string              `json:"ended,omitempty"`
	Flags             []string            `json:"flags,omitempty"`
	Sources           []parser.Source     `json:"sources"`
	Evidence          []timeline.Evidence `json:"evidence"`
	Copies            []timeline.Evidence `json:"copies,omitempty"`
}

func newTimelineRecord(p *timeline.Process, loc *time.Location) timelineRecord {
	return timelineRecord{Host: p.Host.Name, Time: formatTime(p.Time, loc), PID: p.PID, PPID: p.PPID, Image: p.Image,
		CommandLine: p.CommandLine, User: p.User, ParentImage: p.ResolvedParentImage(), ParentLink: p.Link,
		ParentLinkNote: p.LinkNote, Depth: p.Depth, ProcessGUID: p.ProcessGUID, ParentProcessGUID: p.ParentProcessGUID,
		IntegrityLevel: p.IntegrityLevel, Ended: formatTime(p.Ended, loc), Flags: p.Flags, Sources: p.Sources(),
		Evidence: p.Evidence, Copies: p.Copies}
}

// WriteTimelineJSONL writes one JSON object per process.
func WriteTimelineJSONL(w io.Writer, procs []*timeline.Process, loc *time.Location) error {
	bw := bufio.NewWriter(w)
	enc := termsafe.NewEncoder(bw)
	for _, p := range procs {
		if err := enc.Encode(newTimelineRecord(p, loc)); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// timesketchHeader is Timesketch's import format (message, datetime,
// timestamp_desc; timestamp in microseconds) followed by our fields.
var timesketchHeader = []string{"message", "datetime", "timestamp", "timestamp_desc", "host", "pid", "ppid", "image",
	"command_line", "user", "parent_image", "parent_link", "depth", "process_guid", "sources", "evidence"}

// csvCell guards a CSV cell of text from the evidence, the way OWASP
// recommends against formula injection: a cell that would begin with = + -
// @ (or their full-width forms, which some spreadsheets also read as
// formulas), a tab or a carriage return gets a leading single quote, and
// control characters are written as visible escapes (termsafe: \x1b, \r,
// \n). The exact value is in timeline.jsonl.
func csvCell(s string) string {
	v := termsafe.String(s)
	if first, _ := utf8.DecodeRuneInString(s); s != "" && strings.ContainsRune("=+-@\t\r\uff1d\uff0b\uff0d\uff20", first) {
		return "'" + v
	}
	return v
}

// WriteTimelineCSV writes the timeline as a CSV that Timesketch imports as is.
// Timesketch wants ISO 8601 times with an offset; the zone is loc. Cells of
// text are guarded against formulas (csvCell).
func WriteTimelineCSV(w io.Writer, procs []*timeline.Process, loc *time.Location) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(timesketchHeader); err != nil {
		return err
	}
	for _, p := range procs {
		var sources, evidence []string
		for _, s := range p.Sources() {
			sources = append(sources, string(s))
		}
		for _, e := range p.Evidence {
			evidence = append(evidence, fmt.Sprintf("%s#%d", e.File, e.RecordID))
		}
		row := []string{csvCell(processMessage(p)), p.Time.In(loc).Format("2006-01-02T15:04:05.000000-07:00"),
			strconv.FormatInt(p.Time.UnixMicro(), 10), "Process Creation", csvCell(p.Host.Name), strconv.Itoa(int(p.PID)),
			strconv.Itoa(int(p.PPID)), csvCell(p.Image), csvCell(p.CommandLine), csvCell(p.User), csvCell(p.ResolvedParentImage()),
			string(p.Link), strconv.Itoa(p.Depth), csvCell(p.ProcessGUID), strings.Join(sources, " "), csvCell(strings.Join(evidence, " "))}
		if err := cw.Write(row); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// processMessage is the one-line story of a process creation.
func processMessage(p *timeline.Process) string {
	parent := winpath.Base(p.ResolvedParentImage())
	if parent == "" {
		parent = "(unknown parent)"
	}
	msg := fmt.Sprintf("%s: %s (%d) started %s (%d)", p.Host.Name, parent, p.PPID, winpath.Base(p.Image), p.PID)
	if p.User != "" {
		msg += " as " + p.User
	}
	if p.CommandLine != "" {
		msg += ": " + p.CommandLine
	}
	return msg
}

// WriteTree prints each host's process trees for a terminal. With a filter
// that selects processes, only those and their ancestors are printed, the
// selected ones marked with '*'. Text from the evidence is made safe for the
// terminal (termsafe).
func WriteTree(w io.Writer, tl *timeline.Timeline, f timeline.Filter, loc *time.Location) error {
	bw := bufio.NewWriter(w)
	selected := map[*timeline.Process]bool{}
	keep := map[*timeline.Process]bool{}
	narrowed := f.User != "" || f.Text != "" || !f.From.IsZero() || !f.To.IsZero()
	for _, p := range tl.Select(f) {
		selected[p] = true
		keep[p] = true
		for a := p.Parent; a != nil && !keep[a]; a = a.Parent { // above a kept one, all are kept
			keep[a] = true
		}
	}
	for _, h := range tl.Hosts {
		if !f.MatchHost(h) {
			continue
		}
		fmt.Fprintf(bw, "== %s (%s): %d processes\n", termsafe.String(h.Name), termsafe.String(strings.Join(h.Spellings, ", ")), len(h.Processes))
		for _, root := range h.Roots() {
			if narrowed && !keep[root] {
				continue
			}
			writeNode(bw, root, "", "", narrowed, keep, selected, loc)
		}
		fmt.Fprintln(bw)
	}
	return bw.Flush()
}

func writeNode(w *bufio.Writer, p *timeline.Process, prefix, branch string, narrowed bool, keep, selected map[*timeline.Process]bool, loc *time.Location) {
	mark := " "
	if selected[p] && narrowed {
		mark = "*"
	}
	line := fmt.Sprintf("%s%s%s %s (%d)", prefix, branch, mark, termsafe.String(winpath.Base(p.Image)), p.PID)
	if p.Placeholder {
		line += " [not logged]"
	} else {
		line = fmt.Sprintf("%s  %s", formatTime(p.Time, loc), line)
		if p.User != "" {
			line += " " + termsafe.String(p.User)
		}
		if p.Link == timeline.LinkAmbiguous {
			line += " [ambiguous parent: " + termsafe.String(p.LinkNote) + "]"
		}
		if p.CommandLine != "" {
			line += "  " + termsafe.Cut(termsafe.String(p.CommandLine), 140, termsafe.Runes, func(int) string { return "..." })
		}
	}
	if p.Placeholder {
		line = strings.Repeat(" ", len(parser.TimeLayout)-1) + "  " + line
	}
	w.WriteString(line + "\n")
	var kids []*timeline.Process
	for _, c := range p.Children {
		if !narrowed || keep[c] {
			kids = append(kids, c)
		}
	}
	childPrefix := prefix
	switch branch {
	case "├─":
		childPrefix += "│ "
	case "└─":
		childPrefix += "  "
	}
	for i, c := range kids {
		b := "├─"
		if i == len(kids)-1 {
			b = "└─"
		}
		writeNode(w, c, childPrefix, b, narrowed, keep, selected, loc)
	}
}
