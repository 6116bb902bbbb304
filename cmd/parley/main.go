// Command parley is the Parley hub, MCP bridge and command line in one
// binary. Everything it does lives in internal/cli; main only runs it.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/parley-dev/parley/internal/cli"
)

var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root := cli.NewRoot(version)
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "parley:", err)
		os.Exit(cli.ExitCode(err))
	}
}
