package testevidence

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// TestManifestsRoundTrip: the committed manifests decode with no field
// the types lack and encode back to the same bytes, so the types are their
// one definition.
func TestManifestsRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		dir string
		v   any
	}{{IncidentDir, &Incident{}}, {HostileDir, &Hostile{}}} {
		b, err := os.ReadFile(filepath.Join(Path(t, tc.dir), ManifestName))
		if err != nil {
			t.Fatal(err)
		}
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(tc.v); err != nil {
			t.Errorf("%s: %v", tc.dir, err)
			continue
		}
		out, err := json.MarshalIndent(tc.v, "", "  ")
		if err != nil || !bytes.Equal(append(out, '\n'), b) {
			t.Errorf("%s: encodes to other bytes (%v)", tc.dir, err)
		}
	}
	m := LoadIncident(t)
	if len(m.Hosts) == 0 || len(m.Detections) == 0 || m.Detections[0].Parent == nil {
		t.Errorf("incident: %d hosts, %d detections", len(m.Hosts), len(m.Detections))
	}
	if f, ok := LoadHostile(t).ByFile()["wiped-chunk.evtx"]; !ok || len(f.HostileChunks) != 1 || f.HostileChunks[0].Offset != 4096 {
		t.Errorf("wiped-chunk.evtx: %+v", f)
	}
}
