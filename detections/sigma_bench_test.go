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
	sets := benchRuleSets(b)
	tl := scanTimeline(b, "../testdata/evidence")
	for _, set := range sets {
		b.Run(set.name, func(b *testing.B) {
			e := NewEngine(set.rules)
			for b.Loop() {
				e.Run(tl)
			}
			b.ReportMetric(float64(tl.Processes()*b.N)/b.Elapsed().Seconds(), "processes/s")
		})
	}
}

// BenchmarkSigmaThroughput is the whole analysis of the generated incident
// (decode, timeline, rules) with the rules already loaded: the pack alone,
// then the pack and all of SigmaHQ's process_creation rules.
//
//	go test -run '^$' -bench SigmaThroughput -benchtime 10x ./detections
func BenchmarkSigmaThroughput(b *testing.B) {
	for _, set := range benchRuleSets(b) {
		b.Run(set.name, func(b *testing.B) {
			e := NewEngine(set.rules)
			var processes int
			for b.Loop() {
				tl := scanTimeline(b, "../testdata/evidence")
				e.Run(tl)
				processes = tl.Processes()
			}
			b.ReportMetric(float64(processes*b.N)/b.Elapsed().Seconds(), "processes/s")
		})
	}
}

type benchRuleSet struct {
	name  string
	rules []*Rule
}

// benchRuleSets is the pack alone, then the pack and all of SigmaHQ's
// process_creation rules.
func benchRuleSets(b *testing.B) []benchRuleSet {
	load := LoadSigma(sharedSigma + "/rules/process_creation")
	if len(load.Rules) == 0 {
		b.Skip("SKIP: no shared Sigma rules")
	}
	builtin, err := Builtin()
	if err != nil {
		b.Fatal(err)
	}
	return []benchRuleSet{{"pack", builtin}, {"pack+sigma", append(append([]*Rule{}, builtin...), load.Rules...)}}
}
