package main

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/evtxhunt/evtxhunt/parser"
)

// progress shows bytes of evidence read, files done, rate and time left on
// stderr, when stderr is a terminal and --quiet is not given.
type progress struct {
	bar   *progressbar.ProgressBar
	files int
	done  int
}

func newProgress(stderr io.Writer, quiet bool, files []string) *progress {
	f, ok := stderr.(*os.File)
	if quiet || !ok || !term.IsTerminal(int(f.Fd())) {
		return &progress{}
	}
	var total int64
	for _, path := range files {
		if info, err := os.Stat(path); err == nil {
			total += info.Size()
		}
	}
	p := &progress{files: len(files)}
	p.bar = progressbar.NewOptions64(total, progressbar.OptionSetWriter(stderr), progressbar.OptionShowBytes(true),
		progressbar.OptionSetPredictTime(true), progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionSetDescription(p.describe()), progressbar.OptionClearOnFinish(), progressbar.OptionSetWidth(30))
	return p
}

func (p *progress) describe() string { return fmt.Sprintf("files %d/%d", p.done, p.files) }

// hooks fills the scanner options that report progress.
func (p *progress) hooks(o parser.Options) parser.Options {
	if p.bar == nil {
		return o
	}
	o.Progress = func(n int64) { p.bar.Add64(n) }
	o.FileDone = func(*parser.FileStats) {
		p.done++
		p.bar.Describe(p.describe())
	}
	return o
}

func (p *progress) finish() {
	if p.bar != nil {
		p.bar.Finish()
	}
}
