package lint

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"helm.sh/helm/v4/pkg/chart/common"
	chartutil "helm.sh/helm/v4/pkg/chart/common/util"
	chart "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	depsutil "helm.sh/helm/v4/pkg/chart/v2/util"
	"helm.sh/helm/v4/pkg/engine"
	"helm.sh/helm/v4/pkg/strvals"
)

// A folder holding a Chart.yaml is a Helm chart: it is rendered with Helm's
// own packages (the chart loader, the values code and the template engine,
// what `helm template` runs, without its install action, registry or
// network clients) and its objects are linted with the file and line of
// the template that wrote them (see templatemap.go).

// HelmOptions are the values given to every chart found in the input, as
// `helm template` takes them: --values files are merged in order, then each
// --set and --set-string.
type HelmOptions struct {
	ValueFiles   []string
	Values       []string
	StringValues []string
}

// HelmReleaseName is the release name charts are rendered with, as `helm
// template` names a release it is given no name for.
const HelmReleaseName = "release-name"

// chartFile is the name of the file that makes a folder a Helm chart.
const chartFile = "Chart.yaml"

// renderedTemplate is one template's output.
type renderedTemplate struct {
	// file is the template's path on disk (the chart folder joined with
	// its path in the chart; a template of a packaged subchart has a path
	// inside the archive's folder that does not exist).
	file   string
	source []byte // the template
	out    []byte // what it rendered to
}

// renderedChart is what renderChart made of a chart folder.
type renderedChart struct {
	dir       string
	templates []renderedTemplate
	// notes are what Helm warned about, and the dependencies that could not
	// be rendered.
	notes []string
}

// userValues merges the values files and --set flags, as helm does.
func (o HelmOptions) userValues() (map[string]any, error) {
	base := map[string]any{}
	for _, f := range o.ValueFiles {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("--values %s: %w", f, err)
		}
		m, err := loader.LoadValues(bytes.NewReader(data))
		if err != nil {
			return nil, fmt.Errorf("--values %s: %w", f, err)
		}
		base = loader.MergeMaps(base, m)
	}
	for _, v := range o.Values {
		if err := strvals.ParseInto(v, base); err != nil {
			return nil, fmt.Errorf("--set %s: %w", v, err)
		}
	}
	for _, v := range o.StringValues {
		if err := strvals.ParseIntoString(v, base); err != nil {
			return nil, fmt.Errorf("--set-string %s: %w", v, err)
		}
	}
	return base, nil
}

// renderChart renders the chart in dir with its default values and the
// user's, for a release named HelmReleaseName in namespace, and with the
// default capabilities `helm template` uses (no cluster is contacted: a
// `lookup` returns nothing).
func renderChart(dir string, opts HelmOptions, namespace string) (*renderedChart, error) {
	ch, err := loader.Load(dir)
	if err != nil {
		return nil, fmt.Errorf("loading the Helm chart %s: %w", dir, err)
	}
	rc := &renderedChart{dir: dir}
	if ch.Metadata != nil && ch.Metadata.Type == "library" {
		rc.notes = append(rc.notes, fmt.Sprintf("%s: a library chart renders no objects of its own", dir))
		return rc, nil
	}
	vals, err := opts.userValues()
	if err != nil {
		return nil, err
	}
	// A dependency that is not in charts/ (not fetched with `helm
	// dependency build`) is left out with a note, rather than failing as
	// `helm template` does: its objects are simply not linted.
	var loaded []string
	for _, d := range ch.Dependencies() {
		loaded = append(loaded, d.Name())
	}
	if ch.Metadata != nil {
		for _, d := range ch.Metadata.Dependencies {
			if d == nil || contains(loaded, d.Name) {
				continue
			}
			rc.notes = append(rc.notes, fmt.Sprintf("%s: dependency %q is not in charts/ (run helm dependency build %s): its objects are not linted", dir, d.Name, dir))
		}
	}
	if namespace == "" {
		namespace = "default"
	}
	var warnings []string
	restore := captureSlog(&warnings)
	defer restore()
	if err := depsutil.ProcessDependencies(ch, vals); err != nil {
		return nil, fmt.Errorf("rendering the Helm chart %s: %w", dir, err)
	}
	options := common.ReleaseOptions{Name: HelmReleaseName, Namespace: namespace, Revision: 1, IsInstall: true}
	caps := common.DefaultCapabilities
	if kv := ch.Metadata.KubeVersion; kv != "" && !depsutil.IsCompatibleRange(kv, caps.KubeVersion.String()) {
		return nil, fmt.Errorf("rendering the Helm chart %s: it requires kubeVersion %s, Helm renders for %s", dir, kv, caps.KubeVersion.String())
	}
	top, err := chartutil.ToRenderValuesWithSchemaValidation(ch, vals, options, caps, false)
	if err != nil {
		return nil, fmt.Errorf("rendering the Helm chart %s: %w", dir, err)
	}
	out, err := engine.Engine{}.RenderWithContext(context.Background(), ch, top)
	if err != nil {
		return nil, fmt.Errorf("rendering the Helm chart %s: %w (give the values it needs with --values or --set)", dir, err)
	}
	restore()
	for _, w := range warnings {
		rc.notes = append(rc.notes, dir+": helm: "+w)
	}
	sources := map[string][]byte{}
	collectTemplates(ch, sources)
	names := make([]string, 0, len(out))
	for name, text := range out {
		if strings.HasSuffix(name, "NOTES.txt") || strings.TrimSpace(text) == "" {
			continue
		}
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		rel := name
		if i := strings.IndexByte(name, '/'); i >= 0 {
			rel = name[i+1:] // the chart's own name comes first
		}
		rc.templates = append(rc.templates, renderedTemplate{
			file:   filepath.Join(dir, filepath.FromSlash(rel)),
			source: sources[name],
			out:    []byte(out[name]),
		})
	}
	return rc, nil
}

