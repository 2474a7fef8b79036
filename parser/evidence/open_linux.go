package evidence

import "syscall"

const (
	openFlags = syscall.O_NONBLOCK | syscall.O_NOCTTY | syscall.O_NOATIME
	noATime   = syscall.O_NOATIME
)
