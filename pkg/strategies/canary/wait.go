package canary

import (
	"context"

	appsv1 "k8s.io/api/apps/v1"

	"github.com/zdd-dev/kubectl-zdd/pkg/kube"
)

// waitSettled watches ns/name until kube.Settled; the rollout's failure, its
// deletion or the end of ctx is an error.
func (c *Canary) waitSettled(ctx context.Context, ns, name string) (*appsv1.Deployment, error) {
	return kube.WaitForDeployment(ctx, c.Client, ns, name, kube.Settled, nil)
}
