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
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
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
	// SkipOtherLogs stops decoding a file once its first chunk shows that
	// it is not a log that holds process creations (no record from the
	// Security auditing or Sysmon providers): the rest is hashed, counted as
	// skipped slots, and the file's stats say why.
	SkipOtherLogs bool
}

// Scanner reads EVTX files chunk by chunk, decodes chunks in parallel in a
// bounded pool of goroutines it owns, and hands out process events in file,
// chunk and record order.
type Scanner struct {
	decoder   string
	workers   int
	progress  func(int64)
	fileDone  func(*FileStats)
	skipOther bool
	isolation Isolation
	childErr  error // why no child can be started, if so
}

// NewScanner returns a Scanner with the given options.
func NewScanner(o Options) *Scanner {
	s := &Scanner{decoder: o.Decoder, workers: o.Workers, progress: o.Progress, fileDone: o.FileDone, skipOther: o.SkipOtherLogs}
	s.isolation, s.childErr = o.Isolation.withDefaults()
	if s.workers <= 0 {
		s.workers = runtime.GOMAXPROCS(0)
	}
	return s
}

// job is one chunk slot on its way through the pool, or the end of a file.
type job struct {
	file   *fileRead
	chunk  Chunk
	buf    []byte
	result ChunkResult
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
	header *FileHeader
	size   int64
	errors []DecodeError
	// Set by the hashing goroutine, which closes hashed when it is done.
	sha256  string
	hashErr *DecodeError
	hashed  chan struct{}
	// skipped says why the rest of the file was not decoded, and how many
	// slots that was.
	skipped      string
	skippedSlots int
}

// Scan decodes the files in the order given and calls emit for each process
// event, in (file, chunk, record) order. The event is only valid during the
// call. It returns the stats of every file, in the same order. Damaged
// evidence is not an error: it is counted in the stats. An error from emit or
// a cancelled ctx stops the scan and is returned.
func (s *Scanner) Scan(ctx context.Context, files []string, emit func(*ProcessEvent) error) ([]*FileStats, error) {
	var wg sync.WaitGroup
	defer wg.Wait() // after cancel, which runs first
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	window := 2 * s.workers
	ordered := make(chan *job, window) // in file order, decoded or not: bounds memory
	work := make(chan *job)
	bufs := make(chan []byte, window+s.workers+1)
	for range cap(bufs) {
		bufs <- make([]byte, ChunkSize)
	}

	hashes := make(chan hashItem, window)
	wg.Go(func() { s.read(ctx, files, ordered, work, hashes, bufs) })
	wg.Go(func() { s.hash(hashes, bufs) })
	for range s.workers {
		wg.Go(func() { s.decodeChunks(ctx, work, bufs) })
	}

	var all []*FileStats
	var cur *FileStats
	for j := range ordered {
		if cur == nil {
			cur = newFileStats(j.file.path)
		}
		if j.end {
			select {
			case <-j.file.hashed:
			case <-ctx.Done():
				return all, ctx.Err()
			}
			finishFile(cur, j.file)
			all = append(all, cur)
			if s.fileDone != nil {
				s.fileDone(cur)
			}
			cur = nil
			continue
		}
		select {
		case <-j.done:
		case <-ctx.Done():
			return all, ctx.Err()
		}
		mergeChunk(cur, j)
		for i := range j.result.Events {
			if err := emit(&j.result.Events[i]); err != nil {
				return all, err
			}
		}
	}
	return all, ctx.Err()
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
// order, and the file to close at the end.
func (s *Scanner) readFile(ctx context.Context, fr *fileRead, dispatch func(*job) bool, hashes chan<- hashItem, bufs chan []byte) bool {
	fail := func(kind ErrorKind, off int64, err error) {
		fr.errors = append(fr.errors, DecodeError{File: fr.path, Kind: kind, Offset: off, Chunk: -1, Reason: err.Error()})
	}
	f, err := os.Open(fr.path) // read-only: evidence is never written
	if err != nil {
		fail(ErrFile, 0, err)
		close(fr.hashed)
		return true
	}
	info, err := f.Stat()
	if err == nil && info.IsDir() {
		err = errors.New("is a directory")
	}
	if err != nil {
		fail(ErrFile, 0, err)
		f.Close()
		close(fr.hashed)
		return true
	}
	fr.size = info.Size()
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

	head := make([]byte, min(FileHeaderSize, fr.size))
	if _, err := f.ReadAt(head, 0); err != nil && err != io.EOF {
		fail(ErrFile, 0, err)
		return true
	}
	s.reportProgress(int64(len(head)))
	if !hash(hashItem{data: head}) {
		return false
	}
	h, err := parseFileHeader(head)
	if err != nil {
		fail(ErrFile, 0, err)
		last.rest = io.NewSectionReader(f, int64(len(head)), fr.size-int64(len(head)))
		return true
	}
	fr.header = &h
	if !h.ChecksumOK {
		fail(ErrFileHeader, 0, errors.New("file header CRC32 does not match; header fields are not trusted"))
	}
	if fr.size < FileHeaderSize {
		fail(ErrTruncated, 0, fmt.Errorf("file is %d bytes, shorter than its 4096-byte header block", fr.size))
		return true
	}
	for i, off := 0, int64(FileHeaderSize); off < fr.size; i, off = i+1, off+ChunkSize {
		var buf []byte
		select {
		case buf = <-bufs:
		case <-ctx.Done():
			return false
		}
		n, err := f.ReadAt(buf[:min(ChunkSize, fr.size-off)], off)
		j := &job{file: fr, buf: buf, done: make(chan struct{}),
			chunk: Chunk{File: fr.path, Index: i, Offset: off, Data: buf[:n]}}
		j.refs.Store(2) // the hasher and a decoder
		if err != nil && err != io.EOF {
			fail(ErrFile, off, fmt.Errorf("reading chunk %d: %w", i, err))
			j.refs.Store(1)
			if !hash(hashItem{data: buf[:n], job: j}) {
				return false
			}
			continue
		}
		s.reportProgress(int64(n))
		if !hash(hashItem{data: buf[:n], job: j}) || !dispatch(j) {
			return false
		}
		if i == 0 && s.skipOther && fr.size > FileHeaderSize+4*ChunkSize { // small files: nothing to save
			select {
			case <-j.done:
			case <-ctx.Done():
				return false
			}
			if reason := notProcessLog(&j.result); reason != "" {
				fr.skipped = reason
				rest := fr.size - off - int64(n)
				fr.skippedSlots = int((rest + ChunkSize - 1) / ChunkSize)
				last.rest = io.NewSectionReader(f, off+int64(n), rest)
				return true
			}
		}
	}
	return true
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
	file *os.File
}

// hash is the goroutine that computes every file's SHA-256, beside the
// decoders, so that hashing does not hold up reading.
func (s *Scanner) hash(items <-chan hashItem, bufs chan<- []byte) {
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
		if it.rest != nil {
			n, err := io.Copy(it.sum, it.rest)
			s.reportProgress(n)
			if err != nil {
				it.fr.hashErr = &DecodeError{File: it.fr.path, Kind: ErrFile, Offset: it.rest.Size() + n, Chunk: -1, Reason: err.Error()}
			}
		}
		it.fr.sha256 = hex.EncodeToString(it.sum.Sum(nil))
		it.file.Close()
		close(it.fr.hashed)
	}
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
	var dec ChunkDecoder = golang
	if s.decoder != DecoderGolangEvtx {
		dec = newNativeDecoder(golang)
	}
	for j := range work {
		decodeChunk(dec, j)
		j.chunk.Data = nil
		j.release(bufs)
		close(j.done)
	}
}

