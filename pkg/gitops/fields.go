package gitops

import (
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	kyaml "sigs.k8s.io/kustomize/kyaml/yaml"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/zdd-dev/kubectl-zdd/pkg/exitcode"
)

// templateMap is a pod template as a manifest holds it: without the
// fields the API server adds to a template that is never written
// (creationTimestamp, pod-template-hash).
func templateMap(t *corev1.PodTemplateSpec) (map[string]any, error) {
	tmpl, err := runtime.DefaultUnstructuredConverter.ToUnstructured(t)
	if err != nil {
		return nil, err
	}
	if md, ok := tmpl["metadata"].(map[string]any); ok {
		delete(md, "creationTimestamp")
		if l, ok := md["labels"].(map[string]any); ok {
			delete(l, "pod-template-hash")
		}
		if len(md) == 0 {
			delete(tmpl, "metadata")
		}
	}
	return tmpl, nil
}

// specMap is the part of a Deployment's spec a release may change: its pod
// template and, when given, the fields of spec other than the replicas,
// the selector and paused (the strategy, minReadySeconds,
// progressDeadlineSeconds, revisionHistoryLimit).
func specMap(t *corev1.PodTemplateSpec, spec *appsv1.DeploymentSpec) (map[string]any, error) {
	out := map[string]any{}
	if spec != nil {
		s := spec.DeepCopy()
		s.Template = corev1.PodTemplateSpec{}
		m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(s)
		if err != nil {
			return nil, err
		}
		for _, k := range []string{"replicas", "selector", "paused", "template"} {
			delete(m, k)
		}
		for k, v := range m {
			out[k] = v
		}
	}
	tmpl, err := templateMap(t)
	if err != nil {
		return nil, err
	}
	out["template"] = tmpl
	return out, nil
}

// specs are the change's before and after as specMap has them.
func (c Change) specs() (before, after map[string]any, err error) {
	var bs, as *appsv1.DeploymentSpec
	if c.BeforeSpec != nil && c.AfterSpec != nil {
		bs, as = c.BeforeSpec, c.AfterSpec
	}
	if before, err = specMap(c.Before, bs); err != nil {
		return nil, nil, err
	}
	after, err = specMap(c.After, as)
	return before, after, err
}

// OtherFields lists the fields of the Deployment's spec, other than
// containers' images, that the release changed, as paths like
// "spec.template.spec.containers[name=app].lifecycle".
func (c Change) OtherFields() ([]string, error) {
	before, after, err := c.specs()
	if err != nil {
		return nil, err
	}
	var out []string
	diffPaths(before, after, "spec", &out)
	kept := out[:0]
	for _, p := range out {
		if !strings.HasSuffix(p, "].image") || !strings.Contains(p, "ontainers[name=") {
			kept = append(kept, p)
		}
	}
	return kept, nil
}

// diffPaths collects the paths where before and after differ: a changed
// scalar or list, or a map added or removed as a whole.
func diffPaths(before, after any, at string, out *[]string) {
	if reflect.DeepEqual(before, after) {
		return
	}
	if before == nil || after == nil {
		*out = append(*out, at)
		return
	}
	bm, bok := before.(map[string]any)
	am, aok := after.(map[string]any)
	if bok && aok {
		for _, k := range unionKeys(bm, am) {
			diffPaths(bm[k], am[k], at+"."+k, out)
		}
		return
	}
	bl, bok := keyed(before)
	al, aok := keyed(after)
	if bok && aok {
		for _, n := range unionKeys(bl, al) {
			b, inB := bl[n]
			a, inA := al[n]
			p := fmt.Sprintf("%s[name=%s]", at, n)
			if !inB || !inA {
				*out = append(*out, p)
				continue
			}
			diffPaths(b, a, p, out)
		}
		return
	}
	*out = append(*out, at)
}

func unionKeys[V any](a, b map[string]V) []string {
	seen := map[string]bool{}
	var keys []string
	for _, m := range []map[string]V{a, b} {
		for k := range m {
			if !seen[k] {
				seen[k] = true
				keys = append(keys, k)
			}
		}
	}
	// init containers first, as a pod runs them
	sort.Slice(keys, func(i, j int) bool {
		if (keys[i] == "initContainers") != (keys[j] == "initContainers") {
			return keys[i] == "initContainers"
		}
		return keys[i] < keys[j]
	})
	return keys
}

// keyed reads a list whose elements are all maps with a string "name"
// (containers, env, volumes, named ports) as a map by name; ok is false
// for any other value.
func keyed(v any) (map[string]map[string]any, bool) {
	l, ok := v.([]any)
	if !ok || len(l) == 0 {
		return nil, false
	}
	out := map[string]map[string]any{}
	for _, e := range l {
		m, ok := e.(map[string]any)
		if !ok {
			return nil, false
		}
		n, ok := m["name"].(string)
		if !ok || n == "" {
			return nil, false
		}
		out[n] = m
	}
	return out, true
}

// merger applies the difference between two specs to a Deployment node of
// a file: a scalar that only changes goes through set (in place when it
// can), anything else (a field or element added or removed, a list
// replaced) marks the change structural and is made on the node.
type merger struct {
	set       setFunc
	path, dep string
}

