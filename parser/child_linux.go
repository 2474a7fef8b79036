package parser

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"syscall"
)

// setAddressLimit lets the process map at most limit more bytes of address
// space than it has now: the Go runtime reserves about a gigabyte at start,
// so an absolute limit would be meaningless. Past it the runtime aborts with
// "out of memory", which the parent reports.
func setAddressLimit(limit int64) error {
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return err
	}
	_, rest, ok := bytes.Cut(status, []byte("\nVmSize:"))
	line, _, _ := bytes.Cut(rest, []byte("\n"))
	kb, err := strconv.ParseInt(string(bytes.TrimSpace(bytes.TrimSuffix(bytes.TrimSpace(line), []byte("kB")))), 10, 64)
	if !ok || err != nil {
		return fmt.Errorf("no VmSize in /proc/self/status")
	}
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_AS, &rl); err != nil {
		return err
	}
	rl.Cur = min(uint64(kb)*1024+uint64(limit), rl.Max)
	return syscall.Setrlimit(syscall.RLIMIT_AS, &rl)
}