// collectTemplates maps the name the engine gives each template of c and
// its subcharts (chart/charts/sub/templates/x.yaml) to its text.
func collectTemplates(c *chart.Chart, into map[string][]byte) {
	for _, t := range c.Templates {
		if t != nil {
			into[path.Join(c.ChartFullPath(), t.Name)] = t.Data
		}
	}
	for _, d := range c.Dependencies() {
		collectTemplates(d, into)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// captureSlog makes the default slog logger (which Helm warns through)
// collect messages into w until the returned function is called.
func captureSlog(w *[]string) (restore func()) {
	prev := slog.Default()
	slog.SetDefault(slog.New(&collectHandler{w: w}))
	done := false
	return func() {
		if !done {
			done = true
			slog.SetDefault(prev)
		}
	}
}

type collectHandler struct {
	w     *[]string
	attrs []slog.Attr
}

func (h *collectHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }

func (h *collectHandler) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Message)
	add := func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		return true
	}
	for _, a := range h.attrs {
		add(a)
	}
	r.Attrs(add)
	*h.w = append(*h.w, b.String())
	return nil
}

func (h *collectHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &collectHandler{w: h.w, attrs: append(append([]slog.Attr{}, h.attrs...), attrs...)}
}

func (h *collectHandler) WithGroup(string) slog.Handler { return h }

// objects decodes the rendered templates of a chart: every object carries
// the template's file and, through the line map, the template's lines.
func (rc *renderedChart) objects(namespace string, keepRaw bool) ([]Object, []Skipped, error) {
	if namespace == "" {
		namespace = "default"
	}
	dd := &docDecoder{namespace: namespace, keepRaw: keepRaw}
	var objs []Object
	var skipped []Skipped
	for _, t := range rc.templates {
		lm := mapTemplateLines(t.source, t.out)
		for _, d := range splitDocuments(t.out) {
			o, sk, err := dd.decode(&d, t.file)
			if err != nil {
				return nil, nil, explainLoadError(err, t.file+" (as rendered by Helm)", t.out)
			}
			for i := range o {
				o[i].Source.Line = lm.line(o[i].Source.Line)
				o[i].scope = "chart " + rc.dir
				o[i].rendered = "the Helm chart " + rc.dir
				if o[i].doc != nil {
					o[i].doc.lineMap = lm.line
				}
			}
			for i := range sk {
				sk[i].Source.Line = lm.line(sk[i].Source.Line)
			}
			objs = append(objs, o...)
			skipped = append(skipped, sk...)
		}
	}
	return objs, skipped, nil
}
