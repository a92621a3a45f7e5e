package lint

import (
	"encoding/json"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/zdd-dev/kubectl-zdd/pkg/probes"
)

func checkPDBMissing(c *check) {
	w := c.it.w
	if !(c.a.opts.Live || c.a.havePDBs[c.it.obj.scope]) || w == nil || !w.hasScale || len(w.pdbs) > 0 {
		return
	}
	if n, _ := w.expected(); n == 0 {
		return
	}
	c.add(Warning, "", "spec.template.metadata.labels",
		fmt.Sprintf("no PodDisruptionBudget in the input selects the pod template labels of %s: a node drain may evict all of them at once", ref(c.it)), "")
}

func checkPDBBlocks(c *check) {
	p := c.it.pdb
	if p == nil {
		return
	}
	spec := p.p.Spec
	// total is the number of pods the PDB covers among the workloads of the
	// input; known is false when that cannot be told.
	var total int32
	known := len(p.covered) > 0
	for _, c := range p.covered {
		n, ok := c.n, c.ok
		if !ok {
			known = false
			break
		}
		total += n
	}
	switch {
	case spec.MaxUnavailable != nil:
		if probes.IsZero(*spec.MaxUnavailable) {
			c.add(Warning, "", "spec.maxUnavailable",
				fmt.Sprintf("%s sets maxUnavailable %s: no pod it covers can ever be evicted, so node drains hang", ref(c.it), spec.MaxUnavailable.String()), "")
		}
	case spec.MinAvailable != nil:
		m := *spec.MinAvailable
		if m.Type == intstr.String && strings.TrimSpace(m.StrVal) == "100%" {
			c.add(Warning, "", "spec.minAvailable",
				fmt.Sprintf("%s sets minAvailable 100%%: no pod it covers can ever be evicted, so node drains hang", ref(c.it)), "")
			return
		}
		if !known || total == 0 {
			return
		}
		need, err := intstr.GetScaledValueFromIntOrPercent(&m, int(total), true)
		if err != nil || int32(need) < total {
			return
		}
		c.add(Warning, "", "spec.minAvailable",
			fmt.Sprintf("%s sets minAvailable %s and covers %d pods: none can ever be evicted, so node drains hang", ref(c.it), m.String(), total), "")
	}
}

func checkServiceSelectsNothing(c *check) {
	s := c.it.svc
	// Only where the input holds workloads of the Service's namespace: a
	// Service linted alone (a file of Services, `kubectl zdd lint
	// service/web`) has nothing to be compared with.
	if s == nil || s.matched || !s.workloads || len(s.s.Spec.Selector) == 0 || s.s.Spec.Type == corev1.ServiceTypeExternalName {
		return
	}
	c.add(Warning, "", "spec.selector",
		fmt.Sprintf("the selector of %s (%s) matches the pod template of no workload in the input: the Service has no endpoints", ref(c.it), selectorText(s.s.Spec.Selector)), "")
}

func selectorText(sel map[string]string) string {
	keys := make([]string, 0, len(sel))
	for k := range sel {
		keys = append(keys, k)
	}
	sortStrings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + sel[k]
	}
	return strings.Join(parts, ",")
}

func checkSessionAffinity(c *check) {
	s := c.it.svc
	if s == nil || s.s.Spec.SessionAffinity != corev1.ServiceAffinityClientIP {
		return
	}
	c.add(Warning, "", "spec.sessionAffinity",
		fmt.Sprintf("%s sets sessionAffinity ClientIP: during a rollout its clients stick to pods that are going away", ref(c.it)), "")
}

// Cloud load-balancer annotations that lb-no-connection-draining reads.
const (
	awsPrefix           = "service.beta.kubernetes.io/aws-load-balancer-"
	awsDraining         = "service.beta.kubernetes.io/aws-load-balancer-connection-draining-enabled"
	awsTargetGroupAttrs = "service.beta.kubernetes.io/aws-load-balancer-target-group-attributes"
	gkeBackendConfig    = "cloud.google.com/backend-config"
	gkeBackendConfigOld = "beta.cloud.google.com/backend-config"
)

func checkLBDraining(c *check) {
	if c.it.ing != nil {
		checkAGICDraining(c)
		return
	}
	s := c.it.svc
	if s == nil {
		return
	}
	if s.s.Spec.Type != corev1.ServiceTypeLoadBalancer {
		if s.neg {
			checkNEGDraining(c, s)
		}
		return
	}
	ann := s.s.Annotations
	aws, gke := false, false
	for k := range ann {
		switch {
		case strings.HasPrefix(k, awsPrefix):
			aws = true
		case strings.HasPrefix(k, "cloud.google.com/"), strings.HasPrefix(k, "networking.gke.io/"), k == gkeBackendConfigOld:
			gke = true
		}
	}
	switch {
	case aws:
		if strings.EqualFold(strings.TrimSpace(ann[awsDraining]), "true") || strings.Contains(ann[awsTargetGroupAttrs], "deregistration_delay.timeout_seconds") {
			return
		}
		c.add(Warning, "", "metadata.annotations",
			fmt.Sprintf("%s is an AWS load balancer whose annotations do not enable connection draining: open connections are cut when a pod leaves", ref(c.it)),
			fmt.Sprintf("annotate %s: \"true\" (classic ELB) or %s: deregistration_delay.timeout_seconds=30 (NLB)", awsDraining, awsTargetGroupAttrs))
	case gke:
		if ann[gkeBackendConfig] != "" || ann[gkeBackendConfigOld] != "" {
			checkBackendConfigDraining(c, s)
			return
		}
		c.add(Warning, "", "metadata.annotations",
			fmt.Sprintf("%s is a Google Cloud load balancer whose annotations name no BackendConfig: connection draining is off and open connections are cut when a pod leaves", ref(c.it)),
			fmt.Sprintf("annotate %s with a BackendConfig that sets connectionDraining.drainingTimeoutSec", gkeBackendConfig))
	}
}

