package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/evtxhunt/evtxhunt/detections"
)

func runRules(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("rules", "[--rules DIR] | --check DIR", stderr)
	extra := fs.String("rules", "", "also load the rules in `DIR`")
	check := fs.String("check", "", "validate the rules in `DIR` (format, match, and each rule's own tests) and report every problem")
	sigma := fs.String("sigma", "", "load the Sigma rules in `DIR` and report what compiled, what does not apply, and what failed")
	rest, err := parseFlags(fs, args)
	if err != nil {
		return usageError(stderr, fs, err)
	}
	if len(rest) > 0 {
		return usageError(stderr, fs, fmt.Errorf("unexpected argument %q", rest[0]))
	}
	if *check != "" {
		return checkRules(*check, stdout, stderr)
	}
	if *sigma != "" {
		return reportSigma(*sigma, stdout, stderr)
	}
	rules, err := loadRules(*extra)
	if err != nil {
		fmt.Fprintf(stderr, "evtxhunt rules: %v\n", err)
		return exitUsage
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSEVERITY\tRISK\tATT&CK\tNAME")
	for _, r := range rules {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\n", r.ID, r.Severity, r.RiskScore, strings.Join(r.TechniqueIDs(), ","), r.Name)
	}
	tw.Flush()
	return exitClean
}

// loadRules returns the built-in pack plus the rules of dir, if given.
func loadRules(dir string) ([]*detections.Rule, error) {
	builtin, err := detections.Builtin()
	if err != nil {
		return nil, err
	}
	if dir == "" {
		return builtin, nil
	}
	user, errs := detections.LoadDir(dir)
	if len(errs) > 0 {
		var msgs []string
		for _, e := range errs {
			msgs = append(msgs, e.Error())
		}
		return nil, fmt.Errorf("rules in %s:\n  %s", dir, strings.Join(msgs, "\n  "))
	}
	return detections.Merge(builtin, user)
}

// checkRules validates a rule folder as a team would before using it.
func checkRules(dir string, stdout, stderr io.Writer) int {
	rules, errs := detections.LoadDir(dir)
	for _, r := range rules {
		errs = append(errs, detections.RunTests(r)...)
	}
	if _, err := detections.Merge(append(mustBuiltin(), rules...)); err != nil {
		errs = append(errs, err)
	}
	for _, e := range errs {
		fmt.Fprintln(stderr, e)
	}
	fmt.Fprintf(stdout, "%d rules loaded from %s, %d problems\n", len(rules), dir, len(errs))
	if len(errs) > 0 {
		return exitEvidence
	}
	return exitClean
}

func mustBuiltin() []*detections.Rule {
	rules, err := detections.Builtin()
	if err != nil {
		return nil // reported by every other command; the check is about dir
	}
	return rules
}

// reportSigma loads a Sigma folder and says what became of every file.
func reportSigma(dir string, stdout, stderr io.Writer) int {
	load := detections.LoadSigma(dir)
	for _, err := range load.Errors {
		fmt.Fprintf(stderr, "not compiled: %v\n", err)
	}
	total := len(load.Rules) + len(load.NotApplicable) + len(load.Errors)
	fmt.Fprintf(stdout, "%d Sigma rules in %s: %d loaded, %d not applicable (not windows process_creation), %d failed to compile\n",
		total, dir, len(load.Rules), len(load.NotApplicable), len(load.Errors))
	fmt.Fprintf(stdout, "%d loaded rules read fields Security 4688 does not have (OriginalFileName, Hashes, ...): on 4688 those tests never match\n", len(load.Partial4688))
	if len(load.Errors) > 0 {
		return exitEvidence
	}
	return exitClean
}
