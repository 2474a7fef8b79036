package reports

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// CaseFile is the outcome of writing one file of a case folder.
type CaseFile struct {
	Name  string `json:"name"`
	Error string `json:"error,omitempty"`
}

// IncompleteError says which files of a case folder could not be written.
type IncompleteError struct {
	Dir    string
	Failed []CaseFile
}

func (e *IncompleteError) Error() string {
	var parts []string
	for _, f := range e.Failed {
		parts = append(parts, f.Name+" ("+f.Error+")")
	}
	return fmt.Sprintf("case folder %s is incomplete: %s not written", e.Dir, strings.Join(parts, ", "))
}

// WrapFunc wraps the writer of one case file; tests inject failures, such
// as a full disk, through it.
type WrapFunc func(name string, w io.Writer) io.Writer

// AtomicFile writes one file of a case folder under a temporary name in the
// same folder; Commit renames it into place when every write succeeded, so
// that the folder never holds a partial file under a case file's name. The
// first error is kept and later writes are dropped.
type AtomicFile struct {
	dir, name string
	f         *os.File
	w         io.Writer
	err       error
}

// CreateAtomic starts the file name in dir. An error is kept for Commit to
// report: writes to a file that could not be created are dropped.
func CreateAtomic(dir, name string, wrap WrapFunc) *AtomicFile {
	a := &AtomicFile{dir: dir, name: name}
	a.f, a.err = createTemp(dir, name)
	if a.err == nil {
		a.w = a.f
		if wrap != nil {
			a.w = wrap(name, a.f)
		}
	}
	return a
}

func (a *AtomicFile) Write(p []byte) (int, error) {
	if a.err != nil {
		return 0, a.err
	}
	n, err := a.w.Write(p)
	if err != nil {
		a.err = err
	}
	return n, err
}

// Fail records an error of the code writing the file, which then is not
// committed.
func (a *AtomicFile) Fail(err error) {
	if a.err == nil {
		a.err = err
	}
}

// Commit puts the file in place, or removes it when anything failed. A file
// that failed also removes an older file of its name (left by an earlier run
// in a forced folder), which would otherwise pass for this run's.
func (a *AtomicFile) Commit() CaseFile {
	final := filepath.Join(a.dir, a.name)
	if a.f != nil {
		if a.err == nil {
			a.err = a.f.Sync() // a full disk may only tell here or at Close
		}
		if err := a.f.Close(); a.err == nil {
			a.err = err
		}
		if a.err == nil {
			a.err = os.Rename(a.f.Name(), final)
		}
		if a.err != nil {
			os.Remove(a.f.Name())
		}
	}
	if a.err == nil {
		return CaseFile{Name: a.name}
	}
	msg := a.err.Error()
	if info, err := os.Lstat(final); err == nil && info.Mode().IsRegular() && os.Remove(final) == nil {
		msg += "; the older file of that name was removed"
	}
	return CaseFile{Name: a.name, Error: msg}
}

// createTemp creates a new hidden file beside name in dir, with the
// permissions os.Create gives (os.CreateTemp's are owner-only).
func createTemp(dir, name string) (*os.File, error) {
	for i := 0; ; i++ {
		path := filepath.Join(dir, fmt.Sprintf(".%s.%d.tmp", name, i))
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o666)
		if !errors.Is(err, fs.ErrExist) || i == 99 {
			return f, err
		}
	}
}

// writeCaseFile writes one file of a case folder in one go.
func writeCaseFile(dir, name string, wrap WrapFunc, write func(io.Writer) error) CaseFile {
	a := CreateAtomic(dir, name, wrap)
	if a.err == nil {
		if err := write(a); err != nil {
			a.Fail(err)
		}
	}
	return a.Commit()
}
