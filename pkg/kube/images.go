package kube

import (
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/zdd-dev/kubectl-zdd/pkg/exitcode"
)

// ParseImageFlags reads --image values of the form CONTAINER=IMAGE into a
// map. A value without "=", with an empty side, or a container named twice
// is a usage error (exit 2) naming the value.
func ParseImageFlags(flags []string) (map[string]string, error) {
	images := make(map[string]string, len(flags))
	for _, f := range flags {
		name, image, ok := strings.Cut(f, "=")
		name, image = strings.TrimSpace(name), strings.TrimSpace(image)
		if !ok || name == "" || image == "" {
			return nil, exitcode.Usagef("--image %q: want CONTAINER=IMAGE", f)
		}
		if strings.ContainsAny(image, " \t") {
			return nil, exitcode.Usagef("--image %q: an image reference cannot contain spaces", f)
		}
		if _, dup := images[name]; dup {
			return nil, exitcode.Usagef("--image %q: container %q is named more than once", f, name)
		}
		images[name] = image
	}
	return images, nil
}

// SetImages sets the images of the named containers (init containers too).
// A name that matches no container is a usage error naming it and listing
// the containers there are; spec is then left unchanged.
func SetImages(spec *corev1.PodSpec, images map[string]string) error {
	known := map[string]bool{}
	for _, c := range spec.InitContainers {
		known[c.Name] = true
	}
	for _, c := range spec.Containers {
		known[c.Name] = true
	}
	var unknown []string
	for name := range images {
		if !known[name] {
			unknown = append(unknown, name)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		names := make([]string, 0, len(known))
		for n := range known {
			names = append(names, n)
		}
		sort.Strings(names)
		return exitcode.Usagef("--image: no container named %s in the pod template (containers: %s)", quoteJoin(unknown), strings.Join(names, ", "))
	}
	for i := range spec.InitContainers {
		if img, ok := images[spec.InitContainers[i].Name]; ok {
			spec.InitContainers[i].Image = img
		}
	}
	for i := range spec.Containers {
		if img, ok := images[spec.Containers[i].Name]; ok {
			spec.Containers[i].Image = img
		}
	}
	return nil
}

func quoteJoin(s []string) string {
	q := make([]string, len(s))
	for i, v := range s {
		q[i] = fmt.Sprintf("%q", v)
	}
	return strings.Join(q, ", ")
}
