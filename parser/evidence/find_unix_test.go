//go:build unix

package evidence

import (
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestFindNotRead: inside the evidence, named pipes, sockets and
// devices named like logs, dangling links and links out of the evidence are
// listed with the reason and never opened; links that stay inside are
// followed, and a link given as a path is a root.
func TestFindNotRead(t *testing.T) {
	root := t.TempDir()
	mkdir := func(rel string) string {
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	link := func(target, rel string) string {
		p := filepath.Join(root, rel)
		if err := os.Symlink(target, p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	logs, outside, other := mkdir("ev/HOST/Logs"), mkdir("outside"), mkdir("other")
	sec := filepath.Join(logs, "Security.evtx")
	secret := filepath.Join(outside, "secret.evtx")
	otherLog := filepath.Join(other, "System.evtx")
	for _, p := range []string{sec, secret, otherLog} {
		if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	pipe := filepath.Join(logs, "pipe.evtx")
	if err := syscall.Mkfifo(pipe, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(logs, "pipe.txt"), 0o644); err != nil { // not named like a log: not listed
		t.Fatal(err)
	}
	sock := filepath.Join(logs, "sock.evtx")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	shadow := link("/etc/shadow", "ev/HOST/Logs/shadow.evtx")
	zero := link("/dev/zero", "ev/HOST/Logs/zero.evtx")
	devNull := link("/dev/null", "ev/HOST/Logs/devnull.evtx") // /dev/null is given too: inside, and a device
	outDir := link(outside, "ev/HOST/outdir")
	dangling := link(filepath.Join(root, "gone.evtx"), "ev/HOST/Logs/dangling.evtx")
	link(sec, "ev/HOST/Logs/again.evtx")             // inside: the same file, read once
	link(filepath.Join(root, "ev"), "ev/HOST/loop")  // inside: a loop, which ends
	link(otherLog, "ev/HOST/Logs/other.evtx")        // into another root: followed
	link(filepath.Join(root, "ev"), "evlink")        // given as a path: a root
	link("/etc/passwd", "ev/HOST/Logs/passwd.txt")   // out, but not named like a log: not listed
	link(filepath.Join(root, "nothing"), "ev/stale") // dangling, whatever it was: listed

	type result struct {
		files   []string
		notRead []NotRead
	}
	done := make(chan result, 1)
	go func() {
		files, notRead := Find([]string{filepath.Join(root, "evlink"), other, "/dev/null"})
		done <- result{files, notRead}
	}()
	var r result
	select {
	case r = <-done:
	case <-time.After(10 * time.Second):
		unblockFIFO(pipe)
		t.Fatal("Find blocked")
	}
	base := filepath.Join(root, "evlink", "HOST")
	under := func(p string) string {
		return filepath.Join(base, strings.TrimPrefix(p, filepath.Join(root, "ev", "HOST")))
	}
	wantFiles := []string{under(filepath.Join(logs, "Security.evtx")), under(filepath.Join(logs, "other.evtx"))}
	if !slices.Equal(r.files, wantFiles) {
		t.Errorf("files =\n%q\nwant\n%q", r.files, wantFiles)
	}
	want := []NotRead{
		{under(dangling), "link that leads nowhere readable: no such file or directory"},
		{under(devNull), "a character device, not a regular file: not opened"},
		{under(pipe), "a named pipe (FIFO), not a regular file: not opened"},
		{under(shadow), "link to /etc/shadow, outside the evidence paths given: not followed"},
		{under(sock), "a socket, not a regular file: not opened"},
		{under(zero), "link to /dev/zero, outside the evidence paths given: not followed"},
		{under(outDir), "link to " + outside + ", outside the evidence paths given: not followed"},
		{filepath.Join(root, "evlink", "stale"), "link that leads nowhere readable: no such file or directory"},
		{"/dev/null", "a character device, not a regular file: not opened"},
	}
	if !slices.Equal(r.notRead, want) {
		t.Errorf("not read =\n%v\nwant\n%v", r.notRead, want)
	}
}

// unblockFIFO opens a named pipe for writing and closes it, so that a reader
// blocked opening it goes on: a test that failed must still end.
func unblockFIFO(path string) {
	if f, err := os.OpenFile(path, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
		f.Close()
	}
}
