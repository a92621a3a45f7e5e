package plugin

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/zdd-dev/kubectl-zdd/pkg/exitcode"
	"github.com/zdd-dev/kubectl-zdd/pkg/version"
)

// VersionOptions prints the build information of the binary. It makes no
// network calls.
type VersionOptions struct {
	Output string
	genericiooptions.IOStreams
}

// NewVersionOptions returns options with defaults set.
func NewVersionOptions(streams genericiooptions.IOStreams) *VersionOptions {
	return &VersionOptions{IOStreams: streams}
}

// NewCmdVersion builds `kubectl zdd version`.
func NewCmdVersion(f Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := NewVersionOptions(streams)
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the version of kubectl zdd",
		Long:  "Print the version, commit and build date of this kubectl zdd binary. No cluster is contacted.",
		Example: `  kubectl zdd version
  kubectl zdd version -o json`,
		Args: cobra.NoArgs,
		RunE: runSteps(f, o),
	}
	cmd.Flags().StringVarP(&o.Output, "output", "o", o.Output, "Output format: '' (plain) or json")
	return cmd
}

// Complete has nothing to read: no argument, no cluster.
func (o *VersionOptions) Complete(Factory, *cobra.Command, []string) error { return nil }

// Validate checks the output format.
func (o *VersionOptions) Validate(*cobra.Command) error {
	switch o.Output {
	case "", "json":
		return nil
	}
	return exitcode.Usagef("kubectl zdd version: unknown --output %q (want json, or nothing)", o.Output)
}

// Run prints the version.
func (o *VersionOptions) Run(context.Context) error {
	info := version.Get()
	if o.Output == "json" {
		enc := json.NewEncoder(o.Out)
		enc.SetIndent("", "  ")
		return enc.Encode(info)
	}
	_, err := fmt.Fprintf(o.Out, "kubectl-zdd %s (commit %s, built %s, %s, %s)\n",
		info.Version, info.Commit, info.BuildDate, info.GoVersion, info.Platform)
	return err
}
