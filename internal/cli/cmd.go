package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/parley-dev/parley/internal/client"
	"github.com/parley-dev/parley/internal/hub"
)

// newCmdCmd is `parley cmd`: commands of seed 001, an order to an agent
// or a role that one agent claims and acknowledges with a result.
func newCmdCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "cmd",
		Short: "Send, wait for and acknowledge commands",
		Long: `Commands are orders to an agent, or to any one agent of a role: the
target claims the command (parley cmd wait), does the work and reports a
result (parley cmd ack); the sender can wait for that result.`,
		Example: `  parley cmd send backend start_server --params '{"port":7400}' --wait 2m
  parley cmd wait --timeout 5m
  parley cmd ack 12 '{"status":"ok"}'
  parley cmd ack 12 --fail "port 7400 in use"`,
		Args: argsRange(0, 0),
	}
	cmd.AddCommand(newCmdSendCmd(), newCmdWaitCmd(), newCmdAckCmd(), newCmdStatusCmd(), newCmdListCmd())
	return cmd
}

// waitContext bounds a call that waits up to timeout on the hub: the
// margin only covers a hub that stopped answering.
func waitContext(cmd *cobra.Command, timeout time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(cmd.Context(), timeout+callTimeout)
}

// checkWait refuses a timeout the hub would refuse.
func checkWait(flag string, d time.Duration) error {
	if d < 0 || d > hub.MaxWait {
		return fmt.Errorf("%s %s: must be between 0s and %s", flag, d, hub.MaxWait)
	}
	return nil
}

// jsonArg parses a JSON argument. With loose, text that does not look
// like JSON (not starting with {, [ or ") becomes a JSON string, so that
// `parley state set phase build` works; text that looks like JSON must be
// valid.
func jsonArg(what, s string, loose bool) (json.RawMessage, error) {
	t := strings.TrimSpace(s)
	if json.Valid([]byte(t)) && t != "" {
		return json.RawMessage(t), nil
	}
	if loose && (t == "" || !strings.ContainsAny(t[:1], `{["`)) {
		b, err := json.Marshal(s)
		return b, err
	}
	var v any
	msg := "not valid JSON"
	if err := json.Unmarshal([]byte(t), &v); err != nil {
		msg += " (" + strings.TrimPrefix(err.Error(), "json: ") + ")"
	}
	return nil, fmt.Errorf("%s %q: %s", what, truncateArg(s), msg)
}

func truncateArg(s string) string {
	if len(s) > 60 {
		return s[:60] + "..."
	}
	return s
}

// jsonOrStdin is jsonArg reading standard input for "-".
func jsonOrStdin(cmd *cobra.Command, what, s string, loose bool) (json.RawMessage, error) {
	if s == "-" {
		b, err := io.ReadAll(io.LimitReader(cmd.InOrStdin(), maxInput))
		if err != nil {
			return nil, fmt.Errorf("%s: read standard input: %w", what, err)
		}
		s = string(b)
	}
	return jsonArg(what, s, loose)
}

func newCmdSendCmd() *cobra.Command {
	var params, deadline string
	var wait time.Duration
	cmd := &cobra.Command{
		Use:   "send TARGET ACTION",
		Short: "Send a command to an agent or a role",
		Long: `Send a command. TARGET is an agent name, a role some agent has, or
role:<role> (also for a role no agent has yet). --params is a JSON object.
--deadline (a duration such as 10m, or an RFC 3339 time) expires the
command if it is not finished by then.

With --wait, wait up to that long for the result and print it. Exit status:
0 when done; 1 when failed or expired, or on error; 3 when --wait passed
before the command finished.`,
		Example: `  parley cmd send backend start_server --params '{"port":7400}'
  parley cmd send role:linux-client connect_and_test --params '{"ip":"localhost"}' --wait 5m`,
		Args: argsRange(2, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			req := hub.CommandRequest{Target: args[0], Action: args[1]}
			if params != "" {
				p, err := jsonArg("--params", params, false)
				if err != nil {
					return err
				}
				req.Params = p
			}
			d, err := parseDeadlineFlag(deadline)
			if err != nil {
				return err
			}
			req.Deadline = d
			if err := checkWait("--wait", wait); err != nil {
				return err
			}
			s, err := connect(cmd, needAgent)
			if err != nil {
				return err
			}
			var raw json.RawMessage
			ctx, cancel := s.context(cmd, &raw)
			defer cancel()
			sent, err := s.c.SendCommand(ctx, req)
			if err != nil {
				return s.explain(err)
			}
			w := cmd.OutOrStdout()
			if wait == 0 {
				if s.g.json {
					return printJSON(w, raw)
				}
				fmt.Fprintf(w, "sent command #%d %s to %s (%s)\n", sent.ID, clean(sent.Action, false), sent.Target, sent.Status)
				return nil
			}
			if !s.g.json {
				fmt.Fprintf(w, "sent command #%d %s to %s; waiting for the result...\n", sent.ID, clean(sent.Action, false), sent.Target)
			}
			return waitResult(cmd, s, sent.ID, wait)
		},
	}
	f := cmd.Flags()
	f.StringVar(&params, "params", "", "parameters, a JSON object")
	f.StringVar(&deadline, "deadline", "", "expire the command after this long (10m) or at this RFC 3339 time")
	f.DurationVar(&wait, "wait", 0, "wait this long for the result (at most 10m)")
	return cmd
}

