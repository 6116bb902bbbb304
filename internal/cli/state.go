package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/parley-dev/parley/internal/client"
	"github.com/parley-dev/parley/internal/hub"
)

// newStateCmd is `parley state`: the shared key/value store.
func newStateCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "state",
		Short: "Read and write shared state",
		Long: `Shared state is a small key/value store: each key holds a JSON value and
the revision of its last change. set --expect REV is a compare-and-swap
that fails (exit 1, naming the current revision) when someone changed the
key since; --expect 0 creates a key only if it does not exist.`,
		Example: `  parley state set deploy.phase build
  parley state get deploy.phase
  parley state set deploy.phase '"test"' --expect 7
  parley state watch deploy.phase --timeout 5m`,
		Args: argsRange(0, 0),
	}
	cmd.AddCommand(newStateGetCmd(), newStateSetCmd(), newStateDelCmd(), newStateLsCmd(), newStateWatchCmd())
	return cmd
}

func printStateItem(w io.Writer, now time.Time, it hub.StateItem) {
	fmt.Fprintf(w, "%s = %s  (revision %d, by %s %s)\n", it.Key, clean(string(it.Value), false), it.Revision, orAnonymous(it.UpdatedBy), ago(now, it.UpdatedAt))
}

func newStateGetCmd() *cobra.Command {
	var raw bool
	cmd := &cobra.Command{
		Use:   "get KEY",
		Short: "Print a key's value and revision",
		Args:  argsRange(1, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			key, err := hub.NormalizeName("key", args[0])
			if err != nil {
				return err
			}
			return call(cmd, anyCredential, func(ctx context.Context, c *client.Client) (hub.StateItem, error) {
				return c.GetState(ctx, key)
			}, func(w io.Writer, it hub.StateItem) error {
				if raw {
					return printJSON(w, it.Value)
				}
				printStateItem(w, time.Now(), it)
				return nil
			})
		},
	}
	cmd.Flags().BoolVar(&raw, "value", false, "print only the value, as JSON")
	return cmd
}

// expectFlag is --expect: an optional revision.
type expectFlag struct{ numFlag }

func (f *expectFlag) ptr(cmd *cobra.Command) *int64 {
	if !cmd.Flags().Changed("expect") {
		return nil
	}
	n := f.n
	return &n
}

