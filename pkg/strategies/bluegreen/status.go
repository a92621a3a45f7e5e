package bluegreen

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/zdd-dev/kubectl-zdd/pkg/state"
)

// ColourStatus is one colour of a Service.
type ColourStatus struct {
	Colour     string `json:"colour"`
	Deployment string `json:"deployment,omitempty"`
	Images     string `json:"images,omitempty"`
	Replicas   int32  `json:"replicas"`
	Ready      int32  `json:"ready"`
	Live       bool   `json:"live"`
}

// Status is what `bluegreen status` shows.
type Status struct {
	Service   string           `json:"service"`
	Services  []string         `json:"services"`
	Label     string           `json:"colorLabel"`
	Live      string           `json:"live"`
	Preview   string           `json:"preview,omitempty"`
	Colours   []ColourStatus   `json:"colours"`
	Operation *state.Operation `json:"operation,omitempty"`
	Lease     *state.LeaseInfo `json:"lease,omitempty"`
}

// GetStatus reads the colours, their Deployments, the operation record and
// the Lease of the Service named by cfg.
func (r *Runner) GetStatus(ctx context.Context, cfg Config) (*Status, error) {
	r.config = cfg
	snap, err := r.discover(ctx)
	if err != nil {
		return nil, err
	}
	st := &Status{Service: snap.Key(), Services: snap.Services, Label: r.Colours.Label, Live: snap.Active}
	for _, c := range r.Colours.Names {
		cs := ColourStatus{Colour: c, Live: c == snap.Active}
		d := snap.ActiveDep
		if c != snap.Active {
			d = snap.IdleDep
		}
		if d != nil {
			cs.Deployment = d.Name
			cs.Images = Images(&d.Spec.Template)
			cs.Replicas = replicasOf(d)
			cs.Ready = d.Status.ReadyReplicas
		}
		st.Colours = append(st.Colours, cs)
	}
	pv, err := r.Client.CoreV1().Services(r.Namespace).Get(ctx, PreviewName(r.Service), metav1.GetOptions{})
	switch {
	case err == nil && pv.Labels[PreviewLabel] == r.Service:
		st.Preview = fmt.Sprintf("%s (selects %s=%s)", pv.Name, r.Colours.Label, pv.Spec.Selector[r.Colours.Label])
	case err != nil && !apierrors.IsNotFound(err):
		return nil, fmt.Errorf("reading preview service %q: %w", r.Namespace+"/"+PreviewName(r.Service), err)
	}
	if op, ok := state.FromAnnotations(snap.Service.Annotations); ok {
		st.Operation = op
	}
	info, held, err := state.Describe(ctx, r.Client.CoordinationV1(), r.Namespace, state.LeaseName("service", r.Service), r.now())
	if err != nil {
		return nil, fmt.Errorf("reading the lease of service %q: %w", r.key(), err)
	}
	if held {
		st.Lease = &info
	}
	return st, nil
}

// PrintStatus writes st as text, or as JSON when asJSON.
func PrintStatus(w io.Writer, st *Status, asJSON bool, now time.Time) error {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(st)
	}
	fmt.Fprintf(w, "Service:  %s\n", st.Service)
	if len(st.Services) > 1 {
		fmt.Fprintf(w, "Switches: %s\n", strings.Join(st.Services, ", "))
	}
	fmt.Fprintf(w, "Live:     %s=%s\n", st.Label, st.Live)
	if st.Preview != "" {
		fmt.Fprintf(w, "Preview:  %s\n", st.Preview)
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "COLOUR\tDEPLOYMENT\tIMAGES\tREADY\tLIVE")
	for _, c := range st.Colours {
		dep, images, ready, live := c.Deployment, c.Images, fmt.Sprintf("%d/%d", c.Ready, c.Replicas), "no"
		if dep == "" {
			dep, images, ready = "<none>", "-", "-"
		}
		if c.Live {
			live = "yes"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", c.Colour, dep, images, ready, live)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	if op := st.Operation; op != nil {
		result := op.Result
		if result == "" {
			result = "in flight"
		}
		fmt.Fprintf(w, "Operation: %s (%s), phase %s, %s", op.ID, op.Strategy, op.Phase, result)
		for _, k := range op.ParamKeys() {
			fmt.Fprintf(w, ", %s=%s", k, paramText(k, op.Params[k]))
		}
		fmt.Fprintln(w)
		if op.Message != "" {
			fmt.Fprintf(w, "Message:   %s\n", op.Message)
		}
	} else {
		fmt.Fprintln(w, "Operation: none recorded")
	}
	if l := st.Lease; l != nil {
		state := "expired"
		if l.Expires.After(now) {
			state = "expires in " + l.Expires.Sub(now).Round(time.Second).String()
		}
		fmt.Fprintf(w, "Lease:     held by %s (%s)\n", l.Holder, state)
	} else {
		fmt.Fprintln(w, "Lease:     free")
	}
	return nil
}

// paramText is how the status table shows a recorded param: the recorded
// pod template as its images and an analysis as its file (-o json|yaml
// give them whole), any other long or structured value as its size.
func paramText(key, v string) string {
	switch key {
	case ParamTemplate:
		t := &corev1.PodTemplateSpec{}
		if err := json.Unmarshal([]byte(v), t); err == nil {
			return Images(t)
		}
	case ParamAnalysis, ParamPreAnalysis:
		var f struct {
			File string `json:"file"`
		}
		if err := json.Unmarshal([]byte(v), &f); err == nil && f.File != "" {
			return f.File
		}
	}
	if len(v) <= 40 && !strings.ContainsAny(v, "\n\t{[") {
		return v
	}
	return fmt.Sprintf("<%d bytes>", len(v))
}
