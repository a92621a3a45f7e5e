//go:build e2e

package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/zdd-dev/kubectl-zdd/pkg/plugin"
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
// print a message that says what is wrong (which flag, which object, why,
// and the line where a file is named; not only the argument echoed back),
// and leave the resourceVersion of every Deployment, Service, Job and Lease
// in the namespace unchanged. Every command that takes input has a case.
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

	ns := e.NS
	tests := []struct {
		name string
		args []string
		env  []string
		code int
		// want are substrings of stderr that say what is wrong: which
		// flag, which object, why (and the line, where a file is named),
		// not only the user's own argument echoed back
		want []string
	}{
		// lint
		{"lint malformed yaml", []string{"lint", "-f", malformed}, nil, 2, []string{"malformed.yaml:4:", "malformed YAML", "did not find expected key"}},
		{"lint missing file", []string{"lint", "-f", missingFile}, nil, 2, []string{"-f " + missingFile, "no such file or folder"}},
		{"lint unreadable file", []string{"lint", "-f", unreadable}, nil, 2, []string{"reading " + unreadable, "too many levels of symbolic links"}},
		{"lint unknown output", []string{"lint", "-f", serviceOnly, "-o", "xml"}, nil, 2, []string{`--output "xml"`, "want table, wide, json or sarif"}},
		{"lint unknown flag", []string{"lint", "--frobnicate"}, nil, 2, []string{"kubectl zdd lint", "unknown flag: --frobnicate"}},
		{"lint missing object", []string{"lint", "deployment/absent"}, nil, 2, []string{`deployments.apps "absent" not found`}},
		// rollout
		{"rollout missing deployment", with([]string{"rollout", "deployment/absent"}, img...), nil, 2, []string{`deployment "` + ns + `/absent" not found`}},
		{"rollout wrong kind", with([]string{"rollout", "service/web"}, img...), nil, 2, []string{`argument "service/web"`, "want deployment/NAME"}},
		{"rollout unknown container", []string{"rollout", "deployment/web", "--image", "nope=registry.example/web:v2"}, nil, 2, []string{`deployment "` + ns + `/web"`, "--image", `no container named "nope"`, "containers: app"}},
		{"rollout image without =", []string{"rollout", "deployment/web", "--image", "registry.example/web:v2"}, nil, 2, []string{"--image", "want CONTAINER=IMAGE"}},
		{"rollout neither image nor file", []string{"rollout", "deployment/web"}, nil, 2, []string{"nothing to release", "give --image CONTAINER=IMAGE or -f FILE"}},
		{"rollout malformed yaml", []string{"rollout", "-f", malformed}, nil, 2, []string{"malformed.yaml", "line 4", "did not find expected key"}},
		{"rollout file of the wrong kind", []string{"rollout", "-f", serviceOnly}, nil, 2, []string{`Service "web" is not a Deployment`, "want exactly one Deployment, found 0"}},
		{"rollout unreadable file", []string{"rollout", "-f", unreadable}, nil, 2, []string{"reading " + unreadable, "too many levels of symbolic links"}},
		{"rollout bad timeout", with([]string{"rollout", "deployment/web", "--timeout", "soon"}, img...), nil, 2, []string{`"--timeout" flag`, "must be a duration"}},
		{"rollout bad dry-run", with([]string{"rollout", "deployment/web", "--dry-run=maybe"}, img...), nil, 2, []string{`--dry-run "maybe"`, "want none, client or server"}},
		{"rollout unknown flag", with([]string{"rollout", "deployment/web", "--frobnicate"}, img...), nil, 2, []string{"kubectl zdd rollout", "unknown flag: --frobnicate"}},
		{"rollout two arguments", with([]string{"rollout", "deployment/web", "deployment/nosel"}, img...), nil, 2, []string{"accepts at most 1 arg(s), received 2"}},
		{"rollout migration job that can retry", with([]string{"rollout", "deployment/web", "--migration-job", retryJob}, img...), nil, 2, []string{`job "migrate" in ` + retryJob, "spec.backoffLimit is 3", "must not be retried"}},
		{"rollout unknown gitops mode", with([]string{"rollout", "deployment/web", "--gitops", "sometimes"}, img...), nil, 2, []string{`--gitops "sometimes"`, "want one of warn, refuse, ignore"}},
		{"rollout write-back without the deployment", with([]string{"rollout", "deployment/web", "--write-back", serviceOnly}, img...), nil, 2, []string{"--write-back " + serviceOnly, `holds no deployment "web" and is not a kustomization`}},
		{"rollout write-back missing file", with([]string{"rollout", "deployment/web", "--write-back", missingFile}, img...), nil, 2, []string{"--write-back", missingFile, "no such file or directory"}},
		{"rollout no cluster reachable", with([]string{"rollout", "deployment/web"}, img...), []string{"KUBECONFIG=" + nowhere}, 1, []string{`reading deployment "` + ns + `/web"`, "127.0.0.1:1", "connection refused"}},
		// rollback, migrate, analyze
		{"rollback missing revision", []string{"rollback", "deployment/web", "--to-revision", "42"}, nil, 2, []string{`deployment "` + ns + `/web" has no revision 42`, "revisions: [1]"}},
		{"migrate job that can retry", []string{"migrate", "-f", retryJob, "--for", "deployment/web"}, nil, 2, []string{`job "migrate" in ` + retryJob, "spec.backoffLimit is 3"}},
		{"migrate unknown phase", []string{"migrate", "-f", goodJob, "--for", "deployment/web", "--phase", "sideways"}, nil, 2, []string{`--phase "sideways"`, "want expand or contract"}},
		{"analyze malformed file", []string{"analyze", "-f", badAnalysis}, nil, 2, []string{`analysis file "` + badAnalysis + `"`, "line 1", "did not find expected ',' or ']'"}},
		// canary
		{"canary weight above 100", with([]string{"canary", "deployment/web", "--weight", "101"}, img...), nil, 2, []string{"--weight", "101 is outside 0..100"}},
		{"canary negative weight", with([]string{"canary", "deployment/web", "--weight", "-1"}, img...), nil, 2, []string{"--weight", "-1 is outside 0..100"}},
		{"canary steps not increasing", with([]string{"canary", "deployment/web", "--steps", "50,20"}, img...), nil, 2, []string{`--steps "50,20"`, "steps must increase: 20 comes after 50"}},
		{"canary steps not numbers", with([]string{"canary", "deployment/web", "--steps", "10,half"}, img...), nil, 2, []string{"--steps", `step "half" is not a whole number of percent`}},
		{"canary unknown container", []string{"canary", "deployment/web", "--weight", "10", "--image", "nope=x:1"}, nil, 2, []string{`deployment "` + ns + `/web"`, `no container named "nope"`, "containers: app"}},
		{"canary missing deployment", with([]string{"canary", "deployment/absent", "--weight", "10"}, img...), nil, 2, []string{`deployment "` + ns + `/absent" not found`}},
		{"canary unknown router", with([]string{"canary", "deployment/web", "--weight", "10", "--traffic-router", "carrier-pigeon"}, img...), nil, 2, []string{`--traffic-router "carrier-pigeon"`, "want one of replica-ratio, gateway-api"}},
		{"canary linkerd route missing", with([]string{"canary", "deployment/web", "--weight", "10", "--traffic-router", "linkerd", "--route", "absent"}, img...), nil, 2, []string{"--traffic-router linkerd"}},
		{"canary linkerd route of an unknown group", with([]string{"canary", "deployment/web", "--weight", "10", "--traffic-router", "linkerd", "--route", "example.com/web"}, img...), nil, 2, []string{`--route "example.com/web"`, "want NAME or GROUP/NAME with GROUP gateway.networking.k8s.io or policy.linkerd.io"}},
		{"canary write-back missing file", with([]string{"canary", "deployment/web", "--weight", "10", "--write-back", missingFile}, img...), nil, 2, []string{"--write-back", missingFile, "no such file or directory"}},
		// bluegreen
		{"bluegreen missing service", with([]string{"bluegreen", "deploy", "service/absent"}, img...), nil, 2, []string{`service "` + ns + `/absent" not found`}},
		{"bluegreen service without selector", with([]string{"bluegreen", "deploy", "service/nosel"}, img...), nil, 2, []string{`service "` + ns + `/nosel" selects nothing`, `no "version" label`, "bluegreen init"}},
		{"bluegreen two deployments serve one colour", with([]string{"bluegreen", "deploy", "service/twice"}, img...), nil, 2, []string{`service "` + ns + `/twice"`, "2 deployments serve it: twice-blue, twice-blue-2", "exactly one"}},
		{"bluegreen wrong kind", with([]string{"bluegreen", "deploy", "deployment/web"}, img...), nil, 2, []string{`argument "deployment/web"`, "want service/NAME"}},
		{"bluegreen unknown container", []string{"bluegreen", "deploy", "service/shop", "--image", "nope=x:1"}, nil, 2, []string{`service "` + ns + `/shop"`, `deployment "` + ns + `/shop-blue"`, `no container named "nope"`}},
		{"bluegreen unknown gitops mode", with([]string{"bluegreen", "deploy", "service/shop", "--gitops", "never"}, img...), nil, 2, []string{`--gitops "never"`, "want one of warn, refuse, ignore"}},
		{"bluegreen write-back missing file", with([]string{"bluegreen", "deploy", "service/shop", "--write-back", missingFile}, img...), nil, 2, []string{"--write-back", missingFile, "no such file or directory"}},
		{"bluegreen promote write-back missing file", []string{"bluegreen", "promote", "service/shop", "--write-back", missingFile}, nil, 2, []string{"--write-back", missingFile, "no such file or directory"}},
		{"bluegreen init missing service", []string{"bluegreen", "init", "service/absent"}, nil, 2, []string{`service "` + ns + `/absent" not found`}},
		// probe (nothing is sent on bad input: the URL is on no machine)
		{"probe without URL", []string{"probe"}, nil, 2, []string{"accepts 1 arg(s), received 0"}},
		{"probe not http", []string{"probe", "ftp://127.0.0.1/"}, nil, 2, []string{`URL "ftp://127.0.0.1/"`, "want http:// or https://"}},
		{"probe bad expect", []string{"probe", "http://127.0.0.1:1/", "--probe-expect", "2xx,999"}, nil, 2, []string{`--probe-expect "2xx,999"`, `"999" is not an HTTP status (100 to 599)`}},
		{"probe unset header variable", []string{"probe", "http://127.0.0.1:1/", "--probe-header", "Authorization: Bearer ${ZDD_E2E_UNSET_TOKEN}"}, nil, 2, []string{"header Authorization", "environment variable ZDD_E2E_UNSET_TOKEN is not set", "nothing was sent"}},
		// report
		{"report missing object", []string{"report", "deployment/absent"}, nil, 2, []string{`deployment "` + ns + `/absent" not found`}},
		{"report unknown output", []string{"report", "deployment/web", "-o", "xml"}, nil, 2, []string{`--output "xml"`, "want text, html or json"}},
		{"report of a kind that holds no records", []string{"report", "configmap/web"}, nil, 2, []string{`argument "configmap/web"`, "operations are recorded on deployments and services"}},
		// status, resume, abort and the root
		{"status unknown output", []string{"status", "-o", "xml"}, nil, 2, []string{`--output "xml"`, "want json, yaml"}},
		{"status missing object", []string{"status", "deployment/absent"}, nil, 2, []string{`deployment "` + ns + `/absent" not found`}},
		{"resume without a record", []string{"resume", "deployment/web"}, nil, 2, []string{`deployment "` + ns + `/web" carries no kubectl zdd operation record`}},
		{"resume a bad --allow-env", []string{"resume", "deployment/web", "--allow-env", "A=B"}, nil, 2, []string{`--allow-env "A=B"`, "want the name of an environment variable"}},
		{"abort of a kind that holds no records", []string{"abort", "configmap/web"}, nil, 2, []string{`argument "configmap/web"`, "operations are recorded on deployments and services"}},
		{"unknown command", []string{"frobnicate"}, nil, 2, []string{`unknown command "frobnicate" for "kubectl zdd"`}},
	}
	// every command that takes input has a bad-input case
	covered := map[string]bool{}
	for _, tc := range tests {
		covered[tc.args[0]] = true
	}
	root := plugin.NewCmdRoot(genericiooptions.NewTestIOStreamsDiscard())
	for _, c := range root.Commands() {
		switch c.Name() {
		case "completion", "help", "version", "__complete", "__completeNoDesc":
			continue
		}
		if !covered[c.Name()] {
			t.Errorf("no bad-input case runs 'kubectl zdd %s'", c.Name())
		}
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := e.snapshot()
			r := e.ZddWith(ZddOpts{Env: tc.env}, tc.args...)
			t.Logf("stderr: %s", strings.TrimSpace(r.Stderr))
			if r.Code != tc.code {
				t.Errorf("kubectl zdd %s: want exit %d, got %s", strings.Join(tc.args, " "), tc.code, r)
			}
			for _, w := range tc.want {
				if !strings.Contains(r.Stderr, w) {
					t.Errorf("kubectl zdd %s: stderr does not say %q:\n%s", strings.Join(tc.args, " "), w, r.Stderr)
				}
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
