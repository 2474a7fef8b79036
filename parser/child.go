package parser

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/gob"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"

	"github.com/evtxhunt/evtxhunt/parser/evtx"
)

// golang-evtx runs in a child process of evtxhunt, never in the scanning
// process: crafted records make it recurse until the Go runtime aborts, or
// loop while allocating without end, and neither can be recovered. The
// child is the running executable started again with DecodeChildCommand (or
// any program given in Isolation.Command). It limits its own memory and
// stack, then reads chunks from stdin and writes what golang-evtx made of
// them to stdout, one frame each, until stdin ends.
//
// A request frame is a little-endian uint32 length, then the chunk's file
// offset (int64), slot number (uint32), record count (uint32), each record
// (offset, size and trailer as uint32, id as uint64; offset and size first),
// and the chunk's bytes to the end of the frame. A reply frame is a uint32
// length and a childReply, the next message of one gob stream.

// DecodeChildCommand is the hidden subcommand that makes evtxhunt a
// decoding child.
const DecodeChildCommand = "__decode-chunks"

// decodeChildEnv is set in a child's environment to its memory limit in
// bytes. It also marks the process as a child, so that test binaries, which
// cannot take a subcommand, serve instead of running their tests.
const decodeChildEnv = "EVTXHUNT_DECODE_CHILD"

// childJobEnv is set in a child's environment to what it is started for:
// empty to decode chunks, jobFastEvents for the benchmark baseline.
const childJobEnv = "EVTXHUNT_CHILD_JOB"

// isDecodeChild reports whether this process was started by a Scanner as
// its decoding child.
func isDecodeChild() bool { return os.Getenv(decodeChildEnv) != "" }

// RunTests is the TestMain of a test package whose tests scan evidence:
//
//	func TestMain(m *testing.M) { parser.RunTests(m) }
//
// A Scanner starts the running executable as golang-evtx's decoding child,
// and a test binary cannot take DecodeChildCommand: started as a child, it
// serves as one; otherwise it runs its tests (m.Run). It exits with their
// status and does not return.
func RunTests(m interface{ Run() int }) {
	if isDecodeChild() {
		os.Exit(ServeDecodeChild())
	}
	os.Exit(m.Run())
}

// ServeDecodeChild is the decoding child's main: it limits the process's
// memory and stack, then serves chunks from stdin to stdout until stdin
// ends. It returns the process's exit status.
func ServeDecodeChild() int {
	limit, err := strconv.ParseInt(os.Getenv(decodeChildEnv), 10, 64)
	if err != nil || limit <= 0 {
		limit = DefaultMemoryLimit
	}
	job := os.Getenv(childJobEnv)
	serve := serveChunks
	switch job {
	case "":
	case jobFastEvents:
		serve = serveFastEvents
	default:
		fmt.Fprintf(os.Stderr, "evtxhunt decoding child: no job %q\n", job)
		return 1
	}
	// Chunks are decoded one at a time; FastEvents is measured as it runs.
	if err := limitChild(limit, job == ""); err != nil {
		fmt.Fprintln(os.Stderr, "evtxhunt decoding child: cannot limit its memory:", err)
		return 1
	}
	out := os.Stdout
	os.Stdout = os.Stderr // a stray print of the library must not reach the replies
	if err := serve(os.Stdin, out); err != nil {
		fmt.Fprintln(os.Stderr, "evtxhunt decoding child:", err)
		return 1
	}
	return 0
}

// childStack bounds a goroutine's stack in the child: golang-evtx follows
// template instances without a depth limit, and a self-referencing one
// must end the process in milliseconds, not after a gigabyte.
const childStack = 16 << 20

// limitChild sets the child's limits: one thread when asked, a bounded
// stack, a garbage collector that works harder near the limit, and where
// the OS allows it (and the race detector does not need the address space)
// a hard limit on the address space it may add (setAddressLimit).
func limitChild(limit int64, oneThread bool) error {
	if oneThread {
		runtime.GOMAXPROCS(1)
	}
	debug.SetMaxStack(childStack)
	debug.SetMemoryLimit(limit / 4 * 3)
	if raceBuild {
		return nil
	}
	return setAddressLimit(limit)
}

// childReply is what the child made of one chunk.
type childReply struct {
	Events       []ProcessEvent
	Census       []CensusRow
	Records      RecordCounts
	ChunkDecoded bool
	Errors       []DecodeError
}

// maxRequest bounds a request frame: the header, a record reference for
// every record a chunk can hold, and the chunk.
const maxRequest = 16 + (evtx.ChunkSize/evtx.RecordMinLen)*recordRefLen + evtx.ChunkSize

