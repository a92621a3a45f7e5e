package plugin

import (
	"context"
	"fmt"
	"os"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/zdd-dev/kubectl-zdd/pkg/exitcode"
	"github.com/zdd-dev/kubectl-zdd/pkg/kube"
	"github.com/zdd-dev/kubectl-zdd/pkg/lint"
)

// remaining are the findings --fix does not rewrite.
func remaining(findings []lint.Finding, fixed map[string]bool) []lint.Finding {
	var out []lint.Finding
	for _, f := range findings {
		// a missing readinessProbe is fixed only where a livenessProbe
		// exists to copy: it stays listed
		if !fixed[f.Kind+"\x00"+f.Namespace+"\x00"+f.Name+"\x00"+f.File] || !lint.Fixable(f.Rule) || f.Rule == "readiness-probe-missing" {
			out = append(out, f)
		}
	}
	return out
}

// fixFiles rewrites files: printed to Out, or written back with --in-place
// and then linted again, so the report shows what is left.
func (o *LintOptions) fixFiles(loaded *lint.Loaded, findings []lint.Finding) error {
	fixes, err := lint.FixFiles(loaded, findings, o.DrainSeconds)
	if err != nil {
		return exitcode.UsageError(err)
	}
	fixed := map[string]bool{}
	changed := 0
	for _, ff := range fixes {
		for _, n := range ff.Notes {
			fmt.Fprintf(o.ErrOut, "note: %s\n", n)
		}
		for _, c := range ff.Changes {
			fmt.Fprintf(o.ErrOut, "fixed %s\n", c)
			fixed[c.Kind+"\x00"+c.Namespace+"\x00"+c.Name+"\x00"+c.Source.File] = true
		}
		if ff.Changed {
			changed++
		}
	}
	if o.InPlace {
		for _, ff := range fixes {
			if !ff.Changed {
				continue
			}
			perm := os.FileMode(0o644)
			if st, err := os.Stat(ff.File); err == nil {
				perm = st.Mode().Perm()
			}
			if err := o.WriteFile(ff.File, ff.Content, perm); err != nil {
				return fmt.Errorf("writing %s: %w", ff.File, err)
			}
		}
		fmt.Fprintf(o.ErrOut, "%d file(s) rewritten\n", changed)
		again, err := o.load(context.Background())
		if err != nil {
			return err
		}
		return o.report(audited(again.Objects), again.Skipped, lint.Audit(again.Objects, o.lintOptions(false)))
	}
	printed := 0
	for _, ff := range fixes {
		if len(ff.Content) == 0 {
			continue // rendered (Helm, kustomize) or remote: see its note
		}
		if printed > 0 {
			fmt.Fprintln(o.Out, "---")
		}
		printed++
		content := ff.Content
		if _, err := o.Out.Write(content); err != nil {
			return err
		}
		if len(content) > 0 && content[len(content)-1] != '\n' {
			fmt.Fprintln(o.Out)
		}
	}
	left := remaining(findings, fixed)
	rep := &lint.Report{Objects: audited(loaded.Objects), Findings: left, FailOn: o.failOn}
	fmt.Fprintf(o.ErrOut, "%d finding(s) not fixed automatically", len(left))
	if rep.Failed() {
		fmt.Fprintf(o.ErrOut, " (at or above %s: run without --fix to see them)\n", o.failOn)
		return &exitcode.Silent{Code: exitcode.Failed}
	}
	fmt.Fprintln(o.ErrOut)
	return nil
}

// fixLive patches live objects (or shows the patches with --dry-run), then
// reports the findings --fix does not rewrite.
func (o *LintOptions) fixLive(ctx context.Context, loaded *lint.Loaded, findings []lint.Finding) error {
	patches, err := lint.FixLive(loaded.Objects, findings, o.DrainSeconds)
	if err != nil {
		return err
	}
	fixed := map[string]bool{}
	for _, p := range patches {
		ref := strings.ToLower(p.Object.Kind) + " \"" + p.Object.Namespace + "/" + p.Object.Name + "\""
		for _, c := range p.Changes {
			fmt.Fprintf(o.ErrOut, "%s: %s\n", ref, c)
		}
		switch o.DryRun {
		case "client":
			fmt.Fprintf(o.Out, "%s patch (dry run, not sent): %s\n", ref, p.Patch)
		default:
			opts := metav1.PatchOptions{FieldManager: kube.FieldManager}
			if o.DryRun == "server" {
				opts.DryRun = []string{metav1.DryRunAll}
			}
			if err := o.patch(ctx, p.Object, p.Patch, opts); err != nil {
				return fmt.Errorf("patching %s: %w", ref, err)
			}
			if o.DryRun == "server" {
				fmt.Fprintf(o.Out, "%s patch accepted by the server (dry run, not saved): %s\n", ref, p.Patch)
			} else {
				fmt.Fprintf(o.Out, "%s patched: %s\n", ref, p.Patch)
			}
		}
		fixed[p.Object.Kind+"\x00"+p.Object.Namespace+"\x00"+p.Object.Name+"\x00"] = true
	}
	if len(patches) == 0 {
		fmt.Fprintln(o.Out, "nothing to fix")
	}
	left := remaining(findings, fixed)
	if o.DryRun != "none" {
		left = findings
	}
	rep := &lint.Report{Objects: audited(loaded.Objects), Findings: left, FailOn: o.failOn}
	if rep.Failed() {
		fmt.Fprintf(o.ErrOut, "%d finding(s) not fixed automatically (run without --fix to see them)\n", len(left))
		return &exitcode.Silent{Code: exitcode.Failed}
	}
	return nil
}

func (o *LintOptions) patch(ctx context.Context, obj lint.Object, patch []byte, opts metav1.PatchOptions) error {
	var err error
	switch obj.Kind {
	case "Deployment":
		_, err = o.Client.AppsV1().Deployments(obj.Namespace).Patch(ctx, obj.Name, types.StrategicMergePatchType, patch, opts)
	case "StatefulSet":
		_, err = o.Client.AppsV1().StatefulSets(obj.Namespace).Patch(ctx, obj.Name, types.StrategicMergePatchType, patch, opts)
	case "DaemonSet":
		_, err = o.Client.AppsV1().DaemonSets(obj.Namespace).Patch(ctx, obj.Name, types.StrategicMergePatchType, patch, opts)
	default:
		err = fmt.Errorf("cannot patch a %s", obj.Kind)
	}
	return err
}
