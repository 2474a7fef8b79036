package parser

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"
)

// openReadOnly opens a file or folder of the evidence: read-only, without
// waiting (a named pipe or a device must not hang the scan: openFlags), and
// without updating its access time where the system allows it (noATime). It
// is the one way evidence is opened.
func openReadOnly(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|openFlags, 0)
	if err != nil && noATime != 0 && errors.Is(err, syscall.EPERM) {
		// Linux grants O_NOATIME only to the file's owner (or
		// CAP_FOWNER); anyone else may still read.
		f, err = os.OpenFile(path, os.O_RDONLY|openFlags&^noATime, 0)
	}
	return f, err
}

// openEvidence opens an evidence file and returns what fstat says of the
// opened descriptor, refusing anything but a regular file: checked on the
// descriptor, the answer holds for what is read, even if the path changed
// since it was found.
func openEvidence(path string) (*os.File, fs.FileInfo, error) {
	f, err := openReadOnly(path)
	if err != nil {
		return nil, nil, err
	}
	info, err := f.Stat()
	if err == nil && !info.Mode().IsRegular() {
		err = fmt.Errorf("%s is %s, not a regular file: not read", path, describeType(info.Mode().Type()))
	}
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return f, info, nil
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
