package parser

import (
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/evtxhunt/evtxhunt/parser/evtx"
)

// CensusKey identifies a kind of record.
type CensusKey struct {
	Channel  string `json:"channel"`
	Provider string `json:"provider"`
	EventID  uint16 `json:"event_id"`
}

// Census counts records by channel, provider and event id.
type Census map[CensusKey]uint64

func (c Census) add(o Census) {
	for k, n := range o {
		c[k] += n
	}
}

// CensusRow is one line of a census, for output.
type CensusRow struct {
	CensusKey
	Records uint64 `json:"records"`
}

// Rows lists the census sorted by channel, provider and event id.
func (c Census) Rows() []CensusRow {
	rows := make([]CensusRow, 0, len(c))
	for k, n := range c {
		rows = append(rows, CensusRow{k, n})
	}
	slices.SortFunc(rows, func(a, b CensusRow) int {
		return cmp.Or(cmp.Compare(a.Channel, b.Channel), cmp.Compare(a.Provider, b.Provider), cmp.Compare(a.EventID, b.EventID))
	})
	return rows
}

// MarshalJSON writes the census as a sorted list: JSON objects cannot have
// struct keys, and a list keeps output deterministic.
func (c Census) MarshalJSON() ([]byte, error) { return json.Marshal(c.Rows()) }

// UnmarshalJSON reads the list MarshalJSON writes.
func (c *Census) UnmarshalJSON(b []byte) error {
	var rows []CensusRow
	if err := json.Unmarshal(b, &rows); err != nil {
		return err
	}
	*c = Census{}
	for _, r := range rows {
		(*c)[r.CensusKey] += r.Records
	}
	return nil
}

// ErrorKind classifies what could not be read. It is a kind, not an error:
// a DecodeError has one, and JSON carries it as its string.
type ErrorKind string

// Kinds of DecodeError.
const (
	KindFile        ErrorKind = "file"          // open, read, not EVTX
	KindFileHeader  ErrorKind = "file-header"   // header checksum
	KindChunkMagic  ErrorKind = "chunk-magic"   // slot without ElfChnk
	KindChunkHeader ErrorKind = "chunk-header"  // header CRC, tables
	KindChunkData   ErrorKind = "chunk-data"    // records CRC
	KindTruncated   ErrorKind = "truncated"     // last chunk cut short
	KindRecordWalk  ErrorKind = "record-walk"   // chain of records broken
	KindRecord      ErrorKind = "record"        // one record not decoded
	KindRecordField ErrorKind = "record-field"  // decoded, one field unreadable
	KindPanic       ErrorKind = "panic"         // decoder panicked; recovered
	KindChild       ErrorKind = "decoder-child" // golang-evtx's process died, overran its limits or answered garbage
	KindChanged     ErrorKind = "file-changed"  // shrank, grew or was modified while read
	KindWipedChunk  ErrorKind = "wiped-chunk"   // all-zero slot among the chunks in use
	KindStopped     ErrorKind = "scan-stopped"  // the scan was cancelled or stopped by its caller before the file was read whole
)

// DecodeError is one problem met in the evidence, with enough context to find
// the bytes again.
type DecodeError struct {
	File     string    `json:"file"`
	Kind     ErrorKind `json:"kind"`
	Offset   int64     `json:"offset"` // in the file
	Chunk    int       `json:"chunk"`  // slot number, -1 for the file itself
	RecordID uint64    `json:"record_id,omitempty"`
	Reason   string    `json:"reason"`
	// Err is the cause, when there is one for errors.Is and errors.As to
	// reach: the source's read error, an *evtx.FormatError, the native
	// decoder's refusal. Reason says it in words; it is not written out.
	Err error `json:"-"`
	// Repeats counts the later errors of the file with the same kind and a
	// reason that differs from this one only in its numbers (offsets, ids,
	// sizes). They are not listed; LastOffset is where the last one is.
	Repeats    int   `json:"repeats,omitempty"`
	LastOffset int64 `json:"last_offset,omitempty"`
}

