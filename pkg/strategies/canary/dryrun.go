package canary

// The dry run of a canary release (--dry-run=client|server): the plan of
// every step, read from the cluster as a real run would read it, and
// nothing written. Under server, each Deployment and Service write of the
// plan is sent with dryRun=All and the step says what the API server
// answered; the router's weights are described, not sent.

import (
	"context"
	"fmt"
	"maps"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/zdd-dev/kubectl-zdd/pkg/kube"
	"github.com/zdd-dev/kubectl-zdd/pkg/state"
	"github.com/zdd-dev/kubectl-zdd/pkg/strategies"
	"github.com/zdd-dev/kubectl-zdd/pkg/traffic"
)

// DryRun plans cfg without changing anything (cfg.DryRun
// strategies.DryRunClient, the default, or DryRunServer). Bad input is the
// same usage error a real run gives.
func (c *Canary) DryRun(ctx context.Context, cfg Config) (*strategies.Plan, error) {
	mode := cfg.DryRun
	if mode == "" {
		mode = strategies.DryRunClient
	}
	p, err := c.prepare(ctx, cfg)
	if err != nil {
		return nil, err
	}
	server := mode == strategies.DryRunServer
	var dry []string
	if server {
		dry = []string{metav1.DryRunAll}
	}
	ns := p.stable.Namespace
	plan := &strategies.Plan{Title: fmt.Sprintf("canary release of deployment %q", p.ref()), DryRun: mode}
	pre := "the canary's pod template is linted before any write"
	if p.autoscaled() {
		pre += fmt.Sprintf("; deployment %q is sized by %s: its replicas are left to it and the canary is sized from its current replicas at each step", p.ref(), kube.Describe(p.autoscalers))
	}
	if w := c.serviceProfileWarning(ctx, p); w != "" {
		pre += "; " + w
	}
	plan.Add("preflight", pre, "")
	lease := state.LeaseName("deployment", p.stable.Name)
	plan.Add("lock", fmt.Sprintf("take lease %q for the whole release; stop if another run holds it", ns+"/"+lease), "")
	if p.op != nil {
		plan.Add("record", fmt.Sprintf("carry on canary %s of deployment %q recorded at phase %s (%s)", p.op.ID, p.ref(), p.op.Phase, resultText(p.op)), "")
	} else {
		plan.Add("record", fmt.Sprintf("record the release (phase start, steps, router, %d replicas) in zdd.dev/ annotations of deployment %q, precondition resourceVersion %s", p.replicas, p.ref(), p.stable.ResourceVersion), "")
	}
	if p.router != nil {
		hash, err := c.stableHash(ctx, p)
		if err != nil {
			return nil, err
		}
		stableSel := maps.Clone(p.stableSel)
		stableSel[appsv1.DefaultDeploymentUniqueLabelKey] = hash
		canarySel := maps.Clone(p.stableSel)
		canarySel[p.trackKey] = p.trackVal
		for _, s := range []traffic.SplitService{
			{Name: traffic.StableServiceName(p.service.Name), Selector: stableSel},
			{Name: traffic.CanaryServiceName(p.service.Name), Selector: canarySel},
		} {
			detail := fmt.Sprintf("create service %q (or set its selector) with selector %s, ports of service %q", ns+"/"+s.Name, labels.Set(s.Selector), ns+"/"+p.service.Name)
			if server {
				s.DryRun = dry
				_, err := traffic.EnsureSplitService(ctx, c.Client, p.service, s)
				detail += plan.Answer(err)
			}
			plan.Add("services", detail, "")
		}
	}
	canaryReplicas := int32(0)
	if p.existing != nil && p.existing.Spec.Replicas != nil {
		canaryReplicas = *p.existing.Spec.Replicas
	}
	created := p.existing != nil
	stableNow := p.replicas
	if p.autoscaled() && p.stable.Spec.Replicas != nil {
		stableNow = *p.stable.Spec.Replicas
	}
	for i, w := range p.steps {
		name := fmt.Sprintf("step-%d", i+1)
		var cT, sT int32
		if p.autoscaled() {
			cT, sT = AutoscaledSplit(stableNow, w, p.router != nil), stableNow
		} else {
			cT, sT = traffic.ReplicaSplit(p.replicas, w)
		}
		canaryMove := fmt.Sprintf("deployment %q to %d replicas, wait until they are ready", p.canaryRef(), cT)
		if !created {
			canaryMove = fmt.Sprintf("create deployment %q (images %s, pods labelled %s=%s) with %d replicas, wait until they are ready", p.canaryRef(), images(p), p.trackKey, p.trackVal, cT)
			if server {
				d := p.canary.DeepCopy()
				d.Spec.Replicas = &cT
				_, err := c.Client.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{FieldManager: kube.FieldManager, DryRun: dry})
				canaryMove += plan.Answer(err)
			}
			created = true
		}
		route := fmt.Sprintf("%d%% of the pods behind service %q are the canary's (replica ratio)", w, ns+"/"+p.service.Name)
		if p.router != nil {
			route = fmt.Sprintf("set %s to send %d%% to the canary", p.router.Describe(), w)
		}
		stableMove := fmt.Sprintf("deployment %q to %d replicas, wait until it settles", p.ref(), sT)
		if p.autoscaled() {
			stableMove = fmt.Sprintf("deployment %q keeps the replicas its autoscaler gives it (%d now)", p.ref(), sT)
		} else if server {
			d := p.stable.DeepCopy()
			d.Spec.Replicas = &sT
			_, err := c.Client.AppsV1().Deployments(ns).Update(ctx, d, metav1.UpdateOptions{FieldManager: kube.FieldManager, DryRun: dry})
			stableMove += plan.Answer(err)
		}
		moves := []string{canaryMove, route, stableMove}
		if cT < canaryReplicas {
			moves = []string{stableMove, route, canaryMove}
		}
		canaryReplicas = cT
		plan.Add(name, fmt.Sprintf("weight %d%%: %s", w, strings.Join(moves, "; then ")), "")
		last := i == len(p.steps)-1
		switch pause := pauseAt(p.pauses, i); {
		case p.manual || (last && (p.hold || w < 100)):
			plan.Add(name, "hold: 'kubectl zdd canary promote' moves on, 'kubectl zdd canary abort' pulls back", "")
		case c.Analysis != nil:
			plan.Add(name, fmt.Sprintf("run the analysis (pause %s): a failing verdict aborts", pause), "")
		case pause > 0:
			plan.Add(name, fmt.Sprintf("pause %s", pause), "")
		}
		if p.manual {
			break
		}
	}
	if last := p.steps[len(p.steps)-1]; last == 100 && !p.hold && !p.manual {
		detail := fmt.Sprintf("roll deployment %q to the canary's pod template (maxUnavailable 0)", p.ref())
		if server && p.canary != nil {
			d := p.stable.DeepCopy()
			tmpl := p.canary.Spec.Template.DeepCopy()
			tmpl.Labels = maps.Clone(p.stable.Spec.Template.Labels)
			delete(tmpl.Labels, appsv1.DefaultDeploymentUniqueLabelKey)
			d.Spec.Template = *tmpl
			_, err := c.Client.AppsV1().Deployments(ns).Update(ctx, d, metav1.UpdateOptions{FieldManager: kube.FieldManager, DryRun: dry})
			detail += plan.Answer(err)
		}
		detail += fmt.Sprintf(", wait until it is rolled out; put its own strategy back; delete deployment %q", p.canaryRef())
		if p.router != nil {
			detail += fmt.Sprintf("; set %s back to 0%% and drop the pod-template-hash from service %q", p.router.Describe(), ns+"/"+traffic.StableServiceName(p.service.Name))
		}
		plan.Add("promote", detail, "")
	}
	abort := fmt.Sprintf("on failure: deployment %q back to %d replicas (ready), then the canary to 0", p.ref(), p.replicas)
	if p.autoscaled() {
		abort = fmt.Sprintf("on failure: the canary to 0 (deployment %q keeps its autoscaler's replicas)", p.ref())
	}
	if p.router != nil {
		abort += ", the router back to 0%"
	}
	plan.Add("abort", abort, "")
	plan.Add("report", fmt.Sprintf("watch the ready endpoints of service %q and print the minimum", ns+"/"+p.service.Name), "")
	return plan, nil
}

// images are the canary's images, container=image.
func images(p *plan) string {
	if p.canary == nil {
		return "as deployed"
	}
	var s []string
	for _, c := range p.canary.Spec.Template.Spec.Containers {
		s = append(s, c.Name+"="+c.Image)
	}
	return strings.Join(s, ",")
}
