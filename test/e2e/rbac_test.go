//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/zdd-dev/kubectl-zdd/pkg/state"
)

// rbacSA is the ServiceAccount the least-privilege tests run kubectl zdd as.
const rbacSA = "release"

// zddRole reads the Role of deploy/rbac.yaml.
func zddRole(t *testing.T) *rbacv1.Role {
	var role rbacv1.Role
	rbacObject(t, "Role", &role)
	return &role
}

// rbacObject decodes the first object of kind in deploy/rbac.yaml into out.
func rbacObject(t *testing.T, kind string, out any) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(repoRoot, "deploy", "rbac.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(raw), 4096)
	for {
		var obj map[string]any
		err := dec.Decode(&obj)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("deploy/rbac.yaml: %v", err)
		}
		if obj["kind"] == kind {
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(obj, out); err != nil {
				t.Fatalf("deploy/rbac.yaml: %s: %v", kind, err)
			}
			return
		}
	}
	t.Fatalf("deploy/rbac.yaml holds no %s", kind)
}

// withoutVerb returns a copy of role in which no rule grants verb on resource.
func withoutVerb(t *testing.T, role *rbacv1.Role, resource, verb string) *rbacv1.Role {
	t.Helper()
	out := role.DeepCopy()
	found := false
	for i, r := range out.Rules {
		if !slices.Contains(r.Resources, resource) || !slices.Contains(r.Verbs, verb) {
			continue
		}
		found = true
		// split the rule: the other resources keep the verb
		var others []string
		for _, res := range r.Resources {
			if res != resource {
				others = append(others, res)
			}
		}
		out.Rules[i].Resources = []string{resource}
		out.Rules[i].Verbs = slices.DeleteFunc(slices.Clone(r.Verbs), func(v string) bool { return v == verb })
		if len(others) > 0 {
			extra := *r.DeepCopy()
			extra.Resources = others
			out.Rules = append(out.Rules, extra)
		}
	}
	if !found {
		t.Fatalf("the role grants no %s on %s", verb, resource)
	}
	return out
}

// asServiceAccount creates ServiceAccount rbacSA bound to role in the test's
// namespace and returns the path of a kubeconfig that authenticates as it
// with a token from the TokenRequest API (`kubectl create token`).
func (e *Env) asServiceAccount(role *rbacv1.Role) string {
	e.T.Helper()
	ctx := e.Ctx
	role = role.DeepCopy()
	role.Namespace = e.NS
	role.ResourceVersion = ""
	if _, err := e.Client.RbacV1().Roles(e.NS).Create(ctx, role, metav1.CreateOptions{}); err != nil {
		e.T.Fatalf("creating role: %v", err)
	}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: rbacSA}}
	if _, err := e.Client.CoreV1().ServiceAccounts(e.NS).Create(ctx, sa, metav1.CreateOptions{}); err != nil {
		e.T.Fatalf("creating service account: %v", err)
	}
	rb := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: role.Name},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: role.Name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: rbacSA, Namespace: e.NS}},
	}
	if _, err := e.Client.RbacV1().RoleBindings(e.NS).Create(ctx, rb, metav1.CreateOptions{}); err != nil {
		e.T.Fatalf("creating role binding: %v", err)
	}
	r := e.MustKubectl("create", "token", rbacSA, "--duration", "1h")
	token := strings.TrimSpace(r.Stdout)

	cluster := clientcmdapi.NewCluster()
	cluster.Server = restConfig.Host
	cluster.CertificateAuthority = restConfig.CAFile
	cluster.CertificateAuthorityData = restConfig.CAData
	user := clientcmdapi.NewAuthInfo()
	user.Token = token
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["e2e"] = cluster
	cfg.AuthInfos[rbacSA] = user
	cfg.Contexts["sa"] = &clientcmdapi.Context{Cluster: "e2e", AuthInfo: rbacSA, Namespace: e.NS}
	cfg.CurrentContext = "sa"
	path := filepath.Join(e.T.TempDir(), "sa.kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		e.T.Fatal(err)
	}
	e.waitAllowed(role)
	return path
}

