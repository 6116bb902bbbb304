package cli

import (
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// maxQuery is the longest search the hub accepts, in bytes.
const maxQuery = 1024

func newSearchCmd() *cobra.Command {
	var f pageFlags
	cmd := &cobra.Command{
		Use:   "search WORDS...",
		Short: "Find messages containing words",
		Long: `Find the messages this agent sent or received whose subject or body
contains every word, newest page first. --before ID pages back.`,
		Example: `  parley search deploy staging`,
		Args:    argsRange(1, -1),
		RunE: func(cmd *cobra.Command, args []string) error {
			q := strings.TrimSpace(strings.Join(args, " "))
			if q == "" {
				return errors.New("search: give the words to search for")
			}
			if len(q) > maxQuery {
				return errors.New("search: the words are longer than 1024 bytes")
			}
			s, err := connect(cmd, needAgent)
			if err != nil {
				return err
			}
			var raw json.RawMessage
			ctx, cancel := s.context(cmd, &raw)
			defer cancel()
			res, err := s.c.Search(ctx, q, f.page())
			if err != nil {
				return s.explain(err)
			}
			if s.g.json {
				return printJSON(cmd.OutOrStdout(), raw)
			}
			printHistory(cmd.OutOrStdout(), time.Now(), res, "parley search "+q, f.full)
			return nil
		},
	}
	f.add(cmd)
	return cmd
}
