package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/parley-dev/parley/internal/hub"
)

func newPeersCmd() *cobra.Command {
	var role string
	var online bool
	cmd := &cobra.Command{
		Use:   "peers",
		Short: "List the agents registered with the hub",
		Long: `List the agents registered with the hub, with presence, unread mail and
status. --role keeps the agents of one role, --online those online now.`,
		Args: argsRange(0, 0),
		RunE: func(cmd *cobra.Command, args []string) error {
			role, err := hub.NormalizeOptionalName("--role", role)
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
			peers, err := s.c.Peers(ctx, role)
			if err != nil {
				return s.explain(err)
			}
			if online {
				kept := peers[:0]
				for _, p := range peers {
					if p.Online {
						kept = append(kept, p)
					}
				}
				peers = kept
			}
			w := cmd.OutOrStdout()
			if s.g.json {
				if !online {
					return printJSON(w, raw)
				}
				// The hub filtered by role; the online filter is ours, so
				// print the hub's shape with what is left.
				b, err := json.Marshal(map[string][]hub.Peer{"peers": peers})
				if err != nil {
					return err
				}
				return printJSON(w, b)
			}
			printPeers(w, time.Now(), peers, s.name)
			return nil
		},
	}
	cmd.Flags().StringVar(&role, "role", "", "only agents with this role")
	cmd.Flags().BoolVar(&online, "online", false, "only agents online now")
	return cmd
}

// printPeers prints agents as a table; self is marked.
func printPeers(w io.Writer, now time.Time, peers []hub.Peer, self string) {
	if len(peers) == 0 {
		fmt.Fprintln(w, "no agents")
		return
	}
	t := newTable(w)
	fmt.Fprintln(t, "NAME\tROLE\tPRESENCE\tUNREAD\tLAST SEEN\tPROJECT\tSTATUS")
	for _, p := range peers {
		name := p.Name
		if name == self {
			name += " (you)"
		}
		fmt.Fprintf(t, "%s\t%s\t%s\t%d\t%s\t%s\t%s\n", name, orDash(p.Role), p.Presence, p.Unread, ago(now, p.LastSeen),
			orDash(oneLine(p.Project, 24)), orDash(oneLine(p.StatusText, 60)))
	}
	t.Flush()
}

// completePeers completes agent names (and role:<role> when roles is
// set) from the hub, for shell completion. It stays quiet on failure.
func completePeers(roles bool) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		s, err := connect(cmd, anyCredential)
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		ctx := cmd.Context()
		if ctx == nil {
			ctx = context.Background()
		}
		ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		peers, err := s.c.Peers(ctx, "")
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		var out []cobra.Completion
		seen := map[string]bool{}
		for _, p := range peers {
			out = append(out, p.Name)
			if roles && p.Role != "" && !seen[p.Role] {
				seen[p.Role] = true
				out = append(out, hub.RolePrefix+p.Role)
			}
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}
