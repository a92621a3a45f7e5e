//go:build e2e

// Package e2e runs the built kubectl-zdd binary through the real kubectl
// against a real API server: the cluster named by KUBECONFIG, or else the
// local test cluster that hack/cluster.sh brings up (or reuses).
package e2e

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/zdd-dev/kubectl-zdd/pkg/state"
)

// testHooksTag is the build tag that compiles the test-only hooks
// (state.KillAtPhaseEnv, plugin.SwitchPauseEnv) into the binary under test.
const testHooksTag = "zddtesthooks"

// Set up once by TestMain.
var (
	// repoRoot is the repository's top directory.
	repoRoot string
	// kubeconfigPath is the kubeconfig every command and client uses.
	kubeconfigPath string
	// kubectlPath is the real kubectl the tests drive.
	kubectlPath string
	// pluginDir holds the freshly built kubectl-zdd; it comes first on PATH.
	pluginDir string
	// restConfig is the client configuration from kubeconfigPath.
	restConfig *rest.Config
)

func TestMain(m *testing.M) {
	code, err := setup(m)
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e setup: %v\n", err)
		os.Exit(1)
	}
	os.Exit(code)
}

func setup(m *testing.M) (int, error) {
	wd, err := os.Getwd()
	if err != nil {
		return 0, err
	}
	repoRoot = filepath.Clean(filepath.Join(wd, "..", ".."))

	if os.Getenv("ZDD_E2E_CLUSTER") == "kind" {
		// a kind cluster of the suite's own (Docker needed; untested on the
		// machines this project is built on): the traffic suite runs there
		kc, cleanup, err := createKindCluster()
		if err != nil {
			return 0, err
		}
		defer cleanup()
		kubeconfigPath = kc
	} else if kc := os.Getenv("KUBECONFIG"); kc != "" {
		// a cluster chosen by the caller (kind on a laptop, or the shared
		// local one); it is never started or stopped here
		kubeconfigPath = kc
	} else {
		// bring up the local cluster, or reuse the running one; it is left
		// running afterwards, since others may be using it
		cmd := exec.Command(filepath.Join(repoRoot, "hack", "cluster.sh"), "up")
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return 0, fmt.Errorf("hack/cluster.sh up: %w", err)
		}
		kubeconfigPath = filepath.Join(repoRoot, ".cluster", "kubeconfig")
	}

	if p, err := exec.LookPath("kubectl"); err == nil {
		kubectlPath = p
	} else if p := filepath.Join(repoRoot, "bin", "kubectl"); isExecutable(p) {
		kubectlPath = p
	} else {
		return 0, fmt.Errorf("no kubectl on PATH and no %s (run make tools)", p)
	}

	pluginDir, err = os.MkdirTemp("", "zdd-e2e-bin-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(pluginDir)
	// the test-only hooks (kill at a phase, pause before a switch) are in a
	// binary built with this tag only; release builds leave them out
	bin := filepath.Join(pluginDir, "kubectl-zdd")
	build := exec.Command("go", "build", "-tags", testHooksTag, "-o", bin, "./cmd/kubectl-zdd")
	build.Dir = repoRoot
	if out, err := build.CombinedOutput(); err != nil {
		return 0, fmt.Errorf("building kubectl-zdd: %w\n%s", err, out)
	}
	if data, err := os.ReadFile(bin); err != nil || !bytes.Contains(data, []byte(state.KillAtPhaseEnv)) {
		return 0, fmt.Errorf("the kubectl-zdd built with -tags %s does not honour %s: the crash tests could not kill it (%v)", testHooksTag, state.KillAtPhaseEnv, err)
	}

	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = ""
	rules.Precedence = filepath.SplitList(kubeconfigPath)
	restConfig, err = clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{}).ClientConfig()
	if err != nil {
		return 0, fmt.Errorf("loading kubeconfig %s: %w", kubeconfigPath, err)
	}
	restConfig.QPS, restConfig.Burst = 200, 400
	return m.Run(), nil
}

func isExecutable(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir() && st.Mode()&0o111 != 0
}

// commandEnv is the environment of every kubectl and kubectl zdd run: a
// clean one, as krew's tests do, with the built plugin first on PATH.
func commandEnv(extra ...string) []string {
	path := []string{pluginDir, filepath.Dir(kubectlPath), "/usr/local/bin", "/usr/bin", "/bin"}
	env := []string{
		"PATH=" + strings.Join(path, string(os.PathListSeparator)),
		"KUBECONFIG=" + kubeconfigPath,
		"HOME=" + os.Getenv("HOME"),
	}
	if tmp := os.Getenv("TMPDIR"); tmp != "" {
		env = append(env, "TMPDIR="+tmp)
	}
	return append(env, extra...)
}

// createKindCluster creates the kind cluster of ZDD_E2E_CLUSTER=kind through
// test/kind (kind's Go API, a module of its own), with the test images
// loaded and the real-node facts published; it is deleted at the end unless
// ZDD_KEEP_KIND=1.
func createKindCluster() (kubeconfig string, cleanup func(), err error) {
	images := exec.Command(filepath.Join(repoRoot, "hack", "build-tools.sh"), "images")
	images.Stdout, images.Stderr = os.Stderr, os.Stderr
	if err := images.Run(); err != nil {
		return "", nil, fmt.Errorf("building the test images: %w", err)
	}
	const name = "zdd-e2e-kind"
	kubeconfig = filepath.Join(repoRoot, ".cluster", "kubeconfig-kind")
	kind := func(args ...string) error {
		cmd := exec.Command("go", append([]string{"run", "."}, args...)...)
		cmd.Dir = filepath.Join(repoRoot, "test", "kind")
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		return cmd.Run()
	}
	if err := kind("create", "-name", name, "-images", filepath.Join(repoRoot, "bin", "images.tar"), "-kubeconfig", kubeconfig); err != nil {
		return "", nil, fmt.Errorf("creating the kind cluster: %w", err)
	}
	return kubeconfig, func() {
		if os.Getenv("ZDD_KEEP_KIND") == "1" {
			return
		}
		if err := kind("delete", "-name", name, "-kubeconfig", kubeconfig); err != nil {
			fmt.Fprintf(os.Stderr, "deleting the kind cluster: %v\n", err)
		}
	}, nil
}
