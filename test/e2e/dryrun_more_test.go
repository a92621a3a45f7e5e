//go:build e2e

package e2e

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
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
