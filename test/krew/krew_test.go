package krew

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/krew/pkg/index"
	"sigs.k8s.io/yaml"
)

// krewVersion is the krew whose validator and installer judge the manifest.
const krewVersion = "v0.4.3"

// testVersion is the version the release is built with in this test.
const testVersion = "v0.9.1-krewtest.1"

const baseURL = "https://github.com/zdd-dev/kubectl-zdd/releases/download/" + testVersion

var platforms = []struct{ os, arch string }{
	{"linux", "amd64"}, {"linux", "arm64"}, {"darwin", "amd64"}, {"darwin", "arm64"}, {"windows", "amd64"},
}

// release is built once for the whole test run: the cross-builds are the
// expensive part.
type release struct {
	dist, manifest, tools string
}

var built *release

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "hack", "release.sh")); err != nil {
		t.Fatalf("repository root not found from %s: %v", root, err)
	}
	return root
}

func run(t *testing.T, dir string, env []string, name string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = env
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	err := cmd.Run()
	return out.String(), err
}

func buildRelease(t *testing.T) *release {
	t.Helper()
	if built != nil {
		return built
	}
	root := repoRoot(t)
	tmp, err := os.MkdirTemp("", "zdd-krew-test-")
	if err != nil {
		t.Fatal(err)
	}
	tmpDirs = append(tmpDirs, tmp)
	r := &release{
		dist:     filepath.Join(tmp, "dist"),
		manifest: filepath.Join(tmp, "manifest", "zdd.yaml"), // krew infers the plugin name from the file name
		tools:    filepath.Join(tmp, "tools"),
	}
	env := append(os.Environ(), "DIST_DIR="+r.dist, "KREW_MANIFEST="+r.manifest)
	if out, err := run(t, root, env, "hack/release.sh", testVersion); err != nil {
		t.Fatalf("hack/release.sh %s: %v\n%s", testVersion, err, out)
	}
	// krew's own programs, exactly as a user gets them
	for _, prog := range []string{"krew", "validate-krew-manifest"} {
		env := append(os.Environ(), "GOBIN="+r.tools)
		if out, err := run(t, root, env, "go", "install", "sigs.k8s.io/krew/cmd/"+prog+"@"+krewVersion); err != nil {
			t.Fatalf("go install sigs.k8s.io/krew/cmd/%s@%s: %v\n%s", prog, krewVersion, err, out)
		}
	}
	// kubectl finds krew as the plugin kubectl-krew
	if err := os.Rename(filepath.Join(r.tools, "krew"), filepath.Join(r.tools, "kubectl-krew")); err != nil {
		t.Fatal(err)
	}
	built = r
	return r
}

var tmpDirs []string

func TestMain(m *testing.M) {
	code := m.Run()
	for _, d := range tmpDirs {
		_ = os.RemoveAll(d)
	}
	os.Exit(code)
}

func readManifest(t *testing.T, path string) index.Plugin {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var p index.Plugin
	if err := yaml.UnmarshalStrict(b, &p); err != nil {
		t.Fatalf("%s is not a krew manifest: %v", path, err)
	}
	return p
}

// validate runs krew's own manifest validator (structure, name, semantic
// version, sha256 form, selectors that match a platform, no overlaps).
func validate(t *testing.T, tools, manifest string) (string, error) {
	t.Helper()
	return run(t, filepath.Dir(manifest), []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.TempDir()},
		filepath.Join(tools, "validate-krew-manifest"), "-manifest", manifest, "-skip-install")
}

func TestManifestPassesKrewValidation(t *testing.T) {
	r := buildRelease(t)
	root := repoRoot(t)
	committed := filepath.Join(t.TempDir(), "zdd.yaml")
	b, err := os.ReadFile(filepath.Join(root, "plugins", "krew.yaml"))
	if err != nil {
		t.Fatalf("the rendered manifest plugins/krew.yaml is not in the repository: %v", err)
	}
	if err := os.WriteFile(committed, b, 0o644); err != nil {
		t.Fatal(err)
	}
	for name, path := range map[string]string{"rendered now": r.manifest, "plugins/krew.yaml": committed} {
		t.Run(name, func(t *testing.T) {
			if out, err := validate(t, r.tools, path); err != nil {
				t.Fatalf("krew's validator rejects the manifest: %v\n%s", err, out)
			}
		})
	}
}

