package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/parley-dev/parley/internal/client"
	"github.com/parley-dev/parley/internal/hub"
)

// newSignalCmd is `parley signal`: named one-shot events (seed 001).
func newSignalCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "signal",
		Short: "Emit, wait for and clear signals",
		Long: `Signals are named one-shot events: once emitted, a signal stays emitted
(with its data) until it is cleared, so waiting on it returns at once.`,
		Example: `  parley signal emit server_ready '{"port":7400}'
  parley signal wait server_ready --timeout 5m && npm test`,
		Args: argsRange(0, 0),
	}
	cmd.AddCommand(newSignalEmitCmd(), newSignalWaitCmd(), newSignalGetCmd(), newSignalClearCmd(), newSignalListCmd())
	return cmd
}

func newSignalEmitCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "emit NAME [DATA]",
		Short: "Emit a signal, with optional JSON or text data",
		Args:  argsRange(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, err := hub.NormalizeName("signal", args[0])
			if err != nil {
				return err
			}
			var data json.RawMessage
			if len(args) == 2 {
				if data, err = jsonOrStdin(cmd, "data", args[1], true); err != nil {
					return err
				}
			}
			return call(cmd, anyCredential, func(ctx context.Context, c *client.Client) (hub.Signal, error) {
				return c.EmitSignal(ctx, name, data)
			}, func(w io.Writer, sig hub.Signal) error {
				fmt.Fprintf(w, "emitted %s\n", sig.Name)
				return nil
			})
		},
	}
}

func newSignalWaitCmd() *cobra.Command {
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "wait NAME",
		Short: "Wait until a signal is emitted",
		Long: `Wait up to --timeout for a signal; return at once when it is already
emitted, and print it with its data.

Exit status: 0 when emitted; 3 when --timeout passed first; 1 on error.`,
		Args: argsRange(1, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, err := hub.NormalizeName("signal", args[0])
			if err != nil {
				return err
			}
			if err := checkWait("--timeout", timeout); err != nil {
				return err
			}
			s, err := connect(cmd, anyCredential)
			if err != nil {
				return err
			}
			var raw json.RawMessage
			ctx, cancel := waitContext(cmd, timeout)
			defer cancel()
			sig, err := s.c.WaitSignal(s.capture(ctx, &raw), name, timeout)
			if err != nil {
				return s.explain(err)
			}
			if !sig.Emitted {
				return &ExitError{Code: ExitTimeout, Err: fmt.Errorf("signal wait: %s not emitted within %s", name, timeout)}
			}
			if s.g.json {
				return printJSON(cmd.OutOrStdout(), raw)
			}
			printSignal(cmd.OutOrStdout(), time.Now(), sig)
			return nil
		},
	}
	cmd.Flags().DurationVar(&timeout, "timeout", 30*time.Second, "how long to wait, at most 10m")
	return cmd
}

// printSignal prints one signal on a line.
func printSignal(w io.Writer, now time.Time, s hub.Signal) {
	if !s.Emitted {
		fmt.Fprintf(w, "%s  not emitted\n", s.Name)
		return
	}
	fmt.Fprintf(w, "%s  emitted by %s %s", s.Name, orAnonymous(s.By), ago(now, s.EmittedAt))
	if s.Count > 1 {
		fmt.Fprintf(w, " (%d times)", s.Count)
	}
	if len(s.Data) > 0 {
		fmt.Fprintf(w, "  %s", clean(string(s.Data), false))
	}
	fmt.Fprintln(w)
}

func newSignalGetCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "get NAME",
		Short: "Show a signal without waiting",
		Long: `Show whether a signal is emitted, and its data.

Exit status: 0 when emitted; 3 when not; 1 on error.`,
		Args: argsRange(1, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, err := hub.NormalizeName("signal", args[0])
			if err != nil {
				return err
			}
			s, err := connect(cmd, anyCredential)
			if err != nil {
				return err
			}
			var raw json.RawMessage
			ctx, cancel := s.context(cmd, &raw)
			defer cancel()
			sig, err := s.c.Signal(ctx, name)
			if err != nil {
				return s.explain(err)
			}
			if s.g.json {
				if err := printJSON(cmd.OutOrStdout(), raw); err != nil {
					return err
				}
			} else {
				printSignal(cmd.OutOrStdout(), time.Now(), sig)
			}
			if !sig.Emitted {
				return &ExitError{Code: ExitTimeout, Err: fmt.Errorf("signal %s is not emitted", name)}
			}
			return nil
		},
	}
}

func newSignalClearCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "clear NAME",
		Short: "Reset a signal to not emitted",
		Args:  argsRange(1, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, err := hub.NormalizeName("signal", args[0])
			if err != nil {
				return err
			}
			return call(cmd, anyCredential, func(ctx context.Context, c *client.Client) (bool, error) {
				return c.ClearSignal(ctx, name)
			}, func(w io.Writer, cleared bool) error {
				if cleared {
					fmt.Fprintf(w, "cleared %s\n", name)
				} else {
					fmt.Fprintf(w, "%s was not emitted\n", name)
				}
				return nil
			})
		},
	}
}

func newSignalListCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List emitted signals",
		Args:    argsRange(0, 0),
		RunE: func(cmd *cobra.Command, args []string) error {
			return call(cmd, anyCredential, func(ctx context.Context, c *client.Client) ([]hub.Signal, error) {
				return c.Signals(ctx)
			}, func(w io.Writer, sigs []hub.Signal) error {
				if len(sigs) == 0 {
					fmt.Fprintln(w, "no signals emitted")
					return nil
				}
				now := time.Now()
				for _, sig := range sigs {
					printSignal(w, now, sig)
				}
				return nil
			})
		},
	}
}
