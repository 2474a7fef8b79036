package main

import (
	"errors"
	"flag"
	"fmt"

	"github.com/evtxhunt/evtxhunt/parser"
)

// decodeFlags are the flags every command that reads evidence has.
type decodeFlags struct {
	workers int
	decoder string
}

func (d *decodeFlags) register(fs *flag.FlagSet) {
	fs.IntVar(&d.workers, "workers", 0, "chunks decoded in parallel (default: number of CPUs)")
	fs.StringVar(&d.decoder, "decoder", parser.DecoderNative, "chunk `decoder`: native (hands what it cannot read to golang-evtx) or golang-evtx")
}

func (d *decodeFlags) check() error {
	if !parser.ValidDecoder(d.decoder) {
		return fmt.Errorf("--decoder %q: want native or golang-evtx", d.decoder)
	}
	if d.workers < 0 {
		return fmt.Errorf("--workers must be positive, got %d", d.workers)
	}
	return nil
}

// options are the scanner options the flags give.
func (d *decodeFlags) options() parser.Options {
	return parser.Options{Workers: d.workers, Decoder: d.decoder}
}

// parseEvidenceArgs parses a command's flags and returns its evidence paths,
// refusing none and bad decoder flags.
func parseEvidenceArgs(fs *flag.FlagSet, dec *decodeFlags, args []string) ([]string, error) {
	paths, err := parseFlags(fs, args)
	if err != nil {
		return nil, err
	}
	if len(paths) == 0 {
		return nil, errors.New("no evidence path given")
	}
	return paths, dec.check()
}
