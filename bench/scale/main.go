// Command scale times kubectl zdd's three strategies on Deployments of many
// replicas beside the same change made by the controllers alone (kubectl
// commands that do no more than the change needs), on a cluster whose API
// server writes an audit log, from which it counts each command's API
// requests by user agent. bench/scale.sh brings that cluster up and runs it.
//
// For each size and run, in this order (each pair on its own objects, the
// zdd side first, then the kubectl side, so drift of the machine hits both;
// each starts when no pod of the namespace is terminating, so neither side
// pays for the pods the other retired):
//
//	rollout    kubectl zdd rollout --image        | kubectl set image + rollout status
//	bluegreen  kubectl zdd bluegreen deploy       | set image + scale the idle colour, rollout status,
//	                                              |   patch the Service selector, scale the old colour to 0
//	canary     kubectl zdd canary --steps 10,50,100 | the same replica moves: a canary Deployment grown
//	                                              |   and the stable shrunk step by step (rollout status
//	                                              |   after each), then the stable rolled to the new
//	                                              |   image at full size and the canary deleted
//
// It prints one JSON line per measurement on stdout: op, size, side (zdd or
// kubectl), wall seconds, requests (and by verb/resource), and for zdd the
// peak resident memory of the process.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

var (
	zddBin  = flag.String("zdd", "kubectl-zdd", "the kubectl-zdd binary")
	kubectl = flag.String("kubectl", "kubectl", "the kubectl binary")
	audit   = flag.String("audit", "", "the API server's audit log (required)")
	sizes   = flag.String("sizes", "100,1000", "replica counts, comma-separated")
	runs    = flag.Int("runs", 3, "runs of each operation and size")
	ops     = flag.String("ops", "rollout,bluegreen,canary", "operations, comma-separated")
	profile = flag.String("profile", "", "folder for a CPU profile of each kubectl zdd run (OP-SIZE-RUN.pprof; go tool pprof reads them)")
	pids    = flag.String("pids", "", "the simulated cluster's pids folder: each process's CPU time during each measurement is reported")
	ns      = flag.String("namespace", "zdd-scale", "namespace (created, and deleted at the end)")
	out     = flag.String("out", "", "file for one JSON line per measurement")
	budget  = flag.String("budget", "", "file of request budgets (lines: OP REQUESTS): fail when kubectl zdd's median at any size is above twice its budget")
)

// Result is one measurement.
type Result struct {
	Op       string         `json:"op"`
	Size     int            `json:"size"`
	Side     string         `json:"side"`
	Run      int            `json:"run"`
	Seconds  float64        `json:"seconds"`
	Requests int            `json:"requests"`
	ByCall   map[string]int `json:"byCall"`
	PeakKiB  int64          `json:"peakKiB,omitempty"`
	// CPUSeconds is kubectl zdd's user+system CPU time: on a machine of
	// two cores the client's own work takes time from the controllers
	CPUSeconds float64 `json:"cpuSeconds,omitempty"`
	// ClusterCPU is the CPU time each of the cluster's processes
	// (kube-apiserver, etcd, the controllers, the simulated nodes) used
	// during the measurement, in seconds: what the command made the
	// cluster do, on the cores it shares with the command
	ClusterCPU map[string]float64 `json:"clusterCPU,omitempty"`

	from, to time.Time
}

