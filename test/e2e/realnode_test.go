//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"

	"github.com/zdd-dev/kubectl-zdd/test/meter"
)

// The real node (hack/node.sh): a real kubelet, containerd and kube-proxy
// beside the simulated nodes, whose pods are real processes that answer
// requests. The tests that judge a release by its failed requests run there.

// realNodeLabel labels and taints the real node.
const realNodeLabel = "zdd.dev/real-node"

// RealNode is what a traffic test needs to know of the real node.
type RealNode struct {
	Name string
	// ServiceCIDR and PodCIDR are routed from this machine to the node:
	// the meter may send only there.
	ServiceCIDR, PodCIDR netip.Prefix
	// NodePortHost is set on a kind cluster (ZDD_E2E_CLUSTER=kind), whose
	// ClusterIPs this machine cannot reach: the meter goes to a NodePort
	// on this address instead.
	NodePortHost netip.Addr
}

// realNodeMu lets one traffic test at a time use the real node: it has the
// machine's two cores, and one release's requests must not be measured
// while another test loads it.
var realNodeMu sync.Mutex

// needRealNode returns the cluster's real node and holds it for the test.
// Without one, the test fails on CI (CI=true) and skips loudly elsewhere,
// naming what is missing.
func needRealNode(t *testing.T, client kubernetes.Interface, clusterName string) *RealNode {
	t.Helper()
	node, why := findRealNode(t, client, clusterName)
	if why != "" {
		msg := "this test sends requests to real pods and needs the cluster's real node (hack/node.sh): " + why
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip("SKIPPED (it would fail on CI): " + msg)
	}
	realNodeMu.Lock()
	t.Cleanup(realNodeMu.Unlock)
	if clusterName != "" {
		repairRealNode(t, clusterName)
	}
	return node
}

// repairRealNode checks that the local cluster's real node has all its
// processes (the API shows the Node Ready while kube-proxy is gone) and
// brings back any that stopped, saying so.
func repairRealNode(t *testing.T, clusterName string) {
	t.Helper()
	node := func(verb string) (string, error) {
		cmd := exec.Command(filepath.Join(repoRoot, "hack", "node.sh"), verb)
		cmd.Env = append(os.Environ(), "ZDD_CLUSTER_NAME="+clusterName)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := node("status"); err != nil {
		t.Logf("the real node needs repair: %s", strings.TrimSpace(out))
		if out, err := node("up"); err != nil {
			t.Fatalf("repairing the real node of %s: %v\n%s", clusterName, err, out)
		}
	}
}

// findRealNode reads the facts hack/node.sh publishes in the ConfigMap
// kube-system/zdd-real-node and checks that the node is Ready; why says
// what is missing.
func findRealNode(t *testing.T, client kubernetes.Interface, clusterName string) (node *RealNode, why string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cm, err := client.CoreV1().ConfigMaps("kube-system").Get(ctx, "zdd-real-node", metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		why = "the cluster has no ConfigMap kube-system/zdd-real-node, which hack/node.sh up writes"
		if clusterName != "" {
			if b, err := os.ReadFile(filepath.Join(repoRoot, ".cluster", "node-"+clusterName, "unavailable")); err == nil {
				why = strings.ReplaceAll(strings.TrimSpace(string(b)), "\n", "; ")
			}
		}
		return nil, why
	}
	if err != nil {
		return nil, fmt.Sprintf("reading ConfigMap kube-system/zdd-real-node: %v", err)
	}
	node = &RealNode{Name: cm.Data["node"]}
	if h := cm.Data["nodePortHost"]; h != "" {
		if node.NodePortHost, err = netip.ParseAddr(h); err != nil {
			return nil, fmt.Sprintf("ConfigMap kube-system/zdd-real-node: nodePortHost: %v", err)
		}
		return node, ""
	}
	if node.ServiceCIDR, err = netip.ParsePrefix(cm.Data["serviceCIDR"]); err != nil {
		return nil, fmt.Sprintf("ConfigMap kube-system/zdd-real-node: serviceCIDR: %v", err)
	}
	if node.PodCIDR, err = netip.ParsePrefix(cm.Data["podCIDR"]); err != nil {
		return nil, fmt.Sprintf("ConfigMap kube-system/zdd-real-node: podCIDR: %v", err)
	}
	n, err := client.CoreV1().Nodes().Get(ctx, node.Name, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Sprintf("real node %q: %v", node.Name, err)
	}
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady && c.Status != corev1.ConditionTrue {
			return nil, fmt.Sprintf("real node %q is not Ready (%s: %s); hack/cluster.sh up repairs it", node.Name, c.Reason, c.Message)
		}
	}
	return node, ""
}

