package timeline

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestProcessJSON: a process marshals whole, by pointer and by value: its
// merged event with times of seven digits, and what the timeline learnt
// (host, parent by reference, children, depth, evidence), not the event
// alone.
func TestProcessJSON(t *testing.T) {
	h := "WKS01"
	tl := build(
		sysmon(h, sec(0.1), 100, 4, `C:\Windows\explorer.exe`, "G-100", "G-4", "System"),
		sysmon(h, sec(1.5), 200, 100, `C:\a.exe`, "G-200", "G-100", `C:\Windows\explorer.exe`),
	)
	p := find(t, tl.Hosts[0], `C:\a.exe`, sec(1.5))
	want := []string{
		`"event":{"host":"WKS01",`, `"time":"2024-03-14T10:00:01.5000000Z"`, `"image":"C:\\a.exe"`,
		`"parent":{"pid":100,"time":"2024-03-14T10:00:00.1000000Z","image":"C:\\Windows\\explorer.exe","process_guid":"G-100"}`,
		`"parent_link":"guid"`, `"children":0`, `"depth":2`,
		`"evidence":[{"source":"sysmon-1","file":"WKS01/Sysmon.evtx"`,
	}
	for name, v := range map[string]any{"pointer": p, "value": *p} {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range want {
			if !strings.Contains(string(b), w) {
				t.Errorf("%s: %s\nlacks %s", name, b, w)
			}
		}
	}
}
