//go:build unix

package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestOutputOutsideEvidenceThroughLinks: the case folder is refused inside
// the evidence however the paths reach it (a link to the evidence, a link
// inside the output path, ".." after a link), and next to an evidence file;
// a new folder beside an evidence file is fine, the default one too.
func TestOutputOutsideEvidenceThroughLinks(t *testing.T) {
	root := t.TempDir()
	ev := filepath.Join(root, "ev")
	deep := filepath.Join(ev, "deep", "dir")
	logs := filepath.Join(root, "logs")
	for _, d := range []string{deep, logs} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	log, err := os.ReadFile(filepath.Join(generatedEvidence, "SRV01/C/Windows/System32/winevt/Logs/Microsoft-Windows-Sysmon%4Operational.evtx"))
	if err != nil {
		t.Fatal(err)
	}
	evtx := filepath.Join(logs, "Sysmon.evtx")
	if err := os.WriteFile(evtx, log, 0o444); err != nil {
		t.Fatal(err)
	}
	link := func(name, target string) string {
		p := filepath.Join(root, name)
		if err := os.Symlink(target, p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	evlink := link("evlink", ev)
	deeplink := link("deeplink", deep)
	loglink := link("loglink", evtx)

	for _, tc := range []struct {
		out, evidence, want string
	}{
		{filepath.Join(ev, "case"), evlink, "inside the evidence"},
		{filepath.Join(evlink, "case"), ev, "inside the evidence"},
		{deeplink + "/../case", ev, "inside the evidence"}, // deeplink/.. is ev/deep, not root
		{filepath.Join(evlink, "deep", "new", "case"), ev, "inside the evidence"},
		{evtx, evtx, "inside the evidence"},
		{logs, evtx, "next to the evidence file " + evtx},
		{logs, loglink, "next to the evidence file " + loglink},
		{filepath.Join(logs, "."), evtx, "next to the evidence file"},
	} {
		code, _, stderr := runCmd("scan", "--quiet", "--force", "--out", tc.out, tc.evidence)
		if code != exitUsage || !strings.Contains(stderr, tc.want) {
			t.Errorf("--out %s %s: exit %d, %s", tc.out, tc.evidence, code, stderr)
		}
	}
	for _, d := range []string{filepath.Join(ev, "case"), filepath.Join(ev, "deep", "case")} {
		if _, err := os.Stat(d); err == nil {
			t.Errorf("%s was created inside the evidence", d)
		}
	}

	// A new folder beside the evidence file, named or the default one.
	if code, _, stderr := runCmd("scan", "--quiet", "--out", filepath.Join(logs, "case"), evtx); code != exitClean {
		t.Errorf("a folder beside the evidence file: exit %d %s", code, stderr)
	}
	t.Chdir(logs)
	code, stdout, stderr := runCmd("scan", "--quiet", "Sysmon.evtx")
	if code != exitClean || !strings.Contains(stdout, "case folder evtxhunt-") {
		t.Errorf("default case folder beside the evidence file: exit %d %s %s", code, stdout, stderr)
	}
}

// TestWithinFoldsCase: on file systems that ignore case, EV/Case is inside
// ev.
func TestWithinFoldsCase(t *testing.T) {
	sep := string(filepath.Separator)
	dir, out := sep+"cases"+sep+"ev", sep+"CASES"+sep+"EV"+sep+"case"
	if within(out, dir, false) || !within(out, dir, true) || !samePath(sep+"A", sep+"a", true) || samePath(sep+"A", sep+"a", false) {
		t.Error("case folding")
	}
	if within(sep+"cases"+sep+"evidence2", dir, true) {
		t.Error("a sibling with a longer name is not inside")
	}
}
