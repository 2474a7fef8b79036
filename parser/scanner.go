package parser

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/evtxhunt/evtxhunt/parser/evidence"
	"github.com/evtxhunt/evtxhunt/parser/evtx"
)

// Options configure a Scanner.
type Options struct {
	// Workers is the number of chunks decoded at once; 0 means GOMAXPROCS.
	Workers int
	// Progress, when set, is called with the number of evidence bytes read
	// each time more are read, from the scanner's reading or hashing
	// goroutine: it must be safe for concurrent use.
	Progress func(bytes int64)
	// FileDone, when set, is called with each file's stats as it is
	// finished, on the goroutine that called Scan.
	FileDone func(*FileStats)
	// Decoder names the chunk decoder: DecoderNative (the default), which
	// hands a chunk it cannot read to golang-evtx, or DecoderGolangEvtx.
	// golang-evtx always runs in a child process, as Isolation says.
	Decoder string
	// Isolation configures golang-evtx's child process.
	Isolation Isolation
	// Opener opens the files Scan is given; nil means evidence.OS, the
	// files of the operating system. The names given to Scan are passed to
	// it as they are, and reported as they are.
	Opener evidence.Opener
}

// Scanner reads EVTX files chunk by chunk, decodes chunks in parallel in a
// bounded pool of goroutines it owns, and hands out process events in file,
// chunk and record order.
type Scanner struct {
	decoder   string
	workers   int
	progress  func(int64)
	fileDone  func(*FileStats)
	isolation Isolation
	childErr  error // why no child can be started, if so
	opener    evidence.Opener
}

// NewScanner returns a Scanner with the given options.
func NewScanner(o Options) *Scanner {
	s := &Scanner{decoder: o.Decoder, workers: o.Workers, progress: o.Progress, fileDone: o.FileDone, opener: o.Opener}
	if s.opener == nil {
		s.opener = evidence.OS{}
	}
	s.isolation, s.childErr = o.Isolation.withDefaults()
	if s.workers <= 0 {
		s.workers = runtime.GOMAXPROCS(0)
	}
	return s
}

// job is one chunk slot on its way through the pool, or the end of a file.
type job struct {
	file   *fileRead
	slot   slot
	data   []byte // the slot's bytes read, in buf
	buf    []byte
	result chunkResult
	done   chan struct{}
	end    bool // no chunk: the file's last job, carrying what the reader learnt
	refs   atomic.Int32
}

// release gives the job's buffer back once both its decoder and the hasher
// are done with it.
func (j *job) release(bufs chan<- []byte) {
	if j.refs.Add(-1) == 0 {
		bufs <- j.buf
		j.buf = nil
	}
}

// fileRead is what the reading goroutine learns about a file. header is set
// before the file's first chunk is sent, the rest before its end marker.
type fileRead struct {
	path   string
	header *evtx.FileHeader
	opened fs.FileInfo // of the source read, at open
	size   int64       // at open: what is read, and what the SHA-256 covers
	errors []DecodeError
	unread int // chunk slots not read
	// unhashed says why the SHA-256 does not stand for the file: not every
	// byte of it was read.
	unhashed string
	// Set by the hashing goroutine, which closes hashed when it is done.
	sha256    string
	hashErrs  []DecodeError
	hashUnfit string // as unhashed: the rest could not be read, or the file changed
	hashCut   bool   // the scan stopped before the rest was read
	hashed    chan struct{}
	// Kept by the consumer, in slot order: all-zero slots inside the
	// header's chunk count that no chunk with records has followed yet.
	zeroSlots []slot
}

// slot is where a chunk slot is in its file.
type slot struct {
	index  int
	offset int64
}

