package plugin

import (
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/spf13/cobra"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/zdd-dev/kubectl-zdd/pkg/exitcode"
)

var updateAnalyzeGolden = flag.Bool("update-analyze", false, "rewrite testdata/analyze/*.golden")

// analyzeClock fires at once and steps a fixed time, so output is stable.
type analyzeClock struct{ now time.Time }

func (c *analyzeClock) Now() time.Time { return c.now }
func (c *analyzeClock) After(d time.Duration) <-chan time.Time {
	c.now = c.now.Add(d)
	ch := make(chan time.Time, 1)
	ch <- c.now
	return ch
}

// analyzeValueServer answers GET /value?... with the value set for the query's
// version, and remembers the queries and Authorization headers it got.
type analyzeValueServer struct {
	*httptest.Server
	mu      sync.Mutex
	queries []string
	auth    []string
}

func newAnalyzeValueServer(t *testing.T, values map[string]string) *analyzeValueServer {
	s := &analyzeValueServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.queries = append(s.queries, r.URL.RawQuery)
		s.auth = append(s.auth, r.Header.Get("Authorization"))
		s.mu.Unlock()
		v, ok := values[r.URL.Query().Get("version")]
		if !ok {
			http.Error(w, "unknown version; token "+r.Header.Get("Authorization"), http.StatusInternalServerError)
			return
		}
		fmt.Fprintf(w, `{"errorRate": %s}`, v)
	}))
	t.Cleanup(s.Close)
	return s
}

func writeAnalysisFile(t *testing.T, url string, count int) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "analysis.yaml")
	doc := fmt.Sprintf(`interval: 10s
count: %d
failureLimit: 0
errorLimit: 1
metrics:
- name: error-rate
  http:
    url: %s/value?version={{.Version}}&deployment={{.Namespace}}/{{.Name}}&rev={{.Revision}}
    jsonPath: '{.errorRate}'
    headers: {Authorization: "Bearer ${ZDD_TEST_TOKEN}"}
  max: 0.01
`, count, url)
	if err := os.WriteFile(p, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

const analyzeToken = "very-secret-token-123"

func runAnalyze(t *testing.T, client kubernetes.Interface, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	streams, _, out, errOut := genericiooptions.NewTestIOStreams()
	tf := NewFactory(genericclioptions.NewTestConfigFlags().
		WithClientConfig(clientcmd.NewDefaultClientConfig(*clientcmdapi.NewConfig(), &clientcmd.ConfigOverrides{})).
		WithNamespace("shop"))
	o := NewAnalyzeOptions(streams)
	o.Clock = &analyzeClock{now: time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)}
	o.Env = func(k string) string {
		if k == "ZDD_TEST_TOKEN" {
			return analyzeToken
		}
		return ""
	}
	o.ClientFn = func() (kubernetes.Interface, error) { return client, nil }
	// a root wired as NewCmdRoot wires the real one
	root := &cobra.Command{Use: "zdd", SilenceErrors: true, SilenceUsage: true}
	root.AddCommand(newCmdAnalyze(tf, o))
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return exitcode.UsageError(err) })
	markArgErrorsAsUsage(root)
	root.SetArgs(append([]string{"analyze"}, args...))
	root.SetOut(out)
	root.SetErr(errOut)
	err := root.Execute()
	if err != nil && !exitcode.IsSilent(err) {
		fmt.Fprintf(errOut, "error: %v\n", err)
	}
	return out.String(), errOut.String(), exitcode.Of(err)
}

func checkAnalyzeGolden(t *testing.T, name, got string) {
	t.Helper()
	p := filepath.Join("testdata", "analyze", name)
	if *updateAnalyzeGolden {
		if err := os.WriteFile(p, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("reading golden file (run with -update-analyze to create): %v", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s (-want +got):\n%s", p, diff)
	}
}

func analyzeWebDeployment(version string) *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop", Annotations: map[string]string{"deployment.kubernetes.io/revision": "4"}},
		Spec: appsv1.DeploymentSpec{Template: corev1.PodTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web", "version": version}},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "registry.example/web:" + version}}},
		}},
	}
}

