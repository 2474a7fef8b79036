package main

import (
	"fmt"
	"slices"
	"time"

	w "github.com/evtxhunt/evtxhunt/parser/evtxwrite"
)

// Accounts of the simulated domain.
var (
	acctSystem  = w.Account{Domain: "NT AUTHORITY", Name: "SYSTEM", SID: "S-1-5-18"}
	acctLocal   = w.Account{Domain: "NT AUTHORITY", Name: "LOCAL SERVICE", SID: "S-1-5-19"}
	acctNetwork = w.Account{Domain: "NT AUTHORITY", Name: "NETWORK SERVICE", SID: "S-1-5-20"}
	domainSID   = "S-1-5-21-1004336348-1177238915-682003330-"
	acctAlice   = w.Account{Domain: "CORP", Name: "alice", SID: domainSID + "1104"}
	acctAdmin   = w.Account{Domain: "CORP", Name: "adm_jdoe", SID: domainSID + "1108"}
	acctIT      = w.Account{Domain: "CORP", Name: "it_admin", SID: domainSID + "1110"}
	acctBob     = w.Account{Domain: "CORP", Name: "bob", SID: domainSID + "1112"}
)

const (
	sys32     = `C:\Windows\System32\`
	svchost   = sys32 + "svchost.exe"
	fileSrvIP = "10.0.20.30"
	dcIP      = "10.0.20.5"
)

// exitAt is a process end the simulation still owes.
type exitAt struct {
	t time.Time
	p *proc
}

// boot starts the processes every Windows machine has, so that later
// processes have real parents.
func (h *host) boot(t time.Time) {
	tick := func() time.Time { t = t.Add(time.Duration(200+h.rng.IntN(900)) * time.Millisecond); return t }
	smss := h.start(tick(), nil, 0, sys32+"smss.exe", `\SystemRoot\System32\smss.exe`, acctSystem, 0x3e7, "System")
	h.start(tick(), smss, 0, sys32+"csrss.exe", `%SystemRoot%\system32\csrss.exe ObjectDirectory=\Windows SharedSection=1024,20480,768`, acctSystem, 0x3e7, "System")
	wininit := h.start(tick(), smss, 0, sys32+"wininit.exe", "wininit.exe", acctSystem, 0x3e7, "System")
	h.services = h.start(tick(), wininit, 0, sys32+"services.exe", `C:\Windows\system32\services.exe`, acctSystem, 0x3e7, "System")
	h.start(tick(), wininit, 0, sys32+"lsass.exe", `C:\Windows\system32\lsass.exe`, acctSystem, 0x3e7, "System")
	for _, k := range []struct {
		group string
		user  w.Account
		logon uint64
	}{{"DcomLaunch -p", acctSystem, 0x3e7}, {"RPCSS -p", acctNetwork, 0x3e4}, {"LocalServiceNetworkRestricted -p", acctLocal, 0x3e5},
		{"netsvcs -p", acctSystem, 0x3e7}, {"NetworkService -p", acctNetwork, 0x3e4}, {"LocalSystemNetworkRestricted -p", acctSystem, 0x3e7}} {
		p := h.start(tick(), h.services, 0, svchost, `C:\Windows\system32\svchost.exe -k `+k.group, k.user, k.logon, "System")
		h.svchosts = append(h.svchosts, p)
		if k.group == "DcomLaunch -p" {
			h.dcomLaunch = p
		}
	}
	h.start(tick(), h.services, 0, sys32+"spoolsv.exe", `C:\Windows\System32\spoolsv.exe`, acctSystem, 0x3e7, "System")
	h.winlogon = h.start(tick(), smss, 0, sys32+"winlogon.exe", "winlogon.exe", acctSystem, 0x3e7, "System")
	h.clock = t
}

// logon starts an interactive session: 4624 type 2 or 10, userinit, explorer.
func (h *host) logon(t time.Time, user w.Account, logonType uint32, from string) *proc {
	logonID := uint64(0x100000 + h.rng.IntN(0xeffff))
	h.sec.add(w.Security4624(h.secComputer, t, w.Logon{Type: logonType, User: user, LogonID: logonID, Workstation: h.name, IP: from, Port: uint16(49152 + h.rng.IntN(16000)), Package: "Negotiate"}))
	userinit := h.start(t.Add(800*time.Millisecond), h.winlogon, 0, sys32+"userinit.exe", sys32+"userinit.exe", user, logonID, "Medium")
	explorer := h.start(t.Add(1500*time.Millisecond), userinit, 0, `C:\Windows\explorer.exe`, `C:\Windows\Explorer.EXE`, user, logonID, "Medium")
	explorer.CurrentDirectory = `C:\Users\` + user.Name + `\`
	h.owe(t.Add(3*time.Second), userinit)
	h.explorer[user.Name] = explorer
	return explorer
}

func (h *host) owe(t time.Time, p *proc) {
	h.exits = append(h.exits, exitAt{t, p})
}

// noiseUntil runs the ordinary life of the machine up to t: services and
// users starting short programs, network connections, network logons, file
// writes. Owed process exits happen in time order along the way.
func (h *host) noiseUntil(until time.Time) {
	for {
		next := h.clock.Add(time.Duration(10+h.rng.IntN(h.noiseGap)) * time.Second)
		if next.Before(until) {
			h.settleExits(next)
		} else {
			h.settleExits(until)
		}
		if next.After(until) {
			h.clock = until
			return
		}
		h.clock = next
		h.noiseStep(next)
	}
}

// settleExits performs every owed exit due by t.
func (h *host) settleExits(t time.Time) {
	slices.SortStableFunc(h.exits, func(a, b exitAt) int { return a.t.Compare(b.t) })
	n := 0
	for n < len(h.exits) && !h.exits[n].t.After(t) {
		h.exit(h.exits[n].t, h.exits[n].p)
		n++
	}
	h.exits = h.exits[n:]
}

var (
	serviceChildren = []struct{ image, cmd string }{
		{sys32 + "taskhostw.exe", `taskhostw.exe Install $(Arg0)`},
		{sys32 + "backgroundTaskHost.exe", `"C:\Windows\system32\backgroundTaskHost.exe" -ServerName:BackgroundTaskHost.WebAccountProvider`},
		{sys32 + "SearchProtocolHost.exe", `"C:\Windows\system32\SearchProtocolHost.exe" Global\UsGthrFltPipeMssGthrPipe1_ Global\UsGthrCtrlFltPipeMssGthrPipe1 1 -2147483646 "Software\Microsoft\Windows Search"`},
		{sys32 + "wermgr.exe", `C:\Windows\system32\wermgr.exe -upload`},
		{sys32 + "wbem\\WmiPrvSE.exe", `C:\Windows\system32\wbem\wmiprvse.exe -secured -Embedding`},
		{sys32 + "sppsvc.exe", `C:\Windows\system32\sppsvc.exe`},
		{sys32 + "compattelrunner.exe", `C:\Windows\system32\compattelrunner.exe -maintenance`},
		{`C:\Program Files\Windows Defender\MpCmdRun.exe`, `"C:\Program Files\Windows Defender\MpCmdRun.exe" -wdenable`},
		{sys32 + "gpupdate.exe", `gpupdate.exe /target:computer`},
	}
	userApps = []struct{ image, cmd string }{
		{`C:\Program Files\Google\Chrome\Application\chrome.exe`, `"C:\Program Files\Google\Chrome\Application\chrome.exe" `},
		{`C:\Program Files\Microsoft Office\root\Office16\OUTLOOK.EXE`, `"C:\Program Files\Microsoft Office\root\Office16\OUTLOOK.EXE" `},
		{`C:\Program Files\Microsoft Office\root\Office16\EXCEL.EXE`, `"C:\Program Files\Microsoft Office\root\Office16\EXCEL.EXE" "\\fs01\finance\Q1 budget.xlsx"`},
		{`C:\Windows\System32\notepad.exe`, `"C:\Windows\system32\NOTEPAD.EXE" C:\Users\%s\Documents\todo.txt`},
		{`C:\Windows\System32\cmd.exe`, `"C:\Windows\system32\cmd.exe" `},
		{`C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe`, `"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe" `},
		{`C:\Windows\System32\mmc.exe`, `"C:\Windows\system32\mmc.exe" "C:\Windows\system32\compmgmt.msc" /s`},
	}
)

func (h *host) noiseStep(t time.Time) {
	for range h.extraNoise {
		h.backgroundTraffic(t.Add(time.Duration(h.rng.IntN(5000)) * time.Millisecond))
	}
	r := h.rng.IntN(100)
	switch {
	case r < 35:
		svc := h.svchosts[h.rng.IntN(len(h.svchosts))]
		c := serviceChildren[h.rng.IntN(len(serviceChildren))]
		p := h.start(t, svc, 0, c.image, c.cmd, svc.User, svc.LogonID, "System")
		h.owe(t.Add(time.Duration(1+h.rng.IntN(90))*time.Second), p)
	case r < 55 && len(h.explorer) > 0:
		for _, user := range sortedKeys(h.explorer) {
			if h.rng.IntN(2) == 0 {
				continue
			}
			ex := h.explorer[user]
			app := userApps[h.rng.IntN(len(userApps))]
			cmd := app.cmd
			if app.image == `C:\Windows\System32\notepad.exe` {
				cmd = fmt.Sprintf(cmd, user)
			}
			p := h.start(t, ex, 0, app.image, cmd, ex.User, ex.LogonID, "Medium")
			if baseName(app.image) == "chrome.exe" {
				for i := range 1 + h.rng.IntN(3) {
					child := h.start(t.Add(time.Duration(300+200*i)*time.Millisecond), p, 0, app.image,
						fmt.Sprintf(`"C:\Program Files\Google\Chrome\Application\chrome.exe" --type=renderer --renderer-client-id=%d`, 5+i), ex.User, ex.LogonID, "Low")
					h.owe(t.Add(time.Duration(20+h.rng.IntN(600))*time.Second), child)
				}
			}
			if baseName(app.image) == "cmd.exe" || baseName(app.image) == "powershell.exe" {
				conhost := h.start(t.Add(20*time.Millisecond), p, 0, sys32+"conhost.exe", `\??\C:\Windows\system32\conhost.exe 0xffffffff -ForceV1`, ex.User, ex.LogonID, "Medium")
				h.owe(t.Add(time.Duration(30+h.rng.IntN(300))*time.Second), conhost)
			}
			h.owe(t.Add(time.Duration(40+h.rng.IntN(1800))*time.Second), p)
			break
		}
	case r < 75:
		// Connections of live processes: 5156 and Sysmon 3.
		p := h.anyLive()
		c := w.Conn{Outbound: true, Protocol: 6, SrcIP: h.ip, SrcPort: uint16(49152 + h.rng.IntN(16000)), DstIP: []string{fileSrvIP, dcIP, "52.96.165.18"}[h.rng.IntN(3)], DstPort: []uint16{445, 443, 389, 88}[h.rng.IntN(4)]}
		h.sec.add(w.Security5156(h.secComputer, t, p.Proc, c))
		if h.sysmon != nil {
			h.sysmon.add(w.Sysmon3(h.sysComputer, t.Add(5*time.Millisecond), p.Proc, c))
		}
	case r < 88:
		l := w.Logon{Type: 3, User: []w.Account{acctBob, acctIT, acctAlice}[h.rng.IntN(3)], LogonID: uint64(0x200000 + h.rng.IntN(0xfffff)),
			Workstation: "-", IP: []string{fileSrvIP, dcIP, "10.0.10.22"}[h.rng.IntN(3)], Port: uint16(50000 + h.rng.IntN(10000)), Package: "Kerberos"}
		h.sec.add(w.Security4624(h.secComputer, t, l))
		h.sec.add(w.Security4634(h.secComputer, t.Add(time.Duration(1+h.rng.IntN(20))*time.Second), l))
	default:
		if h.sysmon != nil {
			p := h.anyLive()
			h.sysmon.add(w.Sysmon11(h.sysComputer, t, p.Proc, fmt.Sprintf(`C:\Windows\Temp\%08x.tmp`, h.rng.Uint32())))
		}
	}
}

// anyLive picks a live process deterministically.
func (h *host) anyLive() *proc {
	pids := sortedKeys(h.live)
	return h.live[pids[h.rng.IntN(len(pids))]]
}

func sortedKeys[K int | uint32 | string, V any](m map[K]V) []K {
	keys := make([]K, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// backgroundTraffic is what dominates real Security logs: filtering
// platform connections and network logons.
func (h *host) backgroundTraffic(t time.Time) {
	p := h.anyLive()
	c := w.Conn{Outbound: h.rng.IntN(3) > 0, Protocol: 6, SrcIP: h.ip, SrcPort: uint16(49152 + h.rng.IntN(16000)), DstIP: dcIP, DstPort: []uint16{445, 443, 389, 88, 135}[h.rng.IntN(5)]}
	h.sec.add(w.Security5156(h.secComputer, t, p.Proc, c))
	if h.rng.IntN(4) == 0 {
		l := w.Logon{Type: 3, User: acctBob, LogonID: uint64(0x300000 + h.rng.IntN(0xfffff)), Workstation: "-", IP: fileSrvIP, Port: uint16(50000 + h.rng.IntN(10000)), Package: "Kerberos"}
		h.sec.add(w.Security4624(h.secComputer, t, l))
		h.sec.add(w.Security4634(h.secComputer, t.Add(time.Second), l))
	}
}
