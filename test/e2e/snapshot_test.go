//go:build e2e

package e2e

import (
	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// snapshot returns the resourceVersion of every Deployment, Service, Job and
// Lease in the test's namespace, keyed by "kind/name": a command that
// changed nothing leaves it equal.
func (e *Env) snapshot() map[string]string {
	e.T.Helper()
	out := map[string]string{}
	ctx, o := e.Ctx, metav1.ListOptions{}
	deps, err := e.Client.AppsV1().Deployments(e.NS).List(ctx, o)
	if err != nil {
		e.T.Fatalf("listing deployments: %v", err)
	}
	for _, x := range deps.Items {
		out["deployment/"+x.Name] = x.ResourceVersion
	}
	svcs, err := e.Client.CoreV1().Services(e.NS).List(ctx, o)
	if err != nil {
		e.T.Fatalf("listing services: %v", err)
	}
	for _, x := range svcs.Items {
		out["service/"+x.Name] = x.ResourceVersion
	}
	jobs, err := e.Client.BatchV1().Jobs(e.NS).List(ctx, o)
	if err != nil {
		e.T.Fatalf("listing jobs: %v", err)
	}
	for _, x := range jobs.Items {
		out["job/"+x.Name] = x.ResourceVersion
	}
	leases, err := e.Client.CoordinationV1().Leases(e.NS).List(ctx, o)
	if err != nil {
		e.T.Fatalf("listing leases: %v", err)
	}
	for _, x := range leases.Items {
		out["lease/"+x.Name] = x.ResourceVersion
	}
	return out
}

// diffSnapshots is cmp.Diff of two snapshots (-before +after).
func diffSnapshots(before, after map[string]string) string {
	return cmp.Diff(before, after)
}
