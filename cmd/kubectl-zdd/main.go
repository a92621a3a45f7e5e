// Command kubectl-zdd is the kubectl plugin `kubectl zdd`.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/zdd-dev/kubectl-zdd/pkg/exitcode"
	"github.com/zdd-dev/kubectl-zdd/pkg/plugin"
)

func main() {
	os.Exit(run())
}

func run() int {
	streams := genericiooptions.IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cmd := plugin.NewCmdRoot(streams)
	err := cmd.ExecuteContext(ctx)
	if perr := plugin.FinishProfile(); perr != nil {
		fmt.Fprintf(streams.ErrOut, "warning: profile: %v\n", perr)
	}
	if err != nil && !exitcode.IsSilent(err) {
		fmt.Fprintf(streams.ErrOut, "error: %v\n", err)
	}
	return exitcode.Of(err)
}
