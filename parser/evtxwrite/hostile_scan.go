package evtxwrite

import (
	"fmt"
	"time"
)

// Crafted logs for the scanner's hostile-evidence tests: each is valid EVTX
// with one thing an attacker can plant in it, and is returned as the file's
// bytes.

// EventlogProvider writes the Security log's own events, 1102 among them.
const (
	EventlogProvider     = "Microsoft-Windows-Eventlog"
	EventlogProviderGUID = "FC65DDD8-D6EF-4962-83D5-6E5CFE9CE148"
)

// Eventlog1102 is "The audit log was cleared", written by the Eventlog
// provider into the Security channel. Windows writes its fields under
// UserData/LogFileCleared; this writer lays them out as EventData.
func Eventlog1102(host string, t time.Time, by Account, logonID uint64) *Event {
	return &Event{Provider: EventlogProvider, ProviderGUID: EventlogProviderGUID, Channel: SecurityChannel, Computer: host,
		EventID: 1102, Level: 4, Task: 104, Keywords: 0x4020000000000000, Time: t, ProcessID: 1032, ThreadID: 1100,
		Data: subjectFields(by, logonID)}
}

// ProcessCreations is n Security 4688 events of the given schema version on
// host, one a second from t, each child with its own pid and image.
func ProcessCreations(host string, t time.Time, n int, version uint8) []*Event {
	parent := Proc{PID: 4242, Image: `C:\Windows\explorer.exe`, User: Account{"CORP", "alice", "S-1-5-21-1-2-3-1001"}, LogonID: 0x5a3f1, Integrity: "Medium"}
	evs := make([]*Event, n)
	for i := range evs {
		child := parent
		child.PID = uint32(5000 + 4*i)
		child.Image = fmt.Sprintf(`C:\Tools\tool_%d.exe`, i)
		child.CommandLine = fmt.Sprintf(`tool_%d.exe --run %d`, i, i)
		child.Elevation = "%%1938"
		evs[i] = Security4688(host, t.Add(time.Duration(i)*time.Second), version, child, parent)
	}
	return evs
}

// ClearedFirstLog is a Security log whose whole first chunk holds "log
// cleared" records (1102, Eventlog provider), followed by n process
// creations: nothing in the first chunk says that process creations follow.
func ClearedFirstLog(host string, t time.Time, n int) ([]byte, error) {
	var buf buffer
	w := NewWriter(&buf)
	admin := Account{"CORP", "admin", "S-1-5-21-1-2-3-500"}
	for i := 0; w.chunks == 0; i++ {
		if _, err := w.Write(Eventlog1102(host, t.Add(time.Duration(i)*time.Millisecond), admin, 0x7e57)); err != nil {
			return nil, err
		}
	}
	for _, ev := range ProcessCreations(host, t.Add(time.Minute), n, 2) {
		if _, err := w.Write(ev); err != nil {
			return nil, err
		}
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.b, nil
}

// writeLog writes events to an in-memory file.
func writeLog(evs []*Event) ([]byte, error) {
	var buf buffer
	w := NewWriter(&buf)
	for _, ev := range evs {
		if _, err := w.Write(ev); err != nil {
			return nil, err
		}
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.b, nil
}

// buffer is an in-memory io.WriterAt.
type buffer struct{ b []byte }

func (w *buffer) WriteAt(p []byte, off int64) (int, error) {
	if need := int(off) + len(p); need > len(w.b) {
		w.b = append(w.b, make([]byte, need-len(w.b))...)
	}
	return copy(w.b[off:], p), nil
}
