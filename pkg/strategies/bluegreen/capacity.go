package bluegreen

import (
	"context"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/zdd-dev/kubectl-zdd/pkg/downtime"
)

// capacityLine is the end line of the Service's endpoints watch: capacity
// as a share of the replicas the Service should have ready at the end (the
// spec.replicas of the Deployments whose pods it selects then), "a
// capacity dip" below them. With measure false (the API server is not
// reachable, or the lease is gone) the share is left out.
func (r *Runner) capacityLine(rep downtime.Report, measure bool) string {
	var desired int32
	if measure {
		desired = r.desiredReplicas()
	}
	return rep.Capacity(desired)
}

// desiredReplicas adds up the replicas of the Deployments whose pods the
// Service selects now; 0 when it cannot tell.
func (r *Runner) desiredReplicas() int32 {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	svc, err := r.Client.CoreV1().Services(r.Namespace).Get(ctx, r.Service, metav1.GetOptions{})
	if err != nil || len(svc.Spec.Selector) == 0 {
		return 0
	}
	deps, err := r.Client.AppsV1().Deployments(r.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return 0
	}
	sel := labels.SelectorFromSet(svc.Spec.Selector)
	var n int32
	for i := range deps.Items {
		d := &deps.Items[i]
		if d.DeletionTimestamp == nil && sel.Matches(labels.Set(d.Spec.Template.Labels)) {
			n += replicasOf(d)
		}
	}
	return n
}
