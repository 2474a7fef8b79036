package parser

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/gob"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Isolation configures the child process golang-evtx runs in (see
// DecodeChildCommand). The zero value is the default.
type Isolation struct {
	// Command starts a child: a program and its arguments. Empty means
	// this executable with DecodeChildCommand, which cmd/evtxhunt
	// dispatches, and test binaries serve through RunTests.
	Command []string
	// ChunkTimeout is the wall time the child may take over one chunk; past
	// it the child is killed. Zero means DefaultChunkTimeout.
	ChunkTimeout time.Duration
	// MemoryLimit is how many bytes the child may allocate beyond what the
	// Go runtime takes at start. Zero means DefaultMemoryLimit.
	MemoryLimit int64
}

// Defaults of Isolation. golang-evtx reads a chunk in milliseconds and a
// few megabytes; the margins are for busy machines, not for the library.
const (
	DefaultChunkTimeout = 5 * time.Second
	DefaultMemoryLimit  = 256 << 20
)

// withDefaults fills in the defaults. A command that cannot be found is
// left empty, and every chunk that needs the child reports why.
func (iso Isolation) withDefaults() (Isolation, error) {
	if iso.ChunkTimeout <= 0 {
		iso.ChunkTimeout = DefaultChunkTimeout
	}
	if iso.MemoryLimit <= 0 {
		iso.MemoryLimit = DefaultMemoryLimit
	}
	if len(iso.Command) > 0 {
		return iso, nil
	}
	exe, err := os.Executable()
	if err != nil {
		return iso, fmt.Errorf("cannot find this program to start golang-evtx's process: %w", err)
	}
	iso.Command = []string{exe, DecodeChildCommand}
	return iso, nil
}

// maxReply bounds a reply frame. A chunk's events take far less; a larger
// reply is garbage, or a chunk crafted to multiply its text.
const maxReply = 16 << 20

// childDecoder is the chunkDecoder that hands chunks to golang-evtx in a
// child process. The child is started at the first chunk and again after it
// dies. Whatever the child does or says, a chunk it fails on is one error
// and the scan goes on.
type childDecoder struct {
	ctx      context.Context
	iso      Isolation
	startErr error // from withDefaults: the child cannot be started
	proc     *childProcess
	req      []byte
}

func newChildDecoder(ctx context.Context, iso Isolation, startErr error) *childDecoder {
	return &childDecoder{ctx: ctx, iso: iso, startErr: startErr}
}

// childProcess is one running child.
type childProcess struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stdout io.ReadCloser
	stderr *stderrHead
	// The replies are one gob stream, read a frame at a time: the decoder
	// reads frame and nothing past it.
	frame   bytes.Buffer
	replies *gob.Decoder
}

// Decode decodes a chunk in the child.
func (d *childDecoder) Decode(c *chunk, r *chunkResult) { d.decode(c, r, nil) }

// decode decodes a chunk in the child; refused, when set, says why the
// native decoder handed it over, for the error should the child fail too.
func (d *childDecoder) decode(c *chunk, r *chunkResult, refused error) {
	rep, err := d.roundTrip(c)
	if err != nil {
		r.Records.Decoded = 0
		r.Records.Failed = uint64(len(c.Records))
		r.Chunks.Failed = 1
		if refused != nil {
			err = fmt.Errorf("%w; then %w", refused, err)
		}
		r.chunkError(c, KindChild, err)
		return
	}
	for i := range rep.Events {
		ev := &rep.Events[i]
		ev.File, ev.Chunk = c.file, c.Index
		r.Events = append(r.Events, *ev)
	}
	for _, row := range rep.Census {
		r.Census[row.CensusKey] += row.Records
	}
	r.Records.Decoded, r.Records.Failed = rep.Records.Decoded, rep.Records.Failed
	if rep.ChunkDecoded {
		r.Chunks.Decoded = 1
	} else {
		r.Chunks.Failed = 1
	}
	for _, e := range rep.Errors {
		e.File, e.Chunk = c.file, c.Index
		r.addError(e)
	}
}

