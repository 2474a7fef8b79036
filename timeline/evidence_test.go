package timeline

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/evtxhunt/evtxhunt/internal/testevidence"
	"github.com/evtxhunt/evtxhunt/parser"
	"github.com/evtxhunt/evtxhunt/parser/evidence"
	"github.com/evtxhunt/evtxhunt/parser/winpath"
)

const evidenceDir = "../testdata/evidence"

// scanInto builds a timeline of the given evidence paths.
func scanInto(t testing.TB, paths ...string) *Timeline {
	t.Helper()
	files, errs := evidence.Find(paths)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	b := NewBuilder(Options{})
	if _, err := parser.NewScanner(parser.Options{}).Scan(context.Background(), files, func(ev *parser.ProcessEvent) error {
		b.Add(ev)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return b.Build()
}

func lookup(t *testing.T, tl *Timeline, host string, p testevidence.Process) *Process {
	t.Helper()
	h := tl.Host(host)
	if h == nil {
		t.Fatalf("no host %s", host)
	}
	var found *Process
	for _, q := range h.Processes {
		if q.PID == p.PID && q.Image == p.Image {
			if found != nil {
				t.Fatalf("%s: two processes %s pid %d", host, p.Image, p.PID)
			}
			found = q
		}
	}
	if found == nil {
		t.Fatalf("%s: no process %s pid %d", host, p.Image, p.PID)
	}
	return found
}

func TestGeneratedIncident(t *testing.T) {
	tl := scanInto(t, evidenceDir)
	var names []string
	for _, h := range tl.Hosts {
		names = append(names, h.Name)
	}
	if strings.Join(names, ",") != "LEGACY01,SRV01,SRV02,WKS01" {
		t.Fatalf("hosts %v", names)
	}
	wks := tl.Host("WKS01")
	if strings.Join(wks.Spellings, ",") != "WKS01.corp.local,wks01.corp.local" {
		t.Errorf("WKS01 spellings %v", wks.Spellings)
	}
	// WKS01 logs every process twice (4688 and Sysmon) and an older copy of
	// its Security log repeats 230 creations and 212 exits.
	merged := 0
	for _, p := range wks.Processes {
		if len(p.Sources()) == 2 {
			merged++
		}
	}
	if len(wks.Processes) != 516 || merged != 516 || tl.Duplicates != 230+212 {
		t.Errorf("WKS01: %d processes, %d merged, %d duplicates", len(wks.Processes), merged, tl.Duplicates)
	}

	m := testevidence.LoadIncident(t)
	wantLink := map[string]LinkKind{"WKS01": LinkGUID, "SRV01": LinkGUID, "LEGACY01": LinkPID}
	found := 0
	for _, d := range m.Detections {
		if d.Rule != "HuntQuery-CrowdStrike-NetscanMstscRDP" {
			continue
		}
		found++
		mstsc := lookup(t, tl, d.Host, d.Process)
		netscan := lookup(t, tl, d.Host, *d.Parent)
		if mstsc.Parent != netscan || mstsc.Link != wantLink[d.Host] || !strings.EqualFold(winpath.Base(mstsc.ResolvedParentImage()), "netscan.exe") {
			t.Errorf("%s: mstsc's parent is %v (%s), want netscan %v (%s)", d.Host, mstsc.Parent.Image, mstsc.Link, netscan.Image, wantLink[d.Host])
		}
	}
	if found != 3 {
		t.Errorf("%d netscan->mstsc detections in the manifest", found)
	}
	for _, d := range m.MustNotFire {
		if !strings.Contains(d.What, "reused the PID") {
			continue
		}
		mstsc := lookup(t, tl, d.Host, d.Process)
		if mstsc.Parent.Image != `C:\Windows\System32\cmd.exe` || mstsc.Link != LinkPID || mstsc.Parent.PID != d.Parent.PID {
			t.Errorf("PID reuse decoy: mstsc's parent is %s pid %d (%s)", mstsc.Parent.Image, mstsc.Parent.PID, mstsc.Link)
		}
		for _, a := range mstsc.Ancestors() {
			if strings.EqualFold(winpath.Base(a.Image), "netscan.exe") {
				t.Errorf("PID reuse decoy: netscan.exe is an ancestor of mstsc.exe")
			}
		}
		return
	}
	t.Error("the PID reuse decoy is not in the manifest")
}

const sharedEVTX = "../../shared/evtx"

// TestSharedSysmonGUIDLinks: in every shared sample, a Sysmon 1 process whose
// parent is also in the file is linked to it by GUID.
func TestSharedSysmonGUIDLinks(t *testing.T) {
	if _, err := os.Stat(sharedEVTX); err != nil {
		t.Skipf("SKIP: the shared evidence corpus is absent: %v", err)
	}
	files, _ := evidence.Find([]string{sharedEVTX})
	checked := 0
	for _, f := range files {
		tl := scanInto(t, f)
		for _, h := range tl.Hosts {
			guids := map[string]*Process{}
			for _, p := range h.Processes {
				if p.ProcessGUID != "" {
					guids[p.ProcessGUID] = p
				}
			}
			for _, p := range h.Processes {
				if parent := guids[p.ParentProcessGUID]; parent != nil && parent != p {
					checked++
					if p.Parent != parent || p.Link != LinkGUID {
						t.Errorf("%s: %s (%s) not linked to its parent %s by GUID: %v %s", f, p.Image, p.ProcessGUID, parent.Image, p.Parent, p.Link)
					}
				}
			}
		}
	}
	if checked < 500 {
		t.Errorf("only %d GUID links checked", checked)
	}
	t.Logf("%d Sysmon GUID links checked", checked)
}

func TestSharedWMIByPID(t *testing.T) {
	path := sharedEVTX + "/attack-samples/Lateral Movement/LM_WMI_4624_4688_TargetHost.evtx"
	if _, err := os.Stat(path); err != nil {
		t.Skipf("SKIP: the shared evidence corpus is absent: %v", err)
	}
	tl := scanInto(t, path)
	h := tl.Host("WIN-77LTAPHIQ1R")
	calc := lookup(t, tl, h.Name, testevidence.Process{Image: `C:\Windows\System32\calc.exe`, PID: 0x424})
	if calc.Link != LinkPID || calc.Parent == nil || calc.Parent.Image != `C:\Windows\System32\wbem\WmiPrvSE.exe` || calc.Parent.PID != 0xae8 || calc.ResolvedParentImage() != calc.Parent.Image {
		t.Errorf("calc.exe: parent %+v link %s", calc.Parent, calc.Link)
	}
}
