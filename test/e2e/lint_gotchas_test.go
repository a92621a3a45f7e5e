//go:build e2e

package e2e

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// lintFindings runs `kubectl zdd lint ARGS -o json` and returns the exit
// code, the "Kind/name rule: message" of every finding, and stderr.
func lintFindings(t *testing.T, env *Env, args ...string) (int, []string, string) {
	t.Helper()
	r := env.Zdd(append([]string{"lint", "-o", "json"}, args...)...)
	var rep struct {
		Findings []struct{ Rule, Kind, Name, Message string }
	}
	if err := json.Unmarshal([]byte(r.Stdout), &rep); err != nil {
		t.Fatalf("kubectl zdd lint %v: output is not JSON: %v\n%s", args, err, r)
	}
	var out []string
	for _, f := range rep.Findings {
		out = append(out, f.Kind+"/"+f.Name+" "+f.Rule+": "+f.Message)
	}
	return r.Code, out, r.Stderr
}

// finding returns the first finding of rule on Kind/name, "" when none.
func finding(list []string, obj, rule string) string {
	for _, f := range list {
		if strings.HasPrefix(f, obj+" "+rule+": ") {
			return f
		}
	}
	return ""
}

// gotchaDeployment is a Deployment with every setting of the older rules
// right; extra is added to its pod spec, meta to its template's metadata.
func gotchaDeployment(name string, replicas int, sa, meta, extra string) string {
	return `apiVersion: apps/v1
kind: Deployment
metadata:
  name: ` + name + `
spec:
  replicas: ` + itoa(replicas) + `
  progressDeadlineSeconds: 300
  selector:
    matchLabels: {app: ` + name + `}
  strategy:
    rollingUpdate: {maxSurge: 1, maxUnavailable: 0}
  template:
    metadata:
      labels: {app: ` + name + `}
` + meta + `    spec:
      serviceAccountName: ` + sa + `
` + extra + `      containers:
      - name: app
        image: registry.example/web:v1.2.3
        ports: [{name: http, containerPort: 8080}]
        readinessProbe:
          httpGet: {path: /ready, port: http}
          periodSeconds: 2
        lifecycle:
          preStop:
            sleep: {seconds: 5}
`
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// TestLintLiveGotchas: the rules that read more of the cluster than the
// workload itself, on live objects: the Lease a single leader pod holds
// (named), the API server's answer on a ServiceAccount's rights, a
// WebSocket Service and a long Ingress timeout (and --fix raising the
// grace), an HTTPRoute without a timeout, a sticky Ingress, a mesh proxy
// seen in the running pods, and an AWS IP target without readiness gate.
func TestLintLiveGotchas(t *testing.T) {
	env := newEnv(t)
	env.installCRDs([]string{gatewayAPICRD(t)}, []string{"httproutes.gateway.networking.k8s.io"})
	env.Apply(`apiVersion: v1
kind: ServiceAccount
metadata:
  name: leader
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: leader-election
rules:
- apiGroups: ["coordination.k8s.io"]
  resources: ["leases"]
  verbs: ["get", "create", "update"]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: leader-election
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: leader-election}
subjects: [{kind: ServiceAccount, name: leader}]
`)
	env.Apply(gotchaDeployment("leader", 1, "leader", "", ""))
	env.Apply(gotchaDeployment("standby", 1, "leader", "", ""))
	env.Apply(gotchaDeployment("plain", 1, "default", "", ""))
	env.Apply(gotchaDeployment("chat", 2, "default", "", "") + `---
apiVersion: v1
kind: Service
metadata:
  name: chat
spec:
  selector: {app: chat}
  ports: [{name: ws, port: 80, targetPort: http, appProtocol: kubernetes.io/ws}]
`)
	env.Apply(gotchaDeployment("feed", 2, "default", "", "      terminationGracePeriodSeconds: 60\n") + `---
apiVersion: v1
kind: Service
metadata:
  name: feed
spec:
  selector: {app: feed}
  ports: [{name: http, port: 80, targetPort: http}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: feed
  annotations:
    nginx.ingress.kubernetes.io/proxy-read-timeout: "3600"
    nginx.ingress.kubernetes.io/affinity: cookie
spec:
  rules:
  - http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: feed, port: {name: http}}}}
`)
	env.Apply(gotchaDeployment("events", 2, "default", "", "") + `---
apiVersion: v1
kind: Service
metadata:
  name: events
spec:
  selector: {app: events}
  ports: [{name: http, port: 80, targetPort: http}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: events
spec:
  rules:
  - backendRefs: [{name: events, port: 80}]
    timeouts: {request: 0s}
`)
	// The proxy as istioctl kube-inject writes it: the running pods have it.
	env.Apply(gotchaDeployment("meshed", 2, "default", "", "") + `      - name: istio-proxy
        image: registry.example/proxyv2:1.24.0
`)
	env.Apply(gotchaDeployment("nlb", 2, "default", "", "") + `---
apiVersion: v1
kind: Service
metadata:
  name: nlb
  annotations:
    service.beta.kubernetes.io/aws-load-balancer-type: external
    service.beta.kubernetes.io/aws-load-balancer-nlb-target-type: ip
    service.beta.kubernetes.io/aws-load-balancer-target-group-attributes: deregistration_delay.timeout_seconds=30
spec:
  selector: {app: nlb}
  ports: [{name: http, port: 80, targetPort: http}]
`)
	for _, d := range []string{"leader", "standby", "plain", "chat", "feed", "events", "meshed", "nlb"} {
		env.RolloutStatus(d, 2*time.Minute)
	}
	// The leader pod takes its Lease, as client-go's leader election does.
	pods := env.MustKubectl("get", "pods", "-l", "app=leader", "-o", "jsonpath={.items[0].metadata.name}").Stdout
	holder := strings.TrimSpace(pods) + "_4f1c2a"
	if _, err := env.Client.CoordinationV1().Leases(env.NS).Create(env.Ctx, &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: "leader-lock"},
		Spec:       coordinationv1.LeaseSpec{HolderIdentity: &holder},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	code, fs, stderr := lintFindings(t, env, "deployments,ingresses")
	if code != 0 && code != 1 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	if strings.Contains(stderr, "cannot ") {
		t.Errorf("a read was refused:\n%s", stderr)
	}
	for _, want := range []struct{ obj, rule, text string }{
		{"Deployment/leader", "leader-election-handoff", `its pod holds Lease "leader-lock"`},
		{"Deployment/standby", "leader-election-handoff", `its ServiceAccount "leader" may update Leases (the API server's answer)`},
		{"Deployment/chat", "long-lived-grace-too-short", `Service "chat" port "ws" has appProtocol kubernetes.io/ws`},
		{"Deployment/feed", "long-lived-grace-too-short", `Ingress "feed" sets nginx.ingress.kubernetes.io/proxy-read-timeout 3600`},
		{"Deployment/events", "long-lived-grace-too-short", `HTTPRoute "events" sets no request timeout (0s)`},
		{"Ingress/feed", "cookie-session-affinity", "nginx.ingress.kubernetes.io/affinity: cookie"},
		{"Deployment/meshed", "mesh-sidecar-no-drain", `gets an Istio sidecar (container "istio-proxy" in its pod`},
		{"Deployment/nlb", "lb-readiness-gate-missing", "but its pods have no readiness gate target-health.elbv2.k8s.aws/"},
	} {
		f := finding(fs, want.obj, want.rule)
		if !strings.Contains(f, want.text) {
			t.Errorf("%s %s: got %q, want a message saying %q", want.obj, want.rule, f, want.text)
		}
	}
	if f := finding(fs, "Deployment/plain", "leader-election-handoff"); f != "" {
		t.Errorf("a ServiceAccount that may not update Leases is reported: %s", f)
	}

	t.Run("--fix raises the grace of long-lived connections", func(t *testing.T) {
		r := env.Zdd("lint", "deployment/chat", "--fix")
		if !strings.Contains(r.Stdout, "patched") {
			t.Fatalf("--fix output:\n%s", r)
		}
		d, err := env.Client.AppsV1().Deployments(env.NS).Get(env.Ctx, "chat", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if g := d.Spec.Template.Spec.TerminationGracePeriodSeconds; g == nil || *g != 120 {
			t.Errorf("terminationGracePeriodSeconds after --fix = %v, want 120", g)
		}
		_, fs, _ := lintFindings(t, env, "deployment/chat")
		if f := finding(fs, "Deployment/chat", "long-lived-grace-too-short"); f != "" {
			t.Errorf("still reported after --fix: %s", f)
		}
	})
}
