// Package migration runs the database migration Jobs of the expand-contract
// pattern: one Job per release, that never retries, waited for with a watch.
// A failed or timed-out Job stops the release before the Deployment is
// touched. The contract phase is refused while pods of an older revision of
// the app still run, since they may still use what contract removes.
package migration

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	watchtools "k8s.io/client-go/tools/watch"

	"github.com/zdd-dev/kubectl-zdd/pkg/exitcode"
	"github.com/zdd-dev/kubectl-zdd/pkg/kube"
	"github.com/zdd-dev/kubectl-zdd/pkg/state"
)

// Phases of the expand-contract pattern.
const (
	PhaseExpand   = "expand"
	PhaseContract = "contract"
)

// Labels and annotations put on the Jobs this package creates.
const (
	LabelPhase   = state.Prefix + "migration-phase"
	LabelFor     = state.Prefix + "migration-for"
	AnnotationOp = state.KeyOperationID
)

// Validate refuses a Job that could run its migration twice: backoffLimit
// must be set explicitly to 0 and the pod's restartPolicy must be Never.
// source names the file in the error (exit 2).
func Validate(job *batchv1.Job, source string) error {
	ref := fmt.Sprintf("job %q in %s", job.Name+job.GenerateName, source)
	var why []string
	if job.Spec.BackoffLimit == nil {
		why = append(why, "spec.backoffLimit is not set (the default 6 retries the migration; set it to 0)")
	} else if *job.Spec.BackoffLimit != 0 {
		why = append(why, fmt.Sprintf("spec.backoffLimit is %d (a migration must not be retried; set it to 0)", *job.Spec.BackoffLimit))
	}
	if rp := job.Spec.Template.Spec.RestartPolicy; rp != corev1.RestartPolicyNever {
		if rp == "" {
			rp = "unset"
		}
		why = append(why, fmt.Sprintf("spec.template.spec.restartPolicy is %s (a restarted container reruns the migration; set it to Never)", rp))
	}
	if job.Spec.BackoffLimitPerIndex != nil && *job.Spec.BackoffLimitPerIndex != 0 {
		why = append(why, fmt.Sprintf("spec.backoffLimitPerIndex is %d (set it to 0 or remove it)", *job.Spec.BackoffLimitPerIndex))
	}
	if len(why) > 0 {
		return exitcode.Usagef("%s can retry: %s", ref, strings.Join(why, "; "))
	}
	if job.Name == "" && job.GenerateName == "" {
		return exitcode.Usagef("job in %s has no metadata.name", source)
	}
	return nil
}

// UniqueName gives the Job a name unique to the release: its own name (or
// generateName) and the operation id, shortened to fit 63 characters.
func UniqueName(base, opID string) string {
	base = strings.TrimSuffix(base, "-")
	max := 63 - len(opID) - 1
	if max < 1 {
		max = 1
	}
	if len(base) > max {
		base = strings.TrimSuffix(base[:max], "-")
	}
	return base + "-" + opID
}

// Prepare returns the Job to create for a release: a copy with a unique
// name, the namespace, and labels naming the Deployment and the phase.
func Prepare(job *batchv1.Job, namespace, deployment, phase, opID string) *batchv1.Job {
	j := job.DeepCopy()
	base := j.Name
	if base == "" {
		base = j.GenerateName
	}
	j.Name = UniqueName(base, opID)
	j.GenerateName = ""
	j.Namespace = namespace
	j.ResourceVersion = ""
	j.UID = ""
	if j.Labels == nil {
		j.Labels = map[string]string{}
	}
	if deployment != "" {
		j.Labels[LabelFor] = deployment
	}
	if phase != "" {
		j.Labels[LabelPhase] = phase
	}
	if j.Annotations == nil {
		j.Annotations = map[string]string{}
	}
	j.Annotations[AnnotationOp] = opID
	return j
}

// ErrFailed is wrapped by Run's error when the Job failed or timed out.
var ErrFailed = errors.New("migration failed")