func main() {
	flag.Parse()
	if *audit == "" {
		fail("-audit is required")
	}
	var sz []int
	for _, s := range strings.Split(*sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 10 {
			fail("-sizes: %q is not a replica count of 10 or more", s)
		}
		sz = append(sz, n)
	}
	// a namespace left by the last run (deleted without waiting) must be
	// gone first; "not found" when there is none
	_ = run(nil, *kubectl, "wait", "--for=delete", "namespace/"+*ns, "--timeout=30m")
	must(run(nil, *kubectl, "create", "namespace", *ns))
	defer func() { _ = run(nil, *kubectl, "delete", "namespace", *ns, "--wait=false") }()
	var sink io.Writer = io.Discard
	if *out != "" {
		f, err := os.Create(*out)
		must(err)
		defer f.Close()
		sink = f
	}
	enc := json.NewEncoder(sink)
	var all []Result
	for _, n := range sz {
		for _, op := range strings.Split(*ops, ",") {
			b := bench{n: n, op: op}
			b.setup()
			for r := 1; r <= *runs; r++ {
				for _, side := range []string{"zdd", "kubectl"} {
					res := b.measure(side, r)
					all = append(all, res)
					fmt.Fprintf(os.Stderr, "scale: %s %d %s run %d: %.1fs, peak %d KiB, cpu %.1fs, kube-apiserver cpu %.1fs\n", op, n, side, r, res.Seconds, res.PeakKiB, res.CPUSeconds, res.ClusterCPU["kube-apiserver"])
				}
			}
			b.teardown()
		}
	}
	// The API server writes a request's audit event when the request is
	// complete; a watch a command held to its end completes when the
	// server notices the client went away. Count once, at the end.
	time.Sleep(5 * time.Second)
	for i := range all {
		ua := "kubectl/"
		if all[i].Side == "zdd" {
			// client-go names the binary in its default user agent
			ua = filepath.Base(*zddBin) + "/"
		}
		all[i].Requests, all[i].ByCall = countRequests(*audit, ua, all[i].from, all[i].to)
		must(enc.Encode(all[i]))
	}
	fmt.Print(table(all))
	if *budget != "" {
		if msgs := overBudget(all, *budget); len(msgs) > 0 {
			fail("over budget:\n  %s", strings.Join(msgs, "\n  "))
		}
	}
}

type bench struct {
	n  int
	op string
}

// names: the zdd side works on "z<op>", the kubectl side on "k<op>".
func (b *bench) name(side string) string { return side[:1] + b.op }

func (b *bench) setup() {
	for _, side := range []string{"zdd", "kubectl"} {
		name := b.name(side)
		must(apply(manifest(name, name, b.n, "registry.example/web:v0", nil)))
		must(run(nil, *kubectl, "-n", *ns, "rollout", "status", "deployment/"+name, "--timeout", "15m"))
		if b.op == "bluegreen" {
			if side == "zdd" {
				must(run(nil, *zddBin, "-n", *ns, "bluegreen", "init", "service/"+name, "--timeout", "15m"))
			} else {
				// the same shape bluegreen init gives: NAME-blue live at
				// full size, NAME-green idle at 0, the Service on blue
				for _, c := range []string{"blue", "green"} {
					replicas := b.n
					if c == "green" {
						replicas = 0
					}
					must(apply(manifest(name+"-"+c, name, replicas, "registry.example/web:v0", map[string]string{"version": c})))
				}
				must(run(nil, *kubectl, "-n", *ns, "rollout", "status", "deployment/"+name+"-blue", "--timeout", "15m"))
				must(run(nil, *kubectl, "-n", *ns, "patch", "service", name, "-p", `{"spec":{"selector":{"app":"`+name+`","version":"blue"}}}`))
				must(run(nil, *kubectl, "-n", *ns, "scale", "deployment/"+name, "--replicas", "0"))
			}
		}
	}
}

// teardown deletes what the operation made, and waits for its pods to go
// so the next operation starts on an empty namespace.
func (b *bench) teardown() {
	must(run(nil, *kubectl, "-n", *ns, "delete", "deployment,service", "--all", "--wait=false"))
	// the pods' own grace (preStop 5s) is not what is measured here
	must(run(nil, *kubectl, "-n", *ns, "delete", "pod", "--all", "--grace-period=0", "--force", "--wait=false"))
	must(run(nil, *kubectl, "-n", *ns, "wait", "--for=delete", "pod", "--all", "--timeout", "30m"))
}

// settle waits until no pod of the namespace is terminating. The pods a
// change retires stay Terminating for their preStop and grace (several
// seconds), longer than a change at 100 replicas takes: without the wait
// their deletion lands in the next measurement (the other side's) and
// competes with its pods for the simulated nodes and the controllers.
func settle() {
	deadline := time.Now().Add(10 * time.Minute)
	for {
		left := output(*kubectl, "-n", *ns, "get", "pods", "-o", "jsonpath={range .items[?(@.metadata.deletionTimestamp)]}{.metadata.name}{\"\\n\"}{end}")
		if left == "" {
			return
		}
		if time.Now().After(deadline) {
			fail("pods still terminating after 10m: %s", strings.Fields(left)[0])
		}
		time.Sleep(time.Second)
	}
}

