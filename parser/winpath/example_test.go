package winpath_test

import (
	"fmt"

	"github.com/evtxhunt/evtxhunt/parser/winpath"
)

// Security 4688 and Sysmon name the same file on an RDP client's drive in
// different ways; normalized, they compare equal.
func ExampleNormalize() {
	security := `\Device\Mup\tsclient\C\Tools\x.exe`
	sysmon := `\\tsclient\c\tools\X.EXE`
	fmt.Println(winpath.Normalize(security))
	fmt.Println(winpath.Normalize(security) == winpath.Normalize(sysmon))
	fmt.Println(winpath.Base(sysmon))
	// Output:
	// \\tsclient\c\tools\x.exe
	// true
	// X.EXE
}