// waitAllowed waits until the authorizer grants the ServiceAccount the
// role's first rule (RBAC reaches the authorizer's cache a moment after the
// binding is created). Authorization has no watch, so this asks a
// SubjectAccessReview a few times.
func (e *Env) waitAllowed(role *rbacv1.Role) {
	e.T.Helper()
	rule := role.Rules[0]
	sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User:   "system:serviceaccount:" + e.NS + ":" + rbacSA,
		Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + e.NS, "system:authenticated"},
		ResourceAttributes: &authorizationv1.ResourceAttributes{
			Namespace: e.NS, Verb: rule.Verbs[0], Group: rule.APIGroups[0], Resource: rule.Resources[0],
		},
	}}
	err := wait.PollUntilContextTimeout(e.Ctx, 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		got, err := e.Client.AuthorizationV1().SubjectAccessReviews().Create(ctx, sar, metav1.CreateOptions{})
		if err != nil {
			return false, err
		}
		return got.Status.Allowed, nil
	})
	if err != nil {
		e.T.Fatalf("the service account was never granted %s %s: %v", rule.Verbs[0], rule.Resources[0], err)
	}
}

// zddAs runs kubectl zdd with the kubeconfig kc.
func (e *Env) zddAs(kc string, args ...string) CmdResult {
	e.T.Helper()
	return e.ZddWith(ZddOpts{Env: []string{"KUBECONFIG=" + kc}}, args...)
}

// TestRBACEveryStrategyAsServiceAccount runs lint (live), rollout, a canary
// release, resume and abort of a killed rollout, and a blue-green deploy as a
// ServiceAccount bound to exactly the Role of deploy/rbac.yaml: all succeed,
// with no dip in ready endpoints.
func TestRBACEveryStrategyAsServiceAccount(t *testing.T) {
	role := zddRole(t)
	t.Run("lint rollout canary", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		kc := e.asServiceAccount(role)
		startApp(e, AppSpec{})

		// lint reads, beside the workloads, their Ingresses, routes, pods
		// and Leases, and asks whether their ServiceAccounts may update
		// Leases: the Role allows all of it (no "cannot list" note).
		for _, args := range [][]string{{"lint", "deployment/web"}, {"lint", "deployments,services"}} {
			r := e.zddAs(kc, args...)
			if r.Code != 0 {
				t.Errorf("%s as the service account: %s", strings.Join(args, " "), r)
			}
			if strings.Contains(r.Stderr, "cannot ") {
				t.Errorf("%s as the service account was refused a read:\n%s", strings.Join(args, " "), r.Stderr)
			}
		}

		w := e.WatchDowntime("web")
		r := e.zddAs(kc, "rollout", "deployment/web", "--image", "app=registry.example/web:v2", "--timeout", "2m")
		rep := w.Stop()
		if r.Code != 0 {
			t.Fatalf("rollout as the service account: %s", r)
		}
		if got := imageOf(getDeployment(e, "web")); got != "registry.example/web:v2" {
			t.Errorf("after rollout image %q, want v2", got)
		}
		if rep.MinReady < rolloutReplicas {
			t.Errorf("rollout: ready endpoints fell to %d", rep.MinReady)
		}

		w = e.WatchDowntime("web")
		r = e.zddAs(kc, "canary", "deployment/web", "--image", "app=registry.example/web:v3", "--steps", "50,100", "--pause", "1s", "--timeout", "3m")
		rep = w.Stop()
		if r.Code != 0 {
			t.Fatalf("canary as the service account: %s", r)
		}
		if got := imageOf(getDeployment(e, "web")); got != "registry.example/web:v3" {
			t.Errorf("after canary image %q, want v3", got)
		}
		if rep.MinReady < rolloutReplicas {
			t.Errorf("canary: ready endpoints fell to %d", rep.MinReady)
		}

		// resume and abort of a rollout whose client died at phase watch
		for _, step := range []struct{ command, image, wantImage string }{
			{"resume", "registry.example/web:v4", "registry.example/web:v4"},
			{"abort", "registry.example/web:v5", "registry.example/web:v4"},
		} {
			killed := e.ZddWith(ZddOpts{Env: []string{"KUBECONFIG=" + kc, state.KillAtPhaseEnv + "=rollout:watch"}},
				"rollout", "deployment/web", "--image", "app="+step.image, "--timeout", "2m")
			if killed.Code != -1 {
				t.Fatalf("rollout as the service account was not killed at phase watch: %s", killed)
			}
			if r := e.zddAs(kc, step.command, "deployment/web", "--force-unlock", "--timeout", "2m"); r.Code != 0 {
				t.Fatalf("%s as the service account: %s", step.command, r)
			}
			if got := imageOf(getDeployment(e, "web")); got != step.wantImage {
				t.Errorf("after %s image %q, want %q", step.command, got, step.wantImage)
			}
		}
	})
	t.Run("bluegreen deploy", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		kc := e.asServiceAccount(role)
		e.Apply(blueGreenApp("registry.example/web:v1"))
		e.RolloutStatus("web-blue", 2*time.Minute)
		e.waitEndpoints("web", map[string]string{"app": "web", "version": "blue"}, bgReplicas)

		w := e.WatchDowntime("web")
		r := e.zddAs(kc, "bluegreen", "deploy", "service/web", "--image", "app=registry.example/web:v2", "--timeout", "2m")
		rep := w.Stop()
		if r.Code != 0 {
			t.Fatalf("bluegreen deploy as the service account: %s", r)
		}
		if got := e.serviceSelector("web")["version"]; got != "green" {
			t.Errorf("after deploy the service selects version=%q, want green", got)
		}
		if rep.MinReady < bgReplicas {
			t.Errorf("bluegreen: ready endpoints fell to %d", rep.MinReady)
		}
	})
}

