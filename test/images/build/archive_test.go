package main

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// readArchive returns the archive's files by name.
func readArchive(t *testing.T, data []byte) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	tr := tar.NewReader(bytes.NewReader(data))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return files
		}
		if err != nil {
			t.Fatalf("reading the archive: %v", err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		files[h.Name] = b
	}
}

func TestWriteArchive(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "prog")
	if err := os.WriteFile(bin, []byte("#!/bin/true\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	images := []Image{
		{Tags: []string{"zdd.local/a:v1"}, Binary: bin, Entrypoint: "/prog", Env: []string{"ZDD_VERSION=v1"}},
		{Tags: []string{"zdd.local/a:v2"}, Binary: bin, Entrypoint: "/prog", Env: []string{"ZDD_VERSION=v2"}},
	}
	var first, second bytes.Buffer
	if err := WriteArchive(&first, images); err != nil {
		t.Fatal(err)
	}
	if err := WriteArchive(&second, images); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(first.Bytes(), second.Bytes()) {
		t.Errorf("two archives of the same images differ: not reproducible")
	}

	files := readArchive(t, first.Bytes())
	var manifest []manifestEntry
	if err := json.Unmarshal(files["manifest.json"], &manifest); err != nil {
		t.Fatalf("manifest.json: %v", err)
	}
	if len(manifest) != 2 {
		t.Fatalf("manifest has %d images, want 2", len(manifest))
	}
	// the two versions share one layer and have their own configs
	if manifest[0].Layers[0] != manifest[1].Layers[0] {
		t.Errorf("layers differ: %v vs %v", manifest[0].Layers, manifest[1].Layers)
	}
	if manifest[0].Config == manifest[1].Config {
		t.Errorf("both images share config %s", manifest[0].Config)
	}
	for i, m := range manifest {
		if diff := cmp.Diff(images[i].Tags, m.RepoTags); diff != "" {
			t.Errorf("image %d tags (-want +got):\n%s", i, diff)
		}
		layer := files[m.Layers[0]]
		sum := sha256.Sum256(layer)
		var cfg imageConfig
		if err := json.Unmarshal(files[m.Config], &cfg); err != nil {
			t.Fatalf("config %s: %v", m.Config, err)
		}
		cfgSum := sha256.Sum256(files[m.Config])
		if want := hex.EncodeToString(cfgSum[:]) + ".json"; want != m.Config {
			t.Errorf("config named %s, its digest is %s", m.Config, want)
		}
		if diff := cmp.Diff([]string{"sha256:" + hex.EncodeToString(sum[:])}, cfg.RootFS.DiffIDs); diff != "" {
			t.Errorf("image %d diff_ids (-want +got):\n%s", i, diff)
		}
		if diff := cmp.Diff([]string{"PATH=/", images[i].Env[0]}, cfg.Config.Env); diff != "" {
			t.Errorf("image %d env (-want +got):\n%s", i, diff)
		}
		if diff := cmp.Diff([]string{"/prog"}, cfg.Config.Entrypoint); diff != "" {
			t.Errorf("image %d entrypoint (-want +got):\n%s", i, diff)
		}
		// the layer holds the binary, executable, at the entrypoint
		lf := readArchive(t, layer)
		if got := string(lf["prog"]); got != "#!/bin/true\n" {
			t.Errorf("layer's /prog = %q", got)
		}
		tr := tar.NewReader(bytes.NewReader(layer))
		for {
			h, err := tr.Next()
			if err != nil {
				break
			}
			if h.Name == "prog" && h.Mode&0o111 == 0 {
				t.Errorf("/prog mode %o is not executable", h.Mode)
			}
		}
	}
}

func TestWriteArchiveRefusesBadInput(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "prog")
	if err := os.WriteFile(bin, []byte("x"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, img := range map[string]Image{
		"no tag":                 {Binary: bin, Entrypoint: "/prog"},
		"relative entrypoint":    {Tags: []string{"a:1"}, Binary: bin, Entrypoint: "prog"},
		"missing binary":         {Tags: []string{"a:1"}, Binary: filepath.Join(dir, "nope"), Entrypoint: "/prog"},
		"entrypoint is the root": {Tags: []string{"a:1"}, Binary: bin, Entrypoint: "/"},
	} {
		t.Run(name, func(t *testing.T) {
			if err := WriteArchive(io.Discard, []Image{img}); err == nil {
				t.Errorf("WriteArchive accepted %+v", img)
			}
		})
	}
}
