package main

import (
	"flag"
	"os"
	"path/filepath"
	"testing"

	"sigs.k8s.io/yaml"
)

var update = flag.Bool("update", false, "rewrite testdata/")

// TestConfig: the kind cluster the traffic suite would create (golden).
func TestConfig(t *testing.T) {
	got, err := yaml.Marshal(Config("zdd-e2e"))
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "config.golden.yaml")
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if string(want) != string(got) {
		t.Errorf("kind config (want %s):\n%s\ngot:\n%s", golden, want, got)
	}
}

func TestRealNodeFacts(t *testing.T) {
	f := RealNodeFacts("zdd-e2e-control-plane", "172.18.0.2")
	if f["node"] != "zdd-e2e-control-plane" || f["nodePortHost"] != "172.18.0.2" || f["taint"] != RealNodeLabel {
		t.Errorf("facts %v", f)
	}
	if got := sortedKeys(f); len(got) != 3 || got[0] != "node" || got[1] != "nodePortHost" {
		t.Errorf("keys %v", got)
	}
}
