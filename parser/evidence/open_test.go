package evidence

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestOSOpen: a regular file opens for reading at any offset and says its
// size; a folder or a missing file does not open, with the reason.
func TestOSOpen(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "x.evtx")
	if err := os.WriteFile(path, []byte("0123456789"), 0o644); err != nil {
		t.Fatal(err)
	}
	src, err := OS{}.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	info, err := src.Stat()
	if err != nil || info.Size() != 10 {
		t.Fatalf("stat: %v, %v", info, err)
	}
	b := make([]byte, 4)
	if n, err := src.ReadAt(b, 6); n != 4 || string(b) != "6789" || (err != nil && err != io.EOF) {
		t.Errorf("ReadAt: %d %q %v", n, b, err)
	}
	for name, want := range map[string]string{
		dir:                             dir + " is a folder, not a regular file: not read",
		filepath.Join(dir, "none.evtx"): "no such file or directory",
	} {
		if src, err := (OS{}).Open(name); err == nil || !strings.Contains(err.Error(), want) {
			if src != nil {
				src.Close()
			}
			t.Errorf("Open(%s): %v, want %q", name, err, want)
		}
	}
}
