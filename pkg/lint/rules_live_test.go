package lint

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const liveDeployment = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
spec:
  replicas: 1
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: web:1
        ports: [{name: http, containerPort: 8080}]
`

const liveService = `apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: shop
  annotations:
    cloud.google.com/neg: '{"ingress": true}'
    cloud.google.com/backend-config: '{"default": "web"}'
    service.beta.kubernetes.io/aws-load-balancer-nlb-target-type: ip
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: http}]
`

// TestRulesOnLiveFacts checks the rules that read what LoadLive learns of
// a workload's running pods: the Leases they hold, the API server's answer
// on the ServiceAccount, their readiness gates and mesh proxies (added by
// admission webhooks, so absent from the Deployment's own template).
func TestRulesOnLiveFacts(t *testing.T) {
	no, yes := false, true
	tests := []struct {
		name  string
		rule  string
		facts liveFacts
		want  []string // messages' distinctive parts
	}{
		{
			name: "a pod holds a Lease", rule: "leader-election-handoff",
			facts: liveFacts{leases: []string{"web-lock"}, pods: []podFacts{{name: "web-1"}}},
			want:  []string{`has replicas 1 and its pod holds Lease "web-lock"`},
		},
		{
			name: "the API server says the ServiceAccount may update Leases", rule: "leader-election-handoff",
			facts: liveFacts{leaseWriter: &yes},
			want:  []string{`its ServiceAccount "default" may update Leases (the API server's answer)`},
		},
		{
			name: "the API server says it may not", rule: "leader-election-handoff",
			facts: liveFacts{leaseWriter: &no},
		},
		{
			name: "pods without the GKE and AWS readiness gates", rule: "lb-readiness-gate-missing",
			facts: liveFacts{pods: []podFacts{{name: "web-1", readinessGates: []string{gkeNEGGate}}, {name: "web-2"}}},
			want: []string{
				"its pods have no readiness gate target-health.elbv2.k8s.aws/",
				`its pods "web-2" have no readiness gate cloud.google.com/load-balancer-neg-ready`,
			},
		},
		{
			name: "pods with both gates", rule: "lb-readiness-gate-missing",
			facts: liveFacts{pods: []podFacts{{name: "web-1", readinessGates: []string{gkeNEGGate, awsGatePrefix + "k8s-shop-web-1234"}}}},
		},
		{
			name: "an injected Istio proxy that does not drain", rule: "mesh-sidecar-no-drain",
			facts: liveFacts{pods: []podFacts{{name: "web-1", containers: []string{"web", istioProxy}, proxyEnv: map[string]string{}}}},
			want:  []string{`gets an Istio sidecar (container "istio-proxy" in its pod "web-1")`},
		},
		{
			name: "an injected Istio proxy that exits on zero connections", rule: "mesh-sidecar-no-drain",
			facts: liveFacts{pods: []podFacts{{name: "web-1", containers: []string{"web", istioProxy}, proxyEnv: map[string]string{istioExitOnZero: "true"}}}},
		},
		{
			name: "a native Linkerd sidecar", rule: "mesh-sidecar-no-drain",
			facts: liveFacts{pods: []podFacts{{name: "web-1", containers: []string{"web"}, sidecars: []string{linkerdProxy}}}},
		},
		{
			name: "an injected Linkerd proxy", rule: "mesh-sidecar-no-drain",
			facts: liveFacts{pods: []podFacts{{name: "web-1", containers: []string{"web", linkerdProxy}}}},
			want:  []string{`gets a Linkerd proxy (container "linkerd-proxy" in its pod "web-1")`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dep, err := FromTyped(fixtureMap(t, liveDeployment))
			if err != nil {
				t.Fatal(err)
			}
			facts := tt.facts
			dep.live = &facts
			svc, err := FromTyped(fixtureMap(t, liveService))
			if err != nil {
				t.Fatal(err)
			}
			svc.Context = true
			var got []string
			for _, f := range ofRule(Audit([]Object{dep, svc}, Options{Live: true}), tt.rule) {
				got = append(got, f.Message)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("findings %q, want %d", got, len(tt.want))
			}
			for i, w := range tt.want {
				if !strings.Contains(got[i], w) {
					t.Errorf("finding %d: %q does not say %q", i, got[i], w)
				}
			}
		})
	}
}

// TestIngressV1beta1 checks that an old Ingress is read in the
// networking.k8s.io/v1 form: its backends (default and per path) count.
func TestIngressV1beta1(t *testing.T) {
	objs := decodeDocs(t, "old.yaml", []byte(liveDeployment+"---\n"+strings.Replace(liveService, "    cloud.google.com/neg: '{\"ingress\": true}'\n    cloud.google.com/backend-config: '{\"default\": \"web\"}'\n    service.beta.kubernetes.io/aws-load-balancer-nlb-target-type: ip\n", "    note: plain\n", 1)+`---
apiVersion: extensions/v1beta1
kind: Ingress
metadata:
  name: web
  namespace: shop
  annotations:
    nginx.ingress.kubernetes.io/proxy-read-timeout: "3600"
spec:
  backend:
    serviceName: other
    servicePort: 80
  rules:
  - http:
      paths:
      - path: /
        backend:
          serviceName: web
          servicePort: http
`))
	var got []string
	for _, f := range ofRule(Audit(objs, Options{}), "long-lived-grace-too-short") {
		got = append(got, f.Kind+"/"+f.Name)
	}
	if diff := cmp.Diff([]string{"Deployment/web"}, got); diff != "" {
		t.Errorf("findings (-want +got):\n%s", diff)
	}
}
