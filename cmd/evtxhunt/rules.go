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
