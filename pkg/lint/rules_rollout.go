package lint

import (
	"encoding/json"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/zdd-dev/kubectl-zdd/pkg/probes"
)

// rollingOf is the rolling-update budget of a Deployment or DaemonSet that
// updates by rolling (nil otherwise), the path of its rollingUpdate field and
// the replica count it resolves against (0 for a DaemonSet: one per node).
func rollingOf(w *workload) (r *probes.Rolling, path string, replicas int32, explicit [2]bool) {
	switch {
	case w.deploy != nil:
		s := w.deploy.Spec.Strategy
		if s.Type != "" && s.Type != appsv1.RollingUpdateDeploymentStrategyType {
			return nil, "", 0, explicit
		}
		var surge, unavail *intstr.IntOrString
		if s.RollingUpdate != nil {
			surge, unavail = s.RollingUpdate.MaxSurge, s.RollingUpdate.MaxUnavailable
		}
		n, _ := w.expected()
		res := probes.ResolveRolling(surge, unavail, probes.DefaultMaxSurge, probes.DefaultMaxUnavailable, n)
		return &res, "spec.strategy.rollingUpdate", n, [2]bool{surge != nil, unavail != nil}
	case w.ds != nil:
		s := w.ds.Spec.UpdateStrategy
		if s.Type != "" && s.Type != appsv1.RollingUpdateDaemonSetStrategyType {
			return nil, "", 0, explicit
		}
		var surge, unavail *intstr.IntOrString
		if s.RollingUpdate != nil {
			surge, unavail = s.RollingUpdate.MaxSurge, s.RollingUpdate.MaxUnavailable
		}
		res := probes.ResolveRolling(surge, unavail, intstr.FromInt32(0), intstr.FromInt32(1), 0)
		return &res, "spec.updateStrategy.rollingUpdate", 0, [2]bool{surge != nil, unavail != nil}
	}
	return nil, "", 0, explicit
}

func checkMaxUnavailable(c *check) {
	w := c.it.w
	if w == nil {
		return
	}
	r, path, n, explicit := rollingOf(w)
	if r == nil || probes.IsZero(r.MaxUnavailable) || (w.hasScale && n == 0) {
		return
	}
	value := r.MaxUnavailable.String()
	if !explicit[1] {
		value += " (the default)"
	}
	field := path + ".maxUnavailable"
	if w.ds != nil {
		c.add(Warning, "", field,
			fmt.Sprintf("%s updates with maxUnavailable %s: the pod of a node is stopped before its replacement is ready there", ref(c.it), value),
			"set maxUnavailable: 0 and maxSurge: 1 (a DaemonSet surges one pod per node)")
		return
	}
	if r.Unavailable >= n {
		c.add(Error, "", field,
			fmt.Sprintf("%s updates with maxUnavailable %s, which is all %d of its pods: a rollout can take every pod out of service at once", ref(c.it), value, n), "")
		return
	}
	c.add(Warning, "", field,
		fmt.Sprintf("%s updates with maxUnavailable %s, %d of its %d pods now and more as it scales: old pods leave service before their replacements are ready", ref(c.it), value, r.Unavailable, n), "")
}

func checkCannotProgress(c *check) {
	w := c.it.w
	if w == nil {
		return
	}
	r, path, _, _ := rollingOf(w)
	if r == nil || !probes.IsZero(r.MaxSurge) || !probes.IsZero(r.MaxUnavailable) {
		return
	}
	c.add(Error, "", path+".maxSurge",
		fmt.Sprintf("%s sets maxSurge %s and maxUnavailable %s: a rollout can neither start a new pod nor stop an old one, and the API server rejects it", ref(c.it), r.MaxSurge.String(), r.MaxUnavailable.String()), "")
}

func checkRecreate(c *check) {
	w := c.it.w
	if w == nil || w.deploy == nil || w.deploy.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType {
		return
	}
	c.add(Error, "", "spec.strategy.type",
		fmt.Sprintf("%s has strategy type Recreate: every release stops all old pods before any new one starts", ref(c.it)), "")
}

