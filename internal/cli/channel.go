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

// newChannelCmd is `parley channel`: named, append-only streams of posts
// with sequence numbers (seed 001).
func newChannelCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "channel",
		Aliases: []string{"ch"},
		Short:   "Post to, read and follow channels",
		Long: `Channels are named, append-only streams: anyone posts JSON or text, and
each post gets the channel's next sequence number. Read with --since to
catch up; wait to block until something new is posted.`,
		Example: `  parley channel post results '{"test":"handshake","status":"pass"}'
  parley channel read results --since 5
  parley channel wait results --timeout 2m`,
		Args: argsRange(0, 0),
	}
	cmd.AddCommand(newChannelPostCmd(), newChannelReadCmd(), newChannelWaitCmd(), newChannelListCmd())
	return cmd
}

func newChannelPostCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "post NAME DATA",
		Short: "Post JSON or text to a channel",
		Long: `Post DATA to the channel NAME: JSON as it is, or plain text that becomes
a JSON string. - reads DATA from standard input.`,
		Args: argsRange(2, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, err := hub.NormalizeName("channel", args[0])
			if err != nil {
				return err
			}
			data, err := jsonOrStdin(cmd, "data", args[1], true)
			if err != nil {
				return err
			}
			return call(cmd, anyCredential, func(ctx context.Context, c *client.Client) (hub.ChannelPost, error) {
				return c.PostChannel(ctx, name, data)
			}, func(w io.Writer, p hub.ChannelPost) error {
				fmt.Fprintf(w, "posted #%d to %s\n", p.Seq, p.Channel)
				return nil
			})
		},
	}
}

// channelFlags are the flags of read and wait.
type channelFlags struct {
	since numFlag
	limit numFlag
}

func (f *channelFlags) add(cmd *cobra.Command) {
	f.limit.min = 1
	cmd.Flags().Var(&f.since, "since", "only posts after this sequence number")
	cmd.Flags().Var(&f.limit, "limit", "at most this many posts (default 100)")
}

func (f *channelFlags) options(cmd *cobra.Command) hub.ChannelReadOptions {
	return hub.ChannelReadOptions{Since: f.since.n, HasSince: cmd.Flags().Changed("since"), Limit: f.limit.Int()}
}

func newChannelReadCmd() *cobra.Command {
	var f channelFlags
	cmd := &cobra.Command{
		Use:   "read NAME",
		Short: "Print a channel's posts",
		Long: `Print the posts of a channel, oldest first: all that are kept, or those
after --since. When more remain, the last line says what --since to pass.`,
		Args: argsRange(1, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, err := hub.NormalizeName("channel", args[0])
			if err != nil {
				return err
			}
			return call(cmd, anyCredential, func(ctx context.Context, c *client.Client) (hub.ChannelRead, error) {
				return c.ReadChannel(ctx, name, f.options(cmd))
			}, func(w io.Writer, res hub.ChannelRead) error {
				printPosts(w, time.Now(), res)
				return nil
			})
		},
	}
	f.add(cmd)
	return cmd
}

func newChannelWaitCmd() *cobra.Command {
	var f channelFlags
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "wait NAME",
		Short: "Wait for new posts on a channel",
		Long: `Wait up to --timeout for posts on a channel after --since (without it,
for posts made from now on), and print them; return at once when there
are some already.

Exit status: 0 with posts printed; 3 when --timeout passed with none; 1 on
error.`,
		Args: argsRange(1, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, err := hub.NormalizeName("channel", args[0])
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
			res, err := s.c.WaitChannel(s.capture(ctx, &raw), name, f.options(cmd), timeout)
			if err != nil {
				return s.explain(err)
			}
			if len(res.Messages) == 0 {
				return &ExitError{Code: ExitTimeout, Err: fmt.Errorf("channel wait: nothing posted to %s within %s", name, timeout)}
			}
			if s.g.json {
				return printJSON(cmd.OutOrStdout(), raw)
			}
			printPosts(cmd.OutOrStdout(), time.Now(), res)
			return nil
		},
	}
	f.add(cmd)
	cmd.Flags().DurationVar(&timeout, "timeout", 30*time.Second, "how long to wait, at most 10m")
	return cmd
}

// printPosts prints a page of posts, one line each.
func printPosts(w io.Writer, now time.Time, res hub.ChannelRead) {
	if len(res.Messages) == 0 {
		fmt.Fprintf(w, "no posts in %s", res.Channel)
		if res.LastSeq > 0 {
			fmt.Fprintf(w, " after #%d (newest #%d)", res.Next, res.LastSeq)
		}
		fmt.Fprintln(w)
		return
	}
	for _, p := range res.Messages {
		fmt.Fprintf(w, "#%d  %s  %s  %s\n", p.Seq, orAnonymous(p.From), ago(now, p.CreatedAt), clean(string(p.Data), false))
	}
	if res.More {
		fmt.Fprintf(w, "(more: parley channel read %s --since %d)\n", res.Channel, res.Next)
	}
}

func newChannelListCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List channels",
		Args:    argsRange(0, 0),
		RunE: func(cmd *cobra.Command, args []string) error {
			return call(cmd, anyCredential, func(ctx context.Context, c *client.Client) ([]hub.Channel, error) {
				return c.Channels(ctx)
			}, func(w io.Writer, chs []hub.Channel) error {
				if len(chs) == 0 {
					fmt.Fprintln(w, "no channels")
					return nil
				}
				now := time.Now()
				t := newTable(w)
				fmt.Fprintln(t, "CHANNEL\tLAST SEQ\tKEPT\tLAST POST")
				for _, c := range chs {
					fmt.Fprintf(t, "%s\t%d\t%d\t%s\n", c.Name, c.LastSeq, c.Count, ago(now, c.LastPostAt))
				}
				return t.Flush()
			})
		},
	}
}