// TestRBACMissingVerb removes one verb from the Role: the command exits
// non-zero with an error naming the verb and the resource, and leaves
// nothing half-done (the Deployment's and Service's resourceVersions are
// unchanged and no Lease is left).
func TestRBACMissingVerb(t *testing.T) {
	role := zddRole(t)
	tests := []struct {
		name           string
		resource, verb string
		args           []string
		wantInErr      []string
		// blueGreen starts the blue-green app (Service web, Deployment
		// web-blue) instead of the plain one; the lease is the Service's.
		blueGreen bool
	}{
		{
			name: "leases create", resource: "leases", verb: "create",
			args:      []string{"rollout", "deployment/web", "--image", "app=registry.example/web:v2", "--timeout", "1m"},
			wantInErr: []string{`cannot create resource "leases"`, "coordination.k8s.io"},
		},
		{
			name: "deployments patch", resource: "deployments", verb: "patch",
			args:      []string{"rollout", "deployment/web", "--image", "app=registry.example/web:v2", "--timeout", "1m"},
			wantInErr: []string{`cannot patch resource "deployments"`},
		},
		{
			name: "services patch", resource: "services", verb: "patch", blueGreen: true,
			args:      []string{"bluegreen", "deploy", "service/web", "--image", "app=registry.example/web:v2", "--timeout", "1m"},
			wantInErr: []string{`cannot patch resource "services"`},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			kc := e.asServiceAccount(withoutVerb(t, role, tc.resource, tc.verb))
			lease := state.LeaseName("deployment", "web")
			if tc.blueGreen {
				e.Apply(blueGreenApp("registry.example/web:v1"))
				e.RolloutStatus("web-blue", 2*time.Minute)
				lease = state.LeaseName("service", "web")
			} else {
				startApp(e, AppSpec{})
			}
			before := e.snapshot()

			r := e.zddAs(kc, tc.args...)
			t.Logf("stderr: %s", r.Stderr)
			if r.Code == 0 {
				t.Fatalf("want a non-zero exit without %s %s, got %s", tc.verb, tc.resource, r)
			}
			for _, s := range tc.wantInErr {
				if !strings.Contains(r.Stderr, s) {
					t.Errorf("stderr does not say %q:\n%s", s, r)
				}
			}
			if diff := diffSnapshots(before, e.snapshot()); diff != "" {
				t.Errorf("objects changed (-before +after):\n%s", diff)
			}
			_, err := e.Client.CoordinationV1().Leases(e.NS).Get(e.Ctx, lease, metav1.GetOptions{})
			if !apierrors.IsNotFound(err) {
				t.Errorf("a lease is left behind (err %v)", err)
			}
		})
	}
}

// zddClusterRole reads the ClusterRole of deploy/rbac.yaml.
func zddClusterRole(t *testing.T) *rbacv1.ClusterRole {
	var cr rbacv1.ClusterRole
	rbacObject(t, "ClusterRole", &cr)
	return &cr
}

