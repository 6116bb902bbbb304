package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/parley-dev/parley/internal/hub"
)

// maxStatus is the longest status text the hub keeps, in bytes.
const maxStatus = 256

func newStatusCmd() *cobra.Command {
	var state string
	cmd := &cobra.Command{
		Use:   "status [TEXT...]",
		Short: "Show the hub's state, or set this agent's status",
		Long: `Without arguments, show the hub's state (version, uptime, agents online)
and this agent's own. With TEXT, set this agent's status text ("reviewing
PR 12"; "" clears it); --state busy, idle or online sets its state.`,
		Example: `  parley status
  parley status "reviewing PR 12" --state busy
  parley status --state idle`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 && !cmd.Flags().Changed("state") {
				return showStatus(cmd)
			}
			var u hub.StatusUpdate
			if len(args) > 0 {
				text := strings.Join(args, " ")
				if len(text) > maxStatus || strings.ContainsAny(text, "\r\n") {
					return fmt.Errorf("status: the text must be one line of at most %d bytes", maxStatus)
				}
				u.Status = &text
			}
			if cmd.Flags().Changed("state") {
				switch state {
				case hub.StateOnline, hub.StateBusy, hub.StateIdle:
				default:
					return fmt.Errorf("--state %q: must be busy, idle or online", state)
				}
				u.State = &state
			}
			s, err := connect(cmd, needAgent)
			if err != nil {
				return err
			}
			var raw json.RawMessage
			ctx, cancel := s.context(cmd, &raw)
			defer cancel()
			a, err := s.c.SetStatus(ctx, u)
			if err != nil {
				return s.explain(err)
			}
			w := cmd.OutOrStdout()
			if s.g.json {
				return printJSON(w, raw)
			}
			name := a.Name
			if name == "" {
				name = s.name
			}
			fmt.Fprintf(w, "%s is %s", name, orDash(a.State))
			if a.StatusText != "" {
				fmt.Fprintf(w, ": %s", oneLine(a.StatusText, 200))
			}
			fmt.Fprintln(w)
			return nil
		},
	}
	cmd.Flags().StringVar(&state, "state", "", "busy, idle or online")
	return cmd
}

// showStatus prints the hub's state and, when an agent is known, its own.
func showStatus(cmd *cobra.Command) error {
	s, err := connect(cmd, anyCredential)
	if err != nil {
		return err
	}
	var raw json.RawMessage
	ctx, cancel := s.context(cmd, &raw)
	defer cancel()
	st, err := s.c.Status(ctx)
	if err != nil {
		return s.explain(err)
	}
	w := cmd.OutOrStdout()
	if s.g.json {
		return printJSON(w, raw)
	}
	auth := "authentication on"
	if st.Open {
		auth = "open: no authentication"
	}
	fmt.Fprintf(w, "hub %s: version %s, up %s, %s\n", s.g.url, orDash(oneLine(st.Version, 64)), duration(st.UptimeS), auth)
	online := st.Online
	if online == 0 {
		for _, p := range st.Peers {
			if p.Online {
				online++
			}
		}
	}
	fmt.Fprintf(w, "agents: %d registered, %d online\n", len(st.Peers), online)
	if s.name == "" {
		return nil
	}
	ctx, cancel = s.context(cmd, nil)
	defer cancel()
	me, err := s.c.Whoami(ctx)
	var he *hub.Error
	switch {
	case errors.As(err, &he):
		fmt.Fprintf(w, "you: %s: %s\n", s.name, he.Message)
		return nil
	case err != nil:
		return s.explain(err)
	}
	fmt.Fprintf(w, "you: %s, %s", me.Name, me.Presence)
	if me.StatusText != "" {
		fmt.Fprintf(w, ": %s", oneLine(me.StatusText, 200))
	}
	fmt.Fprintf(w, "; %d unread\n", me.Unread)
	return nil
}