// IsMigrationJob says whether a Job runs a migration: annotation
// zdd.dev/migration "true", or a name (or generateName) containing "migrat".
func isMigrationJob(it *item) bool {
	if strings.EqualFold(it.meta.Annotations[MigrationAnnotation], "true") {
		return true
	}
	name := it.meta.Name
	if name == "" {
		name = it.meta.GenerateName
	}
	return strings.Contains(strings.ToLower(name), "migrat")
}

// DefaultBackoffLimit is a Job's backoffLimit when unset.
const DefaultBackoffLimit = 6

func checkMigrationJob(c *check) {
	w := c.it.w
	if w == nil || w.job == nil || !isMigrationJob(c.it) {
		return
	}
	if bl := w.job.Spec.BackoffLimit; bl == nil || *bl != 0 {
		value := fmt.Sprintf("%d (the default)", DefaultBackoffLimit)
		if bl != nil {
			value = fmt.Sprint(*bl)
		}
		c.add(Warning, "", "spec.backoffLimit",
			fmt.Sprintf("migration %s has backoffLimit %s: a failed migration is re-run on a half-migrated database", ref(c.it), value),
			"set spec.backoffLimit: 0")
	}
	if rp := w.tmpl.Spec.RestartPolicy; rp != corev1.RestartPolicyNever {
		value := string(rp)
		if value == "" {
			value = "unset"
		}
		c.add(Warning, "", podSpecField("restartPolicy"),
			fmt.Sprintf("migration %s has restartPolicy %s: the kubelet re-runs a failed migration in place", ref(c.it), value),
			"set spec.template.spec.restartPolicy: Never")
	}
}

// checkNEGDraining is lb-no-connection-draining for a Service that a GKE
// container-native load balancer (a network endpoint group) sends traffic
// to: its BackendConfig must set connectionDraining (the default is 0 s).
func checkNEGDraining(c *check, s *service) {
	ann := s.s.Annotations
	if ann[gkeBackendConfig] != "" || ann[gkeBackendConfigOld] != "" {
		checkBackendConfigDraining(c, s)
		return
	}
	c.add(Warning, "", "metadata.annotations",
		fmt.Sprintf("%s is the backend of a GKE container-native load balancer (%s) and its annotations name no BackendConfig: connection draining is off (0 s), and open connections are cut when a pod leaves", ref(c.it), gkeNEG),
		fmt.Sprintf("annotate %s with a BackendConfig that sets connectionDraining.drainingTimeoutSec", gkeBackendConfig))
}

// backendConfigNames are the BackendConfigs a backend-config annotation
// names: {"default": "name"} and {"ports": {"80": "name"}}.
func backendConfigNames(v string) []string {
	var bc struct {
		Default string            `json:"default"`
		Ports   map[string]string `json:"ports"`
	}
	if json.Unmarshal([]byte(v), &bc) != nil {
		return nil
	}
	var names []string
	if bc.Default != "" {
		names = append(names, bc.Default)
	}
	ports := make([]string, 0, len(bc.Ports))
	for p := range bc.Ports {
		ports = append(ports, p)
	}
	sortStrings(ports)
	for _, p := range ports {
		if n := bc.Ports[p]; n != "" && !contains(names, n) {
			names = append(names, n)
		}
	}
	return names
}

// checkBackendConfigDraining reports a BackendConfig of the input, named by
// the Service, that leaves connection draining off. A BackendConfig that
// is not in the input is taken to set it.
func checkBackendConfigDraining(c *check, s *service) {
	v := s.s.Annotations[gkeBackendConfig]
	if v == "" {
		v = s.s.Annotations[gkeBackendConfigOld]
	}
	n := c.a.byNS[nsKey(c.it.obj)]
	if n == nil {
		return
	}
	for _, name := range backendConfigNames(v) {
		bc := n.backendConfigs[name]
		if bc == nil || (bc.Spec.ConnectionDraining != nil && bc.Spec.ConnectionDraining.DrainingTimeoutSec > 0) {
			continue
		}
		c.add(Warning, "", "metadata.annotations",
			fmt.Sprintf("%s names BackendConfig %q in its annotations, which sets no connectionDraining.drainingTimeoutSec: connection draining is off (0 s), and open connections are cut when a pod leaves", ref(c.it), name),
			fmt.Sprintf("set spec.connectionDraining.drainingTimeoutSec (e.g. 30) in BackendConfig %q", name))
		return
	}
}