// localClusterName is the name of the local cluster the suite runs on, or
// "" when KUBECONFIG chose another.
func localClusterName() string {
	if os.Getenv("KUBECONFIG") != "" {
		return ""
	}
	return "zdd-e2e"
}

// Traffic is a request meter aimed at a Service for one operation.
type Traffic struct {
	e    *Env
	svc  string
	url  string
	m    *meter.Meter
	node *RealNode
}

// trafficRate is the new-connection request rate of every traffic test,
// and minRequests the least a release must be measured over.
const (
	trafficRate = 100
	minRequests = 3000
)

// StartTraffic waits until Service svc answers through its ClusterIP, then
// starts the meter: new-connection requests at trafficRate, a keep-alive
// client and, when streams > 0, that many streams held open.
func (e *Env) StartTraffic(node *RealNode, svc string, o meter.Options) *Traffic {
	e.T.Helper()
	s, err := e.Client.CoreV1().Services(e.NS).Get(e.Ctx, svc, metav1.GetOptions{})
	if err != nil {
		e.T.Fatalf("reading service %s: %v", svc, err)
	}
	path := "/"
	if o.URL != "" {
		path = o.URL // a path on the Service
	}
	tr := &Traffic{e: e, svc: svc, node: node}
	var base string
	if node.NodePortHost.IsValid() {
		base = fmt.Sprintf("http://%s:%d", node.NodePortHost, e.nodePort(s))
		o.Allowed = []netip.Prefix{netip.PrefixFrom(node.NodePortHost, node.NodePortHost.BitLen())}
	} else {
		ip, err := netip.ParseAddr(s.Spec.ClusterIP)
		if err != nil || !node.ServiceCIDR.Contains(ip) {
			e.T.Fatalf("service %s has ClusterIP %q, outside the real node's Service range %s", svc, s.Spec.ClusterIP, node.ServiceCIDR)
		}
		base = fmt.Sprintf("http://%s:%d", ip, s.Spec.Ports[0].Port)
		o.Allowed = []netip.Prefix{node.ServiceCIDR, node.PodCIDR}
	}
	tr.url = base + path
	tr.waitServing(base + "/")
	o.URL = tr.url
	if o.Rate == 0 {
		o.Rate = trafficRate
	}
	if tr.m, err = meter.Start(e.Ctx, o); err != nil {
		e.T.Fatal(err)
	}
	e.T.Cleanup(func() { tr.m.Stop() })
	e.T.Logf("traffic: %d requests/s to service %s at %s", o.Rate, svc, tr.url)
	return tr
}

// nodePort makes Service s a NodePort Service (on kind) and returns its
// port.
func (e *Env) nodePort(s *corev1.Service) int32 {
	e.T.Helper()
	if s.Spec.Type != corev1.ServiceTypeNodePort {
		patched, err := e.Client.CoreV1().Services(e.NS).Patch(e.Ctx, s.Name, types.MergePatchType, []byte(`{"spec":{"type":"NodePort"}}`), metav1.PatchOptions{})
		if err != nil {
			e.T.Fatalf("making service %s a NodePort: %v", s.Name, err)
		}
		s = patched
	}
	return s.Spec.Ports[0].NodePort
}

// waitServing waits until url has answered 200 twenty times in a row: the
// Service's rules are in place on the node, so a failure the meter counts
// later belongs to the operation.
func (tr *Traffic) waitServing(url string) {
	tr.e.T.Helper()
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true, Proxy: nil}}
	deadline := time.Now().Add(90 * time.Second)
	ok := 0
	var last string
	for ok < 20 {
		if time.Now().After(deadline) {
			tr.e.T.Fatalf("service %s at %s does not answer steadily (last: %s)", tr.svc, url, last)
		}
		resp, err := client.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				ok++
				continue
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		ok = 0
		time.Sleep(100 * time.Millisecond)
	}
}

