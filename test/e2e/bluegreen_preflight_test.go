//go:build e2e

package e2e

import (
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestBlueGreenPreflightAndFix: a blue-green deploy whose new colour would
// run a container with no preStop hook behind the Service is refused
// before any write (exit 2, naming --fix and --force; the Service's and
// the live colour's resourceVersions unchanged, no new colour, no preview
// Service); with --fix the new colour gets the preStop sleep (printed and
// recorded on the Service) and the deploy switches to it; --force releases
// a template the preflight refuses.
func TestBlueGreenPreflightAndFix(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	d := appDeployment(AppSpec{Name: "web", Replicas: bgReplicas, NoPreStop: true, PodLabels: map[string]string{"version": "blue"}})
	d.Name = "web-blue"
	d.Spec.Selector.MatchLabels["version"] = "blue"
	s := appService(AppSpec{Name: "web", ServiceSelector: map[string]string{"app": "web", "version": "blue"}})
	e.Apply(toYAML(d, s))
	e.RolloutStatus("web-blue", 2*time.Minute)

	svcRV := func() string {
		t.Helper()
		svc, err := e.Client.CoreV1().Services(e.NS).Get(e.Ctx, "web", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return svc.ResourceVersion
	}
	beforeSvc, beforeDep := svcRV(), getDeployment(e, "web-blue").ResourceVersion
	r := e.Zdd("bluegreen", "deploy", "service/web", "--image", "app=registry.example/web:v2", "--timeout", "2m")
	wantCode(t, "bluegreen deploy of a template with no preStop", r, 2)
	for _, want := range []string{"prestop-missing", "colour green", "--fix", "--force", "nothing was changed"} {
		if !strings.Contains(r.Stdout+r.Stderr, want) {
			t.Errorf("the refusal does not name %q:\n%s", want, r)
		}
	}
	if after := svcRV(); after != beforeSvc {
		t.Errorf("a refused deploy changed service web: resourceVersion %s -> %s", beforeSvc, after)
	}
	if after := getDeployment(e, "web-blue").ResourceVersion; after != beforeDep {
		t.Errorf("a refused deploy changed deployment web-blue: resourceVersion %s -> %s", beforeDep, after)
	}
	if _, err := e.Client.AppsV1().Deployments(e.NS).Get(e.Ctx, "web-green", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("a refused deploy created the new colour (get: %v)", err)
	}
	if _, err := e.Client.CoreV1().Services(e.NS).Get(e.Ctx, "web-preview", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("a refused deploy created the preview Service (get: %v)", err)
	}

	r = e.Zdd("bluegreen", "deploy", "service/web", "--image", "app=registry.example/web:v2", "--timeout", "2m", "--fix")
	wantCode(t, "bluegreen deploy --fix", r, 0)
	if !strings.Contains(r.Stdout, `fix: service "`+e.NS+`/web": added a preStop sleep of 5s`) {
		t.Errorf("the fix is not printed:\n%s", r.Stdout)
	}
	c := getDeployment(e, "web-green").Spec.Template.Spec.Containers[0]
	if c.Image != "registry.example/web:v2" || c.Lifecycle == nil || c.Lifecycle.PreStop == nil || c.Lifecycle.PreStop.Sleep == nil {
		t.Errorf("the new colour's container %+v: want the new image with a preStop sleep", c)
	}
	svc, err := e.Client.CoreV1().Services(e.NS).Get(e.Ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if svc.Spec.Selector["version"] != "green" {
		t.Errorf("after deploy --fix the Service selects %v, want version green", svc.Spec.Selector)
	}
	if !strings.Contains(svc.Annotations["zdd.dev/param.fixes"], "preStop") || svc.Annotations["zdd.dev/param.fix"] != "true" {
		t.Errorf("the fixes are not recorded on the Service: %v", svc.Annotations)
	}

	// --force: a template the preflight refuses goes out, saying so
	naive := appDeployment(AppSpec{Name: "web", Replicas: bgReplicas, NoPreStop: true, Image: "registry.example/web:v3"})
	file := writeTemp(t, "naive.yaml", toYAML(naive))
	r = e.Zdd("bluegreen", "deploy", "service/web", "-f", file, "--timeout", "2m", "--force")
	wantCode(t, "bluegreen deploy --force", r, 0)
	if !strings.Contains(r.Stdout, "going on despite 1 errors (--force)") {
		t.Errorf("--force does not say it goes on despite the findings:\n%s", r.Stdout)
	}
	if c := getDeployment(e, "web-blue").Spec.Template.Spec.Containers[0]; c.Image != "registry.example/web:v3" || c.Lifecycle != nil && c.Lifecycle.PreStop != nil {
		t.Errorf("the new colour after --force: image %q, lifecycle %+v; want v3 as given, no preStop", c.Image, c.Lifecycle)
	}
}
