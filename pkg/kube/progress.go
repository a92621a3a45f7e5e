// Package kube holds small helpers over client-go that every strategy uses:
// judging a Deployment's progress, waiting for it with a watch, spotting pods
// in trouble, setting images and finding the revisions to roll back to.
package kube

import (
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

// Progress is what DeploymentProgress makes of a Deployment's status.
type Progress struct {
	// Desired is spec.replicas (1 when unset).
	Desired int32 `json:"desired"`
	// Replicas counts all pods of every revision (status.replicas).
	Replicas int32 `json:"replicas"`
	// Updated, Ready and Available follow status; Ready and Available count
	// every revision, Updated only the current template.
	Updated   int32 `json:"updated"`
	Ready     int32 `json:"ready"`
	Available int32 `json:"available"`
	// Observed is false while the controller has not seen the latest spec.
	Observed bool `json:"observed"`
	// Done: the new revision is fully rolled out and available, nothing old is left.
	Done bool `json:"done"`
	// Failed: the controller gave up (Progressing=False, ProgressDeadlineExceeded).
	Failed bool `json:"failed"`
	// Reason says what is being waited for, or why it failed.
	Reason string `json:"reason"`
}

// String is a one-line summary: "updated 2/3, ready 3/3, available 3/3".
func (p Progress) String() string {
	return fmt.Sprintf("updated %d/%d, ready %d/%d, available %d/%d", p.Updated, p.Desired, p.Ready, p.Desired, p.Available, p.Desired)
}

// DeploymentProgress judges a Deployment the way `kubectl rollout status`
// does: generation observed, the Progressing condition, then the counts.
func DeploymentProgress(d *appsv1.Deployment) Progress {
	p := Progress{
		Desired:   1,
		Replicas:  d.Status.Replicas,
		Updated:   d.Status.UpdatedReplicas,
		Ready:     d.Status.ReadyReplicas,
		Available: d.Status.AvailableReplicas,
		Observed:  d.Generation <= d.Status.ObservedGeneration,
	}
	if d.Spec.Replicas != nil {
		p.Desired = *d.Spec.Replicas
	}
	if !p.Observed {
		p.Reason = fmt.Sprintf("waiting for the deployment controller to observe generation %d", d.Generation)
		return p
	}
	for _, c := range d.Status.Conditions {
		if c.Type == appsv1.DeploymentProgressing && c.Status == corev1.ConditionFalse && c.Reason == "ProgressDeadlineExceeded" {
			p.Failed = true
			p.Reason = fmt.Sprintf("progress deadline exceeded (Progressing=False, ProgressDeadlineExceeded): %s", c.Message)
			return p
		}
	}
	switch {
	case p.Updated < p.Desired:
		p.Reason = fmt.Sprintf("waiting for updated replicas: %d of %d", p.Updated, p.Desired)
	case p.Replicas > p.Updated:
		p.Reason = fmt.Sprintf("waiting for old replicas to terminate: %d left", p.Replicas-p.Updated)
	case p.Available < p.Updated:
		p.Reason = fmt.Sprintf("waiting for available replicas: %d of %d", p.Available, p.Updated)
	default:
		p.Done = true
		p.Reason = fmt.Sprintf("rolled out: %d of %d updated replicas available", p.Available, p.Updated)
	}
	return p
}
