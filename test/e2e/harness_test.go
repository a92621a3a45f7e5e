//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"

	"github.com/zdd-dev/kubectl-zdd/pkg/downtime"
)

// commandTimeout bounds every kubectl or kubectl zdd run.
const commandTimeout = 5 * time.Minute

// Env is one test's world: its own namespace, clients and command runners.
type Env struct {
	T *testing.T
	// NS is the test's own namespace, deleted when the test ends.
	NS string
	// Client and Dynamic talk to the cluster under test.
	Client  kubernetes.Interface
	Dynamic dynamic.Interface
	// Kubeconfig is the kubeconfig path the commands use.
	Kubeconfig string
	// Ctx is cancelled when the test ends.
	Ctx context.Context
}

// CmdResult is the outcome of one command.
type CmdResult struct {
	Stdout, Stderr string
	// Code is the exit code (-1 if the command could not run or timed out).
	Code int
}

func (r CmdResult) String() string {
	return fmt.Sprintf("exit code %d\n--- stdout\n%s--- stderr\n%s", r.Code, r.Stdout, r.Stderr)
}

var nsUnsafe = regexp.MustCompile(`[^a-z0-9-]+`)

// newEnv creates a namespace for the test, waits until pods can be created in
// it, and registers the cleanup: on failure the namespace's events,
// Deployments, ReplicaSets, pods and EndpointSlices are printed; then the
// namespace is deleted.
func newEnv(t *testing.T) *Env {
	t.Helper()
	client, err := kubernetes.NewForConfig(restConfig)
	if err != nil {
		t.Fatalf("client: %v", err)
	}
	dyn, err := dynamic.NewForConfig(restConfig)
	if err != nil {
		t.Fatalf("dynamic client: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	e := &Env{T: t, Client: client, Dynamic: dyn, Kubeconfig: kubeconfigPath, Ctx: ctx}

	base := nsUnsafe.ReplaceAllString(strings.ToLower(t.Name()), "-")
	base = strings.Trim(base, "-")
	if len(base) > 40 {
		base = strings.Trim(base[:40], "-")
	}
	suffix := make([]byte, 3)
	_, _ = rand.Read(suffix)
	e.NS = "e2e-" + base + "-" + hex.EncodeToString(suffix)
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: e.NS, Labels: map[string]string{"zdd.dev/e2e": "true"}}}
	if _, err := client.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
		cancel()
		t.Fatalf("creating namespace %q: %v", e.NS, err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			e.dump()
		}
		cancel()
		bg := metav1.DeletePropagationBackground
		err := client.CoreV1().Namespaces().Delete(context.Background(), e.NS, metav1.DeleteOptions{PropagationPolicy: &bg})
		if err != nil && !apierrors.IsNotFound(err) {
			t.Errorf("deleting namespace %q: %v", e.NS, err)
		}
	})
	e.waitDefaultServiceAccount()
	return e
}

// waitDefaultServiceAccount waits for the namespace's "default"
// ServiceAccount, without which pods are refused.
func (e *Env) waitDefaultServiceAccount() {
	e.T.Helper()
	ctx, cancel := context.WithTimeout(e.Ctx, time.Minute)
	defer cancel()
	sel := fields.OneTermEqualSelector("metadata.name", "default").String()
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			o.FieldSelector = sel
			return e.Client.CoreV1().ServiceAccounts(e.NS).List(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.FieldSelector = sel
			return e.Client.CoreV1().ServiceAccounts(e.NS).Watch(ctx, o)
		},
	}
	_, err := watchtools.UntilWithSync(ctx, lw, &corev1.ServiceAccount{}, func(store cache.Store) (bool, error) {
		return len(store.List()) > 0, nil
	}, func(ev watch.Event) (bool, error) { return ev.Type == watch.Added || ev.Type == watch.Modified, nil })
	if err != nil {
		e.T.Fatalf("waiting for the default ServiceAccount in %q: %v", e.NS, err)
	}
}

// run runs a program with the clean command environment.
func (e *Env) run(stdin string, extraEnv []string, name string, args ...string) CmdResult {
	e.T.Helper()
	ctx, cancel := context.WithTimeout(e.Ctx, commandTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	// an Env of a private cluster runs its commands there (a later
	// KUBECONFIG in extraEnv still wins)
	cmd.Env = commandEnv(append([]string{"KUBECONFIG=" + e.Kubeconfig}, extraEnv...)...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	res := CmdResult{Stdout: out.String(), Stderr: errOut.String()}
	var exitErr *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exitErr) && ctx.Err() == nil:
		res.Code = exitErr.ExitCode()
	default:
		res.Code = -1
		res.Stderr += fmt.Sprintf("\n[harness] %s %s: %v (context: %v)", name, strings.Join(args, " "), err, ctx.Err())
	}
	e.T.Logf("$ %s %s -> %d", shortName(name), strings.Join(args, " "), res.Code)
	return res
}

func shortName(p string) string {
	if i := strings.LastIndex(p, "/"); i >= 0 {
		return p[i+1:]
	}
	return p
}

// withNamespace appends "-n NS" unless args already choose a namespace.
func (e *Env) withNamespace(args []string) []string {
	for _, a := range args {
		if a == "-n" || a == "-A" || a == "--all-namespaces" || strings.HasPrefix(a, "--namespace") || strings.HasPrefix(a, "-n=") {
			return args
		}
	}
	return append(append([]string{}, args...), "-n", e.NS)
}

