package cli

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/spf13/cobra"
)

func newTokenCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Rotate this agent's token, or revoke an agent's tokens (admin)",
		Args:  argsRange(0, 0),
	}
	cmd.AddCommand(newTokenRotateCmd(), newRevokeCmd())
	return cmd
}

func newTokenRotateCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "rotate",
		Short: "Replace this agent's token with a new one; the old one stops working",
		Long: `Ask the hub for a new token for this agent (--as, $PARLEY_AGENT, or the
only agent registered from here) and store it where the old one was kept.
The old token is refused from that moment on, wherever a copy of it is.
A bridge (parley mcp) that runs as this agent reads the new token when
it registers again.`,
		Args: argsRange(0, 0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := connect(cmd, needAgent)
			if err != nil {
				return err
			}
			if !s.hasToken {
				return fmt.Errorf("token rotate: no token is stored for %q at %s; rotate works on a registered agent's own token", s.name, s.g.url)
			}
			var raw json.RawMessage
			ctx, cancel := s.context(cmd, &raw)
			defer cancel()
			name, tok, err := s.c.RotateToken(ctx)
			if err != nil {
				return s.explain(err)
			}
			if name == "" || tok == "" {
				return errors.New("token rotate: the hub's answer has no name or token")
			}
			if err := s.tokens.Save(name, tok); err != nil {
				// The old token is dead: say where the new one is, once.
				return fmt.Errorf("token rotate: the hub issued a new token but storing it in %s failed (%w); the new token is %s", s.tokens.Path(name), err, tok)
			}
			w := cmd.OutOrStdout()
			if s.g.json {
				return printJSON(w, raw)
			}
			fmt.Fprintf(w, "rotated the token of %s; the old one no longer works\nnew token kept in %s\n", name, s.tokens.Path(name))
			return nil
		},
	}
}

func newRevokeCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "revoke NAME",
		Short: "Revoke every token of an agent (admin)",
		Long: `Make every token of the agent NAME invalid at once (admin: needs the hub's
admin secret, read from --data). Its event streams end. The agent keeps
its name and mail, but nobody can act as it; to let it register again,
free the name with "parley admin release NAME". The action is written
to the hub's audit log.`,
		Args: argsRange(1, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runAdmin(cmd, args[0], "revoke")
		},
	}
}
