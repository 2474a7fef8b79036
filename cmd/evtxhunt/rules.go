package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/evtxhunt/evtxhunt/detections"
	"github.com/evtxhunt/evtxhunt/internal/termsafe"
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
	set, err := loadRuleSet(*extra, nil)
	if err != nil {
		fmt.Fprintf(stderr, "evtxhunt rules: %s\n", safeError(err))
		return exitUsage
	}
	printNotLoaded(stderr, set, "")
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSEVERITY\tRISK\tATT&CK\tNAME")
	for _, r := range set.Rules {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\n", termsafe.String(r.ID), termsafe.String(string(r.Severity)), r.RiskScore,
			termsafe.String(strings.Join(r.TechniqueIDs(), ",")), termsafe.String(r.Name))
	}
	tw.Flush()
	if len(set.NotLoaded) > 0 {
		return exitUsage
	}
	return exitClean
}

// loadRuleSet returns the built-in pack plus the rules of a team's folder
// and of Sigma folders. A folder that cannot be read or gives no rule at all
// is an error that says why; single files that do not load are listed in
// the set with their reasons.
func loadRuleSet(rulesDir string, sigmaDirs []string) (*detections.RuleSet, error) {
	builtin, err := detections.Builtin()
	if err != nil {
		return nil, err
	}
	set := &detections.RuleSet{}
	set.Add(builtin, nil)
	if rulesDir != "" {
		rules, errs := detections.LoadDir(rulesDir)
		if len(rules) == 0 {
			return nil, fmt.Errorf("--rules %s: no rule loaded: %s", rulesDir, firstErrors("", errs))
		}
		set.Add(rules, errs)
	}
	for _, dir := range sigmaDirs {
		load := detections.LoadSigma(dir)
		if len(load.Rules) == 0 && len(load.NotApplicable) > 0 {
			return nil, fmt.Errorf("--sigma %s: no process_creation rule loaded: %d files not applicable, %d failed%s",
				dir, len(load.NotApplicable), len(load.Errors), firstErrors(": ", load.Errors))
		}
		if len(load.Rules) == 0 {
			return nil, fmt.Errorf("--sigma %s: no rule loaded: %s", dir, firstErrors("", load.Errors))
		}
		set.Add(load.Rules, load.Errors)
		set.NotApplicable = append(set.NotApplicable, load.NotApplicable...)
	}
	return set, nil
}

// firstErrors tells the first few errors of a list after prefix, for a
// one-line message; none is no rule file at all.
func firstErrors(prefix string, errs []error) string {
	const show = 3
	if len(errs) == 0 {
		if prefix != "" {
			return ""
		}
		return "no .yml or .yaml file found"
	}
	var msgs []string
	for _, e := range errs[:min(len(errs), show)] {
		msgs = append(msgs, e.Error())
	}
	if len(errs) > show {
		msgs = append(msgs, fmt.Sprintf("and %d more", len(errs)-show))
	}
	return prefix + strings.Join(msgs, "; ")
}

// printNotLoaded says on stderr which rule files were not loaded: how many,
// and the first few; where tells where the full list is.
func printNotLoaded(w io.Writer, set *detections.RuleSet, where string) {
	const show = 5
	if n := len(set.NotLoaded); n > 0 {
		fmt.Fprintf(w, "evtxhunt: %d rule files not loaded%s:\n", n, where)
		for _, nl := range set.NotLoaded[:min(n, show)] {
			fmt.Fprintf(w, "  %s: %s\n", termsafe.String(nl.File), termsafe.String(nl.Reason))
		}
		if n > show {
			fmt.Fprintf(w, "  ... %d more\n", n-show)
		}
	}
	if n := len(set.NotApplicable); n > 0 {
		fmt.Fprintf(w, "evtxhunt: %d Sigma rules not applicable (not windows process_creation)%s\n", n, where)
	}
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
		fmt.Fprintln(stderr, safeError(e))
	}
	fmt.Fprintf(stdout, "%d rules loaded from %s, %d problems\n", len(rules), termsafe.String(dir), len(errs))
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
		fmt.Fprintf(stderr, "not compiled: %s\n", safeError(err))
	}
	total := len(load.Rules) + len(load.NotApplicable) + len(load.Errors)
	fmt.Fprintf(stdout, "%d Sigma rules in %s: %d loaded, %d not applicable (not windows process_creation), %d failed to compile\n",
		total, termsafe.String(dir), len(load.Rules), len(load.NotApplicable), len(load.Errors))
	fmt.Fprintf(stdout, "%d loaded rules read fields Security 4688 does not have (OriginalFileName, Hashes, ...): on 4688 those tests never match\n", len(load.Partial4688))
	if len(load.Errors) > 0 {
		return exitEvidence
	}
	return exitClean
}
