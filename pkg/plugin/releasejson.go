package plugin

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/zdd-dev/kubectl-zdd/pkg/probe"
	"github.com/zdd-dev/kubectl-zdd/pkg/state"
)

// releaseOutput is -o json on the release commands that print their steps
// as they go (bluegreen deploy, canary): the steps then go to stderr, and
// stdout gets one JSON object at the end (releaseJSON).
type releaseOutput struct {
	Output string
}

func (ro *releaseOutput) addFlag(cmd *cobra.Command) {
	cmd.Flags().StringVarP(&ro.Output, "output", "o", ro.Output, `Output format: "" (text) or json (the steps then go to stderr)`)
}

func (ro *releaseOutput) validate(cmd *cobra.Command) error {
	if ro.Output != "" && ro.Output != "json" {
		return usageErrorf(cmd, "--output %q: want json (or nothing for text)", ro.Output)
	}
	return nil
}

func (ro *releaseOutput) json() bool { return ro.Output == "json" }

// log is where the steps go: stdout, or stderr with -o json.
func (ro *releaseOutput) log(out, errOut io.Writer) io.Writer {
	if ro.json() {
		return errOut
	}
	return out
}

// releaseJSON is -o json of a blue-green deploy or a canary: the operation
// as its record says at the end (without its params), the error when it
// failed, and the requests the probe measured, as rollout's -o json carries
// them.
type releaseJSON struct {
	Kind             string           `json:"kind"`
	Name             string           `json:"name"`
	Operation        *state.Operation `json:"operation,omitempty"`
	Error            string           `json:"error,omitempty"`
	RequestsMeasured bool             `json:"requestsMeasured"`
	Requests         *probe.Report    `json:"requests,omitempty"`
}

// printReleaseJSON writes the releaseJSON of the operation recorded on
// kind ("service" or "deployment") ns/name to w.
func printReleaseJSON(ctx context.Context, w io.Writer, client kubernetes.Interface, kind, ns, name string, rep *probe.Report, runErr error) error {
	out := releaseJSON{Kind: kind, Name: ns + "/" + name, RequestsMeasured: rep != nil, Requests: rep}
	if runErr != nil {
		out.Error = runErr.Error()
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	var ann map[string]string
	switch kind {
	case "service":
		if svc, err := client.CoreV1().Services(ns).Get(ctx, name, metav1.GetOptions{}); err == nil {
			ann = svc.Annotations
		}
	default:
		if d, err := client.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{}); err == nil {
			ann = d.Annotations
		}
	}
	if op, ok := state.FromAnnotations(ann); ok {
		cp := *op
		cp.Params = nil
		out.Operation = &cp
	}
	b, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(w, string(b))
	return err
}
