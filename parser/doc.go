// Package parser reads process creations and exits from Windows event logs:
// Security 4688 and 4689, Sysmon 1 and 5, normalized into ProcessEvents,
// with an account of every file's parse health. It is the first stage of
// evtxhunt: its events feed the timeline.
//
// A Scanner reads the files it is given chunk by chunk: one goroutine reads
// and hashes each file in order, a pool of decoders reads the chunks, and the
// events come out in file, chunk and record order, whatever the number of
// workers. Memory does not grow with the evidence.
//
//	files, notRead := evidence.Find(paths)
//	s := parser.NewScanner(parser.Options{})
//	stats, err := s.Scan(ctx, files, func(ev *parser.ProcessEvent) error {
//		fmt.Println(ev.Time.Format(parser.TimeLayout), ev.Host, ev.Image)
//		return nil
//	})
//
// Evidence is hostile, and damaged evidence is not an error: each file's
// FileStats counts its chunks and records, lists its problems as
// DecodeErrors (a kind, the file offset, the chunk and record, the reason and
// its cause), gives the SHA-256 of its bytes only when every one was read,
// and says whether it changed while read. Sum adds them up.
//
// Chunks are read by evtxhunt's own decoder, which compiles each template
// once into the places of the fields it needs and skips the other records
// without allocating. A chunk it cannot read goes whole to golang-evtx, which
// runs in a child process of its own (see Isolation): crafted records make it
// recurse or allocate until the Go runtime aborts. The child is this very
// executable: a program that scans dispatches DecodeChildCommand to
// ServeDecodeChild, and a test binary that scans calls RunTests in TestMain.
//
// The packages below parser each own one concept: evtx the EVTX format
// (file header, chunks, records, binary XML tokens), evidence finding the
// files to read and opening them (Options.Opener takes other sources, such
// as disk images), winpath the Windows path forms records use, and
// evtxwrite the writer of EVTX files for tests and the evidence generator.
package parser
