package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/parley-dev/parley/internal/client"
	"github.com/parley-dev/parley/internal/hub"
)

type registerOptions struct {
	role        string
	caps        []string
	description string
	project     string
	client      string
}

func newRegisterCmd() *cobra.Command {
	var o registerOptions
	cmd := &cobra.Command{
		Use:   "register [NAME]",
		Short: "Register an agent with the hub and keep its token",
		Long: `Register an agent with the hub and store its token, so that later
commands act as it. Without NAME the name given with --as or $PARLEY_AGENT
is used, else the hub picks one from the role or client.

Registering a name stored here again re-registers it with its token, so
the name is reclaimed and its mail kept. Registration authenticates with
the join secret (--secret, $PARLEY_SECRET) if given, else with the admin
secret of a hub on this machine, else with nothing (a hub run with --open).`,
		Example: `  parley register backend --role backend --cap go --cap sql
  parley register --role reviewer`,
		Args: argsRange(0, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runRegister(cmd, args, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.role, "role", "", "role of the agent, such as backend or reviewer")
	f.StringArrayVar(&o.caps, "cap", nil, "a capability (repeatable; commas separate several)")
	f.StringVar(&o.description, "description", "", "what the agent does")
	f.StringVar(&o.project, "project", "", "project the agent works on (default: the current directory's name)")
	f.StringVar(&o.client, "client", "cli", "kind of client: claude-code, gemini, codex, cli, human...")
	return cmd
}

func runRegister(cmd *cobra.Command, args []string, o registerOptions) error {
	g, err := globalsOf(cmd)
	if err != nil {
		return err
	}
	req := hub.RegisterRequest{Description: o.description, Project: o.project, Client: o.client}
	name := g.as
	if len(args) == 1 {
		if name, err = hub.NormalizeName("agent name", args[0]); err != nil {
			return err
		}
	}
	req.Name = name
	if req.Role, err = hub.NormalizeOptionalName("role", o.role); err != nil {
		return err
	}
	req.Capabilities = []string{}
	for _, c := range o.caps {
		for _, c := range strings.Split(c, ",") {
			c = strings.TrimSpace(c)
			if c == "" || len(c) > hub.MaxNameLen || strings.ContainsAny(c, "\r\n\x00") {
				return fmt.Errorf("--cap %q: a capability is 1 to %d characters of one line", c, hub.MaxNameLen)
			}
			req.Capabilities = append(req.Capabilities, c)
		}
	}
	if req.Project == "" {
		if wd, err := os.Getwd(); err == nil {
			req.Project = filepath.Base(wd)
		}
	}
	req.Host, _ = os.Hostname()

	ts, err := newTokenStore(g.url)
	if err != nil {
		return err
	}
	if name != "" {
		if req.Token, err = ts.load(name); err != nil {
			return err
		}
	}
	// The stored token goes in the body to reclaim the name, and is the
	// credential when no secret is at hand (a token may re-register its
	// own name).
	c, err := client.New(g.url, client.Options{
		Token: req.Token, JoinSecret: g.secret, AdminSecret: g.adminSecret(), CAFile: g.ca, UserAgent: userAgent(cmd),
	})
	if err != nil {
		return err
	}
	s := &session{g: g, c: c, tokens: ts}
	var raw json.RawMessage
	ctx, cancel := s.context(cmd, &raw)
	defer cancel()
	reg, err := c.Register(ctx, req)
	if req.Token != "" && g.secret == "" && errors.Is(err, hub.ErrUnauthenticated) {
		// The stored token was the only credential and the hub does not
		// know it (a new hub, or one that was reset): try without it,
		// which an open hub accepts.
		req.Token = ""
		c = c.WithAgent("", "")
		reg, err = c.Register(ctx, req)
	}
	if err != nil {
		return s.explain(err)
	}
	if reg.Agent.Name == "" || reg.Token == "" {
		return fmt.Errorf("register: the hub's answer has no name or token")
	}
	if err := ts.save(reg.Agent.Name, reg.Token); err != nil {
		return fmt.Errorf("register: keep the token of %q: %w", reg.Agent.Name, err)
	}
	w := cmd.OutOrStdout()
	if g.json {
		return printJSON(w, raw)
	}
	verb := "registered"
	if reg.Reclaimed {
		verb = "re-registered"
	}
	fmt.Fprintf(w, "%s %s at %s", verb, reg.Agent.Name, g.url)
	if reg.Agent.Role != "" {
		fmt.Fprintf(w, " (role %s)", reg.Agent.Role)
	}
	fmt.Fprintln(w)
	if reg.Delivered > 0 {
		fmt.Fprintf(w, "%s held for %s arrived; read them with: parley inbox\n", plural(reg.Delivered, "message"), reg.Agent.Name)
	}
	fmt.Fprintf(w, "token kept in %s\n", ts.path(reg.Agent.Name))
	if names, _ := ts.names(); len(names) > 1 && g.as != reg.Agent.Name {
		fmt.Fprintf(w, "%d agents are registered from here; choose one with --as %s or $PARLEY_AGENT\n", len(names), reg.Agent.Name)
	}
	return nil
}
