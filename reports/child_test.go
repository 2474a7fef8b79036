package reports

import (
	"testing"

	"github.com/evtxhunt/evtxhunt/parser"
)

// TestMain serves as golang-evtx's child process when a Scanner of these
// tests starts this binary as one.
func TestMain(m *testing.M) { parser.RunTests(m) }
