package lint

import (
	"fmt"
	"sort"
	"strings"
)

// rules is every rule kubectl zdd lint knows. Ids are stable: they appear in
// zdd.dev/ignore annotations, --disable/--enable and SARIF reports, so an id
// is never renamed or reused. The Severity of a RuleInfo is the rule's usual
// severity; a few rules report a lower or higher one for some cases (see
// docs/lint-rules.md).
var rules = []*rule{
	// Probes (rules_probes.go).
	{RuleInfo: RuleInfo{ID: "readiness-probe-missing", Severity: Error,
		Description: "A container that receives Service traffic (error) or declares ports (warning) has no readinessProbe: its pods get requests as soon as they start, before they can serve them.",
		Hint:        "add a readinessProbe that succeeds only when the container can serve requests"},
		check: checkReadinessMissing},
	{RuleInfo: RuleInfo{ID: "readiness-equals-liveness", Severity: Warning,
		Description: "The readinessProbe is the livenessProbe (once Kubernetes' defaults are filled in): a pod that is only busy is restarted instead of being taken out of the endpoints for a while.",
		Hint:        "give the livenessProbe a higher failureThreshold or a cheaper endpoint than the readinessProbe"},
		check: checkReadinessEqualsLiveness},
	{RuleInfo: RuleInfo{ID: "probe-port-not-exposed", Severity: Error,
		Description: "A probe targets a named port the container does not declare (the probe always fails; error), or a port number the container's declared ports do not include (warning).",
		Hint:        "point the probe at one of the container's ports, or declare the port under ports"},
		check: checkProbePort},
	{RuleInfo: RuleInfo{ID: "probe-timing", Severity: Warning,
		Description: "A probe's timeoutSeconds is not shorter than its periodSeconds (defaults 1 and 10): probes overlap and a slow response counts as a failure before the next one starts.",
		Hint:        "make timeoutSeconds shorter than periodSeconds"},
		check: checkProbeTiming},
	{RuleInfo: RuleInfo{ID: "liveness-before-ready", Severity: Error,
		Description: "Without a startupProbe, the livenessProbe can restart the container before its readinessProbe could ever first succeed: new pods crash-loop and a rollout never finishes.",
		Hint:        "add a startupProbe, or raise the livenessProbe's initialDelaySeconds or failureThreshold"},
		check: checkLivenessBeforeReady},

	// Termination (rules_termination.go).
	{RuleInfo: RuleInfo{ID: "prestop-missing", Severity: Error,
		Description: "A container that receives Service traffic has no preStop hook that waits (none, a tcpSocket hook, a sleep of 0 s): it gets SIGTERM while endpoints and proxies still send it requests, and those fail (error; info for a container that declares ports but no Service of the input selects).",
		Hint:        "add a preStop hook that sleeps a few seconds (lifecycle.preStop.sleep.seconds: 5) so endpoints update before shutdown"},
		check: checkPreStopMissing},
	{RuleInfo: RuleInfo{ID: "grace-period-too-short", Severity: Error,
		Description: "terminationGracePeriodSeconds (default 30) is shorter than the longest preStop sleep plus the drain budget (--drain-seconds, default 10): the container is killed while still draining (error behind a Service, or when the preStop hook itself cannot finish; warning otherwise).",
		Hint:        "raise spec.template.spec.terminationGracePeriodSeconds to the preStop sleep plus the drain time"},
		check: checkGracePeriod},

	// Rollout settings (rules_rollout.go).
	{RuleInfo: RuleInfo{ID: "max-unavailable-nonzero", Severity: Warning,
		Description: "The rolling update may take pods out of service before their replacements are ready (maxUnavailable other than 0, including the implicit 25% of a Deployment and 1 of a DaemonSet); error when it can take every pod down at once.",
		Hint:        "set rollingUpdate maxUnavailable: 0 and maxSurge: 1 (or 25%)"},
		check: checkMaxUnavailable},
	{RuleInfo: RuleInfo{ID: "rollout-cannot-progress", Severity: Error,
		Description: "maxSurge and maxUnavailable are both 0: the rollout can neither add a new pod nor remove an old one (the API server rejects it).",
		Hint:        "set maxSurge: 1 and maxUnavailable: 0"},
		check: checkCannotProgress},
	{RuleInfo: RuleInfo{ID: "recreate-strategy", Severity: Error,
		Description: "The Recreate strategy deletes every old pod before it starts a new one: each release is an outage.",
		Hint:        "use strategy type RollingUpdate with maxUnavailable: 0 and maxSurge: 1"},
		check: checkRecreate},
	{RuleInfo: RuleInfo{ID: "too-few-replicas", Severity: Warning,
		Description: "Fewer than 2 replicas (minReplicas when an HPA scales the workload): a node drain, an eviction or a crash leaves no pod serving.",
		Hint:        "run at least 2 replicas (spec.replicas, or the HPA's minReplicas)"},
		check: checkTooFewReplicas},
	{RuleInfo: RuleInfo{ID: "revision-history-zero", Severity: Warning,
		Description: "revisionHistoryLimit is 0: old ReplicaSets (or ControllerRevisions) are deleted, so a rollback has nothing to return to.",
		Hint:        "remove revisionHistoryLimit or set it to at least 2"},
		check: checkRevisionHistory},
	{RuleInfo: RuleInfo{ID: "progress-deadline", Severity: Warning,
		Description: "progressDeadlineSeconds is above 600 (warning) or left unset (info, the default of 600): a stuck rollout is reported late, and automation waits that long before rolling back.",
		Hint:        "set spec.progressDeadlineSeconds to a value that fits the start-up time, at most 600"},
		check: checkProgressDeadline},
	{RuleInfo: RuleInfo{ID: "hpa-replicas-conflict", Severity: Warning,
		Description: "The manifest sets replicas while a HorizontalPodAutoscaler scales the workload: every apply resets the replica count, scaling down under load.",
		Hint:        "remove spec.replicas from the manifest and let the HPA own it"},
		check: checkHPAConflict},
	{RuleInfo: RuleInfo{ID: "mutable-image-tag", Severity: Warning,
		Description: "An image has no tag or the tag latest (and no digest): a rollback or a rescheduled pod can run different code than the release that was tested.",
		Hint:        "pin the image to an immutable version tag or a digest (image@sha256:...)"},
		check: checkMutableImage},

	// Cross-object rules (rules_cross.go).
	{RuleInfo: RuleInfo{ID: "pdb-missing", Severity: Warning,
		Description: "No PodDisruptionBudget covers the workload's pods (checked only when the input holds PDBs, or in live mode): a node drain can evict every pod at once.",
		Hint:        "add a PodDisruptionBudget with maxUnavailable: 1 selecting the pod template's labels"},
		check: checkPDBMissing},
	{RuleInfo: RuleInfo{ID: "pdb-blocks-eviction", Severity: Warning,
		Description: "A PodDisruptionBudget allows no disruption at all (maxUnavailable 0, minAvailable 100%, or minAvailable at least the pods it covers): node drains hang until someone deletes it.",
		Hint:        "use maxUnavailable: 1 (or a minAvailable below the replica count)"},
		check: checkPDBBlocks},
	{RuleInfo: RuleInfo{ID: "service-selects-nothing", Severity: Warning,
		Description: "The Service's selector matches the pod template of no workload in the input: it has no endpoints, and every request to it fails.",
		Hint:        "make spec.selector a subset of the pod template labels of the workload it fronts"},
		check: checkServiceSelectsNothing},
	{RuleInfo: RuleInfo{ID: "session-affinity", Severity: Warning,
		Description: "sessionAffinity ClientIP pins clients to one pod: during a rollout they keep hitting a terminating pod, and load spreads unevenly onto new pods.",
		Hint:        "remove sessionAffinity (keep sessions in a shared store) or accept sticky-session errors during releases"},
		check: checkSessionAffinity},
	{RuleInfo: RuleInfo{ID: "lb-no-connection-draining", Severity: Warning,
		Description: "A cloud load balancer has no connection draining: a LoadBalancer Service with AWS or GKE annotations, a Service behind a GKE container-native load balancer (NEG) whose BackendConfig sets none, an Ingress of Azure Application Gateway. It cuts open connections when a pod leaves.",
		Hint:        "enable connection draining on the cloud load balancer (see docs/lint-rules.md for the annotation)"},
		check: checkLBDraining},
	// The guide's gotchas beyond the pod template (rules_gotchas.go).
	{RuleInfo: RuleInfo{ID: "long-lived-grace-too-short", Severity: Warning,
		Description: "Pods that serve long-lived connections (a Service port with appProtocol kubernetes.io/ws or wss, an Ingress, load balancer or route read timeout above 60 s) have a terminationGracePeriodSeconds under 120: connections still open when it ends are cut.",
		Hint:        "set spec.template.spec.terminationGracePeriodSeconds to at least 120, and have the program close its long-lived connections on SIGTERM so that clients reconnect to the new pods"},
		check: checkLongLivedGrace},
	{RuleInfo: RuleInfo{ID: "leader-election-handoff", Severity: Warning,
		Description: "A Deployment with 1 replica or the Recreate strategy whose pods hold a Lease (live) or whose ServiceAccount may update Leases (the Roles of the input, or the API server): if it elects a leader, a release leaves it without one until the Lease expires.",
		Hint:        "run at least 2 replicas with RollingUpdate so that a standby takes over, and release the Lease on shutdown (client-go's ReleaseOnCancel) so that it does at once"},
		check: checkLeaderElection},
	{RuleInfo: RuleInfo{ID: "cookie-session-affinity", Severity: Warning,
		Description: "Sticky sessions at the ingress (ingress-nginx affinity: cookie, ALB stickiness, a Traefik sticky cookie, Gateway API sessionPersistence): sessions kept in a pod's memory are lost when a release replaces it.",
		Hint:        "keep sessions in a shared store (a database, Redis) so that any pod can serve them, or accept that sessions break at each release"},
		check: checkCookieAffinity},
	{RuleInfo: RuleInfo{ID: "lb-readiness-gate-missing", Severity: Warning,
		Description: "Pods that an AWS load balancer targets by IP have no target-health readiness gate (nor a namespace label that injects it), or live pods behind a GKE container-native load balancer lack its readiness gate: a rollout does not wait for the load balancer to see new pods healthy.",
		Hint:        "label the namespace elbv2.k8s.aws/pod-readiness-gate-inject=enabled (AWS), or restart the pods so that GKE adds its readiness gate"},
		check: checkLBReadinessGate},
	{RuleInfo: RuleInfo{ID: "mesh-sidecar-no-drain", Severity: Warning,
		Description: "Pods get an Istio or Linkerd sidecar that does not outlive the app on shutdown (no EXIT_ON_ZERO_ACTIVE_CONNECTIONS or long enough terminationDrainDuration in proxy.istio.io/config; no long enough config.alpha.linkerd.io/proxy-wait-before-exit-seconds): the proxy stops first and cuts the requests the app is still serving.",
		Hint:        "let the proxy drain: EXIT_ON_ZERO_ACTIVE_CONNECTIONS (Istio) or proxy-wait-before-exit-seconds (Linkerd) of at least the preStop sleep plus the drain budget"},
		check: checkMeshDrain},
	{RuleInfo: RuleInfo{ID: "migration-job-retries", Severity: Warning,
		Description: "A migration Job (annotation zdd.dev/migration: \"true\", or a name containing \"migrat\") retries: backoffLimit other than 0 (default 6) or restartPolicy other than Never re-runs a half-applied migration.",
		Hint:        "set spec.backoffLimit: 0 and spec.template.spec.restartPolicy: Never"},
		check: checkMigrationJob},
}

// ref is how a message names an object: Deployment "shop/web".
func ref(it *item) string {
	o := it.obj
	if o.Namespace == "" {
		return fmt.Sprintf("%s %q", o.Kind, o.Name)
	}
	return fmt.Sprintf("%s %q", o.Kind, o.Namespace+"/"+o.Name)
}

// podSpecField is the path of a field of the pod spec of a workload.
func podSpecField(sub string) string { return "spec.template.spec." + sub }

// containerField is the path of a field of container i.
func containerField(i int, sub string) string {
	if sub == "" {
		return fmt.Sprintf("spec.template.spec.containers[%d]", i)
	}
	return fmt.Sprintf("spec.template.spec.containers[%d].%s", i, sub)
}

// serviceNames lists the Services that send a workload traffic, for messages.
func serviceNames(w *workload) string {
	names := make([]string, 0, len(w.services))
	for _, s := range w.services {
		names = append(names, fmt.Sprintf("%q", s.it.obj.Name))
	}
	if len(names) == 1 {
		return "Service " + names[0]
	}
	return "Services " + strings.Join(names, ", ")
}

func sortStrings(s []string) { sort.Strings(s) }