// TestKrewValidatorCatchesBrokenManifests shows the validator above is not
// a formality: each broken variant of the rendered manifest is rejected.
func TestKrewValidatorCatchesBrokenManifests(t *testing.T) {
	r := buildRelease(t)
	good, err := os.ReadFile(r.manifest)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		old, new string
		wantErr  string
	}{
		{"wrong name", "name: zdd\n", "name: zdd2\n", `plugin should be named "zdd"`},
		{"not semver", "version: " + testVersion, "version: 0.9.1", "failed to parse plugin version"},
		{"bad sha256", "sha256: ", "sha256: abc", "`sha256` value"},
		{"unknown selector key", "os: linux\n", "osx: linux\n", `key "osx" not supported`},
		{"overlapping platforms", "arch: arm64\n", "arch: amd64\n", "overlapping"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !bytes.Contains(good, []byte(tt.old)) {
				t.Fatalf("the manifest has no %q to break", tt.old)
			}
			bad := bytes.Replace(good, []byte(tt.old), []byte(tt.new), 1)
			path := filepath.Join(t.TempDir(), "zdd.yaml")
			if err := os.WriteFile(path, bad, 0o644); err != nil {
				t.Fatal(err)
			}
			out, err := validate(t, r.tools, path)
			if err == nil {
				t.Fatalf("krew's validator accepted a manifest with %s", tt.name)
			}
			if !strings.Contains(out, tt.wantErr) {
				t.Errorf("validator output does not say %q:\n%s", tt.wantErr, out)
			}
		})
	}
}

func archiveName(os, arch string) string {
	ext := ".tar.gz"
	if os == "windows" {
		ext = ".zip"
	}
	return fmt.Sprintf("kubectl-zdd_%s_%s_%s%s", testVersion, os, arch, ext)
}

type archiveFile struct {
	name string
	exec bool
	size int64
}

func listArchive(t *testing.T, path string) []archiveFile {
	t.Helper()
	var files []archiveFile
	if strings.HasSuffix(path, ".zip") {
		zr, err := zip.OpenReader(path)
		if err != nil {
			t.Fatalf("opening %s: %v", path, err)
		}
		defer zr.Close()
		for _, f := range zr.File {
			files = append(files, archiveFile{f.Name, false, int64(f.UncompressedSize64)})
		}
		return files
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		t.Fatalf("%s is not gzip: %v", path, err)
	}
	tr := tar.NewReader(gz)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("reading %s: %v", path, err)
		}
		files = append(files, archiveFile{h.Name, h.Mode&0o111 != 0, h.Size})
	}
	return files
}

