//go:build unix && !linux

package evidence

import "syscall"

const (
	openFlags = syscall.O_NONBLOCK | syscall.O_NOCTTY
	noATime   = 0 // no such flag: reading may update access times
)
