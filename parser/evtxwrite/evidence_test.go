package evtxwrite

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/evtxhunt/evtxhunt/parser/evidence"
)

// TestCommittedEvidenceTwoParsers decodes every record of the committed
// evidence with golang-evtx and with python-evtx and compares them field by
// field: the generated files are real EVTX to two independent readers.
func TestCommittedEvidenceTwoParsers(t *testing.T) {
	files, errs := evidence.Find([]string{"../../testdata/evidence"})
	if len(errs) > 0 || len(files) < 10 {
		t.Fatalf("evidence: %d files, %v", len(files), errs)
	}
	for _, path := range files {
		t.Run(filepath.Base(filepath.Dir(filepath.Dir(filepath.Dir(filepath.Dir(filepath.Dir(path))))))+"/"+filepath.Base(path), func(t *testing.T) {
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			golang := decodeWithGolangEvtx(t, b)
			python := pythonEvtx(t, path)
			if len(golang) != len(python) || len(golang) == 0 {
				t.Fatalf("golang-evtx %d records, python-evtx %d", len(golang), len(python))
			}
			for _, p := range python {
				id, _ := strconv.ParseUint(p.System["EventRecordID"], 10, 64)
				g, ok := golang[id]
				if !ok {
					t.Fatalf("record %d: python-evtx only", id)
				}
				compareRenderings(t, id, "System", g.System, p.System)
				compareRenderings(t, id, "EventData", g.Data, p.Data)
			}
		})
	}
}

func compareRenderings(t *testing.T, id uint64, part string, golang, python map[string]string) {
	t.Helper()
	if len(golang) != len(python) {
		t.Errorf("record %d %s: golang-evtx %v, python-evtx %v", id, part, golang, python)
		return
	}
	for k, pv := range python {
		gv, ok := golang[k]
		if !ok || !sameRendering(gv, pv) {
			t.Errorf("record %d %s/%s: golang-evtx %q, python-evtx %q", id, part, k, gv, pv)
		}
	}
}

// sameRendering compares two parsers' text for one value: they differ in hex
// padding, GUID case and braces, and time precision (python-evtx goes
// through a float), never in meaning.
func sameRendering(a, b string) bool {
	if a == b {
		return true
	}
	if strings.HasPrefix(a, "0x") && strings.HasPrefix(b, "0x") {
		x, err1 := strconv.ParseUint(a[2:], 16, 64)
		y, err2 := strconv.ParseUint(b[2:], 16, 64)
		return err1 == nil && err2 == nil && x == y
	}
	guid := func(s string) string { return strings.ToLower(strings.Trim(s, "{}")) }
	if len(guid(a)) == 36 && guid(a) == guid(b) {
		return true
	}
	if strings.EqualFold(a, b) && (strings.EqualFold(a, "true") || strings.EqualFold(a, "false")) {
		return true
	}
	ta, err1 := time.Parse(time.RFC3339Nano, a)
	tb, err2 := time.Parse("2006-01-02 15:04:05.999999", b)
	if err1 == nil && err2 == nil {
		d := ta.Sub(tb)
		return d < 3*time.Microsecond && d > -3*time.Microsecond
	}
	return false
}