// Run creates the Job and waits with a watch until it succeeds, fails, or
// ctx ends. On failure the error (exit 1) carries the Job's conditions and
// the status of its pods. dryRun is passed to the create (["All"] for
// --dry-run=server); a dry run does not wait.
func Run(ctx context.Context, client kubernetes.Interface, job *batchv1.Job, dryRun []string, out io.Writer) (*batchv1.Job, error) {
	ref := job.Namespace + "/" + job.Name
	created, err := client.BatchV1().Jobs(job.Namespace).Create(ctx, job, metav1.CreateOptions{FieldManager: kube.FieldManager, DryRun: dryRun})
	if err != nil {
		if apierrors.IsInvalid(err) || apierrors.IsAlreadyExists(err) {
			return nil, exitcode.Usagef("creating migration job %q: %w", ref, err)
		}
		return nil, fmt.Errorf("creating migration job %q: %w", ref, err)
	}
	if len(dryRun) > 0 {
		return created, nil
	}
	if out != nil {
		fmt.Fprintf(out, "migration job %q created, waiting for it to finish\n", ref)
	}
	done, err := Wait(ctx, client, job.Namespace, job.Name)
	if err != nil {
		return done, exitcode.FailedError(fmt.Errorf("%w: %w\n%s", ErrFailed, err, Describe(context.WithoutCancel(ctx), client, job.Namespace, job.Name)))
	}
	if out != nil {
		fmt.Fprintf(out, "migration job %q succeeded\n", ref)
	}
	return done, nil
}

func jobCondition(j *batchv1.Job, t batchv1.JobConditionType) *batchv1.JobCondition {
	for i := range j.Status.Conditions {
		if c := &j.Status.Conditions[i]; c.Type == t && c.Status == corev1.ConditionTrue {
			return c
		}
	}
	return nil
}

// Wait watches the Job until it has a Complete (nil error) or Failed
// condition, is deleted, or ctx ends.
func Wait(ctx context.Context, client kubernetes.Interface, ns, name string) (*batchv1.Job, error) {
	ref := ns + "/" + name
	lw := kube.For(client, kube.NameScoped(client.BatchV1().Jobs(ns), name))
	var last *batchv1.Job
	_, err := watchtools.UntilWithSync(ctx, lw, &batchv1.Job{}, nil, func(ev watch.Event) (bool, error) {
		if ev.Type == watch.Deleted {
			return false, fmt.Errorf("job %q was deleted", ref)
		}
		j, ok := ev.Object.(*batchv1.Job)
		if !ok {
			return false, fmt.Errorf("watching job %q: unexpected object %T", ref, ev.Object)
		}
		last = j
		if c := jobCondition(j, batchv1.JobFailed); c != nil {
			return false, fmt.Errorf("job %q failed: %s: %s", ref, c.Reason, c.Message)
		}
		return jobCondition(j, batchv1.JobComplete) != nil, nil
	})
	if err != nil && ctx.Err() != nil {
		return last, fmt.Errorf("job %q did not finish in time: %w", ref, ctx.Err())
	}
	return last, err
}

