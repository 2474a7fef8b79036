package parser

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestFastEventsBaseline runs golang-evtx's FastEvents in its child on a
// generated log (every record read), on a crafted file that kills it (an
// error saying why, this process unharmed) and on a file that is no EVTX.
func TestFastEventsBaseline(t *testing.T) {
	ctx := context.Background()
	deadline := time.Now().Add(time.Minute)
	stats, _ := scanWithChild(t, "WKS01", Isolation{})
	records, whole, err := FastEventsBaseline(ctx, "../testdata/evidence/WKS01/C/Windows/System32/winevt/Logs/Security.evtx", deadline, Isolation{})
	if err != nil || !whole || records != int64(stats.Records.Seen) {
		t.Errorf("generated log: %d records (whole %v), %v; want all %d", records, whole, err, stats.Records.Seen)
	}

	_, _, err = FastEventsBaseline(ctx, filepath.Join(hostileDir, "self-referencing-template.evtx"), deadline, Isolation{})
	if err == nil || !strings.HasPrefix(err.Error(), `golang-evtx's process died (exit status 2): "fatal error: stack overflow"`) {
		t.Errorf("self-referencing template: %v", err)
	}

	notEvtx := filepath.Join(t.TempDir(), "x.evtx")
	if err := os.WriteFile(notEvtx, []byte("not an event log"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := FastEventsBaseline(ctx, notEvtx, deadline, Isolation{}); err == nil || !strings.HasPrefix(err.Error(), "golang-evtx cannot read "+notEvtx) {
		t.Errorf("not EVTX: %v", err)
	}
}
