// Command bgbench measures blue-green switch and rollback latency on a
// cluster, beside a plain `kubectl patch` of the Service selector measured
// in the same run. It is run by bench/bluegreen.sh.
//
// In its own namespace it creates a Service and two ready colours, then for
// each of -runs rounds:
//
//   - switch:   `kubectl zdd bluegreen promote` (blue -> green, blue retired)
//   - rollback: `kubectl zdd bluegreen rollback` (blue scaled up, switched back)
//   - plain:    `kubectl patch` of the selector to green and back, both
//     colours up, as a baseline.
//
// Latency is "patch sent -> EndpointSlices list only the new colour's pods,
// all ready". For kubectl zdd the patch time and the convergence are the
// ones the command reports itself ("..., Xms after the patch"); for kubectl
// patch, the patch time is read from kubectl's own -v=6 request log (the
// response time minus the round trip) and convergence is seen by this
// program's own EndpointSlice watch, started before kubectl. The
// wall time of each whole command (start -> convergence seen here) is printed
// too.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"

	"github.com/zdd-dev/kubectl-zdd/pkg/kube"
	"github.com/zdd-dev/kubectl-zdd/pkg/traffic"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bgbench:", err)
		os.Exit(1)
	}
}

var afterPatch = regexp.MustCompile(`endpoints list only \S+ pods, ([0-9.]+(?:ms|s|µs)) after the patch`)

type sample struct{ latency, wall time.Duration }

func run() error {
	kubeconfig := flag.String("kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig of the cluster")
	runs := flag.Int("runs", 20, "rounds of each measurement")
	replicas := flag.Int("replicas", 3, "replicas of each colour")
	keep := flag.Bool("keep", false, "keep the namespace afterwards")
	flag.Parse()

	cfg, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		return err
	}
	cfg.QPS, cfg.Burst = 100, 200
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	ctx := context.Background()
	ns := fmt.Sprintf("zdd-bench-bg-%d", time.Now().Unix())
	if _, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		return err
	}
	if !*keep {
		defer client.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{})
	}
	if err := setup(ctx, client, ns, int32(*replicas)); err != nil {
		return err
	}
	kubectl := func(args ...string) (string, error) {
		cmd := exec.Command("kubectl", append(args, "-n", ns, "--kubeconfig", *kubeconfig)...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			return string(out), fmt.Errorf("kubectl %s: %w\n%s", strings.Join(args, " "), err, out)
		}
		return string(out), nil
	}
	sel := func(c string) map[string]string { return map[string]string{"app": "web", "version": c} }
	waitConv := func(c string) (time.Time, error) {
		wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		defer cancel()
		return traffic.WaitConverged(wctx, client, ns, "web", sel(c), *replicas)
	}
	zdd := func(colour string, args ...string) (sample, error) {
		start := time.Now()
		out, err := kubectl(append([]string{"zdd", "bluegreen"}, args...)...)
		if err != nil {
			return sample{}, err
		}
		seen, err := waitConv(colour)
		if err != nil {
			return sample{}, err
		}
		m := afterPatch.FindStringSubmatch(out)
		if m == nil {
			return sample{}, fmt.Errorf("no latency in the output of kubectl zdd bluegreen %s:\n%s", strings.Join(args, " "), out)
		}
		d, err := time.ParseDuration(m[1])
		if err != nil {
			return sample{}, err
		}
		return sample{latency: d, wall: seen.Sub(start)}, nil
	}
	plain := func(colour string) (sample, error) {
		type conv struct {
			at  time.Time
			err error
		}
		ch := make(chan conv, 1)
		go func() { at, err := waitConv(colour); ch <- conv{at, err} }()
		start := time.Now()
		out, err := kubectl("patch", "service", "web", "--type", "merge", "-v=6", "-p", fmt.Sprintf(`{"spec":{"selector":{"version":%q}}}`, colour))
		if err != nil {
			return sample{}, err
		}
		sent, err := patchSent(out, start)
		if err != nil {
			return sample{}, err
		}
		c := <-ch
		if c.err != nil {
			return sample{}, c.err
		}
		return sample{latency: c.at.Sub(sent), wall: c.at.Sub(start)}, nil
	}

	var sw, rb, pl []sample
	for i := 0; i < *runs; i++ {
		s, err := zdd("green", "promote", "service/web")
		if err != nil {
			return fmt.Errorf("round %d, switch: %w", i+1, err)
		}
		sw = append(sw, s)
		s, err = zdd("blue", "rollback", "service/web")
		if err != nil {
			return fmt.Errorf("round %d, rollback: %w", i+1, err)
		}
		rb = append(rb, s)
		// both colours are up now (rollback leaves green up): the baseline
		for _, c := range []string{"green", "blue"} {
			s, err := plain(c)
			if err != nil {
				return fmt.Errorf("round %d, kubectl patch: %w", i+1, err)
			}
			pl = append(pl, s)
		}
		fmt.Fprintf(os.Stderr, "round %d/%d: switch %s, rollback %s, kubectl patch %s / %s\n", i+1, *runs,
			sw[i].latency.Round(time.Millisecond), rb[i].latency.Round(time.Millisecond), pl[2*i].latency.Round(time.Millisecond), pl[2*i+1].latency.Round(time.Millisecond))
	}
	fmt.Printf("blue-green on %s, %d replicas per colour, median of %d (kubectl patch: of %d)\n", cfg.Host, *replicas, *runs, len(pl))
	fmt.Printf("%-42s %14s %14s\n", "", "patch->conv", "command wall")
	row := func(name string, s []sample) {
		fmt.Printf("%-42s %14s %14s\n", name, median(s, func(x sample) time.Duration { return x.latency }), median(s, func(x sample) time.Duration { return x.wall }))
	}
	row("kubectl zdd bluegreen promote (switch)", sw)
	row("kubectl zdd bluegreen rollback (scale-up)", rb)
	row("kubectl patch of the selector (baseline)", pl)
	ratio := func(a, b []sample) float64 {
		return float64(median(a, func(x sample) time.Duration { return x.latency })) / float64(median(b, func(x sample) time.Duration { return x.latency }))
	}
	fmt.Printf("switch / kubectl patch (patch->conv): %.2f; rollback / kubectl patch: %.2f\n", ratio(sw, pl), ratio(rb, pl))
	return nil
}

