//go:build e2e

package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/zdd-dev/kubectl-zdd/internal/browsertest"
	"github.com/zdd-dev/kubectl-zdd/internal/tmuxtest"
	"github.com/zdd-dev/kubectl-zdd/pkg/gitops"
	"github.com/zdd-dev/kubectl-zdd/pkg/report"
	"github.com/zdd-dev/kubectl-zdd/pkg/state"
)

// TestReleasePictureInTerminal: the release commands draw their own
// picture (issue 19). A real rollout of the test server on the real node,
// with the request probe, typed in an 80-column tmux pane: it ends with the
// timeline (ready endpoints per version in block characters, the phases,
// requests per second), and no line the pane shows is wider than it; the
// summary it recorded on the Deployment is of that operation, and
// `kubectl zdd report -o html` draws it, as --report FILE.html did, with a
// path per version and the phase labels (and in headless Chromium when
// there is one). A rollback typed with a locale that is not UTF-8 draws in
// ASCII. Not on a terminal, with -o json, the output is the JSON alone and
// the summary is recorded all the same.
func TestReleasePictureInTerminal(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	node := needRealNode(t, e.Client, localClusterName())
	startRealApp(e, zddApp())
	url := e.serviceURL(node, "web")

	pane := tmuxtest.New(t, 80, 50, []string{
		"PATH=" + strings.Join([]string{pluginDir, filepath.Dir(kubectlPath), "/usr/local/bin", "/usr/bin", "/bin"}, string(os.PathListSeparator)),
		"KUBECONFIG=" + e.Kubeconfig,
	})
	page := filepath.Join(t.TempDir(), "rollout.html")
	code, shown := pane.Run("kubectl zdd rollout deployment/web -n "+e.NS+" --image app="+realImage("v2")+
		" --timeout 3m --probe "+url+" --probe-version-header X-Zdd-Version --report "+page, 5*time.Minute)
	all := strings.Join(shown, "\n")
	t.Logf("kubectl zdd rollout in an 80-column pane:\n%s", all)
	if code != 0 {
		t.Fatalf("rollout in the pane: exit %d", code)
	}
	for _, l := range pane.TooWide(shown) {
		t.Errorf("a line wider than the 80-column pane:\n%s", l)
	}
	for _, want := range []string{"ready endpoints of service " + e.NS + "/web", "req/s", "apply", "rolled out", "v1 ", "v2 "} {
		if !strings.Contains(all, want) {
			t.Errorf("the pane does not show %q", want)
		}
	}
	if !drewBlocks(shown, "ready", "█▇▆▅▄▃▂▁") {
		t.Errorf("the ready row is not drawn in block characters")
	}

	// the summary on the Deployment is this operation's
	dep, err := e.Client.AppsV1().Deployments(e.NS).Get(e.Ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	op, _ := state.FromAnnotations(dep.Annotations)
	enc := dep.Annotations[report.SummaryAnnotation]
	if op == nil || enc == "" {
		t.Fatalf("deployment web: record %+v, summary %d bytes: want both", op, len(enc))
	}
	if len(enc) > report.SummaryLimit {
		t.Errorf("the summary is %d bytes, over its limit %d", len(enc), report.SummaryLimit)
	}
	sum, err := report.Decode(enc)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Facts.OperationID != op.ID || sum.Facts.Strategy != "rollout" || sum.Facts.Result != state.ResultSucceeded || sum.Facts.ToRevision != op.ToRevision {
		t.Errorf("summary facts %+v; the record: operation %s, revision %s", sum.Facts, op.ID, op.ToRevision)
	}
	var names, phases []string
	for _, v := range sum.Versions {
		names = append(names, v.Name)
	}
	for _, p := range sum.Phases {
		phases = append(phases, p.Name)
	}
	if !contains(names, "v1") || !contains(names, "v2") || !contains(phases, "apply") || !contains(phases, "rolled out") || sum.Probe == nil || len(sum.Probe.Buckets) < 3 {
		t.Errorf("summary: versions %q, phases %q, probe %v: want v1 and v2, apply and rolled out, the probe's seconds", names, phases, sum.Probe != nil)
	}
	t.Logf("summary: %d bytes, versions %q, phases %q", len(enc), names, phases)

	// the page of --report and of kubectl zdd report, and a browser's view
	want := browsertest.Chart{Versions: names, Phases: phases, Colors: report.VersionColors(sum)}
	written, err := os.ReadFile(page)
	if err != nil {
		t.Fatalf("--report: %v", err)
	}
	if err := browsertest.CheckDOM(string(written), want); err != nil {
		t.Errorf("the page of --report: %v", err)
	}
	r := e.Zdd("report", "deployment/web", "-o", "html")
	wantCode(t, "report -o html", r, 0)
	if err := browsertest.CheckDOM(r.Stdout, want); err != nil {
		t.Errorf("kubectl zdd report -o html: %v", err)
	}
	if chromium, err := browsertest.Find(); err != nil {
		if browsertest.Required() {
			t.Errorf("%v: the browser check must run here", err)
		} else {
			t.Logf("SKIPPED the browser check: %v", err)
		}
	} else {
		b := &browsertest.Browser{Path: chromium, Dir: t.TempDir()}
		dom, err := b.DumpDOM(page)
		if err != nil {
			t.Fatal(err)
		}
		if err := browsertest.CheckDOM(dom, want); err != nil {
			t.Errorf("the page in the browser: %v", err)
		}
		img, _, err := b.Screenshot(page, 1100, 1500)
		if err != nil {
			t.Fatal(err)
		}
		if err := browsertest.CheckScreenshot(img, want, 150); err != nil {
			t.Error(err)
		}
	}

	// a locale that is not UTF-8: the picture in ASCII
	code, shown = pane.Run("LANG=C LC_ALL= kubectl zdd rollback deployment/web -n "+e.NS+" --timeout 3m", 5*time.Minute)
	all = strings.Join(shown, "\n")
	t.Logf("kubectl zdd rollback in the pane, LANG=C:\n%s", all)
	if code != 0 {
		t.Fatalf("rollback in the pane: exit %d", code)
	}
	for _, l := range pane.TooWide(shown) {
		t.Errorf("a line wider than the 80-column pane:\n%s", l)
	}
	if !strings.Contains(all, "rollback") || !strings.Contains(all, "the phases over") {
		t.Errorf("the rollback drew no picture")
	}
	if start := strings.Index(all, "the phases over"); start >= 0 {
		for _, r := range all[start:] {
			if r > 0x7e {
				t.Errorf("the picture under LANG=C holds %q", r)
				break
			}
		}
	}

	// not a terminal, -o json: the JSON alone; the summary recorded
	r = e.Zdd("rollout", "deployment/web", "--image", "app="+realImage("v3"), "--timeout", "3m", "-o", "json")
	wantCode(t, "rollout -o json", r, 0)
	var res struct {
		OperationID string `json:"operationId"`
	}
	if err := json.Unmarshal([]byte(r.Stdout), &res); err != nil {
		t.Fatalf("rollout -o json printed more than its JSON: %v\n%s", err, r.Stdout)
	}
	if strings.Contains(r.Stdout+r.Stderr, "ready endpoints of") {
		t.Errorf("a timeline drawn off a terminal:\n%s%s", r.Stdout, r.Stderr)
	}
	dep, err = e.Client.AppsV1().Deployments(e.NS).Get(e.Ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if sum, err := report.Decode(dep.Annotations[report.SummaryAnnotation]); err != nil || sum.Facts.OperationID != res.OperationID {
		t.Errorf("after rollout -o json: summary of operation %v (%v), want %s", sum, err, res.OperationID)
	}
}

// drewBlocks says whether the row labelled label holds one of the glyphs.
func drewBlocks(lines []string, label, glyphs string) bool {
	for _, l := range lines {
		if strings.HasPrefix(l, label+" ") && strings.ContainsAny(l, glyphs) {
			return true
		}
	}
	return false
}

// recordedSummary reads the summary on kind/name and checks it is of the
// operation its record holds, with strategy and result.
func recordedSummary(t *testing.T, e *Env, kind, name, strategy, result string) *report.Data {
	t.Helper()
	var ann map[string]string
	if kind == "service" {
		s, err := e.Client.CoreV1().Services(e.NS).Get(e.Ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		ann = s.Annotations
	} else {
		d, err := e.Client.AppsV1().Deployments(e.NS).Get(e.Ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		ann = d.Annotations
	}
	op, _ := state.FromAnnotations(ann)
	enc := ann[report.SummaryAnnotation]
	if op == nil || enc == "" {
		t.Fatalf("%s %s: record %+v and a summary of %d bytes: want both", kind, name, op, len(enc))
	}
	sum, err := report.Decode(enc)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Facts.OperationID != op.ID || sum.Facts.Strategy != strategy || sum.Facts.Result != result || sum.Facts.Who == "" {
		t.Errorf("%s %s: summary facts %+v, want operation %s, %s, %s, and who ran it", kind, name, sum.Facts, op.ID, strategy, result)
	}
	return sum
}

func phaseNames(d *report.Data) []string {
	var out []string
	for _, p := range d.Phases {
		out = append(out, p.Name)
	}
	return out
}

func versionNamesOf(d *report.Data) []string {
	var out []string
	for _, v := range d.Versions {
		out = append(out, v.Name)
	}
	return out
}

// TestReleaseSummaryOfEveryStrategy: a canary (its steps, the promotion,
// the canary retired) and a blue-green deploy (the switch, the old colour
// retired) each record the summary of their operation, with their
// versions and phases, and kubectl zdd report draws it afterwards from
// the cluster alone; off a terminal their output has no timeline.
func TestReleaseSummaryOfEveryStrategy(t *testing.T) {
	t.Parallel()
	t.Run("canary", func(t *testing.T) {
		t.Parallel()
		e := canaryApp(t, 4)
		r := e.Zdd("canary", "deployment/web", "--image", "app="+canaryV2, "--steps", "25,50,100", "--timeout", "4m")
		wantCode(t, "canary", r, 0)
		if strings.Contains(r.Stdout, "ready endpoints of") {
			t.Errorf("a timeline drawn off a terminal:\n%s", r.Stdout)
		}
		sum := recordedSummary(t, e, "deployment", "web", "canary", state.ResultSucceeded)
		phases, names := phaseNames(sum), versionNamesOf(sum)
		for _, want := range []string{"step 25%", "step 50%", "step 100%", "promote", "retire"} {
			if !contains(phases, want) {
				t.Errorf("canary summary phases %q: no %q", phases, want)
			}
		}
		if !contains(names, "v2 canary") || len(names) < 2 {
			t.Errorf("canary summary versions %q: want the stable's and \"v2 canary\"", names)
		}
		r = e.Zdd("report", "deployment/web", "--width", "80")
		wantCode(t, "report", r, 0)
		for _, want := range []string{"canary of deployment", "succeeded", "step 50%", "v2 canary"} {
			if !strings.Contains(r.Stdout, want) {
				t.Errorf("kubectl zdd report does not show %q", want)
			}
		}
	})
	t.Run("bluegreen", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		e.Apply(appManifest(AppSpec{Name: "web", Replicas: bgReplicas}))
		e.RolloutStatus("web", 2*time.Minute)
		e.waitEndpoints("web", map[string]string{"app": "web"}, bgReplicas)
		wantCode(t, "bluegreen init", e.Zdd("bluegreen", "init", "service/web", "--timeout", "2m"), 0)
		page := filepath.Join(t.TempDir(), "deploy.html")
		r := e.Zdd("bluegreen", "deploy", "service/web", "--image", "app=registry.example/web:v2", "--timeout", "2m", "--report", page)
		wantCode(t, "bluegreen deploy", r, 0)
		sum := recordedSummary(t, e, "service", "web", "bluegreen", state.ResultSucceeded)
		phases, names := phaseNames(sum), versionNamesOf(sum)
		for _, want := range []string{"apply", "switch to green", "retire"} {
			if !contains(phases, want) {
				t.Errorf("blue-green summary phases %q: no %q", phases, want)
			}
		}
		if !contains(names, "v2 green") {
			t.Errorf("blue-green summary versions %q: want \"v2 green\"", names)
		}
		written, err := os.ReadFile(page)
		if err != nil {
			t.Fatalf("--report: %v", err)
		}
		want := browsertest.Chart{Versions: names, Phases: phases, Colors: report.VersionColors(sum)}
		if err := browsertest.CheckDOM(string(written), want); err != nil {
			t.Errorf("the page of --report: %v", err)
		}
		r = e.Zdd("report", "service/web", "-o", "html")
		wantCode(t, "report -o html", r, 0)
		if err := browsertest.CheckDOM(r.Stdout, want); err != nil {
			t.Errorf("kubectl zdd report -o html: %v", err)
		}
	})
}

// TestReleasePictureOfEveryStrategyInTerminal: the canary and the
// blue-green deploy draw their picture in an 80-column tmux pane too, on
// the real node with the request probe: the timeline of ready endpoints
// with their phase marks (each canary step, the promotion; the switch,
// the retirement; the rollback's switch), and no line the pane shows wider
// than it. So does the generic abort of a held canary and of a blue-green
// deploy waiting for its promotion (its mark "abort").
func TestReleasePictureOfEveryStrategyInTerminal(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	node := needRealNode(t, e.Client, localClusterName())
	startRealApp(e, zddApp())
	url := e.serviceURL(node, "web")
	pane := tmuxtest.New(t, 80, 50, []string{
		"PATH=" + strings.Join([]string{pluginDir, filepath.Dir(kubectlPath), "/usr/local/bin", "/usr/bin", "/bin"}, string(os.PathListSeparator)),
		"KUBECONFIG=" + e.Kubeconfig,
	})
	probe := " --probe " + url + " --probe-version-header X-Zdd-Version"
	// run types command in the pane and checks its picture: exit 0, no
	// line wider than the pane, the timeline's header, block characters
	// and every mark of marks; it returns what the pane showed
	run := func(what, command string, marks ...string) string {
		t.Helper()
		code, shown := pane.Run(command, 5*time.Minute)
		all := strings.Join(shown, "\n")
		t.Logf("%s in an 80-column pane:\n%s", what, all)
		if code != 0 {
			t.Fatalf("%s in the pane: exit %d", what, code)
		}
		for _, l := range pane.TooWide(shown) {
			t.Errorf("%s: a line wider than the 80-column pane:\n%s", what, l)
		}
		start := strings.LastIndex(all, "ready endpoints of ")
		if start < 0 {
			t.Errorf("%s drew no timeline", what)
			return all
		}
		picture := all[start:]
		if !drewBlocks(strings.Split(picture, "\n"), "ready", "█▇▆▅▄▃▂▁") {
			t.Errorf("%s: the ready row is not drawn in block characters", what)
		}
		for _, m := range marks {
			if !strings.Contains(picture, m) {
				t.Errorf("%s: the timeline has no phase mark %q", what, m)
			}
		}
		return all
	}

	// managed by Argo CD (a label): the release's warning fits the pane too
	if _, err := e.Client.AppsV1().Deployments(e.NS).Patch(e.Ctx, "web", types.MergePatchType,
		[]byte(`{"metadata":{"labels":{"`+gitops.ArgoInstanceLabel+`":"shop-production-web-application"}}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	shown := run("kubectl zdd canary", "kubectl zdd canary deployment/web -n "+e.NS+" --image app="+realImage("v2")+
		" --steps 50,100 --timeout 3m"+probe, "step 50%", "step 100%", "promote", "retire", "req/s")
	if !strings.Contains(shown, "Argo CD") {
		t.Errorf("the canary did not warn that Argo CD manages the Deployment")
	}
	recordedSummary(t, e, "deployment", "web", "canary", state.ResultSucceeded)

	// a held canary, pulled back by the generic abort
	wantCode(t, "canary --manual", e.Zdd("canary", "deployment/web", "--image", "app="+realImage("v3"), "--steps", "50,100", "--manual", "--timeout", "3m"), 0)
	run("kubectl zdd abort of a canary", "kubectl zdd abort deployment/web -n "+e.NS+" --timeout 3m", "abort")
	recordedSummary(t, e, "deployment", "web", "canary", state.ResultAborted)
	// the canary Deployment an abort leaves at 0 goes, for blue-green's init
	if err := e.Client.AppsV1().Deployments(e.NS).Delete(e.Ctx, "web-canary", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	e.waitNoTerminatingPods(3 * time.Minute)

	wantCode(t, "bluegreen init", e.Zdd("bluegreen", "init", "service/web", "--timeout", "2m"), 0)
	run("kubectl zdd bluegreen deploy", "kubectl zdd bluegreen deploy service/web -n "+e.NS+" --image app="+realImage("v2")+
		" --timeout 3m"+probe, "apply", "switch to green", "retire", "req/s")
	recordedSummary(t, e, "service", "web", "bluegreen", state.ResultSucceeded)
	run("kubectl zdd bluegreen rollback", "kubectl zdd bluegreen rollback service/web -n "+e.NS+" --timeout 3m"+probe, "rollback to blue", "req/s")
	recordedSummary(t, e, "service", "web", "bluegreen", state.ResultRolledBack)

	// a deploy waiting for its promotion, pulled back by the generic abort
	wantCode(t, "bluegreen deploy --manual-promote", e.Zdd("bluegreen", "deploy", "service/web", "--image", "app="+realImage("v3"), "--manual-promote", "--timeout", "3m"), 0)
	// a page path of 76 characters: "report: PATH" is wider than the pane,
	// and must fit it all the same (the path on a line of its own)
	dir := t.TempDir()
	page := filepath.Join(dir, strings.Repeat("a", max(1, 76-len(dir)-1-len(".html")))+".html")
	run("kubectl zdd abort of a blue-green deploy", "kubectl zdd abort service/web -n "+e.NS+" --timeout 3m --report "+page, "abort")
	recordedSummary(t, e, "service", "web", "bluegreen", state.ResultAborted)
	written, err := os.ReadFile(page)
	if err != nil {
		t.Fatalf("abort --report: %v", err)
	}
	if !strings.Contains(string(written), ">abort</text>") {
		t.Errorf("the page of abort --report has no phase label abort")
	}
}
