package cli

import (
	"context"
	"errors"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/parley-dev/parley/internal/client"
	"github.com/parley-dev/parley/internal/hub"
)

// maxQuery is the longest search the hub accepts, in bytes.
const maxQuery = 1024

func newSearchCmd() *cobra.Command {
	var f pageFlags
	cmd := &cobra.Command{
		Use:   "search WORDS...",
		Short: "Find messages containing words",
		Long: `Find the messages this agent sent or received whose subject or body
contains every word, newest page first. --before ID pages back.`,
		Example: `  parley search deploy staging`,
		Args:    argsRange(1, -1),
		RunE: func(cmd *cobra.Command, args []string) error {
			q := strings.TrimSpace(strings.Join(args, " "))
			if q == "" {
				return errors.New("search: give the words to search for")
			}
			if len(q) > maxQuery {
				return errors.New("search: the words are longer than 1024 bytes")
			}
			return call(cmd, needAgent, func(ctx context.Context, c *client.Client) (hub.HistoryResult, error) {
				return c.Search(ctx, q, f.page())
			}, func(w io.Writer, res hub.HistoryResult) error {
				printHistory(w, time.Now(), res, "parley search "+q, f.full)
				return nil
			})
		},
	}
	f.add(cmd)
	return cmd
}