func TestAnalyzeCommand(t *testing.T) {
	srv := newAnalyzeValueServer(t, map[string]string{"v1": "0.002", "v2": "0.2", "v3": "0.005"})
	cases := []struct {
		name        string
		args        func(file string) []string
		count       int
		objects     []*appsv1.Deployment
		wantCode    int
		golden      string // stdout
		wantQueries []string
		wantStderr  []string
	}{
		{
			name:        "healthy version passes",
			count:       3,
			args:        func(f string) []string { return []string{"-f", f, "--var", "Version=v1"} },
			wantCode:    0,
			golden:      "pass.golden",
			wantQueries: []string{"version=v1&deployment=shop/&rev=", "version=v1&deployment=shop/&rev=", "version=v1&deployment=shop/&rev="},
			wantStderr:  []string{"analysis: 09:00:00 error-rate value=0.002 limit=<=0.01 passed", "analysis: 09:00:20 error-rate"},
		},
		{
			name:        "--for fills the templates from the Deployment, and a failure exits 1",
			count:       3,
			objects:     []*appsv1.Deployment{analyzeWebDeployment("v2")},
			args:        func(f string) []string { return []string{"-f", f, "--for", "deployment/web"} },
			wantCode:    1,
			golden:      "fail.golden",
			wantQueries: []string{"version=v2&deployment=shop/web&rev=4"},
		},
		{
			name:        "-o json",
			count:       2,
			objects:     []*appsv1.Deployment{analyzeWebDeployment("v3")},
			args:        func(f string) []string { return []string{"-f", f, "--for", "deploy/web", "-o", "json"} },
			wantCode:    0,
			golden:      "pass.json.golden",
			wantQueries: []string{"version=v3&deployment=shop/web&rev=4", "version=v3&deployment=shop/web&rev=4"},
		},
		{
			name:        "provider errors above errorLimit fail, the secret header never shown",
			count:       5,
			args:        func(f string) []string { return []string{"-f", f, "--var", "version=v9"} },
			wantCode:    1,
			golden:      "errors.golden",
			wantQueries: []string{"version=v9&deployment=shop/&rev=", "version=v9&deployment=shop/&rev="},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv.mu.Lock()
			srv.queries, srv.auth = nil, nil
			srv.mu.Unlock()
			file := writeAnalysisFile(t, srv.URL, tc.count)
			client := fake.NewClientset()
			for _, d := range tc.objects {
				if _, err := client.AppsV1().Deployments(d.Namespace).Create(t.Context(), d, metav1.CreateOptions{}); err != nil {
					t.Fatal(err)
				}
			}
			stdout, stderr, code := runAnalyze(t, client, tc.args(file)...)
			if code != tc.wantCode {
				t.Errorf("exit code = %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.wantCode, stdout, stderr)
			}
			checkAnalyzeGolden(t, tc.golden, strings.ReplaceAll(stdout, srv.URL, "http://SERVER"))
			srv.mu.Lock()
			if diff := cmp.Diff(tc.wantQueries, srv.queries); diff != "" {
				t.Errorf("queries (-want +got):\n%s", diff)
			}
			for _, a := range srv.auth {
				if a != "Bearer "+analyzeToken {
					t.Errorf("server got Authorization %q, want the token from the environment", a)
				}
			}
			srv.mu.Unlock()
			for _, w := range tc.wantStderr {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr)
				}
			}
			if strings.Contains(stdout+stderr, analyzeToken) {
				t.Errorf("the secret token was printed:\nstdout:\n%s\nstderr:\n%s", stdout, stderr)
			}
			// nothing in the cluster changed
			for _, a := range client.Actions() {
				if a.GetVerb() != "get" && a.GetVerb() != "create" {
					t.Errorf("unexpected %s %s", a.GetVerb(), a.GetResource().Resource)
				}
			}
		})
	}
}

func TestAnalyzeBadInput(t *testing.T) {
	dir := t.TempDir()
	good := writeAnalysisFile(t, "http://127.0.0.1:1", 1)
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("count: 2\nmetrics:\n- name: x\n  prometheus: {address: http://127.0.0.1:9090, query: up}\n  maxx: 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	noBound := filepath.Join(dir, "nobound.yaml")
	if err := os.WriteFile(noBound, []byte("metrics:\n- name: x\n  prometheus: {address: http://127.0.0.1:9090, query: up}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"no file", []string{}, "-f/--filename is required"},
		{"missing file", []string{"-f", filepath.Join(dir, "nope.yaml")}, `reading analysis file "` + filepath.Join(dir, "nope.yaml")},
		{"unknown field names the file", []string{"-f", bad}, `analysis file "` + bad + `": parsing: error unmarshaling JSON: while decoding JSON: json: unknown field "maxx"`},
		{"no bound", []string{"-f", noBound}, `metric "x": set min, max or both`},
		{"bad output", []string{"-f", good, "-o", "yaml"}, `--output "yaml": want json`},
		{"not a deployment", []string{"-f", good, "--for", "service/web"}, `--for "service/web": only a deployment can be analysed`},
		{"bad var", []string{"-f", good, "--var", "Colour=x"}, `--var "Colour=x": unknown key "Colour"`},
		{"missing deployment", []string{"-f", good, "--for", "deployment/nope"}, `deployment "shop/nope" not found`},
		{"positional argument", []string{"-f", good, "extra"}, `unknown command "extra"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			client := fake.NewClientset()
			stdout, stderr, code := runAnalyze(t, client, tc.args...)
			if code != exitcode.Usage {
				t.Errorf("exit code = %d, want %d\nstderr: %s", code, exitcode.Usage, stderr)
			}
			if !strings.Contains(stderr, tc.wantErr) {
				t.Errorf("stderr = %q, want it to contain %q", stderr, tc.wantErr)
			}
			if stdout != "" {
				t.Errorf("stdout = %q, want nothing", stdout)
			}
		})
	}
}

// The root command wires analyze in; bad input exits 2 through it too.
func TestAnalyzeRegistered(t *testing.T) {
	streams, _, _, errOut := genericiooptions.NewTestIOStreams()
	root := NewCmdRoot(streams)
	root.SetArgs([]string{"analyze", "-o", "yaml", "-f", "x"})
	err := root.Execute()
	if exitcode.Of(err) != exitcode.Usage {
		t.Fatalf("exit code %d (err %v), want 2; stderr %s", exitcode.Of(err), err, errOut)
	}
}
