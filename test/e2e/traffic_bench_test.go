//go:build e2e && trafficbench

package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/zdd-dev/kubectl-zdd/test/meter"
)

// TestTrafficBench is bench/traffic.sh's matrix (built only with the
// trafficbench tag, never by CI's test run): each strategy released with
// plain kubectl and with kubectl zdd, on the naive and on the zero-downtime
// manifest, ZDD_TRAFFIC_RUNS times each (default 3), under the meter. Each
// run appends one JSON line to $ZDD_TRAFFIC_BENCH_OUT.
func TestTrafficBench(t *testing.T) {
	out := os.Getenv("ZDD_TRAFFIC_BENCH_OUT")
	if out == "" {
		t.Fatal("ZDD_TRAFFIC_BENCH_OUT must name the file the results go to (bench/traffic.sh sets it)")
	}
	runs := 3
	if s := os.Getenv("ZDD_TRAFFIC_RUNS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("ZDD_TRAFFIC_RUNS=%q: want a positive number", s)
		}
		runs = n
	}
	manifests := []struct {
		name string
		spec func() AppSpec
	}{{"naive", naiveApp}, {"zero-downtime", zddApp}}
	for _, st := range benchStrategies {
		for _, m := range manifests {
			for _, tool := range []string{"kubectl", "kubectl zdd"} {
				for i := 1; i <= runs; i++ {
					t.Run(fmt.Sprintf("%s/%s/%s/%d", st.name, m.name, tool, i), func(t *testing.T) {
						e := newEnv(t)
						node := needRealNode(t, e.Client, localClusterName())
						benchSpecs[e.NS] = m.spec()
						st.setup(e, m.spec())
						tr := e.StartTraffic(node, "web", meter.Options{})
						time.Sleep(3 * time.Second)
						start := time.Now()
						code := st.release[tool](e)
						took := time.Since(start)
						rep := tr.Stop(minTrafficDuration)
						writeBenchLine(t, out, benchLine{Strategy: st.name, Manifest: m.name, Tool: tool, Run: i,
							Exit: code, Seconds: took.Seconds(), Sent: rep.NewConn.Sent, Failed: rep.NewConn.Failed,
							ByKind: rep.NewConn.ByKind, P99ms: float64(rep.NewConn.P99.Microseconds()) / 1000})
					})
				}
			}
		}
	}
}

type benchLine struct {
	Strategy, Manifest, Tool string
	Run, Exit                int
	Seconds                  float64
	Sent, Failed             int
	ByKind                   map[string]int
	P99ms                    float64
}

func writeBenchLine(t *testing.T, path string, l benchLine) {
	b, err := json.Marshal(l)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(append(b, '\n')); err != nil {
		t.Fatal(err)
	}
	t.Logf("bench: %+v", l)
}

// benchStrategy is one way of releasing v2, by plain kubectl (what people
// script by hand) and by kubectl zdd; release returns the exit code.
type benchStrategy struct {
	name    string
	setup   func(e *Env, s AppSpec)
	release map[string]func(e *Env) int
}

var benchStrategies = []benchStrategy{
	{
		name:  "rolling",
		setup: func(e *Env, s AppSpec) { startRealApp(e, s) },
		release: map[string]func(e *Env) int{
			"kubectl": func(e *Env) int {
				e.MustKubectl("set", "image", "deployment/web", "app="+realImage("v2"))
				return e.Kubectl("rollout", "status", "deployment/web", "--timeout", "2m").Code
			},
			"kubectl zdd": func(e *Env) int {
				return e.Zdd("rollout", "deployment/web", "--image", "app="+realImage("v2"), "--timeout", "2m").Code
			},
		},
	},
	{
		// both start from the blue-green layout: web-blue behind a Service
		// selecting app=web,version=blue
		name:  "blue-green",
		setup: startRealBlueGreen,
		release: map[string]func(e *Env) int{
			"kubectl": func(e *Env) int {
				green := realColour(e, "green", realImage("v2"))
				e.Apply(green)
				if r := e.Kubectl("rollout", "status", "deployment/web-green", "--timeout", "2m"); r.Code != 0 {
					return r.Code
				}
				e.MustKubectl("patch", "service", "web", "-p", `{"spec":{"selector":{"version":"green"}}}`)
				return e.Kubectl("scale", "deployment/web-blue", "--replicas", "0").Code
			},
			"kubectl zdd": func(e *Env) int {
				return e.Zdd("bluegreen", "deploy", "service/web", "--image", "app="+realImage("v2"), "--timeout", "2m").Code
			},
		},
	},
	{
		name:  "canary",
		setup: func(e *Env, s AppSpec) { startRealApp(e, s) },
		release: map[string]func(e *Env) int{
			// a third of the pods on v2, then all of them
			"kubectl": func(e *Env) int {
				c := appDeployment(benchSpec(e))
				c.Name = "web-canary"
				c.Spec.Replicas = ptrInt32(1)
				c.Spec.Template.Spec.Containers[0].Image = realImage("v2")
				c.Spec.Selector.MatchLabels["track"] = "canary"
				c.Spec.Template.Labels["track"] = "canary"
				e.Apply(toYAML(c))
				if r := e.Kubectl("rollout", "status", "deployment/web-canary", "--timeout", "2m"); r.Code != 0 {
					return r.Code
				}
				e.MustKubectl("scale", "deployment/web", "--replicas", "2")
				time.Sleep(3 * time.Second)
				e.MustKubectl("scale", "deployment/web", "--replicas", "3")
				e.MustKubectl("set", "image", "deployment/web", "app="+realImage("v2"))
				if r := e.Kubectl("rollout", "status", "deployment/web", "--timeout", "2m"); r.Code != 0 {
					return r.Code
				}
				return e.Kubectl("delete", "deployment", "web-canary").Code
			},
			"kubectl zdd": func(e *Env) int {
				return e.Zdd("canary", "deployment/web", "--image", "app="+realImage("v2"), "--steps", "34,100", "--pause", "3s", "--timeout", "3m").Code
			},
		},
	},
}

// benchSpecs remembers the app each bench namespace runs.
var benchSpecs = map[string]AppSpec{}

func benchSpec(e *Env) AppSpec { return benchSpecs[e.NS] }

func ptrInt32(n int32) *int32 { return &n }

// startRealBlueGreen deploys s as the blue colour of a blue-green layout.
func startRealBlueGreen(e *Env, s AppSpec) {
	e.T.Helper()
	s.Real = true
	e.Apply(realColour(e, "blue", realImage("v1")))
	svc := appService(AppSpec{Name: "web", ServiceSelector: map[string]string{"app": "web", "version": "blue"}})
	e.Apply(toYAML(svc))
	e.RolloutStatus("web-blue", 2*time.Minute)
	waitReadyEndpoints(e.T, e, "web", int(s.withDefaults().Replicas))
}

// realColour is the colour Deployment web-COLOUR of the bench's app.
func realColour(e *Env, colour, image string) string {
	s := benchSpecs[e.NS]
	s.Real, s.Image = true, image
	s.PodLabels = map[string]string{"version": colour}
	d := appDeployment(s)
	d.Name = "web-" + colour
	d.Spec.Selector.MatchLabels["version"] = colour
	return toYAML(d)
}
