//go:build e2e

package e2e

import (
	"crypto/rand"
	"encoding/base32"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/zdd-dev/kubectl-zdd/pkg/analysis"
	"github.com/zdd-dev/kubectl-zdd/pkg/state"
)

// secretEnv is the variable the analysis header reads the secret from.
const secretEnv = "ZDD_E2E_SECRET"

// leakWindow is the length of the shortest piece of the secret that counts
// as a leak: a message cut in the middle of the secret shows only part of it.
const leakWindow = 8

// secretServer is an HTTP metric endpoint on 127.0.0.1 that requires the
// header Authorization: Bearer <secret>. While passing it answers 0; while
// failing it answers 500 with a body that echoes the header twice: once
// whole, near the start, and once across the 200th character, where the
// analysis cuts a body it quotes in an error, so a redaction applied only
// after the cut would leave the first part of the secret.
type secretServer struct {
	secret  string
	url     string
	failing atomic.Bool
	// authorized counts requests that carried the secret; refused those
	// that did not (a pass then proves the secret was sent).
	authorized, refused atomic.Int32
}

func newSecretServer(t *testing.T, secret string) *secretServer {
	s := &secretServer{secret: secret}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got := r.Header.Get("Authorization")
		if got != "Bearer "+s.secret {
			s.refused.Add(1)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		s.authorized.Add(1)
		if !s.failing.Load() {
			fmt.Fprint(w, "0")
			return
		}
		head := "upstream refused " + got + "; "
		// the second echo starts so that the cut at 200 characters falls
		// in the middle of the secret
		pad := strings.Repeat("x", 200-len(head)-len("Bearer ")-len(s.secret)/2)
		w.WriteHeader(http.StatusInternalServerError)
		fmt.Fprint(w, head+pad+got+" (echoed)")
	}))
	t.Cleanup(srv.Close)
	s.url = srv.URL
	return s
}

// file writes an analysis of two measurements of one HTTP metric whose
// header takes the secret from ${ZDD_E2E_SECRET}: a provider error fails it.
func (s *secretServer) file(t *testing.T) string {
	spec := fmt.Sprintf(`interval: 200ms
count: 2
failureLimit: 0
errorLimit: 0
metrics:
- name: error-rate
  max: 0.5
  http:
    url: %s/metric
    headers:
      Authorization: Bearer ${%s}
`, s.url, secretEnv)
	return writeTemp(t, "analysis.yaml", spec)
}

// newSecret returns a random secret of 26 upper-case base32 characters:
// unlike hex, whose 8-character runs fill every UID, nothing else in the
// namespace's objects or the output has such runs, so a match is a leak.
func newSecret(t *testing.T) string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b)
}

// leaked returns the longest piece (at least leakWindow long) of secret
// that text contains, or "".
func leaked(text, secret string) string {
	for n := len(secret); n >= leakWindow; n-- {
		for i := 0; i+n <= len(secret); i++ {
			if strings.Contains(text, secret[i:i+n]) {
				return secret[i : i+n]
			}
		}
	}
	return ""
}

// leakScanned are the kinds whose objects in the test's namespace must not
// hold the secret anywhere (every annotation and label, and the rest).
var leakScanned = []schema.GroupVersionResource{
	{Group: "apps", Version: "v1", Resource: "deployments"},
	{Group: "apps", Version: "v1", Resource: "replicasets"},
	{Version: "v1", Resource: "services"},
	{Version: "v1", Resource: "pods"},
	{Version: "v1", Resource: "configmaps"},
	{Version: "v1", Resource: "events"},
	{Group: "events.k8s.io", Version: "v1", Resource: "events"},
	{Group: "coordination.k8s.io", Version: "v1", Resource: "leases"},
	{Group: "batch", Version: "v1", Resource: "jobs"},
	{Group: "discovery.k8s.io", Version: "v1", Resource: "endpointslices"},
}

// assertNoSecretInCluster fails the test for every object of leakScanned in
// the namespace that holds a piece of the secret, naming the object and the
// annotation or label (or "elsewhere in the object"). It returns how many
// objects it read, so a test can show it scanned something.
func assertNoSecretInCluster(t *testing.T, e *Env, secret, when string) int {
	t.Helper()
	n := 0
	for _, gvr := range leakScanned {
		list, err := e.Dynamic.Resource(gvr).Namespace(e.NS).List(e.Ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatalf("%s: listing %s: %v", when, gvr.Resource, err)
		}
		for _, o := range list.Items {
			n++
			what := fmt.Sprintf("%s %q", gvr.Resource, o.GetName())
			for kind, m := range map[string]map[string]string{"annotation": o.GetAnnotations(), "label": o.GetLabels()} {
				keys := make([]string, 0, len(m))
				for k := range m {
					keys = append(keys, k)
				}
				sort.Strings(keys)
				for _, k := range keys {
					if p := leaked(k+"="+m[k], secret); p != "" {
						t.Errorf("%s: %s %s %q holds %q of the secret: %q", when, what, kind, k, p, m[k])
					}
				}
			}
			data, err := json.Marshal(o.Object)
			if err != nil {
				t.Fatal(err)
			}
			if p := leaked(string(data), secret); p != "" {
				t.Errorf("%s: %s holds %q of the secret:\n%s", when, what, p, data)
			}
		}
	}
	return n
}

