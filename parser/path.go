package parser

import "strings"

// NormalizePath writes a Windows path in one canonical form, so that every
// spelling of the same place compares equal: lower case, backslashes, and the
// kernel and API prefixes folded. The RDP client drive is the example that
// matters: Security 4688 writes \Device\Mup\tsclient\c\x.exe, Sysmon writes
// \\tsclient\c\x.exe, and \??\UNC\tsclient\c\x.exe and
// \\?\UNC\tsclient\c\x.exe are the same file; all become
// \\tsclient\c\x.exe.
func NormalizePath(p string) string {
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

// BaseName is the file name of a Windows path, as recorded.
func BaseName(p string) string {
	if i := strings.LastIndexAny(p, `\/`); i >= 0 {
		return p[i+1:]
	}
	return p
}
