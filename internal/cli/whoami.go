package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/parley-dev/parley/internal/hub"
)

func newWhoamiCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "whoami",
		Short: "Show the agent this shell acts as",
		Args:  argsRange(0, 0),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := connect(cmd, needAgent)
			if err != nil {
				return err
			}
			var raw json.RawMessage
			ctx, cancel := s.context(cmd, &raw)
			defer cancel()
			p, err := s.c.Whoami(ctx)
			if err != nil {
				return s.explain(err)
			}
			if s.g.json {
				return printJSON(cmd.OutOrStdout(), raw)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s at %s\n", p.Name, s.g.url)
			printPeer(cmd.OutOrStdout(), time.Now(), p)
			return nil
		},
	}
}

// printPeer prints an agent's fields, one per line.
func printPeer(w io.Writer, now time.Time, p hub.Peer) {
	t := newTable(w)
	row := func(k, v string) {
		if v != "" {
			fmt.Fprintf(t, "  %s\t%s\n", k, v)
		}
	}
	row("role", p.Role)
	state := p.Presence
	if !p.Online {
		state += ", last seen " + ago(now, p.LastSeen)
	}
	row("presence", state)
	row("status", oneLine(p.StatusText, 200))
	row("unread", fmt.Sprint(p.Unread))
	row("capabilities", oneLine(strings.Join(p.Capabilities, ", "), 200))
	row("description", oneLine(p.Description, 200))
	row("project", oneLine(p.Project, 100))
	row("client", oneLine(p.Client, 64))
	if p.Host != "" {
		host := oneLine(p.Host, 100)
		if p.PID != 0 {
			host += fmt.Sprintf(" (pid %d)", p.PID)
		}
		row("host", host)
	}
	if !p.RegisteredAt.IsZero() {
		row("registered", ago(now, p.RegisteredAt))
	}
	t.Flush()
}
