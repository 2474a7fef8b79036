package evidence

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestFind(t *testing.T) {
	root := t.TempDir()
	write := func(rel string) string {
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	sec := write("HOST1/C/Windows/System32/winevt/Logs/Security.evtx")
	sysmon := write("HOST1/C/Windows/System32/winevt/Logs/Microsoft-Windows-Sysmon%4Operational.EVTX")
	write("HOST1/C/Windows/System32/winevt/Logs/notes.txt")
	other := write("HOST2/logs/system.Evtx")
	// A loop back to the root and a second path to one file.
	if err := os.Symlink(root, filepath.Join(root, "HOST2", "loop")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(sec, filepath.Join(root, "HOST2", "again.evtx")); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(root, "missing")
	files, notRead := Find([]string{root, missing, other})
	want := []string{sysmon, sec, other}
	if !slices.Equal(files, want) {
		t.Errorf("files =\n%q\nwant\n%q", files, want)
	}
	if len(notRead) != 1 || notRead[0] != (NotRead{missing, "no such file or directory"}) {
		t.Errorf("not read = %v, want the missing path", notRead)
	}
	// A file named explicitly is taken whatever its name.
	txt := filepath.Join(root, "HOST1/C/Windows/System32/winevt/Logs/notes.txt")
	if files, _ := Find([]string{txt}); !slices.Equal(files, []string{txt}) {
		t.Errorf("explicit file: %q", files)
	}
}