// maxReasonLen bounds the reason of an error: a crafted record can make a
// decoder's message as long as the record.
const maxReasonLen = 512

// shortReason cuts a reason to at most maxReasonLen bytes, on a character
// boundary, and says how much was cut.
func shortReason(s string) string {
	if len(s) <= maxReasonLen {
		return s
	}
	const before, after = " [", " more bytes cut]"
	cut := maxReasonLen - len(before) - len(strconv.Itoa(len(s))) - len(after)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + before + strconv.Itoa(len(s)-cut) + after
}

// errorShape is what makes two errors of a file the same error: the kind,
// and the reason with every number replaced by '#'.
type errorShape struct {
	kind   ErrorKind
	reason string
}

func shapeOf(e *DecodeError) errorShape {
	var b strings.Builder
	b.Grow(len(e.Reason))
	digits := false
	for i := 0; i < len(e.Reason); i++ {
		c := e.Reason[i]
		isDigit := '0' <= c && c <= '9' || digits && ('a' <= c && c <= 'f' || 'A' <= c && c <= 'F' || c == 'x')
		if isDigit {
			if !digits {
				b.WriteByte('#')
			}
		} else {
			b.WriteByte(c)
		}
		digits = isDigit
	}
	return errorShape{e.Kind, b.String()}
}

func (e *DecodeError) Error() string {
	s := fmt.Sprintf("%s: offset 0x%x", e.File, e.Offset)
	if e.Chunk >= 0 {
		s += fmt.Sprintf(" (chunk %d)", e.Chunk)
	}
	if e.RecordID != 0 {
		s += fmt.Sprintf(" record %d", e.RecordID)
	}
	s += ": " + string(e.Kind) + ": " + e.Reason
	if r := e.Repeated(); r != "" {
		s += " (" + r + ")"
	}
	return s
}

// Unwrap returns the cause.
func (e *DecodeError) Unwrap() error { return e.Err }

// Repeated says how many errors like this one were counted on it, and
// where the last one is; "" when there were none.
func (e *DecodeError) Repeated() string {
	if e.Repeats == 0 {
		return ""
	}
	return fmt.Sprintf("and %d more like it, the last at 0x%x", e.Repeats, e.LastOffset)
}

// ChunkCounts describes what the chunk slots of a file held.
type ChunkCounts struct {
	Slots             int `json:"slots"`
	Decoded           int `json:"decoded"`
	Empty             int `json:"empty"`
	BadMagic          int `json:"bad_magic"`
	HeaderCRCFailures int `json:"header_crc_failures"`
	DataCRCFailures   int `json:"data_crc_failures"`
	Truncated         int `json:"truncated"`
	Failed            int `json:"failed"`
	PastHeaderCount   int `json:"past_header_count"` // chunks beyond the header's chunk count that held records
	Fallback          int `json:"fallback"`          // read by golang-evtx after the native decoder could not
	Wiped             int `json:"wiped"`             // all zeros, inside the header's chunk count and before a chunk with records
	Unread            int `json:"unread"`            // not read: the device failed, or the file shrank while read
}

// add adds o's counts to c's.
func (c *ChunkCounts) add(o ChunkCounts) {
	c.Slots += o.Slots
	c.Decoded += o.Decoded
	c.Empty += o.Empty
	c.BadMagic += o.BadMagic
	c.HeaderCRCFailures += o.HeaderCRCFailures
	c.DataCRCFailures += o.DataCRCFailures
	c.Truncated += o.Truncated
	c.Failed += o.Failed
	c.PastHeaderCount += o.PastHeaderCount
	c.Fallback += o.Fallback
	c.Wiped += o.Wiped
	c.Unread += o.Unread
}

