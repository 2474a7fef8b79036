package detections

import (
	"embed"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
)

// Loading: rule files of both formats are found in folders by one walk and
// read by one pool of workers; each format parses its own files.

//go:embed rules/*.yml
var builtin embed.FS

// Builtin returns the rule pack shipped in the binary.
func Builtin() ([]*Rule, error) {
	rules, errs := loadPack(builtin, "rules", "rules")
	if len(errs) > 0 {
		return nil, fmt.Errorf("built-in rules: %w", errs[0])
	}
	return rules, nil
}

// LoadDir reads every .yml and .yaml file of a folder (recursively) as a rule.
// It returns the rules that loaded and an error for each file that did not.
func LoadDir(dir string) ([]*Rule, []error) {
	if err := checkFolder(dir); err != nil {
		return nil, []error{err}
	}
	return loadPack(os.DirFS(dir), ".", dir)
}

// loadPack reads the pack's rule files under root, by id.
func loadPack(fsys fs.FS, root, shownRoot string) ([]*Rule, []error) {
	files, errs := findRuleFiles(fsys, root, shownRoot)
	var rules []*Rule
	for _, res := range parseRuleFiles(fsys, files, parsePack) {
		errs = append(errs, res.errs...)
		if res.rule != nil {
			rules = append(rules, res.rule)
		}
	}
	sort.SliceStable(rules, func(i, j int) bool { return rules[i].ID < rules[j].ID })
	return rules, errs
}

func parsePack(file string, b []byte) parsed {
	r, ruleErrs := ParseRule(file, b)
	res := parsed{rule: r}
	for _, e := range ruleErrs {
		res.errs = append(res.errs, e)
	}
	return res
}

// SigmaLoad is what loading a folder of Sigma rules gave.
type SigmaLoad struct {
	Rules         []*Rule
	NotApplicable []string // files whose logsource is not windows process_creation
	Errors        []error  // files that did not compile, with the reason
	Partial4688   []string // rule ids using fields Security 4688 lacks
}

// LoadSigma reads every .yml/.yaml file under dir as a Sigma rule.
func LoadSigma(dir string) SigmaLoad {
	var out SigmaLoad
	if err := checkFolder(dir); err != nil {
		out.Errors = []error{err}
		return out
	}
	fsys := os.DirFS(dir)
	files, errs := findRuleFiles(fsys, ".", dir)
	out.Errors = errs
	for i, res := range parseRuleFiles(fsys, files, parseSigma) {
		switch {
		case res.errs != nil:
			out.Errors = append(out.Errors, res.errs...)
		case res.notApplicable:
			out.NotApplicable = append(out.NotApplicable, files[i].shown)
		default:
			out.Rules = append(out.Rules, res.rule)
			if res.partial {
				out.Partial4688 = append(out.Partial4688, res.rule.ID)
			}
		}
	}
	return out
}

func parseSigma(file string, b []byte) parsed {
	r, applicable, partial, err := ParseSigma(file, b)
	if err != nil {
		return parsed{errs: []error{err}}
	}
	return parsed{rule: r, notApplicable: !applicable, partial: partial}
}

// checkFolder says why dir cannot be read as a rule folder, if it cannot.
func checkFolder(dir string) error {
	info, err := os.Stat(dir)
	if err != nil {
		return err
	}
	if !info.IsDir() {
		return fmt.Errorf("%s is not a folder", dir)
	}
	return nil
}

// ruleFile is a rule file found in a folder: its name in the folder's file
// system and the name errors give.
type ruleFile struct{ name, shown string }

// findRuleFiles lists the .yml and .yaml files under root, in the order of
// their names, and says what could not be walked.
func findRuleFiles(fsys fs.FS, root, shownRoot string) ([]ruleFile, []error) {
	var files []ruleFile
	var errs []error
	shown := func(name string) string {
		return filepath.Join(shownRoot, filepath.FromSlash(strings.TrimPrefix(name, root+"/")))
	}
	_ = fs.WalkDir(fsys, root, func(name string, d fs.DirEntry, err error) error {
		if err != nil {
			errs = append(errs, &RuleError{File: shown(name), Msg: err.Error()})
			return nil
		}
		if ext := strings.ToLower(path.Ext(name)); !d.IsDir() && (ext == ".yml" || ext == ".yaml") {
			files = append(files, ruleFile{name, shown(name)})
		}
		return nil
	}) // never fails: the function goes on past every error
	sort.Slice(files, func(i, j int) bool { return files[i].name < files[j].name })
	return files, errs
}

// parsed is what one rule file gave.
type parsed struct {
	rule          *Rule
	notApplicable bool // a Sigma rule for another log
	partial       bool // a Sigma rule reading fields Security 4688 lacks
	errs          []error
}

// parseRuleFiles reads and parses the files in parallel (YAML parsing is
// most of the cost), giving the results in the files' order.
func parseRuleFiles(fsys fs.FS, files []ruleFile, parse func(file string, b []byte) parsed) []parsed {
	results := make([]parsed, len(files))
	var wg sync.WaitGroup
	var next atomic.Int64
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(files) {
					return
				}
				b, err := readRuleFile(fsys, files[i].name, files[i].shown)
				if err != nil {
					results[i].errs = []error{err}
					continue
				}
				results[i] = parse(files[i].shown, b)
			}
		})
	}
	wg.Wait()
	return results
}

// checkRuleSize refuses a file too large to be a rule, before any parsing.
func checkRuleSize(file string, b []byte) *RuleError {
	if len(b) > maxRuleFileSize {
		return &RuleError{File: file, Msg: tooLarge(int64(len(b)))}
	}
	return nil
}

func tooLarge(size int64) string {
	return fmt.Sprintf("%d bytes: larger than %d bytes, not read as a rule", size, maxRuleFileSize)
}

// readRuleFile reads a rule file of a folder: only a regular file (a FIFO
// or a device would block or never end) and no more than a rule can be.
// shown is the name errors give.
func readRuleFile(fsys fs.FS, name, shown string) ([]byte, error) {
	info, err := fs.Stat(fsys, name)
	if err != nil {
		return nil, &RuleError{File: shown, Msg: err.Error()}
	}
	if !info.Mode().IsRegular() {
		return nil, &RuleError{File: shown, Msg: fmt.Sprintf("not a regular file (%v), not read", info.Mode().Type())}
	}
	if info.Size() > maxRuleFileSize {
		return nil, &RuleError{File: shown, Msg: tooLarge(info.Size())}
	}
	f, err := fsys.Open(name)
	if err != nil {
		return nil, &RuleError{File: shown, Msg: err.Error()}
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxRuleFileSize+1))
	if err != nil {
		return nil, &RuleError{File: shown, Msg: err.Error()}
	}
	if err := checkRuleSize(shown, b); err != nil {
		return nil, err
	}
	return b, nil
}
