package main

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const generatedEvidence = "../../testdata/evidence"

func TestTimelineCommand(t *testing.T) {
	out := t.TempDir()
	code, stdout, stderr := runCmd("timeline", generatedEvidence, "--out", out)
	if code != exitClean || stdout != "" {
		t.Fatalf("exit %d, stdout %q: %s", code, stdout, stderr)
	}
	if !strings.Contains(stderr, "1945 processes on 4 hosts, 442 duplicate records counted once") {
		t.Errorf("summary: %s", stderr)
	}
	f, err := os.Open(filepath.Join(out, "timeline.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	type rec struct {
		Host        string `json:"host"`
		Time        string `json:"time"`
		Image       string `json:"image"`
		ParentImage string `json:"parent_image"`
		ParentLink  string `json:"parent_link"`
		CommandLine string `json:"command_line"`
		PID         int    `json:"pid"`
		Depth       int    `json:"depth"`
		Evidence    []struct {
			File     string `json:"file"`
			RecordID uint64 `json:"record_id"`
		} `json:"evidence"`
	}
	var lines int
	var hop *rec
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		lines++
		var r rec
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatal(err)
		}
		if r.Host == "LEGACY01" && r.PID == 13428 && strings.HasSuffix(r.Image, "mstsc.exe") {
			hop = &r
		}
	}
	if lines != 1945 {
		t.Errorf("%d lines", lines)
	}
	if hop == nil || hop.ParentImage != `\Device\Mup\tsclient\C\Tools\netscan.exe` || hop.ParentLink != "pid" || hop.Time != "2024-03-14T11:09:50.0000000Z" ||
		hop.CommandLine != "mstsc.exe /v:10.0.40.10" || hop.Depth != 6 || len(hop.Evidence) != 1 {
		t.Errorf("LEGACY01 mstsc: %+v", hop)
	} else if want := manifestRecords(t, "LEGACY01", 13428); len(want) != 1 || hop.Evidence[0].RecordID != want[0].RecordID ||
		!strings.HasSuffix(filepath.ToSlash(hop.Evidence[0].File), want[0].File) {
		t.Errorf("LEGACY01 mstsc evidence %+v, manifest %+v", hop.Evidence, want)
	}

	cf, err := os.Open(filepath.Join(out, "timeline.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer cf.Close()
	rows, err := csv.NewReader(cf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1946 || strings.Join(rows[0][:4], ",") != "message,datetime,timestamp,timestamp_desc" {
		t.Fatalf("%d rows, header %v", len(rows), rows[0])
	}
	found := false
	for _, r := range rows[1:] {
		if r[0] == `LEGACY01: netscan.exe (4616) started mstsc.exe (13428) as CORP\adm_jdoe: mstsc.exe /v:10.0.40.10` {
			found = r[1] == "2024-03-14T11:09:50.000000+00:00" && r[2] == "1710414590000000" && r[3] == "Process Creation"
		}
	}
	if !found {
		t.Error("the LEGACY01 netscan->mstsc row is missing or has the wrong times")
	}
}

func TestTimelineTreeAndFilters(t *testing.T) {
	code, stdout, stderr := runCmd("timeline", generatedEvidence, "--host", "srv01.corp.local", "--grep", "tsclient", "--to", "2024-03-14 10:13:00")
	if code != exitClean {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{"== SRV01 (SRV01): 509 processes", "explorer.exe", `* notepad.exe`, `\\tsclient\c\Tools\readme.txt`} {
		if !strings.Contains(stdout, want) {
			t.Errorf("tree lacks %q:\n%s", want, stdout)
		}
	}
	if strings.Contains(stdout, "== WKS01") || strings.Contains(stdout, "netscan.exe") {
		t.Errorf("filters ignored:\n%s", stdout)
	}
	if code, _, stderr := runCmd("timeline", generatedEvidence, "--out", filepath.Join(generatedEvidence, "case")); code != exitUsage || !strings.Contains(stderr, "inside the evidence") {
		t.Errorf("output inside the evidence: exit %d, %s", code, stderr)
	}
	if code, _, _ := runCmd("timeline", generatedEvidence, "--from", "yesterday"); code != exitUsage {
		t.Errorf("bad --from: exit %d", code)
	}
}

type manifestRecord struct {
	File     string `json:"file"`
	RecordID uint64 `json:"record_id"`
}

// manifestRecords is the creation records EXPECTED.json gives for the
// process pid of host among its detections.
func manifestRecords(t *testing.T, host string, pid uint32) []manifestRecord {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(generatedEvidence, "EXPECTED.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		Detections []struct {
			Host    string `json:"host"`
			Process struct {
				PID     uint32           `json:"pid"`
				Records []manifestRecord `json:"records"`
			} `json:"process"`
		} `json:"detections"`
	}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, d := range m.Detections {
		if d.Host == host && d.Process.PID == pid {
			return d.Process.Records
		}
	}
	t.Fatalf("EXPECTED.json: no detection of %s pid %d", host, pid)
	return nil
}