// Kubectl runs the real kubectl with args, in the test's namespace unless
// args name one.
func (e *Env) Kubectl(args ...string) CmdResult {
	e.T.Helper()
	return e.run("", nil, kubectlPath, e.withNamespace(args)...)
}

// KubectlStdin is Kubectl with stdin.
func (e *Env) KubectlStdin(stdin string, args ...string) CmdResult {
	e.T.Helper()
	return e.run(stdin, nil, kubectlPath, e.withNamespace(args)...)
}

// Zdd runs `kubectl zdd ARGS -n NS` through the real kubectl, which finds
// the freshly built plugin first on PATH.
func (e *Env) Zdd(args ...string) CmdResult {
	e.T.Helper()
	return e.ZddWith(ZddOpts{}, args...)
}

// ZddOpts are the rarer settings of a kubectl zdd run.
type ZddOpts struct {
	// Stdin is fed to the command.
	Stdin string
	// Env adds KEY=VALUE entries to the clean environment.
	Env []string
	// NoNamespace leaves out the "-n NS" the harness otherwise appends.
	NoNamespace bool
}

// ZddWith runs kubectl zdd with options.
func (e *Env) ZddWith(o ZddOpts, args ...string) CmdResult {
	e.T.Helper()
	full := append([]string{"zdd"}, args...)
	if !o.NoNamespace {
		full = e.withNamespace(full)
	}
	return e.run(o.Stdin, o.Env, kubectlPath, full...)
}

// Apply applies YAML with `kubectl apply` in the test's namespace and fails
// the test if that fails.
func (e *Env) Apply(yaml string) {
	e.T.Helper()
	if r := e.KubectlStdin(yaml, "apply", "-f", "-"); r.Code != 0 {
		e.T.Fatalf("kubectl apply: %s", r)
	}
}

// MustKubectl runs kubectl and fails the test unless it exits 0.
func (e *Env) MustKubectl(args ...string) CmdResult {
	e.T.Helper()
	r := e.Kubectl(args...)
	if r.Code != 0 {
		e.T.Fatalf("kubectl %s: %s", strings.Join(args, " "), r)
	}
	return r
}

// RolloutStatus waits (with kubectl rollout status) until Deployment name
// has finished rolling out, failing the test after timeout.
func (e *Env) RolloutStatus(name string, timeout time.Duration) {
	e.T.Helper()
	e.MustKubectl("rollout", "status", "deployment/"+name, "--timeout", timeout.String())
}

// DowntimeWatch records a Service's ready endpoints; see WatchDowntime.
type DowntimeWatch struct {
	env *Env
	w   *downtime.Watcher
}

// WatchDowntime starts watching Service service's EndpointSlices. It returns
// once the watch has synced, so anything done afterwards is seen. Call Stop
// after the operation; the watch also ends with the test.
func (e *Env) WatchDowntime(service string) *DowntimeWatch {
	e.T.Helper()
	w, err := downtime.Start(e.Ctx, e.Client, e.NS, service)
	if err != nil {
		e.T.Fatalf("watching downtime of %q: %v", service, err)
	}
	d := &DowntimeWatch{env: e, w: w}
	e.T.Cleanup(func() { w.Stop() })
	return d
}

// WaitFor waits, up to timeout, until the latest sample of this watch
// satisfies cond (for example: 4 ready, all of one new pod-template-hash),
// failing the test otherwise. Waiting on the same watch that is measured
// makes sure its report covers the end of the operation.
func (d *DowntimeWatch) WaitFor(timeout time.Duration, cond func(downtime.Sample) bool) {
	d.env.T.Helper()
	ctx, cancel := context.WithTimeout(d.env.Ctx, timeout)
	defer cancel()
	if err := d.w.WaitForSample(ctx, cond); err != nil {
		d.env.T.Fatalf("%v", err)
	}
}

// Stop ends the watch, logs the timeline and returns the report.
func (d *DowntimeWatch) Stop() downtime.Report {
	d.env.T.Helper()
	r := d.w.Stop()
	d.env.T.Logf("downtime: %s", r)
	return r
}

// dump prints the namespace's state, for a failed test.
func (e *Env) dump() {
	e.T.Helper()
	for _, args := range [][]string{
		{"get", "events", "--sort-by=.lastTimestamp"},
		{"get", "deployments,replicasets,jobs,services", "-o", "wide", "--show-labels"},
		{"get", "pods", "-o", "wide", "--show-labels"},
		{"get", "pods", "-o", "custom-columns=NAME:.metadata.name,PHASE:.status.phase,READY:.status.conditions[?(@.type==\"Ready\")].status,RESTARTS:.status.containerStatuses[*].restartCount,WAITING:.status.containerStatuses[*].state.waiting.reason,DELETING:.metadata.deletionTimestamp,ANNOTATIONS:.metadata.annotations"},
		{"get", "endpointslices", "-o", "yaml"},
	} {
		r := e.Kubectl(args...)
		e.T.Logf("dump: kubectl %s\n%s%s", strings.Join(args, " "), r.Stdout, r.Stderr)
	}
}