const recordRefLen = 20

// appendRequest appends the request frame for c to b.
func appendRequest(b []byte, c *chunk) []byte {
	start := len(b)
	b = binary.LittleEndian.AppendUint32(b, 0) // length, patched below
	b = binary.LittleEndian.AppendUint64(b, uint64(c.Offset))
	b = binary.LittleEndian.AppendUint32(b, uint32(c.Index))
	b = binary.LittleEndian.AppendUint32(b, uint32(len(c.Records)))
	for _, ref := range c.Records {
		b = binary.LittleEndian.AppendUint32(b, ref.Offset)
		b = binary.LittleEndian.AppendUint32(b, ref.Size)
		b = binary.LittleEndian.AppendUint32(b, ref.Trailer)
		b = binary.LittleEndian.AppendUint64(b, ref.ID)
	}
	b = append(b, c.Data...)
	binary.LittleEndian.PutUint32(b[start:], uint32(len(b)-start-4))
	return b
}

// readRequest reads one request frame into c, whose Chunk it fills, reusing
// buf; it returns
// io.EOF when the parent has closed the stream between frames.
func readRequest(r io.Reader, buf []byte, c *chunk) ([]byte, error) {
	var head [4]byte
	if _, err := io.ReadFull(r, head[:]); err != nil {
		return buf, err
	}
	n := binary.LittleEndian.Uint32(head[:])
	if n < 16 || n > maxRequest {
		return buf, fmt.Errorf("request of %d bytes", n)
	}
	if cap(buf) < int(n) {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	if _, err := io.ReadFull(r, buf); err != nil {
		return buf, fmt.Errorf("reading a request of %d bytes: %w", n, err)
	}
	le := binary.LittleEndian
	c.Offset = int64(le.Uint64(buf))
	c.Index = int(le.Uint32(buf[8:]))
	records := int(le.Uint32(buf[12:]))
	rest := buf[16:]
	if records == 0 || records > len(rest)/recordRefLen {
		return buf, fmt.Errorf("request with %d records in %d bytes", records, len(rest))
	}
	c.Data = rest[records*recordRefLen:]
	c.Records = c.Records[:0]
	for i := range records {
		b := rest[i*recordRefLen:]
		ref := evtx.RecordRef{Offset: le.Uint32(b), Size: le.Uint32(b[4:]), Trailer: le.Uint32(b[8:]), ID: le.Uint64(b[12:])}
		if ref.Size < evtx.RecordMinLen || uint64(ref.Offset)+uint64(ref.Size) > uint64(len(c.Data)) {
			return buf, fmt.Errorf("record %d at 0x%x, %d bytes, is outside the chunk", ref.ID, ref.Offset, ref.Size)
		}
		c.Records = append(c.Records, ref)
	}
	return buf, nil
}

// serveChunks decodes the chunks of the request frames read from in with
// golang-evtx and writes a reply frame for each to out.
func serveChunks(in io.Reader, out io.Writer) error {
	dec := newGolangEvtxDecoder()
	defer dec.close()
	br := bufio.NewReaderSize(in, 64<<10)
	var (
		req   []byte
		reply bytes.Buffer
		c     = chunk{Chunk: &evtx.Chunk{}}
		r     chunkResult
	)
	// One gob stream for all replies: it describes its types once.
	enc := gob.NewEncoder(&reply)
	for {
		var err error
		req, err = readRequest(br, req, &c)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		r.reset()
		r.Records.Seen = uint64(len(c.Records))
		decodeGuarded(c.file, slot{c.Index, c.Offset}, &r, func() { dec.Decode(&c, &r) })
		for i := range r.Errors {
			r.Errors[i].Err = nil // a Go value of this process: its Reason says it
		}
		rep := childReply{Events: r.Events, Census: r.Census.Rows(), Records: r.Records, ChunkDecoded: r.Chunks.Decoded == 1, Errors: r.Errors}
		if err := writeReply(out, &reply, enc, &rep); err != nil {
			return err
		}
	}
}

// writeReply writes v as a reply frame to out, encoded by enc, which
// writes to buf.
func writeReply(out io.Writer, buf *bytes.Buffer, enc *gob.Encoder, v any) error {
	buf.Reset()
	buf.Write([]byte{0, 0, 0, 0})
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("encoding the reply: %w", err)
	}
	b := buf.Bytes()
	binary.LittleEndian.PutUint32(b, uint32(len(b)-4))
	_, err := out.Write(b)
	return err
}