// Stop stops the meter once it has run at least minFor and no pod of the
// namespace is terminating any more (a release's old pods stop after the
// command returns: their requests count too), and returns the report.
func (tr *Traffic) Stop(minFor time.Duration) *meter.Report {
	tr.e.T.Helper()
	tr.e.waitNoTerminatingPods(3 * time.Minute)
	if d := minFor - tr.m.Since(); d > 0 {
		time.Sleep(d)
	}
	// on a loaded machine the meter may have sent fewer than its rate
	// promises: measure on until it has sent minRequests (within limits)
	for deadline := time.Now().Add(time.Minute); minFor >= minTrafficDuration && tr.m.Sent() < minRequests && time.Now().Before(deadline); {
		time.Sleep(200 * time.Millisecond)
	}
	// a moment more: a failure as the last pod went would still arrive
	time.Sleep(2 * time.Second)
	rep := tr.m.Stop()
	tr.e.T.Logf("traffic: %s", rep)
	for i, f := range rep.NewConn.Failures {
		if i == 20 {
			tr.e.T.Logf("traffic: ... %d more", len(rep.NewConn.Failures)-20)
			break
		}
		tr.e.T.Logf("traffic: failed at %.2fs: %s: %s", f.At.Seconds(), f.Kind, f.Detail)
	}
	for _, f := range rep.KeepAlive.Failures {
		tr.e.T.Logf("traffic: keep-alive failed at %.2fs: %s: %s", f.At.Seconds(), f.Kind, f.Detail)
	}
	recordTraffic(tr.e.T, rep)
	return rep
}

// minTrafficDuration is how long a meter must run to send minRequests.
var minTrafficDuration = time.Duration(minRequests/trafficRate+1) * time.Second

// assertNoFailedRequests fails the test unless every request succeeded and
// at least minRequests were sent on new connections.
func assertNoFailedRequests(t *testing.T, what string, rep *meter.Report) {
	t.Helper()
	if rep.NewConn.Sent < minRequests {
		t.Errorf("%s: only %d requests measured, want at least %d", what, rep.NewConn.Sent, minRequests)
	}
	if rep.Failed() != 0 {
		t.Errorf("%s: %d of %d requests failed (new-conn %v, keep-alive %v); want none", what, rep.Failed(), rep.Sent(), rep.NewConn.ByKind, rep.KeepAlive.ByKind)
	}
}

// recordTraffic appends the report to $ZDD_TRAFFIC_REPORT (one JSON object
// a line, named by the test), which bench/traffic.sh reads.
func recordTraffic(t *testing.T, rep *meter.Report) {
	path := os.Getenv("ZDD_TRAFFIC_REPORT")
	if path == "" {
		return
	}
	line, err := json.Marshal(struct {
		Test   string        `json:"test"`
		Report *meter.Report `json:"report"`
	}{t.Name(), rep})
	if err != nil {
		t.Errorf("traffic report: %v", err)
		return
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		t.Errorf("traffic report: %v", err)
		return
	}
	defer f.Close()
	if _, err := f.Write(append(line, '\n')); err != nil {
		t.Errorf("traffic report: %v", err)
	}
}

// waitNoTerminatingPods waits until no pod of the namespace is being
// deleted.
func (e *Env) waitNoTerminatingPods(timeout time.Duration) {
	e.T.Helper()
	watchPods(e.T, e, "", timeout, func(pods []*corev1.Pod, _ watch.Event) (bool, error) {
		for _, p := range pods {
			if p.DeletionTimestamp != nil {
				return false, nil
			}
		}
		return true, nil
	})
}

// startRealApp applies the app on the real node and waits until it serves.
func startRealApp(e *Env, s AppSpec) {
	e.T.Helper()
	s.Real = true
	e.Apply(appManifest(s))
	s = s.withDefaults()
	e.RolloutStatus(s.Name, 2*time.Minute)
	if !s.NoService {
		waitReadyEndpoints(e.T, e, s.Name, int(s.Replicas))
	}
}
