package detections

import (
	"fmt"
	"testing"
	"time"

	"github.com/evtxhunt/evtxhunt/parser"
	"github.com/evtxhunt/evtxhunt/timeline"
)

func TestShape(t *testing.T) {
	for in, want := range map[string]string{
		`C:\Windows\system32\cmd.exe /c echo 4711 > \\.\pipe\a3f9c2e1`:                 `c:\windows\#\cmd.exe /c echo # > \\.\pipe\#`,
		`cmd.exe /Q /c whoami 1> \\127.0.0.1\ADMIN$\__1710418232.51 2>&1`:              `cmd.exe /q /c whoami #> \\#.#.#.#\admin$\__#.# #>&#`,
		`rundll32.exe {6C2A1F4B-90C3-4F0E-8B5A-DEADBEEFCAFE}`:                          `#.exe {#-#-#-#-#}`,
		`C:\Windows\Temp\aBcDeFgH.exe -k`:                                              `c:\windows\temp\#.exe -k`,
		`powershell -enc SQBFAFgAIAAoAE4AZQB3AC0ATwBiAGoAZQBjAHQAIABOAGUAdAAuAFcAZQBi`: `powershell -enc #`,
		`C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe`:                    `c:\windows\#\windowspowershell\#.#\powershell.exe`,
		`cmd.exe /c net user`: `cmd.exe /c net user`,
	} {
		if got := string(appendShape(nil, in)); got != want {
			t.Errorf("shape(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestFindingsAggregate: hits of one rule on one host that run the same
// thing are one finding, in time order; another command, another host or
// another parent is another finding.
func TestFindingsAggregate(t *testing.T) {
	t0 := time.Date(2024, 3, 14, 10, 0, 0, 0, time.UTC)
	b := timeline.NewBuilder(timeline.Options{})
	rec := uint64(0)
	add := func(host string, at time.Duration, pid uint32, image, parent, cmd string) {
		rec++
		b.Add(&parser.ProcessEvent{Host: host, Time: t0.Add(at), Source: parser.SourceSecurity4688, Version: 2, RecordID: rec, PID: pid, PPID: 600,
			Image: image, ParentImage: parent, CommandLine: cmd, File: host + ".evtx"})
	}
	const services, cmd = `C:\Windows\System32\services.exe`, `C:\Windows\System32\cmd.exe`
	for i := range 1000 {
		add("SRV01", time.Duration(i)*time.Second, uint32(1000+4*i), cmd, services, fmt.Sprintf(`cmd.exe /c echo %d > \\.\pipe\%08x`, i*7919, i*2654435761))
	}
	for i := range 5 {
		add("SRV01", time.Duration(2000+i)*time.Second, uint32(9000+4*i), cmd, services, "cmd.exe /c whoami")
		add("SRV02", time.Duration(i)*time.Second, uint32(9000+4*i), cmd, services, "cmd.exe /c whoami")
		add("SRV01", time.Duration(3000+i)*time.Second, uint32(20000+4*i), `C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe`, services, "powershell -c whoami")
	}
	rules, err := Builtin()
	if err != nil {
		t.Fatal(err)
	}
	var shell *Rule
	for _, r := range rules {
		if r.ID == "evtxhunt-lm-service-shell" {
			shell = r
		}
	}
	got := map[string]int{}
	for _, f := range NewEngine([]*Rule{shell}).Run(b.Build()) {
		p := f.Hits[0].Process
		got[fmt.Sprintf("%s %s", f.Host, p.CommandLine[:min(len(p.CommandLine), 18)])] = len(f.Hits)
		for i := 1; i < len(f.Hits); i++ {
			if f.Hits[i].Process.Time.Before(f.Hits[i-1].Process.Time) {
				t.Errorf("%s: hits out of time order", f.Host)
			}
		}
		if f.Time != p.Time || !f.Last().Equal(f.Hits[len(f.Hits)-1].Process.Time) {
			t.Errorf("first %v last %v", f.Time, f.Last())
		}
		if n := len(f.Evidence(-1)); n != len(f.Hits) {
			t.Errorf("%d evidence records for %d hits", n, len(f.Hits))
		}
	}
	want := map[string]int{"SRV01 cmd.exe /c echo 0 ": 1000, "SRV01 cmd.exe /c whoami": 5, "SRV02 cmd.exe /c whoami": 5, "SRV01 powershell -c whoa": 5}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("findings %v, want %v", got, want)
	}
}
