//go:build e2e

package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
)

// TestDryRunCanaryServer: --dry-run=server prints every step with what the
// API server said of each write (sent with dryRun=All) and changes
// nothing: every resourceVersion in the namespace is as before, and no
// canary Deployment or Lease exists.
func TestDryRunCanaryServer(t *testing.T) {
	t.Parallel()
	env := canaryApp(t, 4)
	before := env.snapshot()
	r := env.Zdd("canary", "deployment/web", "--image", "app="+canaryV2, "--steps", "25,50,100", "--pause", "1m", "--dry-run=server")
	wantCode(t, "canary --dry-run=server", r, 0)
	for _, want := range []string{
		`Plan for the canary release of deployment "` + env.NS + `/web" (dry run: server); nothing was changed.`,
		`weight 25%: create deployment "` + env.NS + `/web-canary" (images app=` + canaryV2 + `, pods labelled track=canary) with 1 replicas, wait until they are ready [server accepted]`,
		`then deployment "` + env.NS + `/web" to 3 replicas, wait until it settles [server accepted]`,
		`weight 50%: deployment "` + env.NS + `/web-canary" to 2 replicas`,
		`roll deployment "` + env.NS + `/web" to the canary's pod template (maxUnavailable 0) [server accepted]`,
	} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("plan lacks %q", want)
		}
	}
	if diff := cmp.Diff(before, env.snapshot()); diff != "" {
		t.Errorf("the dry run changed the namespace (-before +after):\n%s", diff)
	}
	// a write the API server refuses (a quota of one Deployment: admission
	// runs under dryRun=All too) is reported in the plan; nothing changed
	env.Apply("apiVersion: v1\nkind: ResourceQuota\nmetadata:\n  name: one-deployment\nspec:\n  hard:\n    count/deployments.apps: \"1\"\n")
	before = env.snapshot()
	r = env.Zdd("canary", "deployment/web", "--image", "app="+canaryV2, "--weight", "10", "--dry-run=server")
	wantCode(t, "canary --dry-run=server over a quota", r, 1)
	if !strings.Contains(r.Stdout, `with 1 replicas, wait until they are ready [server refused:`) {
		t.Errorf("the server's refusal of the canary deployment is not in the plan")
	}
	if diff := cmp.Diff(before, env.snapshot()); diff != "" {
		t.Errorf("the refused dry run changed the namespace (-before +after):\n%s", diff)
	}
}

// TestDryRunBlueGreenServer: --dry-run=server of init, deploy, promote and
// rollback prints each plan with the API server's answer to each write
// (the colour Deployment, the selector patches, the scaling) and changes
// nothing: every resourceVersion in the namespace is as before each run.
func TestDryRunBlueGreenServer(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	env.Apply(appManifest(AppSpec{Replicas: 2}))
	env.RolloutStatus("web", 2*time.Minute)
	dry := func(what string, args []string, want ...string) {
		t.Helper()
		before := env.snapshot()
		r := env.Zdd(append(args, "--dry-run=server")...)
		wantCode(t, what, r, 0)
		for _, w := range want {
			if !strings.Contains(r.Stdout, w) {
				t.Errorf("%s: plan lacks %q", what, w)
			}
		}
		if diff := cmp.Diff(before, env.snapshot()); diff != "" {
			t.Errorf("%s changed the namespace (-before +after):\n%s", what, diff)
		}
	}
	ns := env.NS
	dry("init --dry-run=server", []string{"bluegreen", "init", "service/web"},
		`create deployment "`+ns+`/web-blue" as a copy of "web" whose selector and pods carry version=blue (2 replicas), wait until it is fully ready [server accepted]`,
		`from (no colour) to blue, wait until its endpoints list only blue pods [server accepted]`,
		`scale deployment "`+ns+`/web" to 0 (the original, no longer selected) [server accepted]`)
	wantCode(t, "bluegreen init", env.Zdd("bluegreen", "init", "service/web", "--timeout", "2m"), 0)
	// the original's scale-down settles before the next snapshot
	env.waitDeployment("web", "scaled to 0", func(d *appsv1.Deployment) bool {
		return d.Status.ObservedGeneration == d.Generation && d.Status.Replicas == 0
	})

	dry("deploy --dry-run=server", []string{"bluegreen", "deploy", "service/web", "--image", "app=registry.example/web:v2"},
		`create deployment "`+ns+`/web-green" of colour green (app=registry.example/web:v2, 2 replicas) [server accepted]`,
		`from blue to green, wait until its endpoints list only green pods [server accepted]`,
		`scale deployment "`+ns+`/web-blue" to 0 after 0s (colour blue) [server accepted]`)
	wantCode(t, "bluegreen deploy --manual-promote", env.Zdd("bluegreen", "deploy", "service/web", "--image", "app=registry.example/web:v2", "--manual-promote", "--timeout", "2m"), 0)

	dry("promote --dry-run=server", []string{"bluegreen", "promote", "service/web"},
		`from blue to green, wait until its endpoints list only green pods [server accepted]`)
	dry("rollback --dry-run=server", []string{"bluegreen", "rollback", "service/web"},
		`colour green has 2 replicas: wait until it is fully ready`,
		`from blue to green, wait until its endpoints list only green pods [server accepted]`)
}
