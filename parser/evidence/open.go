package evidence

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"
)

// An Opener opens evidence files by name. The name is the one reported for
// the file in every count and error; an Opener for files inside a disk image
// may take names such as disk.E01#p3:/Windows/System32/winevt/Logs/Security.evtx.
type Opener interface {
	Open(name string) (Source, error)
}

// A Source is an evidence file open for reading. Reads may come from any
// goroutine, one at a time. Stat describes the source as it is now: its size
// when opened is how much is read, and its size and modification time after
// reading, compared with those when opened, tell whether it changed while it
// was read. Close is called once, when the reader is done with it.
type Source interface {
	io.ReaderAt
	Stat() (fs.FileInfo, error)
	io.Closer
}

// OS is the Opener of files on the operating system's file systems, the one
// way evidence is opened from them: read-only, without waiting (a named pipe
// or a device must not hang the scan), without updating access times where
// the system allows it, and only regular files, which is checked on the
// descriptor opened, so that the answer holds for what is read even if the
// path changed since it was found.
type OS struct{}

// Open opens the file at path. Anything but a regular file is an error
// naming what it is.
func (OS) Open(path string) (Source, error) {
	f, err := openReadOnly(path)
	if err != nil {
		return nil, err
	}
	info, err := f.Stat()
	if err == nil && !info.Mode().IsRegular() {
		err = fmt.Errorf("%s is %s, not a regular file: not read", path, describeType(info.Mode().Type()))
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// openReadOnly opens a file or folder of the evidence: read-only, without
// waiting (openFlags), and without updating its access time where the
// system allows it (noATime).
func openReadOnly(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|openFlags, 0)
	if err != nil && noATime != 0 && errors.Is(err, syscall.EPERM) {
		// Linux grants O_NOATIME only to the file's owner (or
		// CAP_FOWNER); anyone else may still read.
		f, err = os.OpenFile(path, os.O_RDONLY|openFlags&^noATime, 0)
	}
	return f, err
}

// describeType names a kind of file that is not read.
func describeType(t fs.FileMode) string {
	switch {
	case t&fs.ModeDir != 0:
		return "a folder"
	case t&fs.ModeNamedPipe != 0:
		return "a named pipe (FIFO)"
	case t&fs.ModeSocket != 0:
		return "a socket"
	case t&fs.ModeCharDevice != 0:
		return "a character device"
	case t&fs.ModeDevice != 0:
		return "a block device"
	case t&fs.ModeSymlink != 0:
		return "a symbolic link"
	}
	return "an irregular file"
}