// assertNoSecretInOutput fails the test if a command's stdout or stderr
// holds a piece of the secret.
func assertNoSecretInOutput(t *testing.T, what string, r CmdResult, secret string) {
	t.Helper()
	if p := leaked(r.Stdout, secret); p != "" {
		t.Errorf("%s: stdout holds %q of the secret:\n%s", what, p, r.Stdout)
	}
	if p := leaked(r.Stderr, secret); p != "" {
		t.Errorf("%s: stderr holds %q of the secret:\n%s", what, p, r.Stderr)
	}
}

// checkRecordedAnalysis reads the analysis a killed run recorded on the
// object target names (zdd.dev/param.<key>: "analysis" for rollout and
// blue-green, "analysis-spec" for canary, whose "analysis" param is only
// the file's name): it must decode as an encoded spec and keep the header
// as written, "Bearer ${ZDD_E2E_SECRET}", for resume to expand again. A
// record that does not decode fails the test.
func checkRecordedAnalysis(t *testing.T, e *Env, target, key string) {
	t.Helper()
	kind, name, _ := strings.Cut(target, "/")
	gvr := schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}
	if kind == "service" {
		gvr = schema.GroupVersionResource{Version: "v1", Resource: "services"}
	}
	o, err := e.Dynamic.Resource(gvr).Namespace(e.NS).Get(e.Ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("reading %s: %v", target, err)
	}
	param := o.GetAnnotations()[state.ParamPrefix+key]
	if param == "" {
		t.Errorf("%s records no analysis (%s%s): resume cannot run it", target, state.ParamPrefix, key)
		return
	}
	spec, err := analysis.DecodeParam(param)
	if err != nil {
		t.Errorf("%s records the analysis (%s%s) as %q, which does not decode: %v", target, state.ParamPrefix, key, param, err)
		return
	}
	want := "Bearer ${" + secretEnv + "}"
	if len(spec.Metrics) != 1 || spec.Metrics[0].HTTP == nil || spec.Metrics[0].HTTP.Headers["Authorization"] != want {
		t.Errorf("%s: the recorded analysis does not keep the header %q as written: %s", target, want, param)
	}
}