// roundTrip sends c to the child, starting one if none runs, and reads its
// reply within the time limit. A child that fails, or whose reply breaks
// the protocol or does not fit the chunk, is ended: it may have been made
// to say anything, and the next chunk starts afresh.
func (d *childDecoder) roundTrip(c *chunk) (*childReply, error) {
	if d.proc == nil {
		if err := d.start(); err != nil {
			return nil, err
		}
	}
	p := d.proc
	p.stderr.reset()
	var overran atomic.Bool
	timer := time.AfterFunc(d.iso.ChunkTimeout, func() {
		overran.Store(true)
		p.cmd.Process.Kill()
	})
	rep, err := d.exchange(p, c)
	if err == nil {
		if bad := rep.check(c); bad != nil {
			err = &garbageError{bad}
		}
	}
	if !timer.Stop() && err == nil {
		err = errors.New("killed") // the reply came as the time ran out
	}
	if err == nil {
		return rep, nil
	}
	d.proc = nil
	return nil, p.failed(err, overran.Load(), fmt.Sprintf("%v on this chunk", d.iso.ChunkTimeout))
}

// failed ends a child whose reply did not come or came wrong, and says why:
// it answered garbage, overran its time limit (limit says which), or died.
func (p *childProcess) failed(err error, overran bool, limit string) error {
	state := p.kill()
	var garbage *garbageError
	switch {
	case errors.As(err, &garbage):
		return fmt.Errorf("golang-evtx's process answered garbage: %v", garbage.err)
	case overran:
		return fmt.Errorf("golang-evtx's process exceeded %s and was killed", limit)
	}
	return fmt.Errorf("golang-evtx's process died (%s)%s", state, p.stderr.why())
}

// garbageError is a reply that breaks the protocol.
type garbageError struct{ err error }

func (g *garbageError) Error() string { return g.err.Error() }

// exchange writes c's request and reads the reply.
func (d *childDecoder) exchange(p *childProcess, c *chunk) (*childReply, error) {
	d.req = appendRequest(d.req[:0], c)
	if _, err := p.stdin.Write(d.req); err != nil {
		return nil, err
	}
	rep := &childReply{}
	return rep, p.readReply(rep)
}

// readReply reads one reply frame into v.
func (p *childProcess) readReply(v any) error {
	var head [4]byte
	if _, err := io.ReadFull(p.stdout, head[:]); err != nil {
		return err
	}
	n := binary.LittleEndian.Uint32(head[:])
	if n > maxReply {
		return &garbageError{fmt.Errorf("a reply of %d bytes, over the limit of %d", n, maxReply)}
	}
	p.frame.Reset()
	if _, err := io.CopyN(&p.frame, p.stdout, int64(n)); err != nil {
		return err
	}
	if err := p.replies.Decode(v); err != nil {
		return &garbageError{fmt.Errorf("a reply of %d bytes that does not decode: %v", n, err)}
	}
	if p.frame.Len() > 0 {
		return &garbageError{fmt.Errorf("a reply of %d bytes with %d bytes after its message", n, p.frame.Len())}
	}
	return nil
}

// start starts a child.
func (d *childDecoder) start() error {
	if d.startErr != nil {
		return d.startErr
	}
	p, err := startChild(d.ctx, d.iso, "")
	d.proc = p
	return err
}

// startChild starts a child that does job (see childJobEnv).
func startChild(ctx context.Context, iso Isolation, job string) (*childProcess, error) {
	if isDecodeChild() {
		return nil, errors.New("a decoding child does not start another")
	}
	cmd := exec.CommandContext(ctx, iso.Command[0], iso.Command[1:]...)
	cmd.Env = append(os.Environ(), decodeChildEnv+"="+strconv.FormatInt(iso.MemoryLimit, 10), childJobEnv+"="+job)
	stderr := &stderrHead{}
	cmd.Stderr = stderr
	cmd.WaitDelay = time.Second // a grandchild holding stderr open must not hold up Wait
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("cannot start golang-evtx's process: %w", err)
	}
	p := &childProcess{cmd: cmd, stdin: stdin, stdout: stdout, stderr: stderr}
	p.replies = gob.NewDecoder(&p.frame)
	return p, nil
}

// stop kills the child, waits for it and says how it ended.
func (d *childDecoder) stop() string {
	p := d.proc
	if p == nil {
		return ""
	}
	d.proc = nil
	return p.kill()
}