// measure makes one change on one side and returns its measurement, from a
// namespace with no pod terminating (settle).
func (b *bench) measure(side string, r int) Result {
	settle()
	name := b.name(side)
	img := fmt.Sprintf("registry.example/web:v%d", r)
	res := Result{Op: b.op, Size: b.n, Side: side, Run: r}
	cpu0 := clusterCPU(*pids)
	from := time.Now()
	if side == "zdd" {
		var args []string
		switch b.op {
		case "rollout":
			args = []string{"rollout", "deployment/" + name}
		case "bluegreen":
			args = []string{"bluegreen", "deploy", "service/" + name}
		case "canary":
			args = []string{"canary", "deployment/" + name, "--steps", "10,50,100"}
		default:
			fail("unknown op %q", b.op)
		}
		args = append(args, "--image", "app="+img, "--timeout", "20m", "-n", *ns)
		if *profile != "" {
			args = append(args, "--profile", "cpu", "--profile-output", filepath.Join(*profile, fmt.Sprintf("%s-%d-%d.pprof", b.op, b.n, r)))
		}
		var ru syscall.Rusage
		must(run(&ru, *zddBin, args...))
		res.PeakKiB = ru.Maxrss
		res.CPUSeconds = time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
	} else {
		b.byKubectl(name, img)
	}
	res.from, res.to = from, time.Now()
	res.ClusterCPU = cpuSince(cpu0, clusterCPU(*pids))
	res.Seconds = res.to.Sub(from).Seconds()
	return res
}

// byKubectl makes the change with plain kubectl commands.
func (b *bench) byKubectl(name, img string) {
	k := func(args ...string) { must(run(nil, *kubectl, append([]string{"-n", *ns}, args...)...)) }
	status := func(d string) { k("rollout", "status", "deployment/"+d, "--timeout", "20m") }
	switch b.op {
	case "rollout":
		k("set", "image", "deployment/"+name, "app="+img)
		status(name)
	case "bluegreen":
		live := output(*kubectl, "-n", *ns, "get", "service", name, "-o", "jsonpath={.spec.selector.version}")
		idle := map[string]string{"blue": "green", "green": "blue"}[live]
		if idle == "" {
			fail("service %s selects version %q", name, live)
		}
		k("set", "image", "deployment/"+name+"-"+idle, "app="+img)
		k("scale", "deployment/"+name+"-"+idle, "--replicas", strconv.Itoa(b.n))
		status(name + "-" + idle)
		k("patch", "service", name, "-p", `{"spec":{"selector":{"version":"`+idle+`"}}}`)
		k("scale", "deployment/"+name+"-"+live, "--replicas", "0")
	case "canary":
		canary := name + "-canary"
		grown := 0
		for _, w := range []int{10, 50, 100} {
			c := int(math.Ceil(float64(b.n) * float64(w) / 100))
			if grown == 0 {
				// the canary: the stable's template with the new image
				// and a track label, as many replicas as the step needs
				must(apply(manifest(canary, name, c, img, map[string]string{"track": "canary"})))
			} else {
				k("scale", "deployment/"+canary, "--replicas", strconv.Itoa(c))
			}
			grown = c
			status(canary)
			k("scale", "deployment/"+name, "--replicas", strconv.Itoa(b.n-c))
			status(name)
		}
		k("set", "image", "deployment/"+name, "app="+img)
		k("scale", "deployment/"+name, "--replicas", strconv.Itoa(b.n))
		status(name)
		k("delete", "deployment", canary)
	}
}