// Scan decodes the files in the order given and calls emit for each process
// event, in (file, chunk, record) order. The event is only valid during the
// call. It returns the stats of every file, in the same order. Damaged
// evidence is not an error: it is counted in the stats.
//
// An error from emit or a cancelled ctx stops the scan within a read and a
// chunk's decoding, and is returned with the stats of the files read until
// then: the last one's say where the scan stopped (KindStopped) and which
// slots were not read. The files after it are not in the stats.
func (s *Scanner) Scan(ctx context.Context, files []string, emit func(*ProcessEvent) error) ([]*FileStats, error) {
	var wg sync.WaitGroup
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	window := 2 * s.workers
	ordered := make(chan *job, window) // in file order, decoded or not: bounds memory
	work := make(chan *job)
	bufs := make(chan []byte, window+s.workers+1)
	for range cap(bufs) {
		bufs <- make([]byte, evtx.ChunkSize)
	}

	hashes := make(chan hashItem, window)
	wg.Go(func() { s.read(ctx, files, ordered, work, hashes, bufs) })
	wg.Go(func() { s.hash(ctx, hashes, bufs) })
	for range s.workers {
		wg.Go(func() { s.decodeChunks(ctx, work, bufs) })
	}

	var c collector
	err := c.collect(ctx, ordered, emit, s.fileDone)
	cancel()
	wg.Wait() // within a read and a chunk's decoding of the cancel
	if c.cur != nil {
		c.all = append(c.all, c.stopped(err))
	}
	return c.all, err
}

// collector gathers the files' stats from their jobs, in order.
type collector struct {
	all   []*FileStats
	cur   *FileStats // of the file being read, nil between files
	fr    *fileRead  // of the file being read
	next  int        // the slot after the last one merged
	ended bool       // the file's end marker has come
}

// collect merges the jobs as they come and emits their events, until every
// file is done, ctx is cancelled or emit fails; it says why it stopped.
func (c *collector) collect(ctx context.Context, ordered <-chan *job, emit func(*ProcessEvent) error, fileDone func(*FileStats)) error {
	for j := range ordered {
		if c.cur == nil {
			c.cur, c.fr, c.next, c.ended = newFileStats(j.file.path), j.file, 0, false
		}
		if j.end {
			c.ended = true
			select {
			case <-j.file.hashed:
			case <-ctx.Done():
				return ctx.Err()
			}
			if j.file.hashCut {
				return ctx.Err() // the hasher stopped for it
			}
			finishFile(c.cur, j.file)
			c.all = append(c.all, c.cur)
			if fileDone != nil {
				fileDone(c.cur)
			}
			c.cur = nil
			continue
		}
		select {
		case <-j.done:
		case <-ctx.Done():
			return ctx.Err()
		}
		mergeChunk(c.cur, j)
		c.next = j.slot.index + 1
		for i := range j.result.Events {
			if err := emit(&j.result.Events[i]); err != nil {
				return err
			}
		}
	}
	return ctx.Err()
}

// stopped ends the stats of the file the scan stopped in, for the reason
// why, once the scan's goroutines are done with it: the slots not merged
// are unread, and no SHA-256 stands for the file, unless all of it was read
// and hashed.
func (c *collector) stopped(why error) *FileStats {
	fs, fr := c.cur, c.fr
	select {
	case <-fr.hashed:
		if c.ended && !fr.hashCut {
			finishFile(fs, fr)
			return fs
		}
	default:
	}
	fs.Size, fs.Header = fr.size, fr.header
	reason := fmt.Sprintf("the scan stopped before the file was read whole (%v)", why)
	off := int64(0)
	if fr.header != nil && fr.size >= evtx.FileHeaderSize {
		slots := evtx.ChunkSlots(fr.size)
		fs.Chunks.Unread = slots - fs.Chunks.Slots
		fs.Chunks.Slots = slots
		if c.next < slots {
			off = evtx.FileHeaderSize + int64(c.next)*evtx.ChunkSize
			reason += fmt.Sprintf(": %d chunk slots from chunk %d on are not read", slots-c.next, c.next)
		}
	}
	fs.SHA256Omitted = "the scan stopped before the file was read whole"
	for _, e := range fr.errors {
		fs.addError(e)
	}
	fs.addError(DecodeError{File: fr.path, Kind: KindStopped, Offset: off, Chunk: -1, Reason: reason, Err: why})
	slices.SortStableFunc(fs.Errors, func(a, b DecodeError) int { return cmp.Compare(a.Offset, b.Offset) })
	return fs
}

