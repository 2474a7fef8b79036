package parser

import (
	"bytes"
	"context"
	"encoding/gob"
	"errors"
	"fmt"
	"io"
	"log"
	"sync/atomic"
	"time"

	golangevtx "github.com/0xrawsec/golang-evtx/evtx"

	"github.com/evtxhunt/evtxhunt/parser/evidence"
)

// The benchmark baseline: golang-evtx reading a whole file with its own
// FastEvents, as a program that trusts the library would. evtxhunt never
// reads evidence that way; `evtxhunt bench` measures it to compare with.
// FastEvents panics in goroutines of its own on crafted files, and recurses
// or allocates as the decoding does, so it runs in a child process too: the
// same child, started for jobFastEvents.

// jobFastEvents is the childJobEnv of a baseline child.
const jobFastEvents = "fast-events"

// baselineGrace is how long past its deadline a baseline child may take to
// stop before it is killed.
const baselineGrace = 5 * time.Second

type baselineRequest struct {
	Path     string
	Deadline time.Time
}

type baselineReply struct {
	Records int64
	Whole   bool   // read to its end before the deadline
	Err     string // the file could not be opened or read as EVTX
}

// FastEventsBaseline reads path with golang-evtx's FastEvents in a child
// process (iso's command, memory limit; its ChunkTimeout is not used) until
// the file ends or the deadline passes. It returns the records read and
// whether that was the whole file. A child that dies, answers garbage or
// does not stop within 5 seconds of the deadline is an error saying so.
func FastEventsBaseline(ctx context.Context, path string, deadline time.Time, iso Isolation) (records int64, whole bool, err error) {
	if iso, err = iso.withDefaults(); err != nil {
		return 0, false, err
	}
	p, err := startChild(ctx, iso, jobFastEvents)
	if err != nil {
		return 0, false, err
	}
	var overran atomic.Bool
	timer := time.AfterFunc(time.Until(deadline)+baselineGrace, func() {
		overran.Store(true)
		p.cmd.Process.Kill()
	})
	err = gob.NewEncoder(p.stdin).Encode(baselineRequest{path, deadline})
	p.stdin.Close()
	var rep baselineReply
	if err == nil {
		err = p.readReply(&rep)
	}
	if !timer.Stop() && err == nil {
		err = errors.New("killed") // the reply came as the time ran out
	}
	if err != nil {
		return 0, false, p.failed(err, overran.Load(), fmt.Sprintf("its deadline by %v", baselineGrace))
	}
	p.kill()
	if rep.Err != "" {
		return rep.Records, false, errors.New(rep.Err)
	}
	return rep.Records, rep.Whole, nil
}

// serveFastEvents is a baseline child: it reads one baselineRequest from
// in and writes one baselineReply to out.
func serveFastEvents(in io.Reader, out io.Writer) error {
	var req baselineRequest
	if err := gob.NewDecoder(in).Decode(&req); err != nil {
		return fmt.Errorf("reading the request: %w", err)
	}
	log.SetOutput(io.Discard) // the library's messages would crowd out why it died
	rep := fastEvents(req)
	var buf bytes.Buffer
	return writeReply(out, &buf, gob.NewEncoder(&buf), &rep)
}

func fastEvents(req baselineRequest) (rep baselineReply) {
	// The file stays open: FastEvents's goroutines may still read it when
	// the deadline passes, until the process ends.
	f, err := evidence.OS{}.Open(req.Path)
	if err != nil {
		rep.Err = err.Error()
		return rep
	}
	info, err := f.Stat()
	if err != nil {
		rep.Err = err.Error()
		return rep
	}
	ef, err := openGolangEvtx(io.NewSectionReader(f, 0, info.Size()))
	if err != nil {
		rep.Err = fmt.Sprintf("golang-evtx cannot read %s: %v", req.Path, err)
		return rep
	}
	for range ef.FastEvents() {
		rep.Records++
		if rep.Records%4096 == 0 && time.Now().After(req.Deadline) {
			return rep
		}
	}
	rep.Whole = true
	return rep
}

// openGolangEvtx reads the file header; the library panics on some.
func openGolangEvtx(f io.ReadSeeker) (ef golangevtx.File, err error) {
	defer recoverAs(&err)
	return golangevtx.New(f)
}
