package main

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	w "github.com/evtxhunt/evtxhunt/parser/evtxwrite"
)

// streamTo makes a log write straight to a file.
func streamTo(l *logFile, path string) (*os.File, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	l.stream = w.NewWriterFrom(f, l.firstID)
	return f, nil
}

func closeStream(l *logFile, f *os.File) error {
	err := l.err
	if cerr := l.stream.Close(); err == nil {
		err = cerr
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// runUntil lets the host live, a minute at a time, until done says stop.
func runUntil(h *host, done func() bool) {
	t := h.clock
	for !done() {
		t = t.Add(time.Minute)
		h.noiseUntil(t)
	}
}

// generateLargeLog writes one Security log of about size bytes with a
// realistic mix: process creations are a few percent of the records, most
// are network connections and logons.
func generateLargeLog(path string, seed uint64, size int64) error {
	return streamLargeLog(path, seed, size, nil)
}

// streamLargeLog is generateLargeLog telling written, when not nil, each
// event and its record id.
func streamLargeLog(path string, seed uint64, size int64, written func(ev *w.Event, id uint64)) error {
	h := newHost("BENCH01", "10.0.50.10", 2, false, seed)
	f, err := streamTo(h.sec, path)
	if err != nil {
		return err
	}
	h.sec.written = written
	h.extraNoise = 8
	h.boot(day.Add(6 * time.Hour))
	h.logon(day.Add(7*time.Hour), acctAlice, 2, "127.0.0.1")
	runUntil(h, func() bool { return h.sec.stream.Size() >= size || h.sec.err != nil })
	return closeStream(h.sec, f)
}

// generateFleet writes a collection of hosts, each with a Security log and a
// Sysmon log, size bytes in all.
func generateFleet(root string, seed uint64, size int64, hosts int) error {
	per := size / int64(hosts)
	for i := range hosts {
		name := fmt.Sprintf("HOST%04d", i+1)
		h := newHost(name, fmt.Sprintf("10.1.%d.%d", i/250, 1+i%250), 2, true, seed+uint64(i))
		h.extraNoise = 2
		sf, err := streamTo(h.sec, filepath.Join(root, filepath.FromSlash(h.sec.rel)))
		if err != nil {
			return err
		}
		yf, err := streamTo(h.sysmon, filepath.Join(root, filepath.FromSlash(h.sysmon.rel)))
		if err != nil {
			return err
		}
		h.boot(day.Add(6 * time.Hour))
		h.logon(day.Add(7*time.Hour), acctAlice, 2, "127.0.0.1")
		runUntil(h, func() bool {
			return h.sec.stream.Size()+h.sysmon.stream.Size() >= per || h.sec.err != nil || h.sysmon.err != nil
		})
		if err := closeStream(h.sec, sf); err != nil {
			return err
		}
		if err := closeStream(h.sysmon, yf); err != nil {
			return err
		}
	}
	return nil
}
