//go:build e2e

package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// unreachableKubeconfig writes a kubeconfig whose server is 127.0.0.1:1,
// where nothing listens.
func unreachableKubeconfig(t *testing.T) string {
	t.Helper()
	return writeTemp(t, "unreachable.kubeconfig", `apiVersion: v1
kind: Config
clusters:
- name: nowhere
  cluster:
    server: https://127.0.0.1:1
    insecure-skip-tls-verify: true
users:
- name: nobody
  user:
    token: not-a-real-token
contexts:
- name: nowhere
  context: {cluster: nowhere, user: nobody, namespace: default}
current-context: nowhere
`)
}

// TestBadInput runs every command with bad input against one namespace
// holding a plain app (web), a Service without a selector (nosel), a
// blue-green app (Service shop, Deployment shop-blue) and a second Deployment
// serving the blue colour of Service "twice". Each case must exit with its
// code (2 bad input, 1 where the cluster refused or could not be reached),
// print a message naming the problem, and leave the resourceVersion of every
// Deployment, Service, Job and Lease in the namespace unchanged.
func TestBadInput(t *testing.T) {
	e := newEnv(t)
	web := AppSpec{Name: "web", Replicas: 2}
	e.Apply(appManifest(web))
	nosel := appService(AppSpec{Name: "nosel"})
	nosel.Spec.Selector = nil
	e.Apply(toYAML(nosel))
	blue := func(app, name string) string {
		d := appDeployment(AppSpec{Name: app, Replicas: 1, PodLabels: map[string]string{"version": "blue"}})
		d.Name = name
		d.Spec.Selector.MatchLabels["version"] = "blue"
		return toYAML(d)
	}
	colourService := func(app string) string {
		return toYAML(appService(AppSpec{Name: app, ServiceSelector: map[string]string{"app": app, "version": "blue"}}))
	}
	// shop: a blue-green app as bluegreen init leaves it
	e.Apply(blue("shop", "shop-blue") + colourService("shop"))
	// twice: two Deployments serve its blue colour
	e.Apply(blue("twice", "twice-blue") + blue("twice", "twice-blue-2") + colourService("twice"))
	for _, d := range []string{"web", "shop-blue", "twice-blue", "twice-blue-2"} {
		e.RolloutStatus(d, 2*time.Minute)
	}

	dir := t.TempDir()
	file := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	malformed := file("malformed.yaml", "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n spec: [unclosed\n")
	serviceOnly := file("service.yaml", toYAML(appService(AppSpec{Name: "web"})))
	retryJob := file("retry-job.yaml", jobManifest(JobSpec{Name: "migrate", BackoffLimit: 3}))
	goodJob := file("job.yaml", jobManifest(JobSpec{Name: "migrate"}))
	badAnalysis := file("analysis.yaml", "metrics: [oops\n")
	// a symlink to itself cannot be read even by root (the suite may run as root,
	// which ignores file modes)
	unreadable := filepath.Join(dir, "unreadable.yaml")
	if err := os.Symlink("unreadable.yaml", unreadable); err != nil {
		t.Fatal(err)
	}
	missingFile := filepath.Join(dir, "does-not-exist.yaml")
	nowhere := unreachableKubeconfig(t)
	img := []string{"--image", "app=registry.example/web:v2"}
	with := func(a []string, b ...string) []string { return append(append([]string{}, a...), b...) }

	tests := []struct {
		name string
		args []string
		env  []string
		code int
		want string // a substring of stderr naming the problem
	}{
		// lint
		{"lint malformed yaml", []string{"lint", "-f", malformed}, nil, 2, "malformed.yaml"},
		{"lint missing file", []string{"lint", "-f", missingFile}, nil, 2, "does-not-exist.yaml"},
		{"lint unreadable file", []string{"lint", "-f", unreadable}, nil, 2, "unreadable.yaml"},
		{"lint unknown output", []string{"lint", "-f", serviceOnly, "-o", "xml"}, nil, 2, "xml"},
		{"lint unknown flag", []string{"lint", "--frobnicate"}, nil, 2, "--frobnicate"},
		{"lint missing object", []string{"lint", "deployment/absent"}, nil, 2, "absent"},
		// rollout
		{"rollout missing deployment", with([]string{"rollout", "deployment/absent"}, img...), nil, 2, `/absent" not found`},
		{"rollout wrong kind", with([]string{"rollout", "service/web"}, img...), nil, 2, "service"},
		{"rollout unknown container", []string{"rollout", "deployment/web", "--image", "nope=registry.example/web:v2"}, nil, 2, `"nope"`},
		{"rollout image without =", []string{"rollout", "deployment/web", "--image", "registry.example/web:v2"}, nil, 2, "--image"},
		{"rollout neither image nor file", []string{"rollout", "deployment/web"}, nil, 2, "--image"},
		{"rollout malformed yaml", []string{"rollout", "-f", malformed}, nil, 2, "malformed.yaml"},
		{"rollout file of the wrong kind", []string{"rollout", "-f", serviceOnly}, nil, 2, "Service"},
		{"rollout unreadable file", []string{"rollout", "-f", unreadable}, nil, 2, "unreadable.yaml"},
		{"rollout bad timeout", with([]string{"rollout", "deployment/web", "--timeout", "soon"}, img...), nil, 2, "--timeout"},
		{"rollout bad dry-run", with([]string{"rollout", "deployment/web", "--dry-run=maybe"}, img...), nil, 2, "maybe"},
		{"rollout unknown flag", with([]string{"rollout", "deployment/web", "--frobnicate"}, img...), nil, 2, "--frobnicate"},
		{"rollout two arguments", with([]string{"rollout", "deployment/web", "deployment/nosel"}, img...), nil, 2, "received 2"},
		{"rollout migration job that can retry", with([]string{"rollout", "deployment/web", "--migration-job", retryJob}, img...), nil, 2, "backoffLimit"},
		{"rollout no cluster reachable", with([]string{"rollout", "deployment/web"}, img...), []string{"KUBECONFIG=" + nowhere}, 1, "127.0.0.1:1"},
		// rollback, migrate, analyze
		{"rollback missing revision", []string{"rollback", "deployment/web", "--to-revision", "42"}, nil, 2, "no revision 42"},
		{"migrate job that can retry", []string{"migrate", "-f", retryJob, "--for", "deployment/web"}, nil, 2, "backoffLimit"},
		{"migrate unknown phase", []string{"migrate", "-f", goodJob, "--for", "deployment/web", "--phase", "sideways"}, nil, 2, "sideways"},
		{"analyze malformed file", []string{"analyze", "-f", badAnalysis}, nil, 2, "analysis.yaml"},
		// canary
		{"canary weight above 100", with([]string{"canary", "deployment/web", "--weight", "101"}, img...), nil, 2, "101"},
		{"canary negative weight", with([]string{"canary", "deployment/web", "--weight", "-1"}, img...), nil, 2, "-1"},
		{"canary steps not increasing", with([]string{"canary", "deployment/web", "--steps", "50,20"}, img...), nil, 2, "increas"},
		{"canary steps not numbers", with([]string{"canary", "deployment/web", "--steps", "10,half"}, img...), nil, 2, "half"},
		{"canary unknown container", []string{"canary", "deployment/web", "--weight", "10", "--image", "nope=x:1"}, nil, 2, `"nope"`},
		{"canary missing deployment", with([]string{"canary", "deployment/absent", "--weight", "10"}, img...), nil, 2, `/absent" not found`},
		{"canary unknown router", with([]string{"canary", "deployment/web", "--weight", "10", "--traffic-router", "carrier-pigeon"}, img...), nil, 2, "carrier-pigeon"},
		// bluegreen
		{"bluegreen missing service", with([]string{"bluegreen", "deploy", "service/absent"}, img...), nil, 2, `/absent" not found`},
		{"bluegreen service without selector", with([]string{"bluegreen", "deploy", "service/nosel"}, img...), nil, 2, "selects nothing"},
		{"bluegreen two deployments serve one colour", with([]string{"bluegreen", "deploy", "service/twice"}, img...), nil, 2, "twice-blue"},
		{"bluegreen wrong kind", with([]string{"bluegreen", "deploy", "deployment/web"}, img...), nil, 2, "service"},
		{"bluegreen unknown container", []string{"bluegreen", "deploy", "service/shop", "--image", "nope=x:1"}, nil, 2, `"nope"`},
		{"bluegreen init missing service", []string{"bluegreen", "init", "service/absent"}, nil, 2, `/absent" not found`},
		// probe (nothing is sent on bad input: the URL is on no machine)
		{"probe without URL", []string{"probe"}, nil, 2, "accepts 1 arg(s), received 0"},
		{"probe not http", []string{"probe", "ftp://127.0.0.1/"}, nil, 2, "want http:// or https://"},
		{"probe bad expect", []string{"probe", "http://127.0.0.1:1/", "--probe-expect", "2xx,999"}, nil, 2, "--probe-expect"},
		{"probe unset header variable", []string{"probe", "http://127.0.0.1:1/", "--probe-header", "Authorization: Bearer ${ZDD_E2E_UNSET_TOKEN}"}, nil, 2, "ZDD_E2E_UNSET_TOKEN is not set"},
		// status and the root
		{"status unknown output", []string{"status", "-o", "xml"}, nil, 2, "xml"},
		{"status missing object", []string{"status", "deployment/absent"}, nil, 2, `/absent" not found`},
		{"unknown command", []string{"frobnicate"}, nil, 2, "frobnicate"},
	}
	if len(tests) < 30 {
		t.Fatalf("only %d bad inputs", len(tests))
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := e.snapshot()
			r := e.ZddWith(ZddOpts{Env: tc.env}, tc.args...)
			t.Logf("stderr: %s", strings.TrimSpace(r.Stderr))
			if r.Code != tc.code || !strings.Contains(r.Stderr, tc.want) {
				t.Errorf("kubectl zdd %s: want exit %d and %q on stderr, got %s", strings.Join(tc.args, " "), tc.code, tc.want, r)
			}
			if diff := diffSnapshots(before, e.snapshot()); diff != "" {
				t.Errorf("kubectl zdd %s changed objects (-before +after):\n%s", strings.Join(tc.args, " "), diff)
			}
			if r.Code != 0 && strings.TrimSpace(r.Stderr) == "" {
				t.Errorf("no message at all: %s", r)
			}
		})
	}
}
