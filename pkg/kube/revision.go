package kube

import (
	"context"
	"fmt"
	"sort"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// RevisionAnnotation is where the deployment controller numbers revisions.
const RevisionAnnotation = "deployment.kubernetes.io/revision"

// Revision reads the deployment.kubernetes.io/revision annotation of a
// Deployment or ReplicaSet; 0 when it is missing or not a number.
func Revision(obj metav1.Object) int64 {
	v, err := strconv.ParseInt(obj.GetAnnotations()[RevisionAnnotation], 10, 64)
	if err != nil {
		return 0
	}
	return v
}

// ReplicaSetsOf lists the ReplicaSets the Deployment owns (by controller
// reference), sorted by revision, oldest first.
func ReplicaSetsOf(ctx context.Context, client kubernetes.Interface, d *appsv1.Deployment) ([]appsv1.ReplicaSet, error) {
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil {
		return nil, fmt.Errorf("deployment %q has an invalid selector: %w", d.Namespace+"/"+d.Name, err)
	}
	list, err := client.AppsV1().ReplicaSets(d.Namespace).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
	if err != nil {
		return nil, fmt.Errorf("listing replica sets of deployment %q: %w", d.Namespace+"/"+d.Name, err)
	}
	var owned []appsv1.ReplicaSet
	for _, rs := range list.Items {
		if ref := metav1.GetControllerOf(&rs); ref != nil && ref.UID == d.UID {
			owned = append(owned, rs)
		}
	}
	sort.SliceStable(owned, func(i, j int) bool { return Revision(&owned[i]) < Revision(&owned[j]) })
	return owned, nil
}

// WithoutHash returns a copy of a pod template without the
// pod-template-hash label the deployment controller adds to ReplicaSets.
func WithoutHash(t *corev1.PodTemplateSpec) *corev1.PodTemplateSpec {
	c := t.DeepCopy()
	delete(c.Labels, appsv1.DefaultDeploymentUniqueLabelKey)
	if len(c.Labels) == 0 {
		c.Labels = nil
	}
	return c
}

// EqualIgnoreHash compares two pod templates, ignoring pod-template-hash.
func EqualIgnoreHash(a, b *corev1.PodTemplateSpec) bool {
	return apiequality.Semantic.DeepEqual(WithoutHash(a), WithoutHash(b))
}

// CurrentReplicaSet returns the ReplicaSet whose template is the
// Deployment's current one, or nil when the controller has not made it yet.
func CurrentReplicaSet(d *appsv1.Deployment, rss []appsv1.ReplicaSet) *appsv1.ReplicaSet {
	var found *appsv1.ReplicaSet
	for i := range rss {
		if EqualIgnoreHash(&rss[i].Spec.Template, &d.Spec.Template) {
			if found == nil || Revision(&rss[i]) > Revision(found) {
				found = &rss[i]
			}
		}
	}
	return found
}

// RollbackTarget picks the ReplicaSet to roll back to, the way `kubectl
// rollout undo` does: toRevision 0 means the previous revision (the highest
// revision below the Deployment's current one); otherwise exactly that
// revision. The error names the Deployment and the revisions there are.
func RollbackTarget(d *appsv1.Deployment, rss []appsv1.ReplicaSet, toRevision int64) (*appsv1.ReplicaSet, error) {
	ref := d.Namespace + "/" + d.Name
	current := Revision(d)
	if current == 0 {
		if cur := CurrentReplicaSet(d, rss); cur != nil {
			current = Revision(cur)
		}
	}
	var best *appsv1.ReplicaSet
	var revs []string
	for i := range rss {
		r := Revision(&rss[i])
		if r == 0 {
			continue
		}
		revs = append(revs, strconv.FormatInt(r, 10))
		switch {
		case toRevision > 0:
			if r == toRevision {
				best = &rss[i]
			}
		case r < current || current == 0:
			if EqualIgnoreHash(&rss[i].Spec.Template, &d.Spec.Template) {
				continue
			}
			if best == nil || r > Revision(best) {
				best = &rss[i]
			}
		}
	}
	if best == nil {
		have := "none"
		if len(revs) > 0 {
			have = fmt.Sprint(revs)
		}
		if toRevision > 0 {
			return nil, fmt.Errorf("deployment %q has no revision %d (revisions: %s)", ref, toRevision, have)
		}
		return nil, fmt.Errorf("deployment %q has no previous revision to roll back to (revisions: %s)", ref, have)
	}
	return best, nil
}