func newStateSetCmd() *cobra.Command {
	var expect expectFlag
	cmd := &cobra.Command{
		Use:   "set KEY VALUE",
		Short: "Set a key, optionally only at a given revision",
		Long: `Set KEY to VALUE: JSON, or plain text that becomes a JSON string; - reads
it from standard input. With --expect REV the set succeeds only if the key
is at revision REV (0: only if it does not exist); otherwise it fails with
exit status 1 and names the current revision.`,
		Args: argsRange(2, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			key, err := hub.NormalizeName("key", args[0])
			if err != nil {
				return err
			}
			value, err := jsonOrStdin(cmd, "value", args[1], true)
			if err != nil {
				return err
			}
			s, err := connect(cmd, anyCredential)
			if err != nil {
				return err
			}
			var js json.RawMessage
			ctx, cancel := s.context(cmd, &js)
			defer cancel()
			it, err := s.c.SetState(ctx, key, hub.StateSetRequest{Value: value, ExpectedRevision: expect.ptr(cmd)})
			if err != nil {
				return explainRevision(s, err)
			}
			if s.g.json {
				return printJSON(cmd.OutOrStdout(), js)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s set at revision %d\n", it.Key, it.Revision)
			return nil
		},
	}
	cmd.Flags().Var(&expect, "expect", "only if the key is at this revision (0: only if unset)")
	return cmd
}

// explainRevision says what to do about a failed compare-and-swap.
func explainRevision(s *session, err error) error {
	var rc *hub.RevisionConflictError
	if errors.As(err, &rc) {
		if rc.Current == 0 {
			return fmt.Errorf("%w (conflict: the key is not set; use --expect 0 to create it)", err)
		}
		return fmt.Errorf("%w (conflict: current revision %d; read it again and retry with --expect %d)", err, rc.Current, rc.Current)
	}
	return s.explain(err)
}

func newStateDelCmd() *cobra.Command {
	var expect expectFlag
	cmd := &cobra.Command{
		Use:     "del KEY",
		Aliases: []string{"delete", "rm"},
		Short:   "Delete a key",
		Args:    argsRange(1, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			key, err := hub.NormalizeName("key", args[0])
			if err != nil {
				return err
			}
			s, err := connect(cmd, anyCredential)
			if err != nil {
				return err
			}
			var js json.RawMessage
			ctx, cancel := s.context(cmd, &js)
			defer cancel()
			it, err := s.c.DeleteState(ctx, key, expect.ptr(cmd))
			if err != nil {
				return explainRevision(s, err)
			}
			if s.g.json {
				return printJSON(cmd.OutOrStdout(), js)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "deleted %s (was revision %d)\n", it.Key, it.Revision)
			return nil
		},
	}
	cmd.Flags().Var(&expect, "expect", "only if the key is at this revision")
	return cmd
}

func newStateLsCmd() *cobra.Command {
	limit := numFlag{min: 1}
	cmd := &cobra.Command{
		Use:     "ls [PREFIX]",
		Aliases: []string{"list"},
		Short:   "List keys, all or those starting with PREFIX",
		Args:    argsRange(0, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			prefix := ""
			if len(args) == 1 {
				p, err := hub.NormalizeName("prefix", args[0])
				if err != nil {
					return err
				}
				prefix = p
			}
			return call(cmd, anyCredential, func(ctx context.Context, c *client.Client) ([]hub.StateItem, error) {
				return c.ListState(ctx, prefix, limit.Int())
			}, func(w io.Writer, items []hub.StateItem) error {
				if len(items) == 0 {
					fmt.Fprintln(w, "no keys")
					return nil
				}
				now := time.Now()
				t := newTable(w)
				fmt.Fprintln(t, "KEY\tREVISION\tVALUE\tUPDATED")
				for _, it := range items {
					fmt.Fprintf(t, "%s\t%d\t%s\t%s\n", it.Key, it.Revision, oneLine(string(it.Value), 60), ago(now, it.UpdatedAt))
				}
				return t.Flush()
			})
		},
	}
	cmd.Flags().Var(&limit, "limit", "at most this many keys (default 100)")
	return cmd
}

func newStateWatchCmd() *cobra.Command {
	var after numFlag
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "watch KEY",
		Short: "Wait for a key to change",
		Long: `Wait up to --timeout for KEY to change after revision --after (without
it, after its revision now), then print it; return at once when it already
has. A deleted key counts as a change.

Exit status: 0 when it changed; 3 when --timeout passed first; 1 on error.`,
		Args: argsRange(1, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			key, err := hub.NormalizeName("key", args[0])
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
			rev := after.n
			if !cmd.Flags().Changed("after") {
				ctx, cancel := s.context(cmd, nil)
				cur, err := s.c.GetState(ctx, key)
				cancel()
				switch {
				case err == nil:
					rev = cur.Revision
				case !errors.Is(err, hub.ErrNotFound):
					return s.explain(err)
				}
			}
			var js json.RawMessage
			ctx, cancel := waitContext(cmd, timeout)
			defer cancel()
			res, err := s.c.WaitState(s.capture(ctx, &js), key, rev, timeout)
			if err != nil {
				return s.explain(err)
			}
			if !res.Changed {
				return &ExitError{Code: ExitTimeout, Err: fmt.Errorf("state watch: %s unchanged after revision %d within %s", key, rev, timeout)}
			}
			w := cmd.OutOrStdout()
			if s.g.json {
				return printJSON(w, js)
			}
			if !res.Exists {
				fmt.Fprintf(w, "%s deleted\n", key)
				return nil
			}
			printStateItem(w, time.Now(), res.StateItem)
			return nil
		},
	}
	cmd.Flags().Var(&after, "after", "revision to wait past (default the key's revision now)")
	cmd.Flags().DurationVar(&timeout, "timeout", 30*time.Second, "how long to wait, at most 10m")
	return cmd
}