// RecordCounts describes the records of a file.
type RecordCounts struct {
	Seen    uint64 `json:"seen"`    // record headers found
	Decoded uint64 `json:"decoded"` // records whose content was read
	Failed  uint64 `json:"failed"`  // records seen but not read
}

// add adds o's counts to c's.
func (c *RecordCounts) add(o RecordCounts) {
	c.Seen += o.Seen
	c.Decoded += o.Decoded
	c.Failed += o.Failed
}

// maxErrorsPerFile bounds the error list kept for one file; counts stay exact.
const maxErrorsPerFile = 1000

// FileStats is the parse health of one evidence file.
type FileStats struct {
	Path          string            `json:"path"`
	Size          int64             `json:"size"`
	SHA256        string            `json:"sha256"`                   // of the Size bytes read, only when every one of them was
	SHA256Omitted string            `json:"sha256_omitted,omitempty"` // why SHA256 is empty
	Header        *evtx.FileHeader  `json:"header,omitempty"`
	Chunks        ChunkCounts       `json:"chunks"`
	Records       RecordCounts      `json:"records"`
	ProcessEvents map[Source]uint64 `json:"process_events"`
	Census        Census            `json:"census"`
	// ErrorCount counts every error. Errors lists the first of each kind of
	// error (see DecodeError.Repeats) up to maxErrorsPerFile;
	// ErrorsOmitted counts those that did not fit.
	ErrorCount    int           `json:"error_count"`
	Errors        []DecodeError `json:"errors"`
	ErrorsOmitted int           `json:"errors_omitted,omitempty"`

	shapes map[errorShape]int // index in Errors of the first error of each shape
}

func newFileStats(path string) *FileStats {
	return &FileStats{
		Path:          path,
		ProcessEvents: map[Source]uint64{SourceSecurity4688: 0, SourceSysmon1: 0, SourceSecurity4689: 0, SourceSysmon5: 0},
		Census:        Census{},
		Errors:        []DecodeError{},
	}
}

// addError counts an error of the file and lists it, unless one of the same
// shape is listed already: then that one counts it as a repeat. Errors come
// in file order, so the one listed is the first.
func (s *FileStats) addError(e DecodeError) {
	s.ErrorCount++
	e.Reason = shortReason(e.Reason)
	shape := shapeOf(&e)
	if i, ok := s.shapes[shape]; ok {
		first := &s.Errors[i]
		first.Repeats++
		first.LastOffset = max(first.LastOffset, e.Offset)
		return
	}
	if len(s.Errors) >= maxErrorsPerFile {
		s.ErrorsOmitted++
		return
	}
	if s.shapes == nil {
		s.shapes = map[errorShape]int{}
	}
	s.shapes[shape] = len(s.Errors)
	s.Errors = append(s.Errors, e)
}

// Clean reports whether the file was read without any error.
func (s *FileStats) Clean() bool { return s.ErrorCount == 0 }

// Totals sums the stats of many files.
type Totals struct {
	Files         int               `json:"files"`
	FilesWithErrs int               `json:"files_with_errors"`
	Bytes         int64             `json:"bytes"`
	Chunks        ChunkCounts       `json:"chunks"`
	Records       RecordCounts      `json:"records"`
	ProcessEvents map[Source]uint64 `json:"process_events"`
	Errors        int               `json:"errors"`
}

// Sum adds up per-file stats.
func Sum(files []*FileStats) Totals {
	t := Totals{ProcessEvents: map[Source]uint64{SourceSecurity4688: 0, SourceSysmon1: 0, SourceSecurity4689: 0, SourceSysmon5: 0}}
	for _, f := range files {
		t.Files++
		if !f.Clean() {
			t.FilesWithErrs++
		}
		t.Bytes += f.Size
		t.Chunks.add(f.Chunks)
		t.Records.add(f.Records)
		for s, n := range f.ProcessEvents {
			t.ProcessEvents[s] += n
		}
		t.Errors += f.ErrorCount
	}
	return t
}
