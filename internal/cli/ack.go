package cli

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"
)

func newAckCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "ack ID...",
		Short: "Acknowledge messages",
		Long: `Acknowledge messages delivered to this agent, so that their senders
know they were handled. IDs are message ids as inbox prints them (#12 or 12).`,
		Args: argsRange(1, -1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ids := make([]int64, len(args))
			for i, a := range args {
				id, err := parseID(a)
				if err != nil {
					return fmt.Errorf("ack: %w", err)
				}
				ids[i] = id
			}
			s, err := connect(cmd, needAgent)
			if err != nil {
				return err
			}
			var raw json.RawMessage
			ctx, cancel := s.context(cmd, &raw)
			defer cancel()
			w := cmd.OutOrStdout()
			for _, id := range ids {
				if err := s.c.Ack(ctx, id); err != nil {
					return s.explain(err)
				}
				if s.g.json {
					if err := printJSON(w, raw); err != nil {
						return err
					}
					continue
				}
				fmt.Fprintf(w, "acked #%d\n", id)
			}
			return nil
		},
	}
}
