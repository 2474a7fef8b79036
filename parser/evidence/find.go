// Package evidence finds and opens the event logs to read. Find expands the
// files and folders an examiner names into the list of EVTX files, and says
// why every other path met was not read (NotRead); an Opener opens each file
// as a Source the scanner reads from. OS opens files of the operating
// system's file systems; openers of files inside disk images plug in the
// same way.
//
//	files, notRead := evidence.Find([]string{"/cases/c1/HOST1"})
//	src, err := evidence.OS{}.Open(files[0])
package evidence

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
)

// NotRead is a path met while looking for evidence that is not read, and why.
type NotRead struct {
	Path   string `json:"path"`
	Reason string `json:"reason"`
}

func (n NotRead) String() string { return n.Path + ": " + n.Reason }

// Find expands files and folders into the EVTX files to read, in a
// stable order. Folders are walked recursively; inside them only names ending
// in .evtx (any letter case) are taken, while a file named explicitly is
// always taken. A file reached twice (by two paths or two links) is listed
// once.
//
// The paths given are the evidence roots, followed if they are links. Inside
// them, a link is followed only if it leads to a place inside a root, and
// never into a folder twice, so link loops end. Every path that would have
// been read and is not is returned with the reason: a path that does not
// exist or cannot be listed, a dangling link, a link out of the roots, and
// anything that is not a regular file (a named pipe, a device, a socket
// named like a log), which is never opened.
func Find(paths []string) ([]string, []NotRead) {
	w := walker{seenDirs: map[string]bool{}, seenFiles: map[string]bool{}}
	infos := make([]fs.FileInfo, len(paths))
	for i, p := range paths {
		info, err := os.Stat(p)
		if err == nil {
			var real string
			if real, err = realPath(p); err == nil {
				infos[i] = info
				w.roots = append(w.roots, real)
			}
		}
		if err != nil {
			w.skip(p, reason(err))
		}
	}
	for i, p := range paths {
		switch info := infos[i]; {
		case info == nil:
		case info.IsDir():
			w.dir(p)
		case info.Mode().IsRegular():
			w.file(p)
		default:
			w.skip(p, describeType(info.Mode().Type())+", not a regular file: not opened")
		}
	}
	return w.files, w.notRead
}

type walker struct {
	roots     []string // real paths of the paths given
	files     []string
	notRead   []NotRead
	seenDirs  map[string]bool // by real path
	seenFiles map[string]bool
}

func (w *walker) skip(path, reason string) {
	w.notRead = append(w.notRead, NotRead{path, reason})
}

func (w *walker) dir(path string) {
	real, err := realPath(path)
	if err != nil {
		w.skip(path, reason(err))
		return
	}
	if w.seenDirs[real] {
		return
	}
	w.seenDirs[real] = true
	d, err := openReadOnly(path)
	if err != nil {
		w.skip(path, reason(err))
		return
	}
	entries, err := d.ReadDir(-1)
	d.Close()
	if err != nil {
		w.skip(path, "listing the folder: "+reason(err))
	}
	slices.SortFunc(entries, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	for _, e := range entries {
		p := filepath.Join(path, e.Name())
		typ := e.Type()
		if typ&fs.ModeSymlink != 0 {
			info, err := os.Stat(p)
			if err != nil {
				w.skip(p, "link that leads nowhere readable: "+reason(err))
				continue
			}
			typ = info.Mode().Type()
			if !typ.IsDir() && !IsEVTXName(e.Name()) {
				continue // not read whatever it leads to
			}
			target, err := realPath(p)
			if err != nil {
				w.skip(p, "link that cannot be resolved: "+reason(err))
				continue
			}
			if !w.inRoots(target) {
				w.skip(p, "link to "+target+", outside the evidence paths given: not followed")
				continue
			}
		}
		switch {
		case typ.IsDir():
			w.dir(p)
		case !IsEVTXName(e.Name()):
		case typ.IsRegular():
			w.file(p)
		default:
			w.skip(p, describeType(typ)+", not a regular file: not opened")
		}
	}
}

func (w *walker) file(path string) {
	key := path
	if real, err := realPath(path); err == nil {
		key = real
	}
	if w.seenFiles[key] {
		return
	}
	w.seenFiles[key] = true
	w.files = append(w.files, path)
}

// inRoots reports whether a real path is one of the roots or inside one.
func (w *walker) inRoots(real string) bool {
	for _, root := range w.roots {
		if within(real, root) {
			return true
		}
	}
	return false
}

// within reports whether path is root or inside it; both are clean absolute
// paths. Windows compares names without regard to case.
func within(path, root string) bool {
	if runtime.GOOS == "windows" {
		path, root = strings.ToLower(path), strings.ToLower(root)
	}
	return path == root || strings.HasPrefix(path, strings.TrimSuffix(root, string(filepath.Separator))+string(filepath.Separator))
}

// realPath is a path's absolute form with every link resolved.
func realPath(path string) (string, error) {
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return "", err
	}
	return filepath.Abs(real)
}

// reason is an error's text without the path it names, which NotRead holds.
func reason(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// IsEVTXName reports whether a file name has the .evtx extension, in any case.
func IsEVTXName(name string) bool {
	return strings.EqualFold(filepath.Ext(name), ".evtx")
}