func checkTooFewReplicas(c *check) {
	w := c.it.w
	if w == nil || !w.hasScale {
		return
	}
	n, _ := w.expected()
	if n >= 2 {
		return
	}
	if w.hpa != nil {
		c.add(Warning, "", "spec.replicas",
			fmt.Sprintf("%s is scaled by HorizontalPodAutoscaler %q with minReplicas %d: a node drain or a crash leaves no pod serving", ref(c.it), w.hpa.Name, n),
			"set the HPA's minReplicas to at least 2")
		return
	}
	if n == 0 {
		// Scaled to zero on purpose: nothing serves, nothing to protect.
		return
	}
	value := fmt.Sprint(n)
	if w.replicas == nil {
		value += " (the default)"
	}
	c.add(Warning, "", "spec.replicas",
		fmt.Sprintf("%s has replicas %s: a node drain or a crash leaves no pod serving", ref(c.it), value),
		"set spec.replicas to at least 2")
}

func checkRevisionHistory(c *check) {
	w := c.it.w
	if w == nil {
		return
	}
	var limit *int32
	switch {
	case w.deploy != nil:
		limit = w.deploy.Spec.RevisionHistoryLimit
	case w.sts != nil:
		limit = w.sts.Spec.RevisionHistoryLimit
	case w.ds != nil:
		limit = w.ds.Spec.RevisionHistoryLimit
	}
	if limit == nil || *limit != 0 {
		return
	}
	c.add(Warning, "", "spec.revisionHistoryLimit",
		fmt.Sprintf("%s keeps no old revisions (revisionHistoryLimit 0): `kubectl rollout undo` has nothing to roll back to", ref(c.it)), "")
}

// MaxProgressDeadlineSeconds is the longest progressDeadlineSeconds that
// progress-deadline accepts.
const MaxProgressDeadlineSeconds = 600

func checkProgressDeadline(c *check) {
	w := c.it.w
	if w == nil || w.deploy == nil {
		return
	}
	p := w.deploy.Spec.ProgressDeadlineSeconds
	switch {
	case p == nil:
		c.add(Info, "", "spec.progressDeadlineSeconds",
			fmt.Sprintf("%s leaves progressDeadlineSeconds unset (600 s): a stuck rollout is reported only after 10 minutes", ref(c.it)), "")
	case *p > MaxProgressDeadlineSeconds:
		c.add(Warning, "", "spec.progressDeadlineSeconds",
			fmt.Sprintf("%s sets progressDeadlineSeconds %d: a stuck rollout is reported only after %s", ref(c.it), *p, seconds(int64(*p))), "")
	}
}

func seconds(s int64) string {
	if s%60 == 0 {
		return fmt.Sprintf("%d minutes", s/60)
	}
	return fmt.Sprintf("%d s", s)
}

func checkHPAConflict(c *check) {
	w := c.it.w
	if w == nil || w.hpa == nil || w.replicas == nil {
		return
	}
	if c.a.opts.Live && !appliedReplicas(c.it) {
		// A live object always has replicas; only the last applied
		// manifest tells whether the user sets it.
		return
	}
	c.add(Warning, "", "spec.replicas",
		fmt.Sprintf("%s sets replicas %d while HorizontalPodAutoscaler %q scales it: every apply resets the replica count, even under load", ref(c.it), *w.replicas, w.hpa.Name), "")
}

// appliedReplicas says whether the last manifest applied with kubectl apply
// (its kubectl.kubernetes.io/last-applied-configuration annotation) sets
// spec.replicas.
func appliedReplicas(it *item) bool {
	last, ok := it.meta.Annotations["kubectl.kubernetes.io/last-applied-configuration"]
	if !ok {
		return false
	}
	var m struct {
		Spec struct {
			Replicas *int32 `json:"replicas"`
		} `json:"spec"`
	}
	if err := json.Unmarshal([]byte(last), &m); err != nil {
		return false
	}
	return m.Spec.Replicas != nil
}

func checkMutableImage(c *check) {
	w := c.it.w
	if w == nil {
		return
	}
	spec := &w.tmpl.Spec
	for i := range spec.InitContainers {
		ct := &spec.InitContainers[i]
		if mut, why := probes.MutableTag(ct.Image); mut {
			c.add(Warning, ct.Name, fmt.Sprintf("spec.template.spec.initContainers[%d].image", i),
				fmt.Sprintf("init container %q of %s uses image %q (%s): a rollback or a rescheduled pod may run different code", ct.Name, ref(c.it), ct.Image, why), "")
		}
	}
	for i := range spec.Containers {
		ct := &spec.Containers[i]
		if mut, why := probes.MutableTag(ct.Image); mut {
			c.add(Warning, ct.Name, containerField(i, "image"),
				fmt.Sprintf("container %q of %s uses image %q (%s): a rollback or a rescheduled pod may run different code", ct.Name, ref(c.it), ct.Image, why), "")
		}
	}
}
