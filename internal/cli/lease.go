package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/parley-dev/parley/internal/client"
	"github.com/parley-dev/parley/internal/hub"
)

// newLeaseCmd is `parley lease`: reservations of files by glob pattern.
func newLeaseCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "lease",
		Short: "Reserve files so that other agents keep off them",
		Long: `A lease reserves files, named by glob patterns relative to the repository
root ("src/api/**", "*.md"), for this agent until it expires. An exclusive
lease (the default) refuses any other agent's overlapping reservation,
naming the holder; shared leases only conflict with exclusive ones. Each
grant has a fencing token larger than any before it. parley guard checks a
commit against the leases.`,
		Example: `  parley lease reserve 'src/api/**' --ttl 2h --reason "refactoring the API"
  parley lease list
  parley lease release 4`,
		Args: argsRange(0, 0),
	}
	cmd.AddCommand(newLeaseReserveCmd(), newLeaseRenewCmd(), newLeaseReleaseCmd(), newLeaseListCmd())
	return cmd
}

func newLeaseReserveCmd() *cobra.Command {
	var ttl time.Duration
	var shared bool
	var reason string
	cmd := &cobra.Command{
		Use:   "reserve PATTERN...",
		Short: "Reserve files matching glob patterns",
		Long: `Reserve the files matching the patterns. Segments follow path.Match (*, ?,
[a-z]); ** matches any number of directories; a trailing / means the whole
directory. A conflict fails (exit 1) and names the holder, its pattern and
when its lease expires.`,
		Args: argsRange(1, -1),
		RunE: func(cmd *cobra.Command, args []string) error {
			for _, p := range args {
				if _, err := hub.NormalizePattern(p); err != nil {
					return err
				}
			}
			if ttl < 0 {
				return fmt.Errorf("--ttl %s: must not be negative", ttl)
			}
			exclusive := !shared
			req := hub.LeaseRequest{Patterns: hub.StringList(args), TTL: hub.Duration(ttl), Exclusive: &exclusive, Reason: reason}
			return call(cmd, needAgent, func(ctx context.Context, c *client.Client) (hub.Lease, error) {
				return c.Reserve(ctx, req)
			}, func(w io.Writer, l hub.Lease) error {
				fmt.Fprintf(w, "lease #%d (%s) on %s until %s, fencing token %d\n",
					l.ID, leaseKind(l), strings.Join(l.Patterns, " "), l.ExpiresAt.Local().Format(time.RFC3339), l.Token)
				return nil
			})
		},
	}
	f := cmd.Flags()
	f.DurationVar(&ttl, "ttl", 0, "how long the lease lasts (default the hub's, 1h)")
	f.BoolVar(&shared, "shared", false, "a shared lease: only exclusive ones conflict with it")
	f.StringVar(&reason, "reason", "", "why, shown to agents whose reservation conflicts")
	return cmd
}

func newLeaseRenewCmd() *cobra.Command {
	var ttl time.Duration
	cmd := &cobra.Command{
		Use:   "renew ID",
		Short: "Extend a lease of this agent",
		Args:  argsRange(1, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseIDOf("lease", args[0])
			if err != nil {
				return err
			}
			if ttl < 0 {
				return fmt.Errorf("--ttl %s: must not be negative", ttl)
			}
			return call(cmd, needAgent, func(ctx context.Context, c *client.Client) (hub.Lease, error) {
				return c.RenewLease(ctx, id, ttl)
			}, func(w io.Writer, l hub.Lease) error {
				fmt.Fprintf(w, "lease #%d renewed until %s\n", l.ID, l.ExpiresAt.Local().Format(time.RFC3339))
				return nil
			})
		},
	}
	cmd.Flags().DurationVar(&ttl, "ttl", 0, "new lifetime from now (default the hub's, 1h)")
	return cmd
}

func newLeaseReleaseCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "release ID...",
		Short: "End leases of this agent",
		Args:  argsRange(1, -1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ids := make([]int64, len(args))
			for i, a := range args {
				id, err := parseIDOf("lease", a)
				if err != nil {
					return err
				}
				ids[i] = id
			}
			s, err := connect(cmd, anyCredential)
			if err != nil {
				return err
			}
			var raw json.RawMessage
			ctx, cancel := s.context(cmd, &raw)
			defer cancel()
			w := cmd.OutOrStdout()
			for _, id := range ids {
				if _, err := s.c.ReleaseLease(ctx, id); err != nil {
					return s.explain(err)
				}
				if s.g.json {
					if err := printJSON(w, raw); err != nil {
						return err
					}
					continue
				}
				fmt.Fprintf(w, "released lease #%d\n", id)
			}
			return nil
		},
	}
}

func newLeaseListCmd() *cobra.Command {
	var holder, path string
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List live leases",
		Args:    argsRange(0, 0),
		RunE: func(cmd *cobra.Command, args []string) error {
			return call(cmd, anyCredential, func(ctx context.Context, c *client.Client) ([]hub.Lease, error) {
				return c.Leases(ctx, hub.LeaseListOptions{Holder: holder, Path: path})
			}, func(w io.Writer, ls []hub.Lease) error {
				printLeases(w, time.Now(), ls)
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&holder, "holder", "", "only the leases of this agent")
	cmd.Flags().StringVar(&path, "path", "", "only leases covering this path")
	return cmd
}

func printLeases(w io.Writer, now time.Time, ls []hub.Lease) {
	if len(ls) == 0 {
		fmt.Fprintln(w, "no leases")
		return
	}
	t := newTable(w)
	fmt.Fprintln(t, "ID\tHOLDER\tPATTERNS\tKIND\tEXPIRES\tTOKEN\tREASON")
	for _, l := range ls {
		fmt.Fprintf(t, "#%d\t%s\t%s\t%s\t%s\t%d\t%s\n", l.ID, l.Holder, clean(strings.Join(l.Patterns, " "), false), leaseKind(l), until(now, l.ExpiresAt), l.Token, orDash(oneLine(l.Reason, 40)))
	}
	t.Flush()
}

// leaseKind says whether a lease is exclusive or shared.
func leaseKind(l hub.Lease) string {
	if l.Exclusive {
		return "exclusive"
	}
	return "shared"
}

// until says how long from now t is: "in 42m".
func until(now, t time.Time) string {
	d := t.Sub(now)
	switch {
	case d <= 0:
		return "expired"
	case d < time.Minute:
		return fmt.Sprintf("in %ds", int(d/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("in %dm", int(d/time.Minute))
	}
	return fmt.Sprintf("in %dh%dm", int(d/time.Hour), int(d%time.Hour/time.Minute))
}