// Describe renders a Job's conditions and the status of its pods, for the
// message of a failed migration.
func Describe(ctx context.Context, client kubernetes.Interface, ns, name string) string {
	var b strings.Builder
	j, err := client.BatchV1().Jobs(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		fmt.Fprintf(&b, "  job %q: %v\n", ns+"/"+name, err)
		return b.String()
	}
	fmt.Fprintf(&b, "  job %q: active %d, succeeded %d, failed %d\n", ns+"/"+name, j.Status.Active, j.Status.Succeeded, j.Status.Failed)
	for _, c := range j.Status.Conditions {
		fmt.Fprintf(&b, "    condition %s=%s", c.Type, c.Status)
		if c.Reason != "" {
			fmt.Fprintf(&b, " reason %s", c.Reason)
		}
		if c.Message != "" {
			fmt.Fprintf(&b, ": %s", c.Message)
		}
		b.WriteString("\n")
	}
	pods, err := client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "batch.kubernetes.io/job-name=" + name})
	if err != nil {
		fmt.Fprintf(&b, "    pods: %v\n", err)
		return b.String()
	}
	sort.Slice(pods.Items, func(a, c int) bool { return pods.Items[a].Name < pods.Items[c].Name })
	for _, p := range pods.Items {
		fmt.Fprintf(&b, "    pod %q: phase %s", p.Name, p.Status.Phase)
		if p.Status.Reason != "" {
			fmt.Fprintf(&b, " reason %s", p.Status.Reason)
		}
		b.WriteString("\n")
		for _, cs := range p.Status.ContainerStatuses {
			switch {
			case cs.State.Terminated != nil:
				t := cs.State.Terminated
				fmt.Fprintf(&b, "      container %q terminated: exit code %d, reason %s", cs.Name, t.ExitCode, t.Reason)
				if t.Message != "" {
					fmt.Fprintf(&b, ": %s", t.Message)
				}
				b.WriteString("\n")
			case cs.State.Waiting != nil:
				fmt.Fprintf(&b, "      container %q waiting: %s %s\n", cs.Name, cs.State.Waiting.Reason, cs.State.Waiting.Message)
			case cs.State.Running != nil:
				fmt.Fprintf(&b, "      container %q running\n", cs.Name)
			}
		}
	}
	if len(pods.Items) == 0 {
		b.WriteString("    no pods\n")
	}
	return b.String()
}

// appLabelKeys name the app a pod belongs to; versionLabelKeys tell two
// colours, tracks or versions of it apart.
var (
	appLabelKeys     = []string{"app.kubernetes.io/name", "app"}
	versionLabelKeys = []string{"version", "app.kubernetes.io/version", "track", "color", "colour"}
)

func appOf(labels map[string]string) (key, value string) {
	for _, k := range appLabelKeys {
		if v := labels[k]; v != "" {
			return k, v
		}
	}
	return "", ""
}

// OlderRevisionsRunning lists what still runs an older revision of d's app:
// ReplicaSets of d other than the current one that have replicas, and other
// Deployments with the same app label but a different version, track or
// colour label that have replicas. An empty list means contract is safe.
func OlderRevisionsRunning(ctx context.Context, client kubernetes.Interface, d *appsv1.Deployment) ([]string, error) {
	ref := d.Namespace + "/" + d.Name
	rss, err := kube.ReplicaSetsOf(ctx, client, d)
	if err != nil {
		return nil, err
	}
	cur := kube.CurrentReplicaSet(d, rss)
	var out []string
	for i := range rss {
		rs := &rss[i]
		if cur != nil && rs.UID == cur.UID {
			continue
		}
		n := rs.Status.Replicas
		if rs.Spec.Replicas != nil && *rs.Spec.Replicas > n {
			n = *rs.Spec.Replicas
		}
		if n > 0 {
			out = append(out, fmt.Sprintf("replicaset %q (revision %d of deployment %q) has %d pods", rs.Namespace+"/"+rs.Name, kube.Revision(rs), ref, n))
		}
	}
	key, app := appOf(d.Spec.Template.Labels)
	if key != "" {
		list, err := client.AppsV1().Deployments(d.Namespace).List(ctx, metav1.ListOptions{})
		if err != nil {
			return nil, fmt.Errorf("listing deployments in %q: %w", d.Namespace, err)
		}
		for _, o := range list.Items {
			if o.UID == d.UID || o.Spec.Template.Labels[key] != app {
				continue
			}
			differs := ""
			for _, vk := range versionLabelKeys {
				if a, b := d.Spec.Template.Labels[vk], o.Spec.Template.Labels[vk]; a != b {
					differs = fmt.Sprintf("%s=%s", vk, b)
					break
				}
			}
			if differs == "" {
				continue
			}
			n := o.Status.Replicas
			if o.Spec.Replicas != nil && *o.Spec.Replicas > n {
				n = *o.Spec.Replicas
			}
			if n > 0 {
				out = append(out, fmt.Sprintf("deployment %q (%s=%s, %s) has %d pods", o.Namespace+"/"+o.Name, key, app, differs, n))
			}
		}
	}
	sort.Strings(out)
	return out, nil
}
