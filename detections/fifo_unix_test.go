//go:build unix

package detections

import (
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestRuleFolderFIFO: a FIFO named like a rule, in a pack folder or a Sigma
// folder, is listed as not read instead of blocking the load forever.
func TestRuleFolderFIFO(t *testing.T) {
	dir := t.TempDir()
	if err := syscall.Mkfifo(filepath.Join(dir, "x.yml"), 0o644); err != nil {
		t.Skipf("SKIP: cannot make a FIFO here: %v", err)
	}
	_, errs := LoadDir(dir)
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), "x.yml: not a regular file") {
		t.Errorf("pack folder: %v", errs)
	}
	load := LoadSigma(dir)
	if len(load.Errors) != 1 || !strings.Contains(load.Errors[0].Error(), "x.yml: not a regular file") {
		t.Errorf("Sigma folder: %v", load.Errors)
	}
}
