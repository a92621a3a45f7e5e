package analysis

import (
	"context"
	"fmt"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	watchtools "k8s.io/client-go/tools/watch"

	"github.com/zdd-dev/kubectl-zdd/pkg/kube"
)

// MetricLabel is set on every smoke-test Job to the name of its metric.
const MetricLabel = "zdd.dev/analysis-metric"

const maxJobBaseName = 52 // room for the "-xxxxx" a generated name adds, within 63

type jobMeasurer struct {
	kube    kubernetes.Interface
	job     *batchv1.Job
	timeout time.Duration
	keep    bool
	// before is checked right before the Job is created (nil: nothing)
	before func(ctx context.Context) error
}

func newJobMeasurer(kube kubernetes.Interface, spec *Spec, metric *Metric, vars Vars, keep bool) (*jobMeasurer, error) {
	if vars.Namespace == "" {
		return nil, fmt.Errorf("a job metric needs a namespace")
	}
	jm := *metric.Job // never write to the shared spec
	if jm.text == "" && spec.recorded {
		// a path in a record is never read: the record holds the text
		return nil, fmt.Errorf("the recorded analysis holds no text for the job of metric %q (a file named in a record is not read)", metric.Name)
	}
	if jm.text == "" {
		data, err := readJobFile(spec.jobPath(metric.Job))
		if err != nil {
			return nil, err
		}
		jm.text = data
	}
	job, err := jm.build(vars)
	if err != nil {
		return nil, fmt.Errorf("job file %q: %w", spec.jobPath(metric.Job), err)
	}
	base := job.Name
	if base == "" {
		base = job.GenerateName
	}
	if base == "" {
		base = "zdd-" + metric.Name
	}
	if len(base) > maxJobBaseName {
		base = base[:maxJobBaseName]
	}
	for len(base) > 0 && (base[len(base)-1] == '-' || base[len(base)-1] == '.') {
		base = base[:len(base)-1]
	}
	job.Name = ""
	job.GenerateName = base + "-"
	job.Namespace = vars.Namespace
	job.ResourceVersion = ""
	if job.Labels == nil {
		job.Labels = map[string]string{}
	}
	job.Labels[MetricLabel] = metric.Name
	timeout := metric.Job.Timeout.Duration
	if timeout == 0 {
		timeout = DefaultJobTimeout
	}
	return &jobMeasurer{kube: kube, job: job, timeout: timeout, keep: keep}, nil
}

func (j *jobMeasurer) measure(ctx context.Context) outcome {
	jobs := j.kube.BatchV1().Jobs(j.job.Namespace)
	if j.before != nil {
		if err := j.before(ctx); err != nil {
			return errorf("not creating job %s in namespace %q: %v", j.job.GenerateName+"*", j.job.Namespace, err)
		}
	}
	created, err := jobs.Create(ctx, j.job.DeepCopy(), metav1.CreateOptions{})
	if err != nil {
		return errorf("creating job %s in namespace %q: %v", j.job.GenerateName+"*", j.job.Namespace, err)
	}
	ref := fmt.Sprintf("job %q", created.Namespace+"/"+created.Name)
	if !j.keep {
		defer func() {
			// delete even when ctx was cancelled; a failed delete leaves a
			// finished Job behind, which harms nothing
			dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			defer cancel()
			_ = jobs.Delete(dctx, created.Name, metav1.DeleteOptions{PropagationPolicy: ptrTo(metav1.DeletePropagationBackground)})
		}()
	}
	wctx, cancel := context.WithTimeout(ctx, j.timeout)
	defer cancel()
	lw := kube.For(j.kube, kube.NameScoped(jobs, created.Name))
	var result outcome
	_, err = watchtools.UntilWithSync(wctx, lw, &batchv1.Job{}, nil, func(ev watch.Event) (bool, error) {
		if ev.Type == watch.Deleted {
			return false, fmt.Errorf("%s was deleted before it finished", ref)
		}
		job, ok := ev.Object.(*batchv1.Job)
		if !ok {
			return false, fmt.Errorf("watching %s: unexpected object %T", ref, ev.Object)
		}
		if c := jobCondition(job, batchv1.JobComplete); c != nil {
			result = outcome{verdict: Passed, message: ref + " completed"}
			return true, nil
		}
		if c := jobCondition(job, batchv1.JobFailed); c != nil {
			result = outcome{verdict: Failed, message: fmt.Sprintf("%s failed: %s", ref, conditionText(c))}
			return true, nil
		}
		return false, nil
	})
	if err != nil {
		if ctx.Err() != nil {
			return errorf("%s: %v", ref, ctx.Err())
		}
		if wctx.Err() != nil {
			return errorf("%s did not finish within %s", ref, j.timeout)
		}
		return errorf("waiting for %s: %v", ref, err)
	}
	return result
}

func jobCondition(job *batchv1.Job, t batchv1.JobConditionType) *batchv1.JobCondition {
	for i := range job.Status.Conditions {
		c := &job.Status.Conditions[i]
		if c.Type == t && c.Status == corev1.ConditionTrue {
			return c
		}
	}
	return nil
}

func conditionText(c *batchv1.JobCondition) string {
	switch {
	case c.Reason != "" && c.Message != "":
		return c.Reason + ": " + c.Message
	case c.Reason != "":
		return c.Reason
	case c.Message != "":
		return c.Message
	}
	return "no reason given"
}

func ptrTo[T any](v T) *T { return &v }