func sha256File(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func TestManifestContents(t *testing.T) {
	r := buildRelease(t)
	p := readManifest(t, r.manifest)
	if diff := cmp.Diff(
		[]string{"krew.googlecontainertools.github.com/v1alpha2", "Plugin", "zdd", testVersion, "https://github.com/zdd-dev/kubectl-zdd"},
		[]string{p.APIVersion, p.Kind, p.Name, p.Spec.Version, p.Spec.Homepage}); diff != "" {
		t.Errorf("apiVersion, kind, name, version, homepage (-want +got):\n%s", diff)
	}
	if n := len(p.Spec.ShortDescription); n == 0 || n > 70 || strings.Contains(p.Spec.ShortDescription, "\n") {
		t.Errorf("shortDescription must be one line of 1 to 70 characters, got %d: %q", n, p.Spec.ShortDescription)
	}
	for field, text := range map[string]string{"description": p.Spec.Description, "caveats": p.Spec.Caveats} {
		if strings.TrimSpace(text) == "" {
			t.Errorf("%s is empty", field)
		}
		for i, line := range strings.Split(text, "\n") {
			if len(line) > 80 {
				t.Errorf("%s line %d is %d characters (at most 80): %q", field, i+1, len(line), line)
			}
		}
	}
	sums, err := os.ReadFile(filepath.Join(r.dist, "SHA256SUMS"))
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Spec.Platforms) != len(platforms) {
		t.Fatalf("manifest has %d platforms, want %d", len(p.Spec.Platforms), len(platforms))
	}
	for i, want := range platforms {
		pl := p.Spec.Platforms[i]
		t.Run(want.os+"/"+want.arch, func(t *testing.T) {
			if pl.Selector == nil {
				t.Fatal("no selector")
			}
			if diff := cmp.Diff(map[string]string{"os": want.os, "arch": want.arch}, pl.Selector.MatchLabels); diff != "" {
				t.Errorf("selector.matchLabels (-want +got):\n%s", diff)
			}
			name := archiveName(want.os, want.arch)
			if diff := cmp.Diff(baseURL+"/"+name, pl.URI); diff != "" {
				t.Errorf("uri (-want +got):\n%s", diff)
			}
			path := filepath.Join(r.dist, name)
			sum := sha256File(t, path)
			if pl.Sha256 != sum {
				t.Errorf("sha256 in manifest %s, of %s %s", pl.Sha256, name, sum)
			}
			if !strings.Contains(string(sums), sum+"  "+name+"\n") {
				t.Errorf("SHA256SUMS lacks %q:\n%s", sum+"  "+name, sums)
			}
			bin, complete := "kubectl-zdd", "kubectl_complete-zdd"
			if want.os == "windows" {
				bin, complete = "kubectl-zdd.exe", "kubectl_complete-zdd.cmd"
			}
			if pl.Bin != bin {
				t.Errorf("bin = %q, want %q", pl.Bin, bin)
			}
			files := listArchive(t, path)
			var names []string
			byName := map[string]archiveFile{}
			for _, f := range files {
				names = append(names, f.name)
				byName[f.name] = f
			}
			sort.Strings(names)
			wantNames := []string{"LICENSE", bin, complete}
			sort.Strings(wantNames)
			if diff := cmp.Diff(wantNames, names); diff != "" {
				t.Errorf("files in %s (-want +got):\n%s", name, diff)
			}
			if byName[bin].size < 1<<20 {
				t.Errorf("%s in %s is %d bytes: not a real binary", bin, name, byName[bin].size)
			}
			if want.os != "windows" {
				for _, f := range []string{bin, complete} {
					if !byName[f].exec {
						t.Errorf("%s in %s is not executable", f, name)
					}
				}
			}
			var from []string
			for _, op := range pl.Files {
				from = append(from, op.From)
				if op.To != "." {
					t.Errorf("files: %s goes to %q, want \".\"", op.From, op.To)
				}
			}
			sort.Strings(from)
			if diff := cmp.Diff(wantNames, from); diff != "" {
				t.Errorf("files[].from (-want +got):\n%s", diff)
			}
		})
	}
}

