package plugin

import (
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"

	"github.com/spf13/cobra"

	"github.com/zdd-dev/kubectl-zdd/pkg/exitcode"
)

// profiling is the hidden --profile / --profile-output pair, as kubectl's:
// a CPU or heap profile of this one command, for finding where a release's
// client time goes (bench/scale.sh measures it; `go tool pprof` reads it).
type profiling struct {
	kind, output string
	stop         func() error
}

// finishProfile writes the profile --profile started (nil: none).
var finishProfile func() error

// FinishProfile writes the profile --profile asked for, if any, once. main
// calls it when the command has returned, whatever it returned.
func FinishProfile() error {
	finish := finishProfile
	finishProfile = nil
	if finish == nil {
		return nil
	}
	return finish()
}

func (p *profiling) addFlags(cmd *cobra.Command) {
	fs := cmd.PersistentFlags()
	fs.StringVar(&p.kind, "profile", "none", "Profile to write: none, cpu or heap")
	fs.StringVar(&p.output, "profile-output", "profile.pprof", "File the profile is written to")
	_ = fs.MarkHidden("profile")
	_ = fs.MarkHidden("profile-output")
}

func (p *profiling) start() error {
	switch p.kind {
	case "none":
		return nil
	case "cpu":
		f, err := os.Create(p.output)
		if err != nil {
			return exitcode.Usagef("--profile-output %s: %v", p.output, err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			return fmt.Errorf("--profile cpu: %w", err)
		}
		finishProfile = func() error {
			pprof.StopCPUProfile()
			return f.Close()
		}
	case "heap":
		finishProfile = func() error {
			f, err := os.Create(p.output)
			if err != nil {
				return fmt.Errorf("--profile-output %s: %w", p.output, err)
			}
			runtime.GC()
			if err := pprof.WriteHeapProfile(f); err != nil {
				f.Close()
				return err
			}
			return f.Close()
		}
	default:
		return exitcode.Usagef("--profile %q: must be none, cpu or heap", p.kind)
	}
	return nil
}
