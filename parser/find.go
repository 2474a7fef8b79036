package parser

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// FindEvidence expands files and folders into the EVTX files to read, in a
// stable order. Folders are walked recursively, following symbolic links but
// never into a folder twice, so link loops end; inside folders only names
// ending in .evtx (any letter case) are taken, while a file named explicitly is
// always taken. A file reached twice (by two paths or two links) is listed
// once. Paths that cannot be read are returned as errors, and the walk goes on.
func FindEvidence(paths []string) ([]string, []error) {
	w := walker{seenDirs: map[string]bool{}, seenFiles: map[string]bool{}}
	for _, p := range paths {
		info, err := os.Stat(p)
		if err != nil {
			w.errs = append(w.errs, err)
			continue
		}
		if info.IsDir() {
			w.dir(p)
		} else {
			w.file(p)
		}
	}
	return w.files, w.errs
}

type walker struct {
	files     []string
	errs      []error
	seenDirs  map[string]bool // by resolved path
	seenFiles map[string]bool
}

func (w *walker) dir(path string) {
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		w.errs = append(w.errs, err)
		return
	}
	if w.seenDirs[real] {
		return
	}
	w.seenDirs[real] = true
	entries, err := os.ReadDir(path) // sorted by name
	if err != nil {
		w.errs = append(w.errs, err)
	}
	for _, e := range entries {
		p := filepath.Join(path, e.Name())
		typ := e.Type()
		if typ&fs.ModeSymlink != 0 {
			info, err := os.Stat(p)
			if err != nil {
				w.errs = append(w.errs, fmt.Errorf("following link: %w", err))
				continue
			}
			typ = info.Mode().Type()
		}
		switch {
		case typ.IsDir():
			w.dir(p)
		case typ.IsRegular() && IsEVTXName(e.Name()):
			w.file(p)
		}
	}
}

func (w *walker) file(path string) {
	key := path
	if real, err := filepath.EvalSymlinks(path); err == nil {
		if abs, err := filepath.Abs(real); err == nil {
			key = abs
		}
	}
	if w.seenFiles[key] {
		return
	}
	w.seenFiles[key] = true
	w.files = append(w.files, path)
}

// IsEVTXName reports whether a file name has the .evtx extension, in any case.
func IsEVTXName(name string) bool {
	return strings.EqualFold(filepath.Ext(name), ".evtx")
}