// decodeChunk checks and decodes one slot.
func decodeChunk(dec ChunkDecoder, j *job) {
	r := &j.result
	r.reset()
	decodeGuarded(&j.chunk, r, func() {
		if inspectChunk(&j.chunk, r) {
			dec.Decode(&j.chunk, r)
		}
	})
}

// decodeGuarded runs decode under recover. Decoders recover their own
// panics record by record; this is the last line, so that no input can
// stop the scan.
func decodeGuarded(c *Chunk, r *ChunkResult, decode func()) {
	defer func() {
		if p := recover(); p != nil {
			r.Chunks.Failed = 1
			r.Records.Failed = r.Records.Seen - r.Records.Decoded
			r.chunkError(c, ErrPanic, "decoder panicked: %v", p)
		}
	}()
	decode()
}

func mergeChunk(fs *FileStats, j *job) {
	r := &j.result
	c := &fs.Chunks
	c.Slots += r.Chunks.Slots
	c.Decoded += r.Chunks.Decoded
	c.Empty += r.Chunks.Empty
	c.BadMagic += r.Chunks.BadMagic
	c.HeaderCRCFailures += r.Chunks.HeaderCRCFailures
	c.DataCRCFailures += r.Chunks.DataCRCFailures
	c.Truncated += r.Chunks.Truncated
	c.Failed += r.Chunks.Failed
	c.Fallback += r.Chunks.Fallback
	if h := j.file.header; h != nil && j.chunk.Index >= int(h.ChunkCount) && r.Records.Seen > 0 {
		c.PastHeaderCount++
	}
	fs.Records.Seen += r.Records.Seen
	fs.Records.Decoded += r.Records.Decoded
	fs.Records.Failed += r.Records.Failed
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
	fs.SHA256 = fr.sha256
	fs.Header = fr.header
	if fr.hashErr != nil {
		fr.errors = append(fr.errors, *fr.hashErr)
	}
	fs.Skipped = fr.skipped
	fs.Chunks.Slots += fr.skippedSlots
	fs.Chunks.Skipped = fr.skippedSlots
	for _, e := range fr.errors {
		fs.addError(e)
	}
	slices.SortStableFunc(fs.Errors, func(a, b DecodeError) int { return cmp.Compare(a.Offset, b.Offset) })
}

// notProcessLog says why a file whose first chunk gave r holds no process
// creations, or "" when it may hold some. Logs keep one channel, so the first
// chunk tells; forwarded-event logs mix channels and are always read.
func notProcessLog(r *ChunkResult) string {
	if r.Records.Decoded == 0 {
		return ""
	}
	var channels []string
	for k := range r.Census {
		if _, ok := processSource(k.Provider, 1); ok || k.Channel == "ForwardedEvents" || strings.EqualFold(k.Provider, ProviderSecurityAuditing) {
			return ""
		}
		if !slices.Contains(channels, k.Channel) {
			channels = append(channels, k.Channel)
		}
	}
	slices.Sort(channels)
	return "not a process-creation log: its first chunk holds only " + strings.Join(channels, ", ") + " records"
}