// read is the goroutine that reads the files: every chunk slot in order,
// handed both to the hashing goroutine and to the decoders.
func (s *Scanner) read(ctx context.Context, files []string, ordered, work chan<- *job, hashes chan<- hashItem, bufs chan []byte) {
	defer close(ordered)
	defer close(work)
	defer close(hashes)
	send := func(j *job, to chan<- *job) bool {
		select {
		case to <- j:
			return true
		case <-ctx.Done():
			return false
		}
	}
	for _, path := range files {
		fr := &fileRead{path: path, hashed: make(chan struct{})}
		ok := s.readFile(ctx, fr, func(j *job) bool { return send(j, ordered) && send(j, work) }, hashes, bufs)
		if !ok || !send(&job{file: fr, end: true}, ordered) {
			return
		}
	}
}

// readFile reads one file's slots, calling dispatch for each; it returns false
// when the scan was cancelled. The hashing goroutine gets every byte, in
// order, and the file to close at the end. Every read must return all the
// bytes asked for: the size was taken when the file was opened, so fewer
// mean that the file shrank while read.
func (s *Scanner) readFile(ctx context.Context, fr *fileRead, dispatch func(*job) bool, hashes chan<- hashItem, bufs chan []byte) bool {
	fail := func(kind ErrorKind, off int64, err error) {
		reason := err.Error()
		var p *evtx.FormatError
		if errors.As(err, &p) {
			reason = p.Err.Error() + ": " + p.Detail // its place is the error's Offset
		}
		fr.errors = append(fr.errors, DecodeError{File: fr.path, Kind: kind, Offset: off, Chunk: -1, Reason: reason, Err: err})
	}
	f, info, err := s.open(fr.path) // read-only: evidence is never written
	if err != nil {
		fail(KindFile, 0, err)
		fr.unhashed = "the file could not be opened"
		close(fr.hashed)
		return true
	}
	fr.opened, fr.size = info, info.Size()
	sum := sha256.New()
	hash := func(it hashItem) bool {
		it.sum, it.fr = sum, fr
		select {
		case hashes <- it:
			return true
		case <-ctx.Done():
			return false
		}
	}
	last := hashItem{done: true, file: f}
	defer func() {
		if !hash(last) { // cancelled: the hasher will not close it
			f.Close()
		}
	}()
	// shrank reports a read that ended early at off+n, where want bytes
	// were asked for: the slots from the first one not wholly read are lost.
	shrank := func(off int64, n, want int, slot int) {
		fail(KindChanged, off+int64(n), fmt.Errorf("the file shrank while read: it held %d bytes when opened, reading %d bytes at 0x%x gave %d", fr.size, want, off, n))
		fr.unread += evtx.ChunkSlots(fr.size) - slot
		fr.unhashed = "the file shrank while read"
	}

	head := make([]byte, min(evtx.FileHeaderSize, fr.size))
	n, err := f.ReadAt(head, 0)
	s.reportProgress(int64(n))
	switch {
	case n == len(head):
	case err == io.EOF:
		shrank(0, n, len(head), 0)
		return true
	default:
		fail(KindFile, 0, readError(n, len(head), err))
		fr.unread = evtx.ChunkSlots(fr.size)
		fr.unhashed = "the file header could not be read"
		return true
	}
	if !hash(hashItem{data: head}) {
		return false
	}
	h, err := evtx.ParseFileHeader(head)
	if err != nil {
		fail(KindFile, 0, err)
		last.rest = io.NewSectionReader(f, int64(len(head)), fr.size-int64(len(head)))
		return true
	}
	fr.header = &h
	if !h.ChecksumOK {
		fail(KindFileHeader, 0, errors.New("file header CRC32 does not match; header fields are not trusted"))
	}
	if fr.size < evtx.FileHeaderSize {
		fail(KindTruncated, 0, fmt.Errorf("file is %d bytes, shorter than its %d-byte header block", fr.size, evtx.FileHeaderSize))
		return true
	}
	for i, off := 0, int64(evtx.FileHeaderSize); off < fr.size; i, off = i+1, off+evtx.ChunkSize {
		if ctx.Err() != nil {
			return false
		}
		var buf []byte
		select {
		case buf = <-bufs:
		case <-ctx.Done():
			return false
		}
		want := int(min(evtx.ChunkSize, fr.size-off))
		n, err := f.ReadAt(buf[:want], off)
		s.reportProgress(int64(n))
		if n < want && err != io.EOF {
			// The device failed: this slot is lost, the next may read.
			bufs <- buf // taken from bufs just above, so there is room
			fail(KindFile, off, fmt.Errorf("reading chunk %d: %w", i, readError(n, want, err)))
			fr.unread++
			fr.unhashed = "some chunk slots could not be read"
			continue
		}
		if n > 0 { // a slot cut short by a shrinking file is read for what it holds
			j := &job{file: fr, slot: slot{i, off}, data: buf[:n], buf: buf, done: make(chan struct{})}
			j.refs.Store(2) // the hasher and a decoder
			if !hash(hashItem{data: buf[:n], job: j}) || !dispatch(j) {
				return false
			}
		} else {
			bufs <- buf
		}
		if n < want {
			shrank(off, n, want, i+min(n, 1))
			return true
		}
	}
	return true
}

