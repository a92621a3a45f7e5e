package kube

import (
	"bytes"
	"fmt"
	"io"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/resource"

	"github.com/zdd-dev/kubectl-zdd/pkg/exitcode"
)

// LoadObjects reads the objects of a manifest (a file, folder, URL, or "-"
// for stdin) with cli-runtime's resource builder, without contacting a
// server. Objects that name no namespace get namespace. Unreadable input is
// a usage error naming the file.
func LoadObjects(filename string, stdin io.Reader, namespace string) ([]*unstructured.Unstructured, error) {
	b := resource.NewLocalBuilder().Unstructured().Flatten()
	if namespace != "" {
		b = b.NamespaceParam(namespace).DefaultNamespace()
	}
	if filename == "-" {
		if stdin == nil {
			return nil, exitcode.Usagef("-f -: no standard input")
		}
		data, err := io.ReadAll(stdin)
		if err != nil {
			return nil, exitcode.Usagef("reading standard input: %w", err)
		}
		b = b.Stream(bytes.NewReader(data), "STDIN")
	} else {
		b = b.FilenameParam(false, &resource.FilenameOptions{Filenames: []string{filename}})
	}
	infos, err := b.Do().Infos()
	if err != nil {
		return nil, exitcode.Usagef("reading %s: %w", filename, err)
	}
	var out []*unstructured.Unstructured
	for _, info := range infos {
		u, ok := info.Object.(*unstructured.Unstructured)
		if !ok {
			return nil, exitcode.Usagef("reading %s: unexpected object %T", filename, info.Object)
		}
		if u.GetNamespace() == "" && namespace != "" {
			u.SetNamespace(namespace)
		}
		out = append(out, u)
	}
	if len(out) == 0 {
		return nil, exitcode.Usagef("%s holds no objects", filename)
	}
	return out, nil
}

// ToTyped converts an unstructured object into the typed object into.
func ToTyped(u *unstructured.Unstructured, into any) error {
	if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(u.Object, into, true); err != nil {
		return fmt.Errorf("%s %q: %w", u.GetKind(), u.GetName(), err)
	}
	return nil
}