// manifest is a Deployment NAME of the app SERVICE (and, when extra is nil,
// its Service): maxSurge 10%, maxUnavailable 0, a readiness probe, a
// preStop sleep and a grace long enough for it, as a zero-downtime release
// needs. extra labels go on the selector and the pods.
func manifest(name, service string, replicas int, image string, extra map[string]string) string {
	labels := map[string]string{"app": service}
	for k, v := range extra {
		labels[k] = v
	}
	var keys []string
	for k := range labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var sel []string
	for _, k := range keys {
		sel = append(sel, fmt.Sprintf("%s: %s", k, labels[k]))
	}
	l := "{" + strings.Join(sel, ", ") + "}"
	m := fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: %s
  labels: {bench: %s}
spec:
  replicas: %d
  selector: {matchLabels: %s}
  strategy: {type: RollingUpdate, rollingUpdate: {maxUnavailable: 0, maxSurge: 10%%}}
  template:
    metadata:
      labels: %s
    spec:
      terminationGracePeriodSeconds: 15
      containers:
      - name: app
        image: %s
        ports: [{name: http, containerPort: 8080}]
        readinessProbe: {httpGet: {path: /healthz, port: http}, periodSeconds: 2, failureThreshold: 2}
        lifecycle: {preStop: {sleep: {seconds: 5}}}
        resources: {requests: {cpu: 10m, memory: 16Mi}, limits: {memory: 64Mi}}
`, name, service, replicas, l, l, image)
	if extra == nil {
		m += fmt.Sprintf(`---
apiVersion: v1
kind: Service
metadata:
  name: %s
  labels: {bench: %s}
spec:
  selector: {app: %s}
  ports: [{name: http, port: 80, targetPort: http}]
`, service, service, service)
	}
	return m
}

func apply(manifest string) error {
	cmd := exec.Command(*kubectl, "-n", *ns, "apply", "-f", "-")
	cmd.Stdin = strings.NewReader(manifest)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("kubectl apply: %v\n%s", err, out)
	}
	return nil
}

// run runs a command; ru, when not nil, receives its resource usage.
func run(ru *syscall.Rusage, name string, args ...string) error {
	cmd := exec.Command(name, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if ru != nil && cmd.ProcessState != nil {
		if u, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			*ru = *u
		}
	}
	if err != nil {
		return fmt.Errorf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out.String())
	}
	return nil
}

func output(name string, args ...string) string {
	out, err := exec.Command(name, args...).Output()
	if err != nil {
		fail("%s %s: %v", name, strings.Join(args, " "), err)
	}
	return strings.TrimSpace(string(out))
}

// event is the part of an audit event that is counted.
type event struct {
	UserAgent string    `json:"userAgent"`
	Verb      string    `json:"verb"`
	Received  time.Time `json:"requestReceivedTimestamp"`
	ObjectRef *struct {
		Resource    string `json:"resource"`
		Subresource string `json:"subresource"`
	} `json:"objectRef"`
}

// countRequests counts the audit log's requests whose user agent starts
// with ua and that the API server received between from and to. The log
// is written when each request completes (the policy omits the other
// stages), so a watch the command held to its end is there once it ended.
// The API server rotates its audit log at 100 MB (its default size limit),
// which a run at 1,000 replicas passes: the rotated files (NAME-TIME.EXT
// beside it) are read too.
func countRequests(path, ua string, from, to time.Time) (int, map[string]int) {
	ext := filepath.Ext(path)
	rotated, _ := filepath.Glob(strings.TrimSuffix(path, ext) + "-*" + ext)
	n, by := 0, map[string]int{}
	for _, p := range append(rotated, path) {
		countFile(p, ua, from, to, &n, by)
	}
	return n, by
}

func countFile(path, ua string, from, to time.Time, n *int, by map[string]int) {
	f, err := os.Open(path)
	if err != nil {
		fail("audit log: %v", err)
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 1<<20)
	for {
		line, err := r.ReadBytes('\n')
		if len(line) > 0 && bytes.Contains(line, []byte(ua)) {
			var e event
			if json.Unmarshal(line, &e) == nil && strings.HasPrefix(e.UserAgent, ua) &&
				!e.Received.Before(from) && !e.Received.After(to) {
				*n++
				call := e.Verb
				if e.ObjectRef != nil {
					call += " " + e.ObjectRef.Resource
					if e.ObjectRef.Subresource != "" {
						call += "/" + e.ObjectRef.Subresource
					}
				}
				by[call]++
			}
		}
		if err == io.EOF {
			return
		}
		if err != nil {
			fail("audit log: %v", err)
		}
	}
}

func must(err error) {
	if err != nil {
		fail("%v", err)
	}
}

func fail(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "scale: "+format+"\n", a...)
	os.Exit(1)
}