// kill kills the child, waits for it and says how it ended.
func (p *childProcess) kill() string {
	p.cmd.Process.Kill()
	p.cmd.Wait()
	return p.cmd.ProcessState.String()
}

// close ends the child: it exits when its input ends, or is killed after a
// grace period.
func (d *childDecoder) close() {
	p := d.proc
	if p == nil {
		return
	}
	d.proc = nil
	p.stdin.Close()
	timer := time.AfterFunc(time.Second, func() { p.cmd.Process.Kill() })
	p.cmd.Wait()
	timer.Stop()
}

// stderrHead keeps the start of what a child wrote to stderr since the last
// reset: the Go runtime says there why it aborted.
type stderrHead struct {
	mu  sync.Mutex
	buf []byte
}

const stderrKept = 4096

func (s *stderrHead) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if room := stderrKept - len(s.buf); room > 0 {
		s.buf = append(s.buf, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

func (s *stderrHead) reset() {
	s.mu.Lock()
	s.buf = s.buf[:0]
	s.mu.Unlock()
}

// why picks the line of stderr that says why the child died: the runtime's
// "fatal error:" or a panic, else the first line.
func (s *stderrHead) why() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	lines := strings.Split(string(s.buf), "\n")
	pick := ""
	for _, l := range lines {
		l = strings.TrimSpace(l)
		if strings.HasPrefix(l, "fatal error:") || strings.HasPrefix(l, "panic:") {
			pick = l
			break
		}
		if pick == "" {
			pick = l
		}
	}
	if pick == "" {
		return ""
	}
	if len(pick) > 200 {
		pick = pick[:200]
	}
	return fmt.Sprintf(": %q", pick)
}

// check holds a reply to what chunk c can yield. The child reads hostile
// bytes and can be made to write anything; nothing it says is used before
// it passes here.
func (rep *childReply) check(c *chunk) error {
	records := uint64(len(c.Records))
	if rep.Records.Decoded > records || rep.Records.Failed > records || rep.Records.Decoded+rep.Records.Failed != records {
		return fmt.Errorf("%d records decoded and %d failed of %d", rep.Records.Decoded, rep.Records.Failed, records)
	}
	if rep.ChunkDecoded && rep.Records.Decoded == 0 {
		return errors.New("a chunk decoded without a record")
	}
	var census uint64
	for _, row := range rep.Census {
		if row.Records == 0 || row.Records > records {
			return fmt.Errorf("a census row of %d records", row.Records)
		}
		census += row.Records
	}
	if census != rep.Records.Decoded {
		return fmt.Errorf("a census of %d records for %d decoded", census, rep.Records.Decoded)
	}
	if uint64(len(rep.Events)) > rep.Records.Decoded {
		return fmt.Errorf("%d events from %d records", len(rep.Events), rep.Records.Decoded)
	}
	next := 0 // events come in record order, one at most per record
	for i := range rep.Events {
		ev := &rep.Events[i]
		for next < len(c.Records) && c.Offset+int64(c.Records[next].Offset) != ev.Offset {
			next++
		}
		if next == len(c.Records) || c.Records[next].ID != ev.RecordNumber {
			return fmt.Errorf("event %d at offset 0x%x, record number %d, is no record of the chunk in order", i, ev.Offset, ev.RecordNumber)
		}
		next++
		switch ev.Source {
		case SourceSecurity4688, SourceSecurity4689, SourceSysmon1, SourceSysmon5:
		default:
			return fmt.Errorf("event %d of source %q", i, ev.Source)
		}
	}
	// Per record at most: a record error, or a note that it was decoded
	// with errors and one error per number field; per chunk a template
	// table error and a panic.
	if max := 16*records + 2; uint64(len(rep.Errors)) > max {
		return fmt.Errorf("%d errors for %d records", len(rep.Errors), records)
	}
	for i := range rep.Errors {
		e := &rep.Errors[i]
		switch e.Kind {
		case KindRecord, KindRecordField, KindPanic, KindChunkHeader:
		default:
			return fmt.Errorf("an error of kind %q", e.Kind)
		}
		if e.Offset < c.Offset || e.Offset >= c.Offset+int64(len(c.Data)) {
			return fmt.Errorf("an error at offset 0x%x, outside the chunk", e.Offset)
		}
	}
	return nil
}
