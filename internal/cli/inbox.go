package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/parley-dev/parley/internal/hub"
)

type readFlags struct {
	peek  bool
	since numFlag
	limit numFlag
	full  bool
}

func (f *readFlags) add(cmd *cobra.Command, withSince bool) {
	fl := cmd.Flags()
	fl.BoolVar(&f.peek, "peek", false, "leave the messages unread")
	if withSince {
		fl.Var(&f.since, "since", "every message after this sequence number, read or not (to catch up)")
	}
	f.limit.min = 1
	fl.Var(&f.limit, "limit", "at most this many messages (default 50)")
	fl.BoolVar(&f.full, "full", false, "print whole bodies, not previews")
}

// options returns the read options the flags select. Text output asks
// the hub for previews, so one huge message cannot flood the terminal.
func (f *readFlags) options(cmd *cobra.Command, jsonOut bool) hub.ReadOptions {
	o := hub.ReadOptions{Peek: f.peek, Limit: f.limit.Int()}
	if fl := cmd.Flag("since"); fl != nil && fl.Changed {
		o.Since, o.HasSince = f.since.n, true
	}
	if !jsonOut && !f.full {
		o.Preview = previewBytes
	}
	return o
}

func newInboxCmd() *cobra.Command {
	var f readFlags
	cmd := &cobra.Command{
		Use:   "inbox",
		Short: "Read new messages",
		Long: `Print unread messages, oldest first, and mark them read (--peek leaves
them unread). --since N prints every message after sequence number N,
read or not, for a client catching up. Long bodies are shown as a preview
with the command that prints the rest.`,
		Args: argsRange(0, 0),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := connect(cmd, needAgent)
			if err != nil {
				return err
			}
			var raw json.RawMessage
			ctx, cancel := s.context(cmd, &raw)
			defer cancel()
			o := f.options(cmd, s.g.json)
			res, err := s.c.Inbox(ctx, o)
			if err != nil {
				return s.explain(err)
			}
			if s.g.json {
				return printJSON(cmd.OutOrStdout(), raw)
			}
			printRead(cmd.OutOrStdout(), time.Now(), res, o, f.full)
			return nil
		},
	}
	f.add(cmd, true)
	return cmd
}

// printRead prints a page of an inbox and what is left.
func printRead(w io.Writer, now time.Time, res hub.ReadResult, o hub.ReadOptions, full bool) {
	if len(res.Messages) == 0 {
		if o.HasSince {
			fmt.Fprintf(w, "no messages after #%d in the sequence\n", o.Since)
		} else {
			fmt.Fprintln(w, "no new messages")
		}
		return
	}
	maxBytes, maxLines := previewBytes, previewLines
	if full {
		maxBytes, maxLines = 0, 0
	}
	for i, m := range res.Messages {
		if i > 0 {
			fmt.Fprintln(w)
		}
		printMessage(w, now, messageView{Message: m.Message, State: m.State}, maxBytes, maxLines)
	}
	switch {
	case res.More && o.HasSince:
		fmt.Fprintf(w, "\nmore: parley inbox --since %d\n", res.Next)
	case res.More && o.Peek:
		fmt.Fprintf(w, "\nmore waiting (%d unread); read them with: parley inbox\n", res.Unread)
	case res.More || res.Unread > 0:
		fmt.Fprintf(w, "\n%s still unread: parley inbox\n", plural(res.Unread, "message"))
	}
}