// kubectl -v=6 logs each request when its response arrives, with the
// round-trip time: "I1127 07:48:01.725635 ... PATCH https://... 200 OK in 7 milliseconds".
var patchLine = regexp.MustCompile(`(?m)^I(\d\d)(\d\d) (\d\d):(\d\d):(\d\d)\.(\d{6}) .*\bPATCH \S+ \d+ .* in (\d+) milliseconds`)

// patchSent is when kubectl sent its PATCH: the response time minus the
// round trip, read from its -v=6 log.
func patchSent(out string, ref time.Time) (time.Time, error) {
	m := patchLine.FindStringSubmatch(out)
	if m == nil {
		return time.Time{}, fmt.Errorf("no PATCH request in the kubectl -v=6 log:\n%s", out)
	}
	n := make([]int, len(m))
	for i := 1; i < len(m); i++ {
		fmt.Sscanf(m[i], "%d", &n[i])
	}
	at := time.Date(ref.Year(), time.Month(n[1]), n[2], n[3], n[4], n[5], n[6]*1000, time.Local)
	return at.Add(-time.Duration(n[7]) * time.Millisecond), nil
}

func median(s []sample, f func(sample) time.Duration) time.Duration {
	d := make([]time.Duration, len(s))
	for i, x := range s {
		d[i] = f(x)
	}
	slices.Sort(d)
	n := len(d)
	if n == 0 {
		return 0
	}
	if n%2 == 1 {
		return d[n/2].Round(time.Millisecond)
	}
	return ((d[n/2-1] + d[n/2]) / 2).Round(time.Millisecond)
}

// setup creates Service web on blue and Deployments web-blue and web-green,
// and waits until both are ready.
func setup(ctx context.Context, client kubernetes.Interface, ns string, replicas int32) error {
	for _, c := range []string{"blue", "green"} {
		l := map[string]string{"app": "web", "version": c}
		d := &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Name: "web-" + c},
			Spec: appsv1.DeploymentSpec{
				Replicas: ptr.To(replicas),
				Selector: &metav1.LabelSelector{MatchLabels: l},
				Template: corev1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Labels: l},
					Spec: corev1.PodSpec{
						TerminationGracePeriodSeconds: ptr.To[int64](1),
						Containers: []corev1.Container{{Name: "app", Image: "registry.example/web:" + c,
							Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}},
							ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromString("http")}},
								PeriodSeconds: 2}}},
					},
				},
			},
		}
		if _, err := client.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
			return err
		}
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "web", "version": "blue"},
			Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http")}}},
	}
	if _, err := client.CoreV1().Services(ns).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	for _, c := range []string{"blue", "green"} {
		if _, err := kube.WaitForDeployment(wctx, client, ns, "web-"+c, nil, nil); err != nil {
			return err
		}
	}
	return nil
}