// waitResult waits for a command to finish and prints it; see cmd send
// for the exit status.
func waitResult(cmd *cobra.Command, s *session, id int64, wait time.Duration) error {
	var raw json.RawMessage
	ctx, cancel := waitContext(cmd, wait)
	defer cancel()
	c, err := s.c.Command(s.capture(ctx, &raw), id, wait)
	if err != nil {
		return s.explain(err)
	}
	w := cmd.OutOrStdout()
	if s.g.json {
		if err := printJSON(w, raw); err != nil {
			return err
		}
	} else {
		printCommand(w, time.Now(), c)
	}
	switch c.Status {
	case hub.CommandDone:
		return nil
	case hub.CommandFailed, hub.CommandExpired:
		return &ExitError{Code: 1, Err: fmt.Errorf("command #%d %s: %s", c.ID, c.Status, clean(c.Error, false))}
	}
	return &ExitError{Code: ExitTimeout, Err: fmt.Errorf("command #%d still %s after %s", c.ID, c.Status, wait)}
}

// printCommand prints one command in full.
func printCommand(w io.Writer, now time.Time, c hub.Command) {
	fmt.Fprintf(w, "#%d %s  from %s to %s  %s  (%s)\n", c.ID, clean(c.Action, false), c.From, c.Target, strings.ToUpper(c.Status), ago(now, c.CreatedAt))
	if len(c.Params) > 0 && string(c.Params) != "{}" {
		fmt.Fprintf(w, "  params: %s\n", clean(string(c.Params), false))
	}
	if c.ClaimedBy != "" {
		fmt.Fprintf(w, "  claimed by %s %s\n", c.ClaimedBy, ago(now, c.ClaimedAt))
	}
	if len(c.Result) > 0 {
		fmt.Fprintf(w, "  result: %s\n", clean(string(c.Result), false))
	}
	if c.Error != "" {
		fmt.Fprintf(w, "  error: %s\n", clean(c.Error, true))
	}
	if !c.Deadline.IsZero() && !c.Finished() {
		fmt.Fprintf(w, "  deadline: %s\n", c.Deadline.Local().Format(time.RFC3339))
	}
}

func newCmdWaitCmd() *cobra.Command {
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "wait",
		Short: "Claim the next command for this agent, waiting for one",
		Long: `Claim the next command addressed to this agent or to its role, waiting
up to --timeout for one to arrive; print it. A command to a role goes to
exactly one agent of that role. Finish it with parley cmd ack.

Exit status: 0 with a command printed; 3 when --timeout passed with none;
1 on error.`,
		Example: `  id=$(parley cmd wait --json | jq .command.id)`,
		Args:    argsRange(0, 0),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkWait("--timeout", timeout); err != nil {
				return err
			}
			s, err := connect(cmd, needAgent)
			if err != nil {
				return err
			}
			var raw json.RawMessage
			ctx, cancel := waitContext(cmd, timeout)
			defer cancel()
			c, ok, err := s.c.WaitCommand(s.capture(ctx, &raw), timeout)
			if err != nil {
				return s.explain(err)
			}
			if !ok {
				return &ExitError{Code: ExitTimeout, Err: fmt.Errorf("cmd wait: no command within %s", timeout)}
			}
			w := cmd.OutOrStdout()
			if s.g.json {
				return printJSON(w, raw)
			}
			printCommand(w, time.Now(), c)
			fmt.Fprintf(w, "  (finish with: parley cmd ack %d '{...}', or --fail \"why\")\n", c.ID)
			return nil
		},
	}
	cmd.Flags().DurationVar(&timeout, "timeout", 30*time.Second, "how long to wait, at most 10m")
	return cmd
}

