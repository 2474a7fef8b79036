//go:build !unix

package evidence

const (
	openFlags = 0 // opening never waits here; what was opened is still checked
	noATime   = 0 // no such flag: reading may update access times
)
