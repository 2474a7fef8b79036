package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/evtxhunt/evtxhunt/internal/testevidence"
	"github.com/evtxhunt/evtxhunt/parser"
	w "github.com/evtxhunt/evtxhunt/parser/evtxwrite"
)

// Rule ids of the two seed detections, as the manifest names them.
const (
	ruleNetscanMstsc = "HuntQuery-CrowdStrike-NetscanMstscRDP"
	ruleTSClient     = "4fe9d835-40e1-452d-8230-17c147cafad8"
)

// ruleDetect names a rule of evtxhunt's lateral-movement pack.
func ruleDetect(name string) string { return "evtxhunt-lm-" + name }

// The manifest states what the generated evidence holds and what a correct
// analysis must find in it, with hosts, times and record ids: EXPECTED.json,
// as testevidence defines it for the tests that read it.
type manifest struct {
	testevidence.Incident

	// seedParent is WKS01's netscan.exe, the parent in the first seed
	// finding: testdata/hostile plants another version of its 4688.
	seedParent *proc
}

// incident builds the evidence of a small intrusion across four hosts: a
// phished workstation runs netscan.exe, which opens RDP to a server; the
// attacker runs tools from the RDP client's drive (tsclient), scans again and
// hops on, leaving PsExec, WMI, WinRM and DCOM traces; decoys sit beside each
// true positive.
type incident struct {
	hosts []*host
	extra []*logFile // logs without a host simulation of their own
	finds []pendingFinding
	vss   *logFile
}

type pendingFinding struct {
	list            *[]testevidence.Finding
	rule, what      string
	host            *host
	nextHop         string
	parent, process *proc
}

func (in *incident) note(list *[]testevidence.Finding, rule, what string, h *host, parent, p *proc, nextHop string) {
	in.finds = append(in.finds, pendingFinding{list, rule, what, h, nextHop, parent, p})
}

var day = time.Date(2024, 3, 14, 0, 0, 0, 0, time.UTC)

// at is a time of the incident's day, UTC.
func at(hour, min, sec, ms int) time.Time {
	return day.Add(time.Duration(hour)*time.Hour + time.Duration(min)*time.Minute + time.Duration(sec)*time.Second + time.Duration(ms)*time.Millisecond)
}