// readError is the error of a read that gave n of want bytes: err, or when
// the source gave none, one that says so.
func readError(n, want int, err error) error {
	if err == nil {
		return fmt.Errorf("%d of %d bytes, and no error said why", n, want)
	}
	return err
}

// open opens a file and says what it is at open.
func (s *Scanner) open(name string) (evidence.Source, fs.FileInfo, error) {
	f, err := s.opener.Open(name)
	if err != nil {
		return nil, nil, err
	}
	info, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return f, info, nil
}

// hashItem is work for the hashing goroutine, in file order: bytes already
// read (data, whose job's buffer it then releases), or the rest of a file
// that is not decoded, and at the end the file to close.
type hashItem struct {
	sum  hash.Hash
	fr   *fileRead
	data []byte
	job  *job
	rest *io.SectionReader
	done bool
	file evidence.Source
}

// hash is the goroutine that computes every file's SHA-256, beside the
// decoders, so that hashing does not hold up reading. Once ctx is done it
// reads no more of a file, and closes the files it is given.
func (s *Scanner) hash(ctx context.Context, items <-chan hashItem, bufs chan<- []byte) {
	for it := range items {
		if it.data != nil {
			it.sum.Write(it.data)
		}
		if it.job != nil {
			it.job.release(bufs)
		}
		if !it.done {
			continue
		}
		fr := it.fr
		fail := func(kind ErrorKind, off int64, unfit string, err error) {
			fr.hashErrs = append(fr.hashErrs, DecodeError{File: fr.path, Kind: kind, Offset: off, Chunk: -1, Reason: err.Error(), Err: err})
			fr.hashUnfit = cmp.Or(fr.hashUnfit, unfit)
		}
		if it.rest != nil {
			_, start, _ := it.rest.Outer()
			n, err := io.Copy(it.sum, ctxReader{ctx, it.rest})
			s.reportProgress(n)
			switch {
			case ctx.Err() != nil:
				fr.hashCut = true
				fr.hashUnfit = "the scan stopped before the file was read whole"
			case err != nil:
				fail(KindFile, start+n, "the file could not be read to its end", err)
			case n < it.rest.Size():
				fail(KindChanged, start+n, "the file shrank while read", fmt.Errorf("the file shrank while read: it held %d bytes when opened, it ends at %d", fr.size, start+n))
			}
		}
		// Last, once every byte is read: a file that changed while it was
		// read was not read as it is, nor as it was.
		now, err := it.file.Stat()
		switch was := fr.opened; {
		case fr.hashCut: // not read to its end: nothing to compare
		case err != nil:
			fail(KindFile, 0, "the file could not be checked after reading", err)
		case now.Size() != was.Size() || !now.ModTime().Equal(was.ModTime()):
			fail(KindChanged, 0, "the file changed while read", fmt.Errorf("the file changed while read: %d bytes modified %s when opened, %d bytes modified %s after",
				was.Size(), was.ModTime().UTC().Format(TimeLayout), now.Size(), now.ModTime().UTC().Format(TimeLayout)))
		}
		fr.sha256 = hex.EncodeToString(it.sum.Sum(nil))
		it.file.Close()
		close(fr.hashed)
	}
}

// ctxReader reads from r until ctx is done, and then gives ctx's error.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

func (s *Scanner) reportProgress(n int64) {
	if s.progress != nil && n > 0 {
		s.progress(n)
	}
}

