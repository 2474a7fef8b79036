package detections

import (
	"testing"
)

// BenchmarkSigmaIncident runs all of SigmaHQ's process_creation rules over
// the generated incident's timeline, beside the built-in pack.
//
//	go test -run '^$' -bench Sigma -benchtime 5x ./detections
func BenchmarkSigmaIncident(b *testing.B) {
	if testing.Short() {
		b.Skip()
	}
	load := LoadSigma(sharedSigma + "/rules/process_creation")
	if len(load.Rules) == 0 {
		b.Skip("SKIP: no shared Sigma rules")
	}
	tl := scanTimeline(b, "../testdata/evidence")
	builtin, _ := Builtin()
	for _, set := range []struct {
		name  string
		rules []*Rule
	}{{"pack", builtin}, {"pack+sigma", append(append([]*Rule{}, builtin...), load.Rules...)}} {
		b.Run(set.name, func(b *testing.B) {
			e := NewEngine(set.rules)
			for b.Loop() {
				e.Run(tl)
			}
			b.ReportMetric(float64(tl.Processes()*b.N)/b.Elapsed().Seconds(), "processes/s")
		})
	}
}
