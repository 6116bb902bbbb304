package cli

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/parley-dev/parley/internal/hub"
)

func newRenameCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "rename NEW",
		Short: "Give this agent a new name",
		Long: `Give this agent a new name. Mail sent to the old name still reaches it
for a while (2 hours by default). The stored token moves to the new name.`,
		Args: argsRange(1, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			newName, err := hub.NormalizeName("new name", args[0])
			if err != nil {
				return err
			}
			s, err := connect(cmd, needAgent)
			if err != nil {
				return err
			}
			if newName == s.name {
				return fmt.Errorf("rename: the agent is already called %s", newName)
			}
			var raw json.RawMessage
			ctx, cancel := s.context(cmd, &raw)
			defer cancel()
			a, err := s.c.Rename(ctx, newName)
			if err != nil {
				return s.explain(err)
			}
			if err := s.tokens.Move(s.name, a.Name); err != nil {
				return fmt.Errorf("rename: renamed to %s, but moving the stored token failed: %w", a.Name, err)
			}
			w := cmd.OutOrStdout()
			if s.g.json {
				return printJSON(w, raw)
			}
			fmt.Fprintf(w, "renamed %s to %s; mail to %s still reaches it for a while\n", s.name, a.Name, s.name)
			if s.g.as != "" {
				fmt.Fprintf(w, "act as it from now on with --as %s\n", a.Name)
			}
			return nil
		},
	}
}
