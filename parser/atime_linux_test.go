package parser

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/evtxhunt/evtxhunt/parser/evidence"
)

func accessTime(t *testing.T, path string) time.Time {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	st := info.Sys().(*syscall.Stat_t)
	return time.Unix(st.Atim.Sec, st.Atim.Nsec)
}

// setPastAccess sets a path's access time a year back, so that a read
// updates it even under relatime.
func setPastAccess(t *testing.T, path string) time.Time {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	past := info.ModTime().Add(-365 * 24 * time.Hour).Truncate(time.Second)
	if err := os.Chtimes(path, past, info.ModTime()); err != nil {
		t.Fatal(err)
	}
	return past
}

// TestScanKeepsAccessTimes: finding and scanning evidence leaves the access
// times of its files and folders as they were.
func TestScanKeepsAccessTimes(t *testing.T) {
	src, err := os.ReadFile("../testdata/evidence/SRV01/C/Windows/System32/winevt/Logs/Security.evtx")
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	dir := filepath.Join(root, "ev", "Logs")
	control := filepath.Join(root, "control")
	for _, d := range []string{dir, control} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		mustWrite(t, filepath.Join(d, "Security.evtx"), src)
	}

	// Reading the same way without O_NOATIME must update access times,
	// or the filesystem keeps none to protect and the test shows nothing.
	controlFile := filepath.Join(control, "Security.evtx")
	wasDir := setPastAccess(t, control)
	was := setPastAccess(t, controlFile)
	if _, err := os.ReadFile(controlFile); err != nil {
		t.Fatal(err)
	}
	if _, err := os.ReadDir(control); err != nil {
		t.Fatal(err)
	}
	if accessTime(t, controlFile).Equal(was) || accessTime(t, control).Equal(wasDir) {
		t.Skip("SKIP: this filesystem does not update access times on reading (mounted noatime?): nothing to preserve")
	}

	paths := []string{filepath.Join(root, "ev"), dir, filepath.Join(dir, "Security.evtx")}
	want := make([]time.Time, len(paths))
	for i, p := range paths {
		want[i] = setPastAccess(t, p)
	}
	files, notRead := evidence.Find([]string{filepath.Join(root, "ev")})
	if len(files) != 1 || len(notRead) != 0 {
		t.Fatalf("files %q, not read %v", files, notRead)
	}
	stats, err := NewScanner(Options{}).Scan(context.Background(), files, func(*ProcessEvent) error { return nil })
	if err != nil || !stats[0].Clean() || stats[0].Records.Decoded == 0 {
		t.Fatalf("scan: %v %+v", err, stats)
	}
	for i, p := range paths {
		if got := accessTime(t, p); !got.Equal(want[i]) {
			t.Errorf("%s: access time %s, was %s", p, got, want[i])
		}
	}
}