// Decoders a Scanner can use.
const (
	DecoderNative     = "native"
	DecoderGolangEvtx = "golang-evtx"
)

// ValidDecoder reports whether name is a decoder Options.Decoder accepts.
func ValidDecoder(name string) bool {
	return name == "" || name == DecoderNative || name == DecoderGolangEvtx
}

// decodeChunks is one worker of the pool. golang-evtx, when a chunk needs
// it, runs in the worker's own child process.
func (s *Scanner) decodeChunks(ctx context.Context, work <-chan *job, bufs chan<- []byte) {
	golang := newChildDecoder(ctx, s.isolation, s.childErr)
	defer golang.close()
	var dec chunkDecoder = golang
	if s.decoder != DecoderGolangEvtx {
		dec = newNativeDecoder(golang)
	}
	for j := range work {
		decodeChunk(dec, j)
		j.data = nil
		j.release(bufs)
		close(j.done)
	}
}

// decodeChunk checks and decodes one slot.
func decodeChunk(dec chunkDecoder, j *job) {
	r := &j.result
	r.reset()
	decodeGuarded(j.file.path, j.slot, r, func() {
		if c := inspectChunk(j.file.path, j.data, j.slot.index, j.slot.offset, r); c != nil {
			dec.Decode(c, r)
		}
	})
}

// decodeGuarded runs decode under recover. Decoders recover their own
// panics record by record; this is the last line, so that no input can
// stop the scan.
func decodeGuarded(file string, at slot, r *chunkResult, decode func()) {
	defer func() {
		if p := recover(); p != nil {
			r.Chunks.Failed = 1
			r.Records.Failed = r.Records.Seen - r.Records.Decoded
			r.addError(DecodeError{File: file, Kind: KindPanic, Offset: at.offset, Chunk: at.index, Reason: fmt.Sprintf("decoder panicked: %v", p), Err: &panicError{p}})
		}
	}()
	decode()
}

func mergeChunk(fs *FileStats, j *job) {
	r := &j.result
	c := &fs.Chunks
	c.add(r.Chunks)
	if h := j.file.header; h != nil && j.slot.index >= int(h.ChunkCount) && r.Records.Seen > 0 {
		c.PastHeaderCount++
	}
	// An all-zero slot among the chunks in use, inside the chunk count of
	// a header whose checksum holds and before a chunk that holds records,
	// was wiped: Windows allocates chunks in order and never zeroes one.
	// Past the last chunk with records, zero slots are space not yet used.
	fr := j.file
	switch h := fr.header; {
	case r.zero && h != nil && h.ChecksumOK && j.slot.index < int(h.ChunkCount):
		fr.zeroSlots = append(fr.zeroSlots, j.slot)
	case r.Records.Seen > 0:
		for _, z := range fr.zeroSlots {
			c.Empty--
			c.Wiped++
			fs.addError(DecodeError{File: fr.path, Kind: KindWipedChunk, Offset: z.offset, Chunk: z.index,
				Reason: fmt.Sprintf("chunk slot %d is all zeros, inside the header's count of %d chunks and before chunk %d, which holds records: wiped", z.index, h.ChunkCount, j.slot.index)})
		}
		fr.zeroSlots = fr.zeroSlots[:0]
	}
	fs.Records.add(r.Records)
	fs.Census.add(r.Census)
	for i := range r.Events {
		fs.ProcessEvents[r.Events[i].Source]++
	}
	for _, e := range r.Errors {
		fs.addError(e)
	}
}

func finishFile(fs *FileStats, fr *fileRead) {
	fs.Size = fr.size
	fs.Header = fr.header
	fs.Chunks.Slots += fr.unread
	fs.Chunks.Unread = fr.unread
	if why := cmp.Or(fr.unhashed, fr.hashUnfit); why != "" {
		fs.SHA256Omitted = why
	} else {
		fs.SHA256 = fr.sha256
	}
	for _, e := range slices.Concat(fr.errors, fr.hashErrs) {
		fs.addError(e)
	}
	slices.SortStableFunc(fs.Errors, func(a, b DecodeError) int { return cmp.Compare(a.Offset, b.Offset) })
}
