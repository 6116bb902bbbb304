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
	// Populates the heap a command is about to use before the other
	// packages initialise: most parley commands are short processes, and
	// first touches of heap pages were a tenth of one.
	_ "github.com/parley-dev/parley/internal/prefault"
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