// TestKrewInstallOffline installs the plugin with the real krew from the
// rendered manifest and the archive for this machine, with no network, then
// runs it through kubectl and completes through kubectl's plugin
// completion.
func TestKrewInstallOffline(t *testing.T) {
	r := buildRelease(t)
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		t.Fatalf("kubectl is needed on PATH for this test: %v", err)
	}
	home := t.TempDir()
	krewRoot := filepath.Join(home, "krew-root")
	archive := filepath.Join(r.dist, archiveName(runtime.GOOS, runtime.GOARCH))
	// a clean environment: only krew's tools, the krew bin directory and kubectl
	path := strings.Join([]string{r.tools, filepath.Join(krewRoot, "bin"), filepath.Dir(kubectl)}, string(os.PathListSeparator))
	env := []string{"PATH=" + path, "HOME=" + home, "KREW_ROOT=" + krewRoot, "KREW_NO_UPGRADE_CHECK=1"}

	out, err := run(t, home, env, "kubectl", "krew", "install", "--manifest="+r.manifest, "--archive="+archive)
	if err != nil {
		t.Fatalf("kubectl krew install: %v\n%s", err, out)
	}
	if !strings.Contains(out, `Installed plugin: zdd`) {
		t.Errorf("krew install output does not confirm the install:\n%s", out)
	}

	// (krew list and uninstall need krew's plugin index, which only a
	// network "krew update" fetches; the receipt and the link are what they
	// would read)
	var receipt index.Receipt
	if b, err := os.ReadFile(filepath.Join(krewRoot, "receipts", "zdd.yaml")); err != nil {
		t.Errorf("krew wrote no receipt for zdd: %v", err)
	} else if err := yaml.Unmarshal(b, &receipt); err != nil {
		t.Errorf("krew's receipt for zdd: %v", err)
	}
	if receipt.Spec.Version != testVersion {
		t.Errorf("krew's receipt records version %q, want %q", receipt.Spec.Version, testVersion)
	}
	link, err := os.Readlink(filepath.Join(krewRoot, "bin", "kubectl-zdd"))
	if err != nil {
		t.Fatalf("krew did not link kubectl-zdd into its bin directory: %v", err)
	}
	if want := filepath.Join(krewRoot, "store", "zdd", testVersion, "kubectl-zdd"); link != want {
		t.Errorf("krew's link points to %q, want %q", link, want)
	}

	out, err = run(t, home, env, "kubectl", "zdd", "version")
	if err != nil {
		t.Fatalf("kubectl zdd version after krew install: %v\n%s", err, out)
	}
	if want := "kubectl-zdd " + testVersion + " "; !strings.HasPrefix(out, want) {
		t.Errorf("kubectl zdd version = %q, want it to start with %q", out, want)
	}

	store := filepath.Join(krewRoot, "store", "zdd", testVersion)
	for _, f := range []string{"LICENSE", "kubectl_complete-zdd"} {
		if _, err := os.Stat(filepath.Join(store, f)); err != nil {
			t.Errorf("%s was not installed: %v", f, err)
		}
	}
	// kubectl 1.26+ asks kubectl_complete-zdd on PATH for "kubectl zdd <TAB>"
	compEnv := append([]string{}, env...)
	compEnv[0] = "PATH=" + store + string(os.PathListSeparator) + path
	out, err = run(t, home, compEnv, "kubectl", "__complete", "zdd", "")
	if err != nil {
		t.Fatalf("kubectl __complete zdd: %v\n%s", err, out)
	}
	for _, want := range []string{"version\t", "completion\t"} {
		if !strings.Contains(out, want) {
			t.Errorf("kubectl's plugin completion of \"kubectl zdd \" lacks %q:\n%s", strings.TrimSpace(want), out)
		}
	}
}

// TestReleaseBadArguments: hack/release.sh refuses a call without exactly
// one version with exit 2, before building anything.
func TestReleaseBadArguments(t *testing.T) {
	root := repoRoot(t)
	tests := []struct {
		name string
		args []string
	}{
		{"no version", nil},
		{"two versions", []string{"v0.1.0", "v0.2.0"}},
		{"empty version", []string{""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dist := t.TempDir()
			env := append(os.Environ(), "DIST_DIR="+dist, "KREW_MANIFEST="+filepath.Join(dist, "zdd.yaml"))
			out, err := run(t, root, env, "hack/release.sh", tt.args...)
			var exitErr *exec.ExitError
			if !errors.As(err, &exitErr) || exitErr.ExitCode() != 2 {
				t.Fatalf("hack/release.sh %q: %v, want exit 2\n%s", tt.args, err, out)
			}
			if !strings.Contains(out, "usage: hack/release.sh VERSION") {
				t.Errorf("no usage message:\n%s", out)
			}
			if entries, _ := os.ReadDir(dist); len(entries) != 0 {
				t.Errorf("release.sh wrote %d files on bad arguments", len(entries))
			}
		})
	}
}
