package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/parley-dev/parley/internal/hub"
)

// ExitTimeout is the exit status of parley wait when nothing arrived.
const ExitTimeout = 3

func newWaitCmd() *cobra.Command {
	var f readFlags
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "wait",
		Short: "Block until a message arrives, then print it",
		Long: `Block until a message for this agent arrives, or return at once if one
is waiting, then print it as inbox does and mark it read.

Exit status: 0 with the messages printed; 3 when --timeout passed with
nothing (nothing is printed on standard output); 1 on error.`,
		Example: `  parley wait --timeout 2m && echo "mail!"`,
		Args:    argsRange(0, 0),
		RunE: func(cmd *cobra.Command, args []string) error {
			if timeout < 0 || timeout > hub.MaxWait {
				return fmt.Errorf("--timeout %s: must be between 0s and %s", timeout, hub.MaxWait)
			}
			s, err := connect(cmd, needAgent)
			if err != nil {
				return err
			}
			var raw json.RawMessage
			// The hub answers when the timeout passes; the margin only
			// covers a hub that stopped answering.
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout+callTimeout)
			defer cancel()
			o := f.options(cmd, s.g.json)
			res, err := s.c.Wait(s.capture(ctx, &raw), o, timeout)
			if err != nil {
				return s.explain(err)
			}
			if len(res.Messages) == 0 {
				return &ExitError{Code: ExitTimeout, Err: fmt.Errorf("wait: no message within %s", timeout)}
			}
			if s.g.json {
				return printJSON(cmd.OutOrStdout(), raw)
			}
			printRead(cmd.OutOrStdout(), time.Now(), res, o, f.full)
			return nil
		},
	}
	cmd.Flags().DurationVar(&timeout, "timeout", 30*time.Second, "how long to wait, at most 10m")
	f.add(cmd, false)
	return cmd
}
