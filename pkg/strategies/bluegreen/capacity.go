package bluegreen

import (
	"context"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// desiredReplicasAsync reads, beside what the caller does next, the share
// the capacity line at the end of an operation is measured against: the
// replicas the Service should have ready at the end (desiredReplicas). The
// end writes its record meanwhile: two round trips fewer one after the
// other, on an API server busy with the colour just retired. When the API
// server is not reachable, or the lease is gone, the line leaves the share
// out (downtime.Report.Capacity(0)).
func (r *Runner) desiredReplicasAsync() <-chan int32 {
	ch := make(chan int32, 1)
	go func() { ch <- r.desiredReplicas() }()
	return ch
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