func newCmdAckCmd() *cobra.Command {
	var fail string
	cmd := &cobra.Command{
		Use:   "ack ID [RESULT]",
		Short: "Finish a command with a result",
		Long: `Finish a command this agent claimed, with a RESULT: JSON, or plain text
that becomes a JSON string; - reads it from standard input. --fail marks
the command failed with the reason given.`,
		Example: `  parley cmd ack 12 '{"status":"ok","url":"http://localhost:7400"}'
  parley cmd ack 12 --fail "port 7400 in use"`,
		Args: argsRange(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseIDOf("command", args[0])
			if err != nil {
				return err
			}
			var req hub.AckRequest
			if len(args) == 2 {
				if req.Result, err = jsonOrStdin(cmd, "result", args[1], true); err != nil {
					return err
				}
			}
			if cmd.Flags().Changed("fail") {
				req.Status = hub.CommandFailed
				req.Error = fail
			}
			return call(cmd, anyCredential, func(ctx context.Context, c *client.Client) (hub.Command, error) {
				return c.AckCommand(ctx, id, req)
			}, func(w io.Writer, c hub.Command) error {
				fmt.Fprintf(w, "command #%d %s\n", c.ID, c.Status)
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&fail, "fail", "", "mark the command failed, with this reason")
	return cmd
}

func newCmdStatusCmd() *cobra.Command {
	var wait time.Duration
	cmd := &cobra.Command{
		Use:     "status ID",
		Aliases: []string{"show", "result"},
		Short:   "Show a command, or wait for its result",
		Long: `Show a command: its state, claimer, result or error. With --wait, wait
up to that long for it to finish; the exit status is then as for cmd send
--wait.`,
		Args: argsRange(1, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseIDOf("command", args[0])
			if err != nil {
				return err
			}
			if err := checkWait("--wait", wait); err != nil {
				return err
			}
			s, err := connect(cmd, anyCredential)
			if err != nil {
				return err
			}
			if wait > 0 {
				return waitResult(cmd, s, id, wait)
			}
			var raw json.RawMessage
			ctx, cancel := s.context(cmd, &raw)
			defer cancel()
			c, err := s.c.Command(ctx, id, 0)
			if err != nil {
				return s.explain(err)
			}
			if s.g.json {
				return printJSON(cmd.OutOrStdout(), raw)
			}
			printCommand(cmd.OutOrStdout(), time.Now(), c)
			return nil
		},
	}
	cmd.Flags().DurationVar(&wait, "wait", 0, "wait this long for the command to finish (at most 10m)")
	return cmd
}

func newCmdListCmd() *cobra.Command {
	var sent, all bool
	var status string
	limit := numFlag{min: 1}
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List commands for this agent",
		Long: `List commands newest first: those for this agent (addressed to it,
claimed by it, or pending for its role); --sent those it sent; --all every
command (the admin, or anyone on an open hub). --status keeps one state:
pending, claimed, done, failed or expired.`,
		Args: argsRange(0, 0),
		RunE: func(cmd *cobra.Command, args []string) error {
			if sent && all {
				return errors.New("cmd list: give --sent or --all, not both")
			}
			n := anyCredential
			if !all {
				n = needAgent
			}
			s, err := connect(cmd, n)
			if err != nil {
				return err
			}
			opts := hub.CommandListOptions{Status: status, Limit: limit.Int()}
			switch {
			case sent:
				opts.From = s.name
			case !all:
				opts.For = s.name
			}
			var raw json.RawMessage
			ctx, cancel := s.context(cmd, &raw)
			defer cancel()
			cmds, err := s.c.Commands(ctx, opts)
			if err != nil {
				return s.explain(err)
			}
			w := cmd.OutOrStdout()
			if s.g.json {
				return printJSON(w, raw)
			}
			if len(cmds) == 0 {
				fmt.Fprintln(w, "no commands")
				return nil
			}
			now := time.Now()
			t := newTable(w)
			fmt.Fprintln(t, "ID\tACTION\tFROM\tTARGET\tSTATUS\tCLAIMED BY\tCREATED")
			for _, c := range cmds {
				fmt.Fprintf(t, "#%d\t%s\t%s\t%s\t%s\t%s\t%s\n", c.ID, oneLine(c.Action, 40), c.From, c.Target, c.Status, orDash(c.ClaimedBy), ago(now, c.CreatedAt))
			}
			return t.Flush()
		},
	}
	f := cmd.Flags()
	f.BoolVar(&sent, "sent", false, "commands this agent sent")
	f.BoolVar(&all, "all", false, "every command")
	f.StringVar(&status, "status", "", "only commands in this state")
	f.Var(&limit, "limit", "at most this many (default 100)")
	return cmd
}
