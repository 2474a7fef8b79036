// Package testevidence is the manifests of the evidence the project
// generates for its tests, one definition for the writer and the readers:
// cmd/evtxgen writes testdata/evidence/EXPECTED.json (Incident: what the
// generated intrusion holds and what a correct analysis finds in it, with
// hosts, times and record ids) and testdata/hostile/EXPECTED.json
// (Hostile: what a reader must make of each crafted file) with these
// types, and the tests of every stage read them with LoadIncident and
// LoadHostile.
package testevidence

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// Folders of the generated evidence, from the repository's root, and the
// name of the manifest in each.
const (
	IncidentDir  = "testdata/evidence"
	HostileDir   = "testdata/hostile"
	ManifestName = "EXPECTED.json"
)

// Incident is the manifest of the generated intrusion.
type Incident struct {
	Description     string    `json:"description"`
	Seed            uint64    `json:"seed"`
	Hosts           []Host    `json:"hosts"`
	Detections      []Finding `json:"detections"`    // every finding a correct analysis raises, by rule
	MustNotFire     []Finding `json:"must_not_fire"` // decoys beside the true positives
	LateralMovement []Finding `json:"lateral_movement_traces"`
}

// Host is one simulated machine and the logs it left.
type Host struct {
	Name            string   `json:"name"`
	IP              string   `json:"ip"`
	Spellings       []string `json:"computer_spellings"`
	ProcessAuditing string   `json:"process_auditing"`
	Sysmon          bool     `json:"sysmon"`
	Logs            []Log    `json:"logs"`
}

// Log is one generated log file and what it holds.
type Log struct {
	File          string         `json:"file"` // from the incident's folder, with forward slashes
	Records       int            `json:"records"`
	ByEventID     map[string]int `json:"records_by_event_id"`
	ProcessEvents int            `json:"process_events"`
	CopyOf        string         `json:"copy_of,omitempty"` // an older copy (VSS): its records are also in this log
}

// Finding is a process an analysis must flag (or, as a decoy, must not),
// with its parent.
type Finding struct {
	Rule    string   `json:"rule,omitempty"`
	What    string   `json:"what"`
	Host    string   `json:"host"`
	Time    string   `json:"time"` // of the process, UTC
	NextHop string   `json:"next_hop,omitempty"`
	Parent  *Process `json:"parent,omitempty"`
	Process Process  `json:"process"`
}

// Key names the finding's hit as HitKey does.
func (f Finding) Key() string { return HitKey(f.Rule, f.Host, f.Process.Image, f.Process.PID) }

// HitKey names a hit as the tests compare a scan's hits with a manifest's
// findings: rule, host, image and pid.
func HitKey(rule, host, image string, pid uint32) string {
	return fmt.Sprintf("%s %s %s pid %d", rule, host, image, pid)
}

// Process is a process of the evidence and the records that created it.
type Process struct {
	Image       string   `json:"image"`
	CommandLine string   `json:"command_line"`
	PID         uint32   `json:"pid"`
	User        string   `json:"user"`
	Records     []Record `json:"records"`
}

// Record names one record of the generated evidence.
type Record struct {
	File     string `json:"file"` // from the evidence's folder, with forward slashes
	RecordID uint64 `json:"record_id"`
}

// Hostile is the manifest of the crafted files.
type Hostile struct {
	Description string        `json:"description"`
	Files       []HostileFile `json:"files"`
}

// HostileFile is a crafted file and what a reader must make of it.
type HostileFile struct {
	File          string  `json:"file"`
	What          string  `json:"what"`
	HostileChunks []Chunk `json:"hostile_chunks,omitempty"` // to be reported, failed or wiped
	// Records is the number of records in the other chunks: every one must
	// be decoded.
	Records uint64 `json:"records"`
	// ProcessEvents is the number of 4688 records among them: every one
	// must be found.
	ProcessEvents uint64     `json:"process_events"`
	Findings      []Finding  `json:"findings,omitempty"` // raised from the file's records
	Conflicts     []Conflict `json:"conflicts,omitempty"`
}

// Chunk is a chunk slot of a file.
type Chunk struct {
	Index  int   `json:"index"`
	Offset int64 `json:"offset"`
}

// Conflict is a record of a crafted file with the keys of a record of the
// incident (host, record id, time, pid) and other content.
type Conflict struct {
	Host     string `json:"host"`
	RecordID uint64 `json:"record_id"`
	Time     string `json:"time"`
	PID      uint32 `json:"pid"`
	Image    string `json:"image"`
	// Genuine is that record in the incident, and its copies there.
	Genuine      []Record `json:"genuine"`
	GenuineImage string   `json:"genuine_image"`
}

// ByFile indexes the crafted files by name.
func (h *Hostile) ByFile() map[string]HostileFile {
	out := make(map[string]HostileFile, len(h.Files))
	for _, f := range h.Files {
		out[f.File] = f
	}
	return out
}

// ReadIncident reads the incident's manifest in dir.
func ReadIncident(dir string) (*Incident, error) {
	var m Incident
	return &m, read(dir, &m)
}

// ReadHostile reads the crafted files' manifest in dir.
func ReadHostile(dir string) (*Hostile, error) {
	var m Hostile
	return &m, read(dir, &m)
}

func read(dir string, v any) error {
	path := filepath.Join(dir, ManifestName)
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// LoadIncident reads the committed incident's manifest, or fails the test.
func LoadIncident(t testing.TB) *Incident {
	t.Helper()
	return load(t, IncidentDir, ReadIncident)
}

// LoadHostile reads the committed crafted files' manifest, or fails the
// test.
func LoadHostile(t testing.TB) *Hostile {
	t.Helper()
	return load(t, HostileDir, ReadHostile)
}

func load[M any](t testing.TB, dir string, read func(dir string) (*M, error)) *M {
	t.Helper()
	m, err := read(Path(t, dir))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// Path is rel from the root of the repository the test runs in: the
// nearest folder above the working directory (the test's package) that
// holds go.mod.
func Path(t testing.TB, rel string) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, filepath.FromSlash(rel))
		} else if !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
		up := filepath.Dir(dir)
		if up == dir {
			t.Fatal("no go.mod above the working directory")
		}
		dir = up
	}
}
