package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/parley-dev/parley/internal/client"
	"github.com/parley-dev/parley/internal/config"
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
	req, err := o.request(g, args)
	if err != nil {
		return err
	}
	ts, err := config.NewTokenStore("", g.url)
	if err != nil {
		return err
	}
	if req.Name != "" {
		if req.Token, err = ts.Load(req.Name); err != nil {
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
	if err := ts.Save(reg.Agent.Name, reg.Token); err != nil {
		return fmt.Errorf("register: keep the token of %q: %w", reg.Agent.Name, err)
	}
	w := cmd.OutOrStdout()
	if g.json {
		return printJSON(w, raw)
	}
	printRegistration(w, g, ts, reg)
	return nil
}

// request is the registration the flags and args ask for: the name given
// (else --as), the project defaulting to the current directory's name,
// and this machine's host name.
func (o registerOptions) request(g globals, args []string) (hub.RegisterRequest, error) {
	req := hub.RegisterRequest{Name: g.as, Description: o.description, Project: o.project, Client: o.client}
	var err error
	if len(args) == 1 {
		if req.Name, err = hub.NormalizeName("agent name", args[0]); err != nil {
			return req, err
		}
	}
	if req.Role, err = hub.NormalizeOptionalName("role", o.role); err != nil {
		return req, err
	}
	req.Capabilities = []string{}
	for _, c := range o.caps {
		for _, c := range strings.Split(c, ",") {
			c = strings.TrimSpace(c)
			if c == "" || len(c) > hub.MaxNameLen || strings.ContainsAny(c, "\r\n\x00") {
				return req, fmt.Errorf("--cap %q: a capability is 1 to %d characters of one line", c, hub.MaxNameLen)
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
	return req, nil
}

// printRegistration says who registered, what mail arrived, where the
// token is kept and, with several agents stored, how to choose one.
func printRegistration(w io.Writer, g globals, ts config.TokenStore, reg hub.Registration) {
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
	fmt.Fprintf(w, "token kept in %s\n", ts.Path(reg.Agent.Name))
	if names, _ := storedAgents(ts); len(names) > 1 && g.as != reg.Agent.Name {
		fmt.Fprintf(w, "%d agents are registered from here; choose one with --as %s or $PARLEY_AGENT\n", len(names), reg.Agent.Name)
	}
}
