package canary

import (
	"context"
	"fmt"
	"maps"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/zdd-dev/kubectl-zdd/pkg/kube"
	"github.com/zdd-dev/kubectl-zdd/pkg/traffic"
)

// ensureServices creates or updates SERVICE-stable and SERVICE-canary.
func (c *Canary) ensureServices(ctx context.Context, p *plan) error {
	hash, err := c.stableHash(ctx, p)
	if err != nil {
		return err
	}
	stableSel := maps.Clone(p.stableSel)
	if hash != "" {
		stableSel[appsv1.DefaultDeploymentUniqueLabelKey] = hash
	}
	canarySel := maps.Clone(p.stableSel)
	canarySel[p.trackKey] = p.trackVal
	for _, s := range []traffic.SplitService{
		{Name: traffic.StableServiceName(p.service.Name), Selector: stableSel},
		{Name: traffic.CanaryServiceName(p.service.Name), Selector: canarySel},
	} {
		if err := c.fenced(ctx); err != nil {
			return err
		}
		created, err := traffic.EnsureSplitService(ctx, c.Client, p.service, s)
		if err != nil {
			return err
		}
		if err := c.rememberSelector(ctx, p, s.Name); err != nil {
			return err
		}
		if created {
			c.printf("created service %q (selector %s)", p.service.Namespace+"/"+s.Name, labels.Set(s.Selector))
		}
	}
	return nil
}

// stableHash is the pod-template-hash of the stable's current ReplicaSet.
func (c *Canary) stableHash(ctx context.Context, p *plan) (string, error) {
	d, err := c.Client.AppsV1().Deployments(p.stable.Namespace).Get(ctx, p.stable.Name, metav1.GetOptions{})
	if err != nil {
		return "", fmt.Errorf("reading deployment %q: %w", p.ref(), err)
	}
	rss, err := kube.ReplicaSetsOf(ctx, c.Client, d)
	if err != nil {
		return "", err
	}
	if rs := kube.CurrentReplicaSet(d, rss); rs != nil {
		return rs.Labels[appsv1.DefaultDeploymentUniqueLabelKey], nil
	}
	return "", fmt.Errorf("deployment %q has no current replica set yet", p.ref())
}

