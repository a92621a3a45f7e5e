package lint

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// TestLintFilesSameAsAudit checks that the streaming LintFiles finds what
// LoadFiles and Audit find on the whole input at once: the same findings,
// skipped objects and count, whatever the order of Services, PDBs, HPAs and
// workloads in the files.
func TestLintFilesSameAsAudit(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	// Workloads before and after the Services, PDBs and HPAs that select
	// them, in one file and across files, a list and a JSON document.
	var mixed strings.Builder
	for i := 0; i < 40; i++ {
		svc := fmt.Sprintf("apiVersion: v1\nkind: Service\nmetadata:\n  name: s%d\n  namespace: ns%d\nspec:\n  selector:\n    app: a%d\n  ports:\n  - port: 80\n    targetPort: http\n", i, i%3, i)
		pdb := fmt.Sprintf("apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata:\n  name: p%d\n  namespace: ns%d\nspec:\n  minAvailable: %d\n  selector:\n    matchLabels:\n      app: a%d\n", i, i%3, 1+i%3, i)
		hpa := fmt.Sprintf("apiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata:\n  name: h%d\n  namespace: ns%d\nspec:\n  scaleTargetRef:\n    apiVersion: apps/v1\n    kind: Deployment\n    name: d%d\n  minReplicas: 1\n  maxReplicas: 3\n", i, i%3, i)
		dep := fmt.Sprintf("# app %d\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d%d\n  namespace: ns%d\nspec:\n  replicas: %d\n  selector:\n    matchLabels:\n      app: a%d\n  template:\n    metadata:\n      labels:\n        app: a%d\n    spec:\n      containers:\n      - name: c\n        image: x:%s\n        ports:\n        - name: http\n          containerPort: 8080\n", i, i, i%3, i%4, i, i, []string{"1.0", "latest"}[i%2])
		docs := []string{dep, svc}
		if i%2 == 0 {
			docs = []string{svc, dep}
		}
		if i%3 != 0 {
			docs = append([]string{pdb}, docs...)
		}
		if i%5 == 0 {
			docs = append(docs, hpa)
		}
		docs = append(docs, fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm%d\n", i))
		for _, d := range docs {
			mixed.WriteString("---\n" + d)
		}
	}
	// half is a document boundary near the middle.
	half := mixed.Len()/2 + strings.Index(mixed.String()[mixed.Len()/2:], "---\n")
	inputs := []LoadOptions{
		{Filenames: []string{write("mixed.yaml", mixed.String())}},
		{Filenames: []string{write("a.yaml", mixed.String()[:half]), write("b.yaml", mixed.String()[half:])}},
		{Filenames: []string{"testdata/load/list.yaml", "testdata/load/stream.json", "testdata/load/multi.yaml"}},
		{Filenames: []string{"../../examples/bad", "../../examples/good"}, Recursive: true},
		{Filenames: []string{"testdata/rules"}, Recursive: true},
		{Filenames: []string{"-"}, Stdin: strings.NewReader(mixed.String()), Namespace: "given"},
		{Kustomize: "testdata/load/kustomize"},
		// A repository: plain files, a Helm chart, kustomizations.
		{Filenames: []string{"../plugin/testdata/lint/monorepo"}, Recursive: true},
		{Filenames: []string{"../plugin/testdata/lint/monorepo"}, Recursive: true, Namespace: "given",
			Helm: HelmOptions{ValueFiles: []string{"../plugin/testdata/lint/monorepo/charts/api/values-prod.yaml"}, Values: []string{"pdb.enabled=false"}}},
	}
	for _, in := range inputs {
		t.Run(strings.Join(in.Filenames, ",")+in.Kustomize, func(t *testing.T) {
			aopts := Options{}
			var stdin []byte
			if in.Stdin != nil {
				stdin, _ = readAll(in.Stdin)
				in.Stdin = bytes.NewReader(stdin)
			}
			got, err := LintFiles(in, aopts)
			if err != nil {
				t.Fatal(err)
			}
			if stdin != nil {
				in.Stdin = bytes.NewReader(stdin)
			}
			in.DropRaw = true
			loaded, err := LoadFiles(in)
			if err != nil {
				t.Fatal(err)
			}
			want := &Result{Objects: audited(loaded.Objects), Skipped: loaded.Skipped, Findings: Audit(loaded.Objects, aopts), Notes: loaded.Notes}
			if len(want.Findings) == 0 && in.Kustomize == "" {
				t.Fatal("no findings: the test proves nothing")
			}
			if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("LintFiles (-LoadFiles+Audit +LintFiles):\n%s", diff)
			}
		})
	}
}

func readAll(r interface{ Read([]byte) (int, error) }) ([]byte, error) {
	var b bytes.Buffer
	_, err := b.ReadFrom(r)
	return b.Bytes(), err
}

// TestLintFilesFirstError checks that the error names the first bad
// document of the input, whichever pass decodes it.
func TestLintFilesFirstError(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "bad.yaml")
	content := "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d\nspec:\n  replicas: many\n---\napiVersion: v1\nkind: Service\nmetadata:\n  name: s\nspec:\n  ports: 80\n"
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := LintFiles(LoadOptions{Filenames: []string{p}}, Options{})
	if err == nil || !strings.HasPrefix(err.Error(), p+":1: ") {
		t.Errorf("error %v, want one naming %s:1 (the Deployment, before the bad Service)", err, p)
	}
}

// audited counts the objects that are not mere context.
func audited(objs []Object) int {
	n := 0
	for _, o := range objs {
		if !o.Context {
			n++
		}
	}
	return n
}
