//go:build unix && !linux

package parser

import "syscall"

const (
	openFlags = syscall.O_NONBLOCK | syscall.O_NOCTTY
	noATime   = 0 // no such flag: reading may update access times
)