// applyWeight moves to weight w: the side that grows first, Ready, then the
// router, then the side that shrinks.
func (c *Canary) applyWeight(ctx context.Context, p *plan, w int) error {
	if p.autoscaled() {
		return c.applyAutoscaledWeight(ctx, p, w)
	}
	cTarget, sTarget := traffic.ReplicaSplit(p.replicas, w)
	var c0 int32
	if p.existing != nil && p.existing.Spec.Replicas != nil {
		c0 = *p.existing.Spec.Replicas
	}
	growCanary := func() error {
		d, err := c.upsertCanary(ctx, p, cTarget)
		if err != nil {
			return err
		}
		p.existing = d
		_, err = c.waitSettled(ctx, d.Namespace, d.Name)
		return err
	}
	scaleStable := func() error {
		if _, err := c.writeDeployment(ctx, p, p.stable.Name, func(d *appsv1.Deployment) { d.Spec.Replicas = &sTarget }); err != nil {
			return err
		}
		_, err := c.waitSettled(ctx, p.stable.Namespace, p.stable.Name)
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
	order := []func() error{growCanary, route, scaleStable}
	if cTarget < c0 {
		order = []func() error{scaleStable, route, growCanary}
	}
	for _, f := range order {
		if err := f(); err != nil {
			return err
		}
	}
	return nil
}

// upsertCanary creates the canary Deployment or updates its template and
// replicas.
func (c *Canary) upsertCanary(ctx context.Context, p *plan, replicas int32) (*appsv1.Deployment, error) {
	deps := c.Client.AppsV1().Deployments(p.stable.Namespace)
	if p.existing == nil {
		d := p.canary.DeepCopy()
		d.Spec.Replicas = &replicas
		if err := c.fenced(ctx); err != nil {
			return nil, err
		}
		created, err := deps.Create(ctx, d, metav1.CreateOptions{FieldManager: kube.FieldManager})
		if err != nil {
			return nil, fmt.Errorf("creating deployment %q: %w", p.canaryRef(), err)
		}
		c.printf("created deployment %q", p.canaryRef())
		p.remember(created)
		return created, nil
	}
	return c.writeDeployment(ctx, p, p.canaryName(), func(d *appsv1.Deployment) {
		d.Spec.Replicas = &replicas
		if p.canary != nil {
			d.Spec.Template = p.canary.Spec.Template
			d.Spec.Strategy = p.canary.Spec.Strategy
		}
	})
}

// report prints the effective weight at step i: ready canary pods over all
// ready pods behind the Service, once the endpoints show the expected split.
func (c *Canary) report(ctx context.Context, p *plan, i int) error {
	w := p.steps[i]
	cWant, _ := traffic.ReplicaSplit(p.replicas, w)
	wantAll := int(p.replicas)
	if p.autoscaled() {
		// the stable has what its autoscaler gives it
		cWant, wantAll = p.canaryWant, -1
	}
	readyCanary, readyAll, err := c.waitEndpoints(ctx, p, int(cWant), wantAll)
	if err != nil {
		return err
	}
	line := fmt.Sprintf("step %d/%d: weight %d%%: effective weight %d%% (%d of %d ready pods behind service %q are the canary's)",
		i+1, len(p.steps), w, traffic.EffectiveWeight(readyCanary, readyAll), readyCanary, readyAll, p.service.Namespace+"/"+p.service.Name)
	if p.router != nil {
		rw, err := p.router.Weight(ctx)
		if err != nil {
			return err
		}
		line += fmt.Sprintf("; %s routes %d%% to the canary", p.router.Describe(), rw)
	}
	c.printf("%s", line)
	return nil
}

// waitEndpoints watches the Service's EndpointSlices and its pods (the
// downtime watcher's kube.EndpointWatch, or one of its own) until wantCanary of the ready endpoints are canary
// pods and wantAll are ready in all (wantAll < 0: any number of ready
// stable pods but none).
func (c *Canary) waitEndpoints(ctx context.Context, p *plan, wantCanary, wantAll int) (int, int, error) {
	ns := p.service.Namespace
	canarySel := labels.Set(p.stableSel).String() + "," + p.trackKey + "=" + p.trackVal
	isCanary, err := labels.Parse(canarySel)
	if err != nil {
		return 0, 0, fmt.Errorf("the canary's pod selector %q: %w", canarySel, err)
	}
	var gotCanary, gotAll int
	ctx, cancel := c.waitLimit(ctx)
	defer cancel()
	fail := func(err error) (int, int, error) {
		return gotCanary, gotAll, fmt.Errorf("waiting for service %q to have %d ready endpoints, %d of them canary pods (last seen %d, %d): %w",
			ns+"/"+p.service.Name, wantAll, wantCanary, gotAll, gotCanary, err)
	}
	w := p.endpoints
	if w == nil {
		w, err = kube.WatchEndpoints(ctx, c.Client, ns, p.service.Name, kube.EndpointOptions{PodSelector: p.service.Spec.Selector})
		if err != nil {
			return fail(err)
		}
		defer w.Stop()
	}
	count := func() bool {
		// only endpoints of pods that exist count: after an API server
		// outage the EndpointSlice controller can list deleted pods as
		// ready for minutes
		canary := map[string]bool{}
		for _, pod := range w.Pods() {
			canary[pod.Name] = isCanary.Matches(labels.Set(pod.Labels))
		}
		gotCanary, gotAll = 0, 0
		for _, es := range w.Slices() {
			for _, ep := range es.Endpoints {
				if ep.Conditions.Ready == nil || !*ep.Conditions.Ready || ep.TargetRef == nil {
					continue
				}
				isCanary, exists := canary[ep.TargetRef.Name]
				if !exists {
					continue
				}
				gotAll++
				if isCanary {
					gotCanary++
				}
			}
		}
		if wantAll < 0 {
			return gotCanary == wantCanary && gotAll > gotCanary
		}
		return gotCanary == wantCanary && gotAll == wantAll
	}
	if err := w.Wait(ctx, count); err != nil {
		return fail(err)
	}
	return gotCanary, gotAll, nil
}

// waitSettled watches ns/name until kube.Settled; the rollout's failure, its
// deletion, the operation's Timeout or the end of ctx is an error.
func (c *Canary) waitSettled(ctx context.Context, ns, name string) (*appsv1.Deployment, error) {
	ctx, cancel := c.waitLimit(ctx)
	defer cancel()
	return kube.WaitForDeployment(ctx, c.Client, ns, name, kube.Settled, nil)
}
