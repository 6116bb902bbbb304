package cli

import (
	"strings"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/spf13/cobra"

	"github.com/parley-dev/parley/internal/bridge"
	"github.com/parley-dev/parley/internal/config"
	"github.com/parley-dev/parley/internal/hub"
)

// mcpFlags are the flags of parley mcp.
type mcpFlags struct {
	name         string
	role         string
	capabilities []string
	description  string
	tools        string
	push         string
	pushFrom     []string
	logLevel     string
}

func newMCPCmd() *cobra.Command {
	var f mcpFlags
	cmd := &cobra.Command{
		Use:   "mcp",
		Short: "Run the MCP bridge an agent client spawns over stdio (Claude Code, Gemini CLI, Codex, Cursor, Windsurf)",
		Long: `Serve Parley's MCP tools on stdin and stdout for one agent session.

The bridge uses the hub at --url ($PARLEY_URL, default ` + config.DefaultURL + `).
When no hub answers on a loopback address it becomes the hub itself, from
--data, and when that hub's process exits another bridge takes over, so
agents on one machine need nothing else running.

The agent is registered as --name ($PARLEY_AGENT), or as a name made of
the client and the project (claude-code-myproject), with a suffix when a
live session holds it. Its token is kept under the user's config dir, so a
restarted session gets the same name back.

With --push claude-channel, new messages, commands and awaited signals are
pushed into a Claude Code session as channel notifications; start Claude
Code with --dangerously-load-development-channels server:parley.
--push-from limits push to some senders (names, role:<role>); what others
send stays unread in the inbox, for the read tool.

An https hub URL whose certificate a private CA signed needs --ca or
$PARLEY_CA.

Add it to Claude Code with: claude mcp add parley -- parley mcp`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runMCP(cmd, f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.name, "name", "", "agent name (default $"+config.EnvAgent+", else derived from the client and project)")
	fl.StringVar(&f.role, "role", "", "role other agents address as role:<role>, e.g. backend")
	fl.StringSliceVar(&f.capabilities, "capability", nil, "what the agent can do (repeat or comma separate)")
	fl.StringVar(&f.description, "description", "", "one line on what the agent works on")
	fl.StringVar(&f.tools, "tools", "all", "tools to offer: all, core, or a comma list of tools and groups (identity, discovery, messages, commands, channels, signals, votes, leases, state)")
	fl.StringVar(&f.push, "push", "", "push new messages into the session: claude-channel (Claude Code channels), or empty for none")
	fl.StringSliceVar(&f.pushFrom, "push-from", nil, "push only what these senders send: agent names or role:<role>, comma separated (default: everyone)")
	fl.StringVar(&f.logLevel, "log-level", "warn", "log level on stderr: debug, info, warn or error")
	return cmd
}

func runMCP(cmd *cobra.Command, f mcpFlags) error {
	g, err := globalsOf(cmd)
	if err != nil {
		return err
	}
	log, err := newLogger(cmd.ErrOrStderr(), "text", f.logLevel)
	if err != nil {
		return err
	}
	name := f.name
	if name == "" {
		name = g.as // --as or $PARLEY_AGENT
	}
	if name != "" {
		if name, err = hub.NormalizeName("--name", name); err != nil {
			return err
		}
	}
	b, err := bridge.New(bridge.Config{
		URL:          g.url,
		DataDir:      g.data,
		Name:         name,
		Role:         f.role,
		Capabilities: f.capabilities,
		Description:  f.description,
		Tools:        f.tools,
		Push:         strings.TrimSpace(f.push),
		PushFrom:     f.pushFrom,
		CAFile:       g.ca,
		JoinSecret:   g.secret,
		Version:      cmd.Root().Version,
		Logger:       log,
	})
	if err != nil {
		return err
	}
	return b.Serve(cmd.Context(), &mcp.StdioTransport{})
}
