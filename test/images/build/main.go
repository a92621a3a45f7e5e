// Command build makes the image archive of the test cluster's real node: the
// sandbox ("pause") image and the test server in several versions, each an
// image of one layer holding one static binary, written in the layout of
// `docker save` so that `ctr -n k8s.io images import` (and `kind load
// image-archive`) take it with no registry.
//
//	go run ./test/images/build -o .cluster/images.tar
//
// The images are
//
//	zdd.local/pause:1               /pause, waits for SIGTERM
//	zdd.local/testserver:v1 .. v4   /testserver, ZDD_VERSION=vN
//
// The archive is reproducible: the same sources give the same bytes.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// Images the archive holds; the real node's containerd uses PauseImage as
// its sandbox image.
const (
	PauseImage  = "zdd.local/pause:1"
	ServerImage = "zdd.local/testserver"
)

// ServerVersions are the tags of ServerImage.
var ServerVersions = []string{"v1", "v2", "v3", "v4"}

func main() {
	out := flag.String("o", "images.tar", "the archive to write")
	flag.Parse()
	if err := build(*out); err != nil {
		fmt.Fprintf(os.Stderr, "images: %v\n", err)
		os.Exit(1)
	}
}

func build(out string) error {
	tmp, err := os.MkdirTemp("", "zdd-images-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	bins := map[string]string{}
	for _, prog := range []string{"testserver", "pause"} {
		bin := filepath.Join(tmp, prog)
		cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w -buildid=", "-o", bin, "./test/images/"+prog)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("building %s: %w", prog, err)
		}
		bins[prog] = bin
	}
	images := []Image{{
		Tags:       []string{PauseImage},
		Binary:     bins["pause"],
		Entrypoint: "/pause",
	}}
	for _, v := range ServerVersions {
		images = append(images, Image{
			Tags:       []string{ServerImage + ":" + v},
			Binary:     bins["testserver"],
			Entrypoint: "/testserver",
			Env:        []string{"ZDD_VERSION=" + v},
		})
	}
	f, err := os.CreateTemp(filepath.Dir(out), ".images-*.tar")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if err := WriteArchive(f, images); err != nil {
		f.Close()
		return fmt.Errorf("writing %s: %w", out, err)
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), out)
}
