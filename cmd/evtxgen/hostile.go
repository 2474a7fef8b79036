package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	w "github.com/evtxhunt/evtxhunt/parser/evtxwrite"

	"github.com/evtxhunt/evtxhunt/parser"
)

// hostileCase is one crafted file of testdata/hostile: ordinary process
// creations in the chunks around chunks that attack the reader. Adding a
// case is adding an entry to hostileCases.
type hostileCase struct {
	name string // the file is name.evtx
	what string // the attack, for the manifest
	// chunks is how many hostile chunks the committed file holds.
	chunks int
	// write fills one hostile chunk; the generator starts a new chunk
	// before and after it.
	write func(wr *w.Writer, t time.Time) error
}

var hostileCases = []hostileCase{
	{
		name: "self-referencing-template", chunks: 1,
		what: "a template definition holding a template instance of itself (issue 12, item 1)",
		write: func(wr *w.Writer, t time.Time) error {
			_, err := wr.WriteSelfReferencingTemplate(t)
			return err
		},
	},
	{
		name: "negative-template-size", chunks: 1,
		what: fmt.Sprintf("template definitions of size %d, one of them placed so that stepping back by it reads its instance again (issue 12, item 2)", w.NegativeTemplateSize),
		write: func(wr *w.Writer, t time.Time) error {
			return wr.WriteNegativeTemplateSize(hostileProcess(t, 0))
		},
	},
	{
		name: "many-value-descriptors", chunks: 2,
		what: fmt.Sprintf("one record per chunk with %d value descriptors, most of them for values that are not there (issue 12, item 5)", manyDescriptors),
		write: func(wr *w.Writer, t time.Time) error {
			_, err := wr.WriteManyDescriptors(hostileProcess(t, 0), manyDescriptors)
			return err
		},
	},
}

const manyDescriptors = 15000

// hostileProcesses is how many ordinary process creations come before and
// after the hostile chunks.
const hostileProcesses = 20

// hostileManifest describes the crafted files, for the tests that scan them.
type hostileManifest struct {
	Description string             `json:"description"`
	Files       []hostileFileFacts `json:"files"`
}

type hostileFileFacts struct {
	File          string         `json:"file"`
	What          string         `json:"what"`
	HostileChunks []hostileChunk `json:"hostile_chunks"`
	// ProcessEvents is the number of 4688 records in the other chunks:
	// every one must be found.
	ProcessEvents int `json:"process_events"`
}

type hostileChunk struct {
	Index  int   `json:"index"`
	Offset int64 `json:"offset"`
}

// generateHostile writes every case whose name is only (all when empty) to
// dir, with chunks hostile chunks each (each case's own count when 0), and
// the manifest EXPECTED.json.
func generateHostile(dir, only string, chunks int) (*hostileManifest, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	m := &hostileManifest{Description: "crafted EVTX files that attack the reader; written by go generate ./cmd/evtxgen"}
	for _, c := range hostileCases {
		if only != "" && c.name != only {
			continue
		}
		n := c.chunks
		if chunks > 0 {
			n = chunks
		}
		facts, err := writeHostile(filepath.Join(dir, c.name+".evtx"), c, n)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", c.name, err)
		}
		m.Files = append(m.Files, facts)
	}
	if len(m.Files) == 0 {
		return nil, fmt.Errorf("no hostile case named %q", only)
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	return m, os.WriteFile(filepath.Join(dir, "EXPECTED.json"), append(b, '\n'), 0o644)
}

// writeHostile writes one case: a chunk of process creations, the hostile
// chunks, and another chunk of process creations.
func writeHostile(path string, c hostileCase, chunks int) (hostileFileFacts, error) {
	facts := hostileFileFacts{File: filepath.Base(path), What: c.what}
	f, err := os.Create(path)
	if err != nil {
		return facts, err
	}
	defer f.Close()
	wr := w.NewWriter(f)
	t := day.Add(9 * time.Hour)
	processes := func() error {
		for range hostileProcesses {
			t = t.Add(time.Second)
			if _, err := wr.Write(hostileProcess(t, facts.ProcessEvents+1)); err != nil {
				return err
			}
			facts.ProcessEvents++
		}
		return wr.EndChunk()
	}
	if err := processes(); err != nil {
		return facts, err
	}
	for range chunks {
		index := int(wr.Size() / parser.ChunkSize) // the header block is shorter than a chunk
		facts.HostileChunks = append(facts.HostileChunks, hostileChunk{index, parser.FileHeaderSize + int64(index)*parser.ChunkSize})
		t = t.Add(time.Second)
		if err := c.write(wr, t); err != nil {
			return facts, err
		}
		if err := wr.EndChunk(); err != nil {
			return facts, err
		}
	}
	if err := processes(); err != nil {
		return facts, err
	}
	if err := wr.Close(); err != nil {
		return facts, err
	}
	return facts, f.Close()
}

// hostileProcess is an ordinary 4688 process creation, the n-th of its file.
func hostileProcess(t time.Time, n int) *w.Event {
	user := w.Account{Domain: "CORP", Name: "alice", SID: "S-1-5-21-1004336348-1177238915-682003330-1104"}
	parent := w.Proc{PID: 0x1000, Image: `C:\Windows\explorer.exe`, User: user, LogonID: 0x3e7a1}
	child := w.Proc{PID: 0x2000 + 4*uint32(n), Image: `C:\Windows\System32\cmd.exe`, CommandLine: fmt.Sprintf(`cmd.exe /c echo %d`, n),
		User: user, LogonID: 0x3e7a1, Integrity: "Medium", Elevation: "%%1938"}
	return w.Security4688("HOSTILE01", t, 2, child, parent)
}