// TestSecretsNeverShown runs rollout, blue-green, canary and analyze with an
// --analysis whose HTTP metric sends Authorization: Bearer ${ZDD_E2E_SECRET}
// to an endpoint on 127.0.0.1 that requires it: once passing, once failing
// with a 500 whose body echoes the header (whole, and cut by the 200
// characters an error quotes), and once killed (ZDD_TEST_KILL_AT_PHASE) and
// resumed with the recorded settings. After each command, no piece of the
// secret of 8 characters or more is in its stdout or stderr, nor in any
// annotation, label or other field of the namespace's Deployments,
// ReplicaSets, Services, Pods, ConfigMaps, Events, Leases, Jobs and
// EndpointSlices, nor in `kubectl zdd status -o yaml`. The endpoint must
// have received the secret (and never a request without it), so the checks
// are about a secret the tool really held.
func TestSecretsNeverShown(t *testing.T) {
	t.Parallel()
	const v2 = "registry.example/web:v2"
	type strategy struct {
		// start deploys the app at v1 and returns its Env
		start func(t *testing.T) *Env
		// args runs the release with the analysis file
		args func(file string) []string
		// target is the TYPE/NAME resume and abort take
		target string
		// killAt is where the kill case dies (strategy:phase) after the
		// analysis is recorded; resume runs the rest (empty: no kill case)
		killAt string
		// param is the record's param that holds the encoded analysis
		param string
	}
	strategies := map[string]strategy{
		"rollout": {
			start: func(t *testing.T) *Env { e := newEnv(t); startApp(e, AppSpec{}); return e },
			args: func(file string) []string {
				return []string{"rollout", "deployment/web", "--image", "app=" + v2, "--analysis", file, "--timeout", "2m"}
			},
			target: "deployment/web", killAt: "rollout:analysis", param: "analysis",
		},
		"bluegreen": {
			start: func(t *testing.T) *Env {
				e := newEnv(t)
				e.Apply(blueGreenApp("registry.example/web:v1"))
				e.RolloutStatus("web-blue", 2*time.Minute)
				e.waitEndpoints("web", map[string]string{"app": "web", "version": "blue"}, bgReplicas)
				return e
			},
			args: func(file string) []string {
				return []string{"bluegreen", "deploy", "service/web", "--image", "app=" + v2, "--analysis", file, "--timeout", "2m"}
			},
			target: "service/web", killAt: "bluegreen:analysis", param: "analysis",
		},
		"canary": {
			start: func(t *testing.T) *Env { return canaryApp(t, 4) },
			args: func(file string) []string {
				return []string{"canary", "deployment/web", "--image", "app=" + v2, "--steps", "50,100", "--pause", "1s", "--analysis", file, "--timeout", "2m"}
			},
			target: "deployment/web", killAt: "canary:step-1", param: "analysis-spec",
		},
		// the analysis alone, as a table and as JSON (it changes nothing, so
		// it has no record to kill and resume)
		"analyze": {
			start: func(t *testing.T) *Env { e := newEnv(t); startApp(e, AppSpec{}); return e },
			args: func(file string) []string {
				return []string{"analyze", "-f", file, "--for", "deployment/web"}
			},
		},
		"analyze-json": {
			start: func(t *testing.T) *Env { e := newEnv(t); startApp(e, AppSpec{}); return e },
			args: func(file string) []string {
				return []string{"analyze", "-f", file, "--for", "deployment/web", "-o", "json"}
			},
		},
	}
	type outcome int
	const (
		pass outcome = iota
		fail
		killResume
	)
	names := []string{"rollout", "bluegreen", "canary", "analyze", "analyze-json"}
	for _, name := range names {
		for _, oc := range []outcome{pass, fail, killResume} {
			st := strategies[name]
			if oc == killResume && st.killAt == "" {
				continue
			}
			label := map[outcome]string{pass: "passing", fail: "failing", killResume: "killed-then-resumed"}[oc]
			t.Run(name+"/"+label, func(t *testing.T) {
				t.Parallel()
				secret := newSecret(t)
				srv := newSecretServer(t, secret)
				srv.failing.Store(oc == fail)
				file := srv.file(t)
				e := st.start(t)
				env := []string{secretEnv + "=" + secret}
				check := func(what string, r CmdResult) {
					t.Helper()
					assertNoSecretInOutput(t, what, r, secret)
					status := e.ZddWith(ZddOpts{Env: env}, "status", "-o", "yaml")
					if status.Code != 0 {
						t.Errorf("%s: kubectl zdd status -o yaml: %s", what, status)
					}
					assertNoSecretInOutput(t, what+": kubectl zdd status -o yaml", status, secret)
					if n := assertNoSecretInCluster(t, e, secret, what); n == 0 {
						t.Errorf("%s: no object found to scan in namespace %q", what, e.NS)
					}
				}

				switch oc {
				case pass, fail:
					r := e.ZddWith(ZddOpts{Env: env}, st.args(file)...)
					want := map[outcome]int{pass: 0, fail: 1}[oc]
					if r.Code != want {
						t.Fatalf("want exit %d, got %s", want, r)
					}
					if oc == fail && !strings.Contains(r.Stdout+r.Stderr, "[redacted]") {
						t.Errorf("the failing run does not show the echoed header as [redacted]: the error path under test was not printed:\n%s", r)
					}
					check(name, r)
				case killResume:
					killed := e.ZddWith(ZddOpts{Env: append([]string{state.KillAtPhaseEnv + "=" + st.killAt}, env...)}, st.args(file)...)
					if killed.Code != -1 {
						t.Fatalf("the run was not killed at %s: %s", st.killAt, killed)
					}
					check("killed at "+st.killAt, killed)
					checkRecordedAnalysis(t, e, st.target, st.param)
					before := srv.authorized.Load()
					r := e.ZddWith(ZddOpts{Env: env}, "resume", st.target, "--force-unlock", "--timeout", "2m", "--yes")
					if r.Code != 0 {
						t.Fatalf("resume: want exit 0, got %s", r)
					}
					check("resume", r)
					// the resumed run must itself have held the secret, or
					// the checks after resume prove nothing about it
					if srv.authorized.Load() == before {
						t.Errorf("resume took no measurement with the secret: the %s record does not carry the analysis to resume:\n%s", name, r)
					}
				}
				if srv.authorized.Load() == 0 {
					t.Errorf("the endpoint never received the secret: the checks above prove nothing")
				}
				if n := srv.refused.Load(); n > 0 {
					t.Errorf("the endpoint got %d requests without the secret header", n)
				}
			})
		}
	}
}
