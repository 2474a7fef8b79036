package winpath

import "testing"

func TestNormalize(t *testing.T) {
	same := []string{
		`\Device\Mup\tsclient\C\Tools\x.exe`,
		`\\tsclient\c\tools\X.EXE`,
		`\??\UNC\tsclient\c\Tools\x.exe`,
		`\\?\UNC\tsclient\c\Tools\x.exe`,
		`//tsclient/c/Tools/x.exe`,
	}
	for _, p := range same {
		if got := Normalize(p); got != `\\tsclient\c\tools\x.exe` {
			t.Errorf("Normalize(%q) = %q", p, got)
		}
	}
	for in, want := range map[string]string{
		`\??\C:\Windows\system32\conhost.exe`: `c:\windows\system32\conhost.exe`,
		`\SystemRoot\System32\smss.exe`:       `c:\windows\system32\smss.exe`,
		`C:\Program Files\x.exe`:              `c:\program files\x.exe`,
		`\Device\HarddiskVolume3\x.exe`:       `\device\harddiskvolume3\x.exe`,
		`System`:                              `system`,
	} {
		if got := Normalize(in); got != want {
			t.Errorf("Normalize(%q) = %q, want %q", in, got, want)
		}
	}
	if Base(`C:\a\b\mstsc.exe`) != "mstsc.exe" || Base("mstsc.exe") != "mstsc.exe" {
		t.Error("Base")
	}
}
