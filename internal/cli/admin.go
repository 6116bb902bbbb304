package cli

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/parley-dev/parley/internal/client"
	"github.com/parley-dev/parley/internal/config"
	"github.com/parley-dev/parley/internal/hub"
)

func newAdminCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "admin",
		Short: "Admin actions: free a name, revoke an agent's tokens",
		Long: `Admin actions need the hub's admin secret, which is read from the data
directory (--data, $PARLEY_DATA): run them on the hub's machine as the user
that runs the hub. Each is written to audit.log in the data directory and
announced as an admin.* event.`,
		Args: argsRange(0, 0),
	}
	cmd.AddCommand(newReleaseCmd(), newRevokeCmd())
	return cmd
}

func newReleaseCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "release NAME",
		Short: "Free a name by force: remove the agent holding it, or a forward left by a rename",
		Long: `Free the name NAME (admin): the agent holding it is removed with its tokens
and mail, as if it had deregistered, or a forward that a rename left on the
name is dropped. Then anyone allowed to register may take the name, for
example the agent whose token was lost, expired or revoked.`,
		Args: argsRange(1, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runAdmin(cmd, args[0], "release")
		},
	}
}

// runAdmin runs an admin action (release or revoke) on name with the
// admin secret, acting as human, and forgets any token stored here for
// name, which no longer works.
func runAdmin(cmd *cobra.Command, name, action string) error {
	name, err := hub.NormalizeName("agent name", name)
	if err != nil {
		return err
	}
	g, err := globalsOf(cmd)
	if err != nil {
		return err
	}
	secret := g.adminSecret()
	if secret == "" {
		return fmt.Errorf("%s: needs the hub's admin secret, which was not found in %s; run it on the hub's machine, or name the hub's data directory with --data", action, g.data)
	}
	c, err := client.New(g.url, client.Options{AdminSecret: secret, CAFile: g.ca, UserAgent: userAgent(cmd)})
	if err != nil {
		return err
	}
	ts, err := config.NewTokenStore("", g.url)
	if err != nil {
		return err
	}
	s := &session{g: g, c: c, tokens: ts}
	var raw json.RawMessage
	ctx, cancel := s.context(cmd, &raw)
	defer cancel()
	var rec hub.AuditRecord
	if action == "release" {
		rec, err = c.ReleaseName(ctx, name)
	} else {
		rec, err = c.RevokeTokens(ctx, name)
	}
	if err != nil {
		return s.explain(err)
	}
	if err := ts.Remove(name); err != nil {
		return fmt.Errorf("%s: done, but removing the stored token of %q failed: %w", action, name, err)
	}
	w := cmd.OutOrStdout()
	if g.json {
		return printJSON(w, raw)
	}
	switch action {
	case "release":
		fmt.Fprintf(w, "released %s: %s\n", name, rec.Detail)
	default:
		fmt.Fprintf(w, "revoked every token of %s; free its name with: parley admin release %s\n", name, name)
	}
	return nil
}
