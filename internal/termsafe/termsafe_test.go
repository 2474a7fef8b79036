package termsafe

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestString(t *testing.T) {
	for in, want := range map[string]string{
		"plain C:\\Windows\\cmd.exe": "plain C:\\Windows\\cmd.exe",
		"WKS01\x1b]0;owned\a":        `WKS01\x1b]0;owned\a`,
		"\x1b]52;c;ZXZpbA==\a":       `\x1b]52;c;ZXZpbA==\a`,
		"a\r\x1b[2Kerrors: 0\n":      `a\r\x1b[2Kerrors: 0\n`,
		"nul\x00del\x7f":             `nul\x00del\x7f`,
		"c1 \u009b31m \u0085":        `c1 \u009b31m \u0085`,
		"bidi \u202egpj.exe \u2066x": `bidi \u202egpj.exe \u2066x`,
		"raw \x9b byte":              `raw \x9b byte`,
		"tab\there":                  `tab\there`,
		"ünïcode ✓":                  "ünïcode ✓",
	} {
		if got := String(in); got != want {
			t.Errorf("String(%q) = %q, want %q", in, got, want)
		}
	}
	if got := Text("a\tb\nc\x1b"); got != "a\tb\nc\\x1b" {
		t.Errorf("Text kept %q", got)
	}
	s := "nothing to escape"
	if allocs := testing.AllocsPerRun(100, func() { s = String(s) }); allocs != 0 {
		t.Errorf("%v allocations for clean text", allocs)
	}
}

func TestAppendJSON(t *testing.T) {
	v := map[string]string{"k": "del\x7f c1\u009b bidi\u202e esc\x1b ok ✓ <b>"}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	out := AppendJSON(nil, b)
	if want := `{"k":"del\u007f c1\u009b bidi\u202e esc\u001b ok ✓ \u003cb\u003e"}`; string(out) != want {
		t.Errorf("got %s\nwant %s", out, want)
	}
	var back map[string]string
	if err := json.Unmarshal(out, &back); err != nil || back["k"] != v["k"] {
		t.Errorf("round trip: %q %v", back["k"], err)
	}
	var sb strings.Builder
	if err := NewEncoder(&sb).Encode(v); err != nil || sb.String() != `{"k":"del\u007f c1\u009b bidi\u202e esc\u001b ok ✓ <b>"}`+"\n" {
		t.Errorf("Encoder: %q %v", sb.String(), err)
	}
}
