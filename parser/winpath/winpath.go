// Package winpath compares Windows paths as event logs record them. A log
// names one file in many spellings: in any letter case, with forward or
// backward slashes, behind the kernel's and the Win32 API's prefixes (\??\,
// \\?\, \Device\Mup\ for a network path) or %SystemRoot%. Normalize writes
// every spelling of a place in one form, so that paths compare as strings;
// Base is the file name of a path as recorded.
//
//	winpath.Normalize(`\Device\Mup\tsclient\C\x.exe`) == winpath.Normalize(`\\TSCLIENT\c\X.EXE`) // \\tsclient\c\x.exe
package winpath

import "strings"

// Normalize writes a Windows path in one canonical form, so that every
// spelling of the same place compares equal: lower case, backslashes, and the
// kernel and API prefixes folded. The RDP client drive is the example that
// matters: Security 4688 writes \Device\Mup\tsclient\c\x.exe, Sysmon writes
// \\tsclient\c\x.exe, and \??\UNC\tsclient\c\x.exe and
// \\?\UNC\tsclient\c\x.exe are the same file; all become
// \\tsclient\c\x.exe.
func Normalize(p string) string {
	p = strings.ToLower(strings.TrimSpace(strings.ReplaceAll(p, "/", `\`)))
	for _, prefix := range []struct{ from, to string }{
		{`\device\mup\`, `\\`},
		{`\??\unc\`, `\\`},
		{`\\?\unc\`, `\\`},
		{`\\.\unc\`, `\\`},
		{`\??\`, ``},
		{`\\?\`, ``},
		{`\\.\`, ``},
		{`\systemroot\`, `c:\windows\`},
		{`%systemroot%\`, `c:\windows\`},
		{`%windir%\`, `c:\windows\`},
	} {
		if strings.HasPrefix(p, prefix.from) {
			p = prefix.to + p[len(prefix.from):]
			break
		}
	}
	return p
}

// Base is the file name of a Windows path, as recorded.
func Base(p string) string {
	if i := strings.LastIndexAny(p, `\/`); i >= 0 {
		return p[i+1:]
	}
	return p
}
