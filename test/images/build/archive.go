package main

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"time"
)

// Image is one image of the archive: a single layer holding Binary at
// Entrypoint.
type Image struct {
	Tags       []string
	Binary     string
	Entrypoint string
	Env        []string
}

// epoch is every file time in the archive, so the same inputs give the same
// bytes.
var epoch = time.Unix(0, 0).UTC()

// The parts of the image config (the OCI/Docker image JSON) that a runtime
// reads.
type imageConfig struct {
	Architecture string        `json:"architecture"`
	OS           string        `json:"os"`
	Created      time.Time     `json:"created"`
	Config       runConfig     `json:"config"`
	RootFS       rootFS        `json:"rootfs"`
	History      []historyItem `json:"history"`
}

type runConfig struct {
	Entrypoint []string `json:"Entrypoint"`
	Env        []string `json:"Env"`
	WorkingDir string   `json:"WorkingDir"`
}

type rootFS struct {
	Type    string   `json:"type"`
	DiffIDs []string `json:"diff_ids"`
}

type historyItem struct {
	Created   time.Time `json:"created"`
	CreatedBy string    `json:"created_by"`
}

// manifestEntry is one element of the archive's manifest.json.
type manifestEntry struct {
	Config   string   `json:"Config"`
	RepoTags []string `json:"RepoTags"`
	Layers   []string `json:"Layers"`
}

// WriteArchive writes images to w in the layout of `docker save`: one
// directory per distinct layer (named by its digest) holding layer.tar, one
// config file per image named by its digest, and manifest.json.
func WriteArchive(w io.Writer, images []Image) error {
	tw := tar.NewWriter(w)
	layers := map[string]string{} // binary+entrypoint -> layer path in the archive
	written := map[string]bool{}
	var manifest []manifestEntry
	for _, img := range images {
		if len(img.Tags) == 0 {
			return fmt.Errorf("an image with no tag (entrypoint %s)", img.Entrypoint)
		}
		key := img.Binary + "\x00" + img.Entrypoint
		layerPath, ok := layers[key]
		var diffID string
		if ok {
			diffID = "sha256:" + path.Dir(layerPath)
		} else {
			layer, err := layerTar(img.Binary, img.Entrypoint)
			if err != nil {
				return err
			}
			sum := sha256.Sum256(layer)
			hexSum := hex.EncodeToString(sum[:])
			diffID = "sha256:" + hexSum
			layerPath = hexSum + "/layer.tar"
			layers[key] = layerPath
			if err := writeFile(tw, hexSum+"/", nil, true); err != nil {
				return err
			}
			if err := writeFile(tw, layerPath, layer, false); err != nil {
				return err
			}
		}
		env := append([]string{"PATH=/"}, img.Env...)
		cfg, err := json.Marshal(imageConfig{
			Architecture: "amd64",
			OS:           "linux",
			Created:      epoch,
			Config:       runConfig{Entrypoint: []string{img.Entrypoint}, Env: env, WorkingDir: "/"},
			RootFS:       rootFS{Type: "layers", DiffIDs: []string{diffID}},
			History:      []historyItem{{Created: epoch, CreatedBy: "kubectl-zdd test/images/build"}},
		})
		if err != nil {
			return err
		}
		cfgSum := sha256.Sum256(cfg)
		cfgName := hex.EncodeToString(cfgSum[:]) + ".json"
		if !written[cfgName] {
			if err := writeFile(tw, cfgName, cfg, false); err != nil {
				return err
			}
			written[cfgName] = true
		}
		tags := append([]string(nil), img.Tags...)
		sort.Strings(tags)
		manifest = append(manifest, manifestEntry{Config: cfgName, RepoTags: tags, Layers: []string{layerPath}})
	}
	m, err := json.Marshal(manifest)
	if err != nil {
		return err
	}
	if err := writeFile(tw, "manifest.json", m, false); err != nil {
		return err
	}
	return tw.Close()
}

// layerTar is a layer holding the file at binary as entry, mode 0755, and an
// empty /tmp.
func layerTar(binary, entry string) ([]byte, error) {
	data, err := os.ReadFile(binary)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	name := path.Clean(entry)
	if len(name) < 2 || name[0] != '/' {
		return nil, fmt.Errorf("entrypoint %q: want an absolute path", entry)
	}
	if err := writeMode(tw, "tmp/", nil, true, 0o1777); err != nil {
		return nil, err
	}
	if err := writeMode(tw, name[1:], data, false, 0o755); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func writeFile(tw *tar.Writer, name string, data []byte, dir bool) error {
	mode := int64(0o644)
	if dir {
		mode = 0o755
	}
	return writeMode(tw, name, data, dir, mode)
}

func writeMode(tw *tar.Writer, name string, data []byte, dir bool, mode int64) error {
	h := &tar.Header{Name: name, Mode: mode, ModTime: epoch, Format: tar.FormatPAX, Uname: "root", Gname: "root"}
	if dir {
		h.Typeflag = tar.TypeDir
	} else {
		h.Typeflag = tar.TypeReg
		h.Size = int64(len(data))
	}
	if err := tw.WriteHeader(h); err != nil {
		return err
	}
	if dir {
		return nil
	}
	_, err := tw.Write(data)
	return err
}