// generateIncident writes the incident's logs and manifest to root, and
// returns the manifest and the logs, with their events and record ids.
func generateIncident(root string, seed uint64) (*manifest, []*logFile, error) {
	var m manifest
	in := &incident{}
	wks := newHost("WKS01", "10.0.10.21", 2, true, seed+1)
	wks.sysComputer = "wks01.corp.local"
	srv1 := newHost("SRV01", "10.0.20.11", auditOff, true, seed+2)
	srv1.sysComputer = "SRV01"
	srv2 := newHost("SRV02", "10.0.20.12", 2, true, seed+3)
	legacy := newHost("LEGACY01", "10.0.30.5", 1, false, seed+4)
	legacy.secComputer = "LEGACY01"
	legacy.noiseGap = 90
	in.hosts = []*host{wks, srv1, srv2, legacy}
	rcm := map[*host]*logFile{}
	for _, h := range []*host{srv1, srv2, legacy} {
		rcm[h] = newLog(h.name+"/C/Windows/System32/winevt/Logs/Microsoft-Windows-TerminalServices-RemoteConnectionManager%4Operational.evtx", seed, rcmSpan)
		in.extra = append(in.extra, rcm[h])
	}
	rdp := func(h *host, t time.Time, user w.Account, from string) *proc {
		h.noiseUntil(t)
		rcm[h].add(w.TerminalServices1149(h.secComputer, t.Add(-2*time.Second), user, from))
		ex := h.logon(t, user, 10, from)
		h.start(t.Add(3*time.Second), h.svchosts[4], 0, sys32+"rdpclip.exe", "rdpclip", user, ex.LogonID, "Medium")
		return ex
	}
	for i, h := range in.hosts {
		h.boot(at(6, 50, 0, 0).Add(time.Duration(i) * 97 * time.Second))
	}
	legacy.reserved[0x1a2c] = true

	// Ordinary users and admins at work.
	wks.noiseUntil(at(7, 55, 0, 0))
	aliceExplorer := wks.logon(at(7, 55, 0, 0), acctAlice, 2, "127.0.0.1")
	itSrv2 := rdp(srv2, at(8, 5, 0, 0), acctIT, "10.0.10.50")
	itLegacy := rdp(legacy, at(9, 30, 0, 0), acctIT, "10.0.10.50")

	// Decoy: an administrator scans the network on SRV02; nothing follows.
	srv2.noiseUntil(at(9, 0, 30, 0))
	adminScan := srv2.start(at(9, 0, 30, 0), itSrv2, 0, `C:\Program Files\SoftPerfect Network Scanner\netscan.exe`, `"C:\Program Files\SoftPerfect Network Scanner\netscan.exe" `, acctIT, itSrv2.LogonID, "High")
	srv2.owe(at(9, 20, 11, 0), adminScan)
	in.note(&m.MustNotFire, ruleNetscanMstsc, "netscan.exe run by an administrator, no mstsc.exe follows", srv2, itSrv2, adminScan, "")

	// Decoy: the user's own RDP session, mstsc.exe started by explorer.exe.
	wks.noiseUntil(at(9, 15, 3, 0))
	userRDP := wks.start(at(9, 15, 3, 0), aliceExplorer, 0, sys32+"mstsc.exe", `"C:\Windows\system32\mstsc.exe" /v:JUMP01.corp.local`, acctAlice, aliceExplorer.LogonID, "Medium")
	wks.owe(at(9, 48, 40, 0), userRDP)
	in.note(&m.MustNotFire, ruleNetscanMstsc, "mstsc.exe started by explorer.exe", wks, aliceExplorer, userRDP, "")

	// Decoy: netscan.exe exits on LEGACY01 and its PID is reused by cmd.exe,
	// which then starts mstsc.exe. Joining on the PID alone blames netscan.
	legacy.noiseUntil(at(9, 40, 10, 0))
	delete(legacy.reserved, 0x1a2c)
	oldScan := legacy.start(at(9, 40, 10, 0), itLegacy, 0x1a2c, `C:\Tools\SoftPerfect\netscan.exe`, `"C:\Tools\SoftPerfect\netscan.exe" /hide`, acctIT, itLegacy.LogonID, "High")
	legacy.noiseUntil(at(9, 45, 0, 0))
	legacy.exit(at(9, 45, 0, 0), oldScan)
	legacy.noiseUntil(at(9, 50, 20, 0))
	reuser := legacy.start(at(9, 50, 20, 0), itLegacy, 0x1a2c, sys32+"cmd.exe", `"C:\Windows\system32\cmd.exe" `, acctIT, itLegacy.LogonID, "High")
	legacy.noiseUntil(at(9, 52, 5, 0))
	reuseRDP := legacy.start(at(9, 52, 5, 0), reuser, 0, sys32+"mstsc.exe", `mstsc.exe /v:SRV01`, acctIT, itLegacy.LogonID, "High")
	legacy.owe(at(10, 31, 0, 0), reuseRDP)
	legacy.owe(at(10, 40, 0, 0), reuser)
	in.note(&m.MustNotFire, ruleNetscanMstsc, "mstsc.exe started by cmd.exe that reused the PID of an exited netscan.exe (4688 v1: PIDs only)", legacy, reuser, reuseRDP, "")

	// WKS01: alice runs netscan.exe, which opens RDP to SRV01.
	wks.noiseUntil(at(10, 5, 12, 0))
	scan1 := wks.start(at(10, 5, 12, 345), aliceExplorer, 0, `C:\Users\alice\Downloads\netscan.exe`, `"C:\Users\alice\Downloads\netscan.exe" `, acctAlice, aliceExplorer.LogonID, "Medium")
	for i, ip := range []string{"10.0.20.5", "10.0.20.11", "10.0.20.12", "10.0.30.5"} {
		c := w.Conn{Outbound: true, Protocol: 6, SrcIP: wks.ip, SrcPort: uint16(51000 + i), DstIP: ip, DstPort: 445}
		t := at(10, 5, 40, 0).Add(time.Duration(i) * 700 * time.Millisecond)
		wks.sec.add(w.Security5156(wks.secComputer, t, scan1.Proc, c))
		wks.sysmon.add(w.Sysmon3(wks.sysComputer, t, scan1.Proc, c))
	}
	wks.noiseUntil(at(10, 9, 40, 0))
	hop1 := wks.start(at(10, 9, 40, 120), scan1, 0, sys32+"mstsc.exe", `"C:\Windows\system32\mstsc.exe" /v:SRV01.corp.local`, acctAlice, aliceExplorer.LogonID, "Medium")
	wks.sec.add(w.Security4648(wks.secComputer, at(10, 9, 52, 0), hop1.Proc, acctAdmin, "SRV01.corp.local"))
	wks.sec.add(w.Security5156(wks.secComputer, at(10, 10, 1, 0), hop1.Proc, w.Conn{Outbound: true, Protocol: 6, SrcIP: wks.ip, SrcPort: 51200, DstIP: srv1.ip, DstPort: 3389}))
	wks.owe(at(10, 58, 0, 0), hop1)
	wks.owe(at(11, 20, 0, 0), scan1)
	in.note(&m.Detections, ruleNetscanMstsc, "netscan.exe spawned mstsc.exe (Security 4688 v2 and Sysmon 1)", wks, scan1, hop1, "SRV01.corp.local")
	m.seedParent = scan1
	in.note(&m.Detections, ruleDetect("mstsc-unusual-parent"), "mstsc.exe started by netscan.exe", wks, scan1, hop1, "SRV01.corp.local")

	// SRV01: adm_jdoe over RDP from WKS01, runs netscan from the client's
	// drive and opens RDP to SRV02.
	admSrv1 := rdp(srv1, at(10, 10, 5, 0), acctAdmin, wks.ip)
	srv1.noiseUntil(at(10, 12, 30, 0))
	readme := srv1.start(at(10, 12, 30, 0), admSrv1, 0, sys32+"notepad.exe", `"C:\Windows\system32\NOTEPAD.EXE" \\tsclient\c\Tools\readme.txt`, acctAdmin, admSrv1.LogonID, "Medium")
	srv1.owe(at(10, 13, 10, 0), readme)
	in.note(&m.MustNotFire, ruleTSClient, "notepad.exe opening a text file on the tsclient drive: the executable is not on tsclient", srv1, admSrv1, readme, "")
	srv1.noiseUntil(at(10, 14, 2, 0))
	scan2 := srv1.start(at(10, 14, 2, 500), admSrv1, 0, `\\tsclient\c\Tools\netscan.exe`, `"\\tsclient\c\Tools\netscan.exe" `, acctAdmin, admSrv1.LogonID, "Medium")
	scan2.CurrentDirectory = `\\tsclient\c\Tools\`
	srv1.sysmon.add(w.Sysmon11(srv1.sysComputer, at(10, 15, 0, 0), scan2.Proc, `C:\Users\adm_jdoe\AppData\Local\Temp\netscan.xml`))
	in.note(&m.Detections, ruleTSClient, "executable started from the RDP client drive (Sysmon 1: \\\\tsclient\\c\\...)", srv1, admSrv1, scan2, "")
	srv1.noiseUntil(at(10, 21, 45, 0))
	hop2 := srv1.start(at(10, 21, 45, 800), scan2, 0, sys32+"mstsc.exe", `"C:\Windows\system32\mstsc.exe" /v:10.0.20.12`, acctAdmin, admSrv1.LogonID, "Medium")
	srv1.owe(at(11, 5, 0, 0), hop2)
	srv1.owe(at(11, 6, 0, 0), scan2)
	in.note(&m.Detections, ruleNetscanMstsc, "netscan.exe spawned mstsc.exe (Sysmon 1 only: process auditing is off)", srv1, scan2, hop2, "10.0.20.12")
	in.note(&m.Detections, ruleDetect("mstsc-unusual-parent"), "mstsc.exe started by netscan.exe", srv1, scan2, hop2, "10.0.20.12")

	// SRV02: adm_jdoe arrives over RDP; remote execution traces follow.
	admSrv2 := rdp(srv2, at(10, 22, 10, 0), acctAdmin, srv1.ip)
	srv2.noiseUntil(at(10, 30, 0, 0))
	srv2.sec.add(w.Security4624(srv2.secComputer, at(10, 29, 58, 0), w.Logon{Type: 3, User: acctAdmin, LogonID: 0x7a1100, Workstation: "SRV01", IP: srv1.ip, Port: 50432, Package: "NTLM"}))
	psexesvc := srv2.start(at(10, 30, 0, 0), srv2.services, 0, `C:\Windows\PSEXESVC.exe`, `C:\Windows\PSEXESVC.exe`, acctSystem, 0x3e7, "System")
	psCmd := srv2.start(at(10, 30, 1, 0), psexesvc, 0, sys32+"cmd.exe", `"cmd.exe" /c "whoami /all"`, acctAdmin, 0x7a1100, "High")
	psReg := srv2.start(at(10, 30, 9, 0), psexesvc, 0, sys32+"reg.exe", `reg.exe save HKLM\SAM C:\Windows\Temp\sam.save`, acctAdmin, 0x7a1100, "High")
	srv2.owe(at(10, 30, 2, 0), psCmd)
	srv2.owe(at(10, 30, 10, 0), psReg)
	srv2.owe(at(10, 31, 0, 0), psexesvc)
	in.note(&m.LateralMovement, "", "PsExec: PSEXESVC.exe runs a shell", srv2, psexesvc, psCmd, "")
	in.note(&m.Detections, ruleDetect("psexec-service"), "PsExec service started", srv2, srv2.services, psexesvc, "")
	in.note(&m.Detections, ruleDetect("psexec-child"), "shell run through PsExec", srv2, psexesvc, psCmd, "")
	in.note(&m.Detections, ruleDetect("psexec-child"), "SAM hive saved through PsExec", srv2, psexesvc, psReg, "")
	in.note(&m.LateralMovement, "", "PsExec: PSEXESVC.exe saves the SAM hive", srv2, psexesvc, psReg, "")

	srv2.noiseUntil(at(10, 34, 0, 0))
	wmi := srv2.start(at(10, 34, 0, 0), srv2.dcomLaunch, 0, sys32+`wbem\WmiPrvSE.exe`, `C:\Windows\system32\wbem\wmiprvse.exe -secured -Embedding`, acctNetwork, 0x3e4, "System")
	wmiCmd := srv2.start(at(10, 34, 0, 900), wmi, 0, sys32+"cmd.exe", `cmd.exe /Q /c cd \ 1> \\127.0.0.1\ADMIN$\__1710412440.2345 2>&1`, acctAdmin, 0x7a1100, "High")
	srv2.owe(at(10, 34, 2, 0), wmiCmd)
	srv2.owe(at(10, 36, 0, 0), wmi)
	in.note(&m.LateralMovement, "", "WMI (Impacket wmiexec): WmiPrvSE.exe runs cmd.exe /Q /c ... \\\\127.0.0.1\\ADMIN$", srv2, wmi, wmiCmd, "")
	for _, rule := range []string{"wmi-shell", "wmi-child", "impacket-exec-output"} {
		in.note(&m.Detections, ruleDetect(rule), "wmiexec shell", srv2, wmi, wmiCmd, "")
	}

	srv2.noiseUntil(at(10, 38, 0, 0))
	wsm := srv2.start(at(10, 38, 0, 0), srv2.dcomLaunch, 0, sys32+"wsmprovhost.exe", `C:\Windows\system32\wsmprovhost.exe -Embedding`, acctAdmin, 0x7a1100, "High")
	wsmPS := srv2.start(at(10, 38, 2, 0), wsm, 0, sys32+`WindowsPowerShell\v1.0\powershell.exe`, `"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe" -NoProfile -Command "Get-LocalGroupMember Administrators"`, acctAdmin, 0x7a1100, "High")
	winrs := srv2.start(at(10, 39, 0, 0), srv2.dcomLaunch, 0, sys32+"winrshost.exe", `C:\Windows\system32\WinrsHost.exe -Embedding`, acctAdmin, 0x7a1100, "High")
	winrsCmd := srv2.start(at(10, 39, 0, 500), winrs, 0, sys32+"cmd.exe", `cmd.exe /c ipconfig /all`, acctAdmin, 0x7a1100, "High")
	for _, p := range []*proc{wsmPS, winrsCmd, wsm, winrs} {
		srv2.owe(at(10, 41, 0, 0), p)
	}
	in.note(&m.LateralMovement, "", "WinRM: wsmprovhost.exe runs PowerShell", srv2, wsm, wsmPS, "")
	in.note(&m.LateralMovement, "", "WinRM: winrshost.exe runs cmd.exe", srv2, winrs, winrsCmd, "")
	in.note(&m.Detections, ruleDetect("winrm-wsmprovhost-child"), "PowerShell remoting command", srv2, wsm, wsmPS, "")
	in.note(&m.Detections, ruleDetect("winrs-child"), "winrs command", srv2, winrs, winrsCmd, "")

	srv2.noiseUntil(at(10, 42, 0, 0))
	mmc := srv2.start(at(10, 42, 0, 0), srv2.dcomLaunch, 0, sys32+"mmc.exe", `C:\Windows\system32\mmc.exe -Embedding`, acctAdmin, 0x7a1100, "High")
	mmcCmd := srv2.start(at(10, 42, 1, 0), mmc, 0, sys32+"cmd.exe", `cmd.exe /c "net group "domain admins" /domain"`, acctAdmin, 0x7a1100, "High")
	srv2.owe(at(10, 42, 3, 0), mmcCmd)
	srv2.owe(at(10, 44, 0, 0), mmc)
	in.note(&m.LateralMovement, "", "DCOM (MMC20.Application): mmc.exe -Embedding runs cmd.exe", srv2, mmc, mmcCmd, "")
	in.note(&m.Detections, ruleDetect("dcom-mmc20"), "MMC20.Application command", srv2, mmc, mmcCmd, "")

	srv2.noiseUntil(at(10, 50, 0, 0))
	shell := srv2.start(at(10, 50, 0, 0), admSrv2, 0, sys32+"cmd.exe", `"C:\Windows\system32\cmd.exe" `, acctAdmin, admSrv2.LogonID, "High")
	schtasks := srv2.start(at(10, 50, 30, 0), shell, 0, sys32+"schtasks.exe", `schtasks.exe /create /s LEGACY01 /tn Updater /tr "C:\Windows\Temp\u.exe" /sc once /st 11:30 /ru SYSTEM`, acctAdmin, admSrv2.LogonID, "High")
	scExe := srv2.start(at(10, 51, 10, 0), shell, 0, sys32+"sc.exe", `sc.exe \\LEGACY01 create upd binPath= "C:\Windows\Temp\u.exe" start= demand`, acctAdmin, admSrv2.LogonID, "High")
	srv2.owe(at(10, 50, 31, 0), schtasks)
	srv2.owe(at(10, 51, 11, 0), scExe)
	in.note(&m.LateralMovement, "", "remote scheduled task: schtasks /create /s", srv2, shell, schtasks, "")
	in.note(&m.LateralMovement, "", "remote service creation: sc.exe \\\\host create", srv2, shell, scExe, "")
	in.note(&m.Detections, ruleDetect("remote-schtasks"), "remote scheduled task", srv2, shell, schtasks, "LEGACY01")
	in.note(&m.Detections, ruleDetect("remote-service-sc"), "remote service creation", srv2, shell, scExe, "LEGACY01")
	srv2.noiseUntil(at(10, 55, 0, 0))
	hop3 := srv2.start(at(10, 55, 0, 0), admSrv2, 0, sys32+"mstsc.exe", `"C:\Windows\system32\mstsc.exe" /v:LEGACY01`, acctAdmin, admSrv2.LogonID, "High")
	srv2.owe(at(11, 40, 0, 0), hop3)
	srv2.owe(at(11, 41, 0, 0), shell)

	// LEGACY01 (4688 v1, no Sysmon): netscan from the client's drive, then
	// RDP onwards, linked to it by PIDs only.
	admLegacy := rdp(legacy, at(10, 56, 30, 0), acctAdmin, srv2.ip)
	legacy.noiseUntil(at(11, 2, 15, 0))
	scan3 := legacy.start(at(11, 2, 15, 0), admLegacy, 0, `\Device\Mup\tsclient\C\Tools\netscan.exe`, `"\\tsclient\C\Tools\netscan.exe" `, acctAdmin, admLegacy.LogonID, "High")
	in.note(&m.Detections, ruleTSClient, "executable started from the RDP client drive (4688: \\Device\\Mup\\tsclient\\...)", legacy, admLegacy, scan3, "")
	legacy.noiseUntil(at(11, 9, 50, 0))
	hop4 := legacy.start(at(11, 9, 50, 0), scan3, 0, sys32+"mstsc.exe", `mstsc.exe /v:10.0.40.10`, acctAdmin, admLegacy.LogonID, "High")
	legacy.owe(at(11, 50, 0, 0), hop4)
	legacy.owe(at(11, 51, 0, 0), scan3)
	in.note(&m.Detections, ruleNetscanMstsc, "netscan.exe spawned mstsc.exe (Security 4688 v1: linked by PIDs only)", legacy, scan3, hop4, "10.0.40.10")
	in.note(&m.Detections, ruleDetect("mstsc-unusual-parent"), "mstsc.exe started by netscan.exe", legacy, scan3, hop4, "10.0.40.10")
	legacy.noiseUntil(at(11, 30, 0, 0))
	task := legacy.start(at(11, 30, 0, 0), legacy.svchosts[3], 0, `C:\Windows\Temp\u.exe`, `C:\Windows\Temp\u.exe`, acctSystem, 0x3e7, "System")
	legacy.owe(at(11, 30, 40, 0), task)

	for _, h := range in.hosts {
		h.noiseUntil(at(18, 0, 0, 0))
		h.settleExits(at(18, 0, 0, 0))
	}

	// Write every log; an older copy of WKS01's Security log sits in a
	// shadow copy folder, as collections often hold.
	var logs []*logFile
	for _, h := range in.hosts {
		logs = append(logs, h.sec)
		if h.sysmon != nil {
			logs = append(logs, h.sysmon)
		}
	}
	logs = append(logs, in.extra...)
	for _, l := range logs {
		if err := l.write(root, 0); err != nil {
			return nil, nil, err
		}
	}
	// The copy is the same log earlier: same events, same record ids.
	vss := &logFile{rel: "WKS01/VSS/HarddiskVolumeShadowCopy1/Windows/System32/winevt/Logs/Security.evtx", firstID: wks.sec.firstID, events: wks.sec.events}
	if err := vss.write(root, len(wks.sec.events)*45/100); err != nil {
		return nil, nil, err
	}

	m.Description = "A generated intrusion: WKS01 (4688 v2 and Sysmon), SRV01 (Sysmon only), SRV02 (4688 v2 and Sysmon), LEGACY01 (4688 v1 only). Times are UTC."
	m.Seed = seed
	for _, h := range in.hosts {
		hm := testevidence.Host{Name: h.name, IP: h.ip, Sysmon: h.sysmon != nil, ProcessAuditing: "off", Spellings: uniq(h.secComputer, h.sysComputer)}
		if h.sysmon == nil {
			hm.Spellings = []string{h.secComputer}
		}
		if h.audit != auditOff {
			hm.ProcessAuditing = "4688 v" + strconv.Itoa(int(h.audit))
		}
		for _, l := range append(append([]*logFile{h.sec, h.sysmon}, rcm[h]), map[bool]*logFile{true: vss}[h == wks]) {
			if l != nil {
				hm.Logs = append(hm.Logs, describeLog(l))
			}
		}
		m.Hosts = append(m.Hosts, hm)
	}
	for i := range m.Hosts[0].Logs {
		if m.Hosts[0].Logs[i].File == vss.rel {
			m.Hosts[0].Logs[i].CopyOf = wks.sec.rel
		}
	}
	for _, f := range in.finds {
		*f.list = append(*f.list, testevidence.Finding{Rule: f.rule, What: f.what, Host: f.host.name, Time: f.process.started.Format(parser.TimeLayout),
			NextHop: f.nextHop, Parent: ref(f.parent), Process: *ref(f.process)})
	}
	b, err := json.MarshalIndent(&m, "", "  ")
	if err != nil {
		return nil, nil, err
	}
	return &m, append(logs, vss), os.WriteFile(filepath.Join(root, testevidence.ManifestName), append(b, '\n'), 0o644)
}

func ref(p *proc) *testevidence.Process {
	if p == nil {
		return nil
	}
	return &testevidence.Process{Image: p.Image, CommandLine: p.CommandLine, PID: p.PID, User: p.User.Domain + `\` + p.User.Name, Records: p.refs()}
}

func describeLog(l *logFile) testevidence.Log {
	lm := testevidence.Log{File: l.rel, ByEventID: map[string]int{}}
	for _, ev := range l.events {
		if _, written := l.ids[ev]; !written {
			continue
		}
		lm.Records++
		lm.ByEventID[strconv.Itoa(int(ev.EventID))]++
		if (ev.EventID == 4688 && ev.Provider == w.SecurityProvider) || (ev.EventID == 1 && ev.Provider == w.SysmonProvider) {
			lm.ProcessEvents++
		}
	}
	return lm
}

func uniq(s ...string) []string {
	var out []string
	for _, v := range s {
		if len(out) == 0 || out[len(out)-1] != v {
			out = append(out, v)
		}
	}
	return out
}
