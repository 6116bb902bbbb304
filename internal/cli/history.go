package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/parley-dev/parley/internal/client"
	"github.com/parley-dev/parley/internal/hub"
)

type pageFlags struct {
	before numFlag
	limit  numFlag
	full   bool
}

func (f *pageFlags) add(cmd *cobra.Command) {
	f.before.id = true
	f.limit.min = 1
	cmd.Flags().Var(&f.before, "before", "only messages older than this message id (the next page)")
	cmd.Flags().Var(&f.limit, "limit", "at most this many messages (default 50)")
	cmd.Flags().BoolVar(&f.full, "full", false, "print whole bodies, not previews")
}

func (f *pageFlags) page() hub.Page {
	return hub.Page{Before: f.before.n, Limit: f.limit.Int()}
}

func newHistoryCmd() *cobra.Command {
	var f pageFlags
	var thread string
	cmd := &cobra.Command{
		Use:   "history PEER | history --thread ID",
		Short: "Show the conversation with a peer, or a thread",
		Long: `Show what this agent and PEER sent each other, or the messages of a
thread, a page at a time: the newest page first, printed oldest first.
--before ID pages back.`,
		Args:              argsRange(0, 1),
		ValidArgsFunction: completePeers(false),
		RunE: func(cmd *cobra.Command, args []string) error {
			var peer string
			switch {
			case len(args) == 1 && thread != "":
				return errors.New("history: give PEER or --thread, not both")
			case len(args) == 1:
				var err error
				if peer, err = hub.NormalizeName("peer", args[0]); err != nil {
					return err
				}
			case thread == "":
				return errors.New("history: give PEER or --thread ID")
			case len(thread) > maxThread:
				return fmt.Errorf("history: --thread is longer than %d bytes", maxThread)
			}
			next := "parley history "
			if peer != "" {
				next += peer
			} else {
				next += "--thread " + thread
			}
			return call(cmd, needAgent, func(ctx context.Context, c *client.Client) (hub.HistoryResult, error) {
				if peer != "" {
					return c.Conversation(ctx, peer, f.page())
				}
				return c.Thread(ctx, thread, f.page())
			}, func(w io.Writer, res hub.HistoryResult) error {
				printHistory(w, time.Now(), res, next, f.full)
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&thread, "thread", "", "the thread to show")
	f.add(cmd)
	return cmd
}

// printHistory prints a page of messages oldest first, and how to get
// the page before it.
func printHistory(w io.Writer, now time.Time, res hub.HistoryResult, next string, full bool) {
	if len(res.Messages) == 0 {
		fmt.Fprintln(w, "no messages")
		return
	}
	maxBytes, maxLines := listPreviewBytes, listPreviewLines
	if full {
		maxBytes, maxLines = 0, 0
	}
	for i := len(res.Messages) - 1; i >= 0; i-- {
		if i < len(res.Messages)-1 {
			fmt.Fprintln(w)
		}
		printMessage(w, now, messageView{Message: res.Messages[i]}, maxBytes, maxLines)
	}
	if res.More {
		fmt.Fprintf(w, "\nolder: %s --before %d\n", next, res.Before)
	}
}
