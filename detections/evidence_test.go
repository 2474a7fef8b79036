package detections

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/evtxhunt/evtxhunt/internal/testevidence"
	"github.com/evtxhunt/evtxhunt/parser"
	"github.com/evtxhunt/evtxhunt/parser/evidence"
	"github.com/evtxhunt/evtxhunt/parser/winpath"
	"github.com/evtxhunt/evtxhunt/timeline"
)

func scanTimeline(t testing.TB, paths ...string) *timeline.Timeline {
	t.Helper()
	files, errs := evidence.Find(paths)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	b := timeline.NewBuilder(timeline.Options{})
	if _, err := parser.NewScanner(parser.Options{}).Scan(context.Background(), files, func(ev *parser.ProcessEvent) error {
		b.Add(ev)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return b.Build()
}

func builtinEngine(t testing.TB) *Engine {
	rules, err := Builtin()
	if err != nil {
		t.Fatal(err)
	}
	return NewEngine(rules)
}

// TestGeneratedIncidentFindings holds the rules to the manifest of the
// generated incident: exactly the detections it lists, none of its decoys.
func TestGeneratedIncidentFindings(t *testing.T) {
	const evidence = "../testdata/evidence"
	m := testevidence.LoadIncident(t)
	findings := builtinEngine(t).Run(scanTimeline(t, evidence))

	got := map[string]Hit{}
	var gotKeys []string
	for _, f := range findings {
		for _, h := range f.Hits {
			k := testevidence.HitKey(f.Rule.ID, f.Host, h.Process.Image, h.Process.PID)
			got[k] = h
			gotKeys = append(gotKeys, k)
		}
	}
	var wantKeys []string
	for _, d := range m.Detections {
		wantKeys = append(wantKeys, d.Key())
		h, ok := got[d.Key()]
		if !ok {
			continue
		}
		if h.NextHop != d.NextHop {
			t.Errorf("%s: next hop %q, manifest %q", d.Key(), h.NextHop, d.NextHop)
		}
		for _, r := range d.Process.Records {
			if !slices.ContainsFunc(h.Process.Evidence, func(e timeline.Evidence) bool {
				return e.RecordID == r.RecordID && strings.HasSuffix(filepath.ToSlash(e.File), r.File)
			}) {
				t.Errorf("%s: evidence %v lacks %s#%d", d.Key(), h.Process.Evidence, r.File, r.RecordID)
			}
		}
	}
	sort.Strings(gotKeys)
	sort.Strings(wantKeys)
	if !slices.Equal(gotKeys, wantKeys) {
		t.Errorf("hits:\n%s\nmanifest:\n%s", strings.Join(gotKeys, "\n"), strings.Join(wantKeys, "\n"))
	}
	for _, d := range m.MustNotFire {
		if _, ok := got[d.Key()]; ok {
			t.Errorf("decoy fired: %s (%s)", d.Key(), d.What)
		}
	}
	// The seed hunt groups per host: one finding per host, with the chain.
	var netscan int
	for _, f := range findings {
		if f.Rule.ID == "HuntQuery-CrowdStrike-NetscanMstscRDP" {
			netscan++
			chain := f.Hits[0].Process.Chain()
			if len(chain) < 3 || !strings.EqualFold(winpath.Base(chain[len(chain)-2].Image), "netscan.exe") || len(f.Evidence(-1)) < 2 {
				t.Errorf("%s: chain %v, evidence %v", f.Host, chain, f.Evidence(-1))
			}
		}
	}
	if netscan != 3 {
		t.Errorf("%d netscan findings, want one per host on 3 hosts", netscan)
	}
}

const sharedLM = "../../shared/evtx/attack-samples/Lateral Movement/"

// TestSharedLateralMovementSamples runs the pack on the public samples of
// lateral movement and checks that each technique's rules fire where the
// records show it (each checked by reading the process records).
func TestSharedLateralMovementSamples(t *testing.T) {
	if _, err := os.Stat(sharedLM); err != nil {
		t.Skipf("SKIP: the shared evidence corpus is absent: %v", err)
	}
	want := map[string][]string{
		"LM_sysmon_1_12_13_3_tsclient_SharpRdp.evtx":             {"4fe9d835-40e1-452d-8230-17c147cafad8"},
		"remote_file_copy_system_proc_file_write_sysmon_11.evtx": {"evtxhunt-lm-psexec-service"},
		"LM_sysmon_psexec_smb_meterpreter.evtx":                  {"evtxhunt-lm-service-shell"},
		"LM_WMI_4624_4688_TargetHost.evtx":                       {"evtxhunt-lm-wmi-child"},
		"LM_wmiexec_impacket_sysmon_whoami.evtx":                 {"evtxhunt-lm-impacket-exec-output", "evtxhunt-lm-wmi-child", "evtxhunt-lm-wmi-shell"},
		"LM_wmi_PoisonHandler_Mr-Un1k0d3r_sysmon_1_13.evtx":      {"evtxhunt-lm-wmi-child", "evtxhunt-lm-wmi-shell"},
		"smbmap_upload_exec_sysmon.evtx":                         {"evtxhunt-lm-impacket-exec-output", "evtxhunt-lm-wmi-child", "evtxhunt-lm-wmi-shell"},
		"LM_PowershellRemoting_sysmon_1_wsmprovhost.evtx":        {"evtxhunt-lm-winrm-wsmprovhost-child"},
		"LM_winrm_exec_sysmon_1_winrshost.evtx":                  {"evtxhunt-lm-winrs-child"},
		"LM_impacket_docmexec_mmc_sysmon_01.evtx":                {"evtxhunt-lm-dcom-mmc20", "evtxhunt-lm-impacket-exec-output"},
		"LM_DCOM_MSHTA_LethalHTA_Sysmon_3_1.evtx":                {"evtxhunt-lm-dcom-mshta"},
		"sharprdp_sysmon_7_mstscax.dll.evtx":                     {"evtxhunt-lm-sharprdp"},
		"sysmon_1_exec_via_sql_xpcmdshell.evtx":                  {"evtxhunt-lm-mssql-xp-cmdshell"},
	}
	engine := builtinEngine(t)
	entries, err := os.ReadDir(sharedLM)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !evidence.IsEVTXName(e.Name()) {
			continue
		}
		var fired []string
		for _, f := range engine.Run(scanTimeline(t, sharedLM+e.Name())) {
			if !slices.Contains(fired, f.Rule.ID) {
				fired = append(fired, f.Rule.ID)
			}
			for _, h := range f.Hits {
				t.Logf("%s: %s on %s: %s <- %s: %s", e.Name(), f.Rule.ID, f.Host, winpath.Base(h.Process.Image),
					winpath.Base(h.Process.ResolvedParentImage()), h.Process.CommandLine)
			}
		}
		sort.Strings(fired)
		if w, ok := want[e.Name()]; ok && !slices.Equal(fired, w) {
			t.Errorf("%s: rules fired %v, want %v", e.Name(), fired, w)
		}
		if _, ok := want[e.Name()]; !ok && len(fired) > 0 {
			t.Errorf("%s: unexpected findings %v", e.Name(), fired)
		}
	}
}
