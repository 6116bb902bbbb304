package cli

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/parley-dev/parley/internal/client"
	"github.com/parley-dev/parley/internal/hub"
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
			return call(cmd, needAgent, func(ctx context.Context, c *client.Client) (hub.MessageView, error) {
				return c.Message(ctx, id)
			}, func(w io.Writer, v hub.MessageView) error {
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
			})
		},
	}
}
