package plugin

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	batchv1 "k8s.io/api/batch/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes"

	"github.com/zdd-dev/kubectl-zdd/pkg/exitcode"
	"github.com/zdd-dev/kubectl-zdd/pkg/migration"
	"github.com/zdd-dev/kubectl-zdd/pkg/state"
)

const migrateLong = `Run one migration Job of the expand-contract pattern for a Deployment.

The Job must not retry (spec.backoffLimit set to 0, restartPolicy Never):
one that can is refused (exit 2) before anything is created. It is created
under a name unique to this run (its name and the operation id), labelled
with the Deployment and the phase, and waited for with a watch. If it fails
or does not finish within --timeout, its conditions and its pod's status are
printed and the command exits 1.

--phase expand (the default) adds what the new version needs, before it is
rolled out. --phase contract removes what only the old version used, so it is
refused (exit 1, nothing created) while pods of any older revision of the app
still run: an older ReplicaSet of the Deployment that still has pods, or
another Deployment of the same app (same app.kubernetes.io/name or app label)
with a different version, track or color label that has pods.

Exit codes: 0 the Job succeeded; 1 it failed, timed out, or contract was
refused; 2 bad input, nothing created.`

const migrateExample = `  # Expand the schema before releasing v2
  kubectl zdd migrate -f migrate-expand.yaml --for deployment/web -n shop

  # Contract it once no v1 pod is left
  kubectl zdd migrate -f migrate-contract.yaml --for deployment/web --phase contract`

// MigrateOptions is `kubectl zdd migrate`.
type MigrateOptions struct {
	Filename string
	For      string
	Phase    string
	Timeout  time.Duration
	DryRun   string

	Namespace string
	Name      string
	job       *batchv1.Job
	Client    kubernetes.Interface
	factory   Factory
	// NewID is swapped by tests.
	NewID func(time.Time) string

	genericiooptions.IOStreams
}

// NewMigrateOptions returns options with the defaults.
func NewMigrateOptions(streams genericiooptions.IOStreams) *MigrateOptions {
	return &MigrateOptions{Phase: migration.PhaseExpand, Timeout: 10 * time.Minute, DryRun: "none", NewID: state.NewID, IOStreams: streams}
}

// NewCmdMigrate builds `kubectl zdd migrate`.
func NewCmdMigrate(f Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := NewMigrateOptions(streams)
	cmd := &cobra.Command{
		Use:     "migrate -f JOB.yaml --for deployment/NAME [--phase expand|contract]",
		Short:   "Run a one-shot migration Job (expand or contract) for a Deployment",
		Long:    migrateLong,
		Example: migrateExample,
		Args:    cobra.NoArgs,
		RunE:    runSteps(f, o),
	}
	fl := cmd.Flags()
	fl.StringVarP(&o.Filename, "filename", "f", o.Filename, "Job manifest (file, URL or -)")
	fl.StringVar(&o.For, "for", o.For, "The Deployment the migration is for: deployment/NAME")
	fl.StringVar(&o.Phase, "phase", o.Phase, "expand or contract")
	fl.DurationVar(&o.Timeout, "timeout", o.Timeout, "How long the Job may take")
	fl.StringVar(&o.DryRun, "dry-run", o.DryRun, `"none" runs, "client" prints what would be created, "server" has the API server check it`)
	fl.Lookup("dry-run").NoOptDefVal = "client"
	return cmd
}

// Complete reads the Job file and the namespace.
func (o *MigrateOptions) Complete(f Factory, cmd *cobra.Command, _ []string) error {
	var err error
	if o.Filename == "" {
		return usageErrorf(cmd, "give the Job manifest with -f FILE")
	}
	if o.For == "" {
		return usageErrorf(cmd, "name the Deployment with --for deployment/NAME")
	}
	if o.Name, err = parseFlagName(cmd, deploymentArg, "for", o.For); err != nil {
		return err
	}
	o.factory = f
	if o.Namespace, _, err = namespaceOf(f); err != nil {
		return err
	}
	o.job, err = loadJob(o.Filename, o.In, o.Namespace)
	return err
}

// Validate checks the flags.
func (o *MigrateOptions) Validate(cmd *cobra.Command) error {
	switch {
	case o.Phase != migration.PhaseExpand && o.Phase != migration.PhaseContract:
		return usageErrorf(cmd, "--phase %q: want expand or contract", o.Phase)
	case o.Timeout <= 0:
		return usageErrorf(cmd, "--timeout %s: must be more than 0", o.Timeout)
	}
	switch o.DryRun {
	case "none", "client", "server":
	default:
		return usageErrorf(cmd, "--dry-run %q: want none, client or server", o.DryRun)
	}
	return nil
}

// Run checks the contract guard, creates the Job and waits for it.
func (o *MigrateOptions) Run(ctx context.Context) error {
	if err := connect(o.factory, &o.Client, nil); err != nil {
		return err
	}
	ref := o.Namespace + "/" + o.Name
	d, err := o.Client.AppsV1().Deployments(o.Namespace).Get(ctx, o.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return exitcode.Usagef("deployment %q not found", ref)
	}
	if err != nil {
		return fmt.Errorf("reading deployment %q: %w", ref, err)
	}
	if o.Phase == migration.PhaseContract {
		older, err := migration.OlderRevisionsRunning(ctx, o.Client, d)
		if err != nil {
			return err
		}
		if len(older) > 0 {
			return exitcode.Failedf("contract migration for deployment %q refused, nothing created: pods of an older revision still run (they may still use what contract removes):\n  %s", ref, strings.Join(older, "\n  "))
		}
	}
	id := o.NewID(time.Now())
	job := migration.Prepare(o.job, o.Namespace, o.Name, o.Phase, id)
	switch o.DryRun {
	case "client":
		fmt.Fprintf(o.Out, "dry run (client): would create %s migration job %q for deployment %q and wait for it (timeout %s); nothing was changed\n", o.Phase, o.Namespace+"/"+job.Name, ref, o.Timeout)
		return nil
	case "server":
		if _, err := migration.Run(ctx, o.Client, job, []string{metav1.DryRunAll}, nil); err != nil {
			return err
		}
		fmt.Fprintf(o.Out, "dry run (server): the server accepted %s migration job %q for deployment %q; nothing was changed\n", o.Phase, o.Namespace+"/"+job.Name, ref)
		return nil
	}
	wctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	if _, err := migration.Run(wctx, o.Client, job, nil, o.Out); err != nil {
		if errors.Is(err, migration.ErrFailed) {
			return exitcode.Failedf("%s migration for deployment %q: %w", o.Phase, ref, err)
		}
		return err
	}
	fmt.Fprintf(o.Out, "%s migration for deployment %q done (job %q)\n", o.Phase, ref, o.Namespace+"/"+job.Name)
	return nil
}
