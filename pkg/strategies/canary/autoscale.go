package canary

// A stable Deployment sized by an autoscaler (a HorizontalPodAutoscaler or a
// KEDA ScaledObject): the autoscaler keeps the stable, and the canary never
// writes the stable's replicas. At each step the canary is sized from the
// stable's replicas as they are then: with a weighted router, the share of
// the weight (ceil(n*w/100) pods take w% of the traffic, as n stable pods
// took all of it); by replica ratio, the count that makes canary/(stable +
// canary) the weight. The stable never shrinks, so capacity never drops;
// a change of the stable's spec.replicas (the HPA controller's writes) is
// not another writer's change.

import (
	"context"
	"fmt"
	"math"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/zdd-dev/kubectl-zdd/pkg/kube"
	"github.com/zdd-dev/kubectl-zdd/pkg/traffic"
)

// ParamAutoscalers names the autoscalers of the stable (KIND/NAME, comma
// separated) found when the run started.
const ParamAutoscalers = "autoscalers"

// findAutoscalers looks for the autoscalers that size the stable.
func (c *Canary) findAutoscalers(ctx context.Context, p *plan) error {
	as, err := kube.FindAutoscalers(ctx, c.Client, c.Dynamic, p.stable.Namespace, p.stable.Name)
	if err != nil {
		return fmt.Errorf("preflight of deployment %q: %w", p.ref(), err)
	}
	p.autoscalers = as
	return nil
}

// autoscaled says whether an autoscaler sizes the stable.
func (p *plan) autoscaled() bool { return len(p.autoscalers) > 0 }

func autoscalerKeys(as []kube.Autoscaler) string {
	keys := make([]string, len(as))
	for i, a := range as {
		keys[i] = a.Key()
	}
	return strings.Join(keys, ",")
}

// change compares what the canary manages in two versions of a Deployment;
// the stable's replicas are not compared when an autoscaler sizes it.
func (p *plan) change(seen, cur *appsv1.Deployment) *kube.ChangedError {
	if p.autoscaled() && cur.Name == p.stable.Name {
		changed := kube.DeploymentChange(seen, cur, kube.SpecTemplate, kube.SpecSelector)
		if changed != nil {
			changed.Object = fmt.Sprintf("deployment %q", cur.Namespace+"/"+cur.Name)
		}
		return changed
	}
	return deploymentChange(seen, cur)
}

// stableReplicas is what a write of the stable sets its replicas to: the
// recorded N, or, when an autoscaler sizes it, what it has.
func (p *plan) stableReplicas(d *appsv1.Deployment) *int32 {
	if p.autoscaled() {
		return d.Spec.Replicas
	}
	return &p.replicas
}

// AutoscaledSplit is the canary's replicas at weight w beside a stable of n
// replicas that an autoscaler sizes; weighted says whether a router sets
// the traffic's weights (else the replica ratio splits it).
func AutoscaledSplit(n int32, w int, weighted bool) int32 {
	switch {
	case w <= 0 || n <= 0:
		return 0
	case w >= 100:
		return n
	case weighted:
		c, _ := traffic.ReplicaSplit(n, w)
		return c
	}
	return max(int32(math.Round(float64(n)*float64(w)/float64(100-w))), 1)
}

// applyAutoscaledWeight moves to weight w without touching the stable's
// replicas: the canary grows (Ready) before the router moves, or shrinks
// after it.
func (c *Canary) applyAutoscaledWeight(ctx context.Context, p *plan, w int) error {
	cur, err := c.Client.AppsV1().Deployments(p.stable.Namespace).Get(ctx, p.stable.Name, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("reading deployment %q: %w", p.ref(), err)
	}
	n := int32(1)
	if cur.Spec.Replicas != nil {
		n = *cur.Spec.Replicas
	}
	target := AutoscaledSplit(n, w, p.router != nil)
	p.canaryWant = target
	var c0 int32
	if p.existing != nil && p.existing.Spec.Replicas != nil {
		c0 = *p.existing.Spec.Replicas
	}
	c.printf("weight %d%%: deployment %q has %d replicas (sized by %s): the canary gets %d", w, p.ref(), n, p.autoscalers[0].Ref(), target)
	sizeCanary := func() error {
		if p.existing == nil && target == 0 {
			return nil
		}
		d, err := c.upsertCanary(ctx, p, target)
		if err != nil {
			return err
		}
		p.existing = d
		_, err = c.waitSettled(ctx, d.Namespace, d.Name)
		return err
	}
	route := func() error {
		if p.router == nil {
			return nil
		}
		if err := c.fenced(ctx); err != nil {
			return err
		}
		return p.router.SetWeight(ctx, w)
	}
	order := []func() error{sizeCanary, route}
	if target < c0 {
		order = []func() error{route, sizeCanary}
	}
	for _, f := range order {
		if err := f(); err != nil {
			return err
		}
	}
	return nil
}