// TestRBACAllNamespaces binds the ClusterRole of deploy/rbac.yaml (under a
// name of this test's own, removed afterwards) to a ServiceAccount that has
// no Role anywhere: `kubectl zdd status -A` and `kubectl zdd lint
// deployments -A` work with it, and a rollout is refused (the ClusterRole is
// read-only).
func TestRBACAllNamespaces(t *testing.T) {
	e := newEnv(t)
	startApp(e, AppSpec{})
	cr := zddClusterRole(t)
	cr.Name = "zdd-e2e-" + e.NS
	ctx := e.Ctx
	if _, err := e.Client.RbacV1().ClusterRoles().Create(ctx, cr, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = e.Client.RbacV1().ClusterRoles().Delete(context.Background(), cr.Name, metav1.DeleteOptions{})
		_ = e.Client.RbacV1().ClusterRoleBindings().Delete(context.Background(), cr.Name, metav1.DeleteOptions{})
	})
	crb := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: cr.Name},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: cr.Name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: rbacSA, Namespace: e.NS}},
	}
	if _, err := e.Client.RbacV1().ClusterRoleBindings().Create(ctx, crb, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// the ServiceAccount also gets an empty Role, so asServiceAccount's
	// plumbing (token, kubeconfig) is shared; the wait checks a ClusterRole rule
	empty := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "nothing"}, Rules: []rbacv1.PolicyRule{{APIGroups: []string{"apps"}, Resources: []string{"deployments"}, Verbs: []string{"list"}}}}
	kc := e.asServiceAccount(empty)

	r := e.zddAs(kc, "status", "-A")
	if r.Code != 0 || !strings.Contains(r.Stdout, "deployment/web") {
		t.Errorf("status -A with the ClusterRole: want exit 0 listing deployment/web, got %s", r)
	}
	r = e.zddAs(kc, "lint", "deployments", "-A")
	if r.Code != 0 && r.Code != 1 || !strings.Contains(r.Stdout, e.NS) {
		t.Errorf("lint deployments -A with the ClusterRole: want findings or none (exit 0 or 1) naming %s, got %s", e.NS, r)
	}
	if strings.Contains(r.Stderr, "forbidden") || strings.Contains(r.Stderr, "cannot ") {
		t.Errorf("lint -A was refused something:\n%s", r.Stderr)
	}
	before := e.snapshot()
	r = e.zddAs(kc, "rollout", "deployment/web", "--image", "app=registry.example/web:v2", "--timeout", "1m")
	if r.Code == 0 || !strings.Contains(r.Stderr, "forbidden") {
		t.Errorf("rollout with only the read-only ClusterRole: want a forbidden error, got %s", r)
	}
	if diff := diffSnapshots(before, e.snapshot()); diff != "" {
		t.Errorf("objects changed (-before +after):\n%s", diff)
	}
}

// TestRBACLintOlderRole: a user bound to an older Role, without the reads
// live lint added for issue 17 (Ingresses, LocalSubjectAccessReviews),
// still lints: exit 0 with the findings it can make, and a note for each
// read it was refused.
func TestRBACLintOlderRole(t *testing.T) {
	e := newEnv(t)
	role := withoutVerb(t, zddRole(t), "ingresses", "list")
	role.Rules = slices.DeleteFunc(role.Rules, func(r rbacv1.PolicyRule) bool {
		return slices.Contains(r.Resources, "localsubjectaccessreviews")
	})
	kc := e.asServiceAccount(role)
	e.Apply(gotchaDeployment("single", 1, "default", "", ""))
	e.RolloutStatus("single", 2*time.Minute)
	r := e.zddAs(kc, "lint", "deployment/single")
	if r.Code != 0 {
		t.Fatalf("lint with an older Role: %s", r)
	}
	for _, want := range []string{
		`note: cannot list ingresses in namespace "` + e.NS + `" (Forbidden)`,
		`note: cannot ask the API server whether ServiceAccount "default" may update Leases`,
	} {
		if !strings.Contains(r.Stderr, want) {
			t.Errorf("stderr does not say %q:\n%s", want, r.Stderr)
		}
	}
	if !strings.Contains(r.Stdout, "too-few-replicas") {
		t.Errorf("the findings it can make are missing:\n%s", r.Stdout)
	}
}
