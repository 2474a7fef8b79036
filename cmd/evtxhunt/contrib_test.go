package main

import (
	"flag"
	"io"
	"os"
	"regexp"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// TestVelociraptorArtifact checks that the shipped artifact is valid YAML and
// only passes flags that the scan command has, so renaming a flag breaks it
// here rather than on a fleet.
func TestVelociraptorArtifact(t *testing.T) {
	b, err := os.ReadFile("../../contrib/velociraptor/Custom.Windows.EventLogs.Evtxhunt.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var art struct {
		Name  string `yaml:"name"`
		Tools []struct {
			Name string `yaml:"name"`
		} `yaml:"tools"`
		Sources []struct {
			Query string `yaml:"query"`
		} `yaml:"sources"`
	}
	if err := yaml.Unmarshal(b, &art); err != nil {
		t.Fatal(err)
	}
	if art.Name != "Custom.Windows.EventLogs.Evtxhunt" || len(art.Tools) != 1 || art.Tools[0].Name != "evtxhunt" || len(art.Sources) != 1 {
		t.Fatalf("artifact: %+v", art)
	}
	query := art.Sources[0].Query
	if !strings.Contains(query, `"scan"`) {
		t.Error("the artifact does not run scan")
	}
	fs := flag.NewFlagSet("scan", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var a analysis
	a.register(fs)
	var dec decodeFlags
	dec.register(fs)
	flags := regexp.MustCompile(`"--([a-z-]+)"`).FindAllStringSubmatch(query, -1)
	if len(flags) < 4 {
		t.Fatalf("found flags %v", flags)
	}
	for _, f := range flags {
		if fs.Lookup(f[1]) == nil {
			t.Errorf("the artifact passes --%s, which scan does not have", f[1])
		}
	}
}