// merge applies the difference of before and after to mapping m.
func (w *merger) merge(m *kyaml.RNode, before, after map[string]any) error {
	for _, k := range unionKeys(before, after) {
		b, inB := before[k]
		a, inA := after[k]
		if inA == inB && reflect.DeepEqual(a, b) {
			continue
		}
		f := m.Field(k)
		if !inA {
			if f != nil {
				if err := w.structural(m); err != nil {
					return err
				}
				if _, err := m.Pipe(kyaml.Clear(k)); err != nil {
					return err
				}
			}
			continue
		}
		if err := w.field(m, k, f, b, a); err != nil {
			return err
		}
	}
	return nil
}

func (w *merger) structural(m *kyaml.RNode) error { return w.set(m, "", nil) }

// field applies the change of field k of m (f: the file's field, or nil).
func (w *merger) field(m *kyaml.RNode, k string, f *kyaml.MapNode, b, a any) error {
	am, aok := a.(map[string]any)
	bm, bok := b.(map[string]any)
	if aok && (bok || b == nil) {
		if f == nil {
			if err := w.structural(m); err != nil {
				return err
			}
			child, err := m.Pipe(kyaml.LookupCreate(kyaml.MappingNode, k))
			if err != nil {
				return err
			}
			return w.merge(child, bm, am)
		}
		if f.Value.YNode().Kind == kyaml.MappingNode {
			return w.merge(f.Value, bm, am)
		}
	}
	al, aok := keyed(a)
	bl, bok := keyed(b)
	if aok && bok && f == nil && (k == "containers" || k == "initContainers") {
		// the file has none of the containers the release changed
		return w.list(k, kyaml.NewListRNode(), bl, al)
	}
	if aok && (bok || b == nil) && f != nil && f.Value.YNode().Kind == kyaml.SequenceNode {
		return w.list(k, f.Value, bl, al)
	}
	if _, isList := a.([]any); !isList {
		if _, isMap := a.(map[string]any); !isMap && f != nil && f.Value.YNode().Kind == kyaml.ScalarNode {
			return w.set(m, k, a)
		}
	}
	if err := w.structural(m); err != nil {
		return err
	}
	n, err := toNode(a)
	if err != nil {
		return err
	}
	return m.PipeE(kyaml.SetField(k, n))
}

// list applies the change of a list keyed by name (seq: the file's).
func (w *merger) list(field string, seq *kyaml.RNode, before, after map[string]map[string]any) error {
	elems, err := seq.Elements()
	if err != nil {
		return err
	}
	inFile := map[string]*kyaml.RNode{}
	for _, e := range elems {
		inFile[fieldString(e, "name")] = e
	}
	for _, n := range unionKeys(before, after) {
		b, a := before[n], after[n]
		if reflect.DeepEqual(a, b) {
			continue
		}
		e := inFile[n]
		switch {
		case a == nil && e != nil:
			if err := w.structural(seq); err != nil {
				return err
			}
			if err := seq.PipeE(kyaml.ElementSetter{Keys: []string{"name"}, Values: []string{n}}); err != nil {
				return err
			}
		case a == nil:
		case e != nil:
			if err := w.merge(e, b, a); err != nil {
				return err
			}
		case b != nil && (field == "containers" || field == "initContainers"):
			return exitcode.Usagef("--write-back %s: deployment %q has no %s %q", w.path, w.dep, strings.TrimSuffix(field, "s"), n)
		default:
			if err := w.structural(seq); err != nil {
				return err
			}
			node, err := toNode(a)
			if err != nil {
				return err
			}
			if err := seq.PipeE(kyaml.Append(node.YNode())); err != nil {
				return err
			}
		}
	}
	return nil
}

// toNode is v as YAML, without the empty maps the API types write
// (resources: {}).
func toNode(v any) (*kyaml.RNode, error) {
	b, err := sigsyaml.Marshal(prune(v))
	if err != nil {
		return nil, err
	}
	return kyaml.Parse(string(b))
}

func prune(v any) any {
	switch t := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, e := range t {
			e = prune(e)
			if m, ok := e.(map[string]any); ok && len(m) == 0 {
				continue
			}
			out[k] = e
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = prune(e)
		}
		return out
	}
	return v
}

// scalarText is a scalar value as YAML writes it, with its tag.
func scalarText(v any) (text, tag string) {
	switch t := v.(type) {
	case string:
		return t, kyaml.NodeTagString
	case bool:
		return strconv.FormatBool(t), kyaml.NodeTagBool
	case int64:
		return strconv.FormatInt(t, 10), kyaml.NodeTagInt
	case int32:
		return strconv.FormatInt(int64(t), 10), kyaml.NodeTagInt
	case int:
		return strconv.Itoa(t), kyaml.NodeTagInt
	case float64:
		return strconv.FormatFloat(t, 'g', -1, 64), kyaml.NodeTagFloat
	}
	return fmt.Sprint(v), kyaml.NodeTagString
}
