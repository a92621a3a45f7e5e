package report

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zdd-dev/kubectl-zdd/internal/browsertest"
)

// recordedFixtures are the releases recorded on the test cluster by the
// e2e suite (TestReportOfRealCanary with ZDD_REPORT_RECORD set), as JSON of
// Data.
func recordedFixtures(t *testing.T) map[string]*Data {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "recorded", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*Data{}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var d Data
		if err := json.Unmarshal(raw, &d); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out[filepath.Base(f)] = &d
	}
	if len(out) == 0 {
		t.Fatal("no recorded release in testdata/recorded/")
	}
	return out
}

// TestBrowserDrawsReport opens the HTML report of each recorded release in
// headless Chromium: the DOM it built has an SVG path per version and the
// phase labels, and its screenshot has the versions' colours in it. It
// runs where chromium is installed (CI installs it: hack/install-deps.sh),
// skips loudly elsewhere, and must run under make docs, which also keeps
// the screenshot: ZDD_REPORT_SCREENSHOT=FILE.png (and ZDD_REPORT_HTML=FILE
// for the page) take those of the first recorded release.
func TestBrowserDrawsReport(t *testing.T) {
	chromium, err := browsertest.Find()
	if err != nil {
		if browsertest.Required() {
			t.Fatalf("%v: the browser check must run here (CI=true or ZDD_REQUIRE_BROWSER=1)", err)
		}
		t.Skipf("SKIPPED: %v: the HTML report is not checked in a browser", err)
	}
	dir := t.TempDir()
	b := &browsertest.Browser{Path: chromium, Dir: dir}
	first := true
	for name, d := range recordedFixtures(t) {
		t.Run(name, func(t *testing.T) {
			page := filepath.Join(dir, name+".html")
			f, err := os.Create(page)
			if err != nil {
				t.Fatal(err)
			}
			if err := HTML(f, d, HTMLOptions{Generator: "kubectl zdd"}); err != nil {
				t.Fatal(err)
			}
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
			want := browsertest.Chart{Colors: VersionColors(d)}
			for _, v := range d.Versions {
				want.Versions = append(want.Versions, v.Name)
			}
			for _, p := range d.Phases {
				want.Phases = append(want.Phases, p.Name)
			}
			dom, err := b.DumpDOM(page)
			if err != nil {
				t.Fatal(err)
			}
			if err := browsertest.CheckDOM(dom, want); err != nil {
				t.Error(err)
			}
			img, png, err := b.Screenshot(page, 1100, 1500)
			if err != nil {
				t.Fatal(err)
			}
			if err := browsertest.CheckScreenshot(img, want, 150); err != nil {
				t.Error(err)
			}
			if first {
				// the control: the same page with the versions' lines
				// left unstroked and the phase labels gone must fail both
				// checks, or passing them proves nothing
				raw, err := os.ReadFile(page)
				if err != nil {
					t.Fatal(err)
				}
				broken := strings.ReplaceAll(string(raw), `" stroke="#`, `" data-stroke="#`)
				broken = strings.ReplaceAll(broken, `class="phase-label"`, `class="no-label"`)
				control := filepath.Join(dir, "control.html")
				if err := os.WriteFile(control, []byte(broken), 0o644); err != nil {
					t.Fatal(err)
				}
				dom, err := b.DumpDOM(control)
				if err != nil {
					t.Fatal(err)
				}
				if browsertest.CheckDOM(dom, want) == nil {
					t.Error("control: the DOM check passed a page without phase labels")
				}
				img, _, err := b.Screenshot(control, 1100, 1500)
				if err != nil {
					t.Fatal(err)
				}
				if browsertest.CheckScreenshot(img, want, 150) == nil {
					t.Error("control: the screenshot check passed a page whose lines were not drawn")
				}

				first = false
				for env, data := range map[string]func() ([]byte, error){
					"ZDD_REPORT_SCREENSHOT": func() ([]byte, error) { return png, nil },
					"ZDD_REPORT_HTML":       func() ([]byte, error) { return os.ReadFile(page) },
				} {
					if path := os.Getenv(env); path != "" {
						content, err := data()
						if err == nil {
							err = os.WriteFile(path, content, 0o644)
						}
						if err != nil {
							t.Fatalf("%s: %v", env, err)
						}
						t.Logf("wrote %s", path)
					}
				}
			}
		})
	}
}
