package plugin

import "github.com/spf13/cobra"

// addDryRunFlag adds --dry-run=none|client|server (bare --dry-run: client)
// to the canary and blue-green commands, as rollout has it.
func addDryRunFlag(cmd *cobra.Command, v *string) {
	cmd.Flags().StringVar(v, "dry-run", *v, `"none" runs, "client" prints the plan, "server" also has the API server check every write (dryRun=All)`)
	cmd.Flags().Lookup("dry-run").NoOptDefVal = "client"
}

// validateDryRun checks --dry-run's value.
func validateDryRun(cmd *cobra.Command, v string) error {
	switch v {
	case "none", "client", "server":
		return nil
	}
	return usageErrorf(cmd, "--dry-run %q: want none, client or server", v)
}
