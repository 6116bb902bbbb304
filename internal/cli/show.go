package cli

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

func newShowCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "show ID",
		Aliases: []string{"message"},
		Short:   "Print one message in full",
		Long: `Print one message this agent sent or received, in full, with its
attachments; the sender also sees each recipient's delivery state.`,
		Args: argsRange(1, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseID(args[0])
			if err != nil {
				return fmt.Errorf("show: %w", err)
			}
			s, err := connect(cmd, needAgent)
			if err != nil {
				return err
			}
			var raw json.RawMessage
			ctx, cancel := s.context(cmd, &raw)
			defer cancel()
			v, err := s.c.Message(ctx, id)
			if err != nil {
				return s.explain(err)
			}
			w := cmd.OutOrStdout()
			if s.g.json {
				return printJSON(w, raw)
			}
			now := time.Now()
			printMessage(w, now, messageView{Message: v.Message, State: v.State}, 0, 0)
			for _, a := range v.Attachments {
				if a.Content != "" {
					printAttachmentContent(w, a)
				}
			}
			if len(v.Deliveries) > 0 {
				states := make([]string, len(v.Deliveries))
				for i, d := range v.Deliveries {
					states[i] = d.To + " " + d.State
				}
				fmt.Fprintf(w, "delivery: %s\n", strings.Join(states, ", "))
			}
			return nil
		},
	}
}
