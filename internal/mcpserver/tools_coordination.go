package mcpserver

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/parley-dev/parley/internal/hub"
)

type commandSendIn struct {
	Target      string   `json:"target" jsonschema:"who should do it: an agent name, a role (backend) or role:<role>; a role goes to exactly one agent of that role"`
	Action      string   `json:"action" jsonschema:"what to do, one word, e.g. start_server, run_tests, deploy"`
	Params      any      `json:"params,omitempty" jsonschema:"details as a JSON object, e.g. {\"port\":7400}"`
	Deadline    string   `json:"deadline,omitempty" jsonschema:"when it expires if nobody finished it: a duration such as 10m or an RFC 3339 time"`
	WaitSeconds *float64 `json:"wait_seconds,omitempty" jsonschema:"also wait up to this many seconds (at most 50) for the result"`
}

type commandNextIn struct {
	TimeoutSeconds *float64 `json:"timeout_seconds,omitempty" jsonschema:"how long to wait for a command, default 30, at most 50; 0 takes one only if already waiting"`
}

type commandCompleteIn struct {
	ID     int64  `json:"id" jsonschema:"id of the command you took"`
	Result any    `json:"result,omitempty" jsonschema:"what came of it, any JSON, e.g. {\"status\":\"ok\",\"url\":\"http://localhost:7400\"}"`
	Error  string `json:"error,omitempty" jsonschema:"set when the command failed: what went wrong"`
}

type commandStatusIn struct {
	ID          int64    `json:"id,omitempty" jsonschema:"the command to show; omit to list commands you sent or can take"`
	WaitSeconds *float64 `json:"wait_seconds,omitempty" jsonschema:"wait up to this many seconds (at most 50) for the command to finish"`
}

type channelPostIn struct {
	Channel string `json:"channel" jsonschema:"channel name, e.g. results, build-log"`
	Data    any    `json:"data" jsonschema:"what to post: text or any JSON value"`
}

type channelReadIn struct {
	Channel     string   `json:"channel" jsonschema:"channel name"`
	Since       *int64   `json:"since,omitempty" jsonschema:"only posts after this sequence number (from an earlier read's next)"`
	Limit       int      `json:"limit,omitempty" jsonschema:"at most this many posts (default 100)"`
	WaitSeconds *float64 `json:"wait_seconds,omitempty" jsonschema:"when there is nothing new, wait up to this many seconds (at most 50) for a post"`
}

type signalEmitIn struct {
	Name string `json:"name" jsonschema:"signal name, e.g. server_ready, tests_passed"`
	Data any    `json:"data,omitempty" jsonschema:"optional JSON that waiters receive, e.g. {\"port\":7400}"`
}

type signalWaitIn struct {
	Name           string   `json:"name" jsonschema:"signal name, e.g. server_ready"`
	TimeoutSeconds *float64 `json:"timeout_seconds,omitempty" jsonschema:"how long to wait, default 30, at most 50; 0 only checks"`
}

type commandOut struct {
	Command hub.Command `json:"command"`
	Claimed *bool       `json:"claimed,omitempty"`
}

type commandsOut struct {
	ForMe  []hub.Command `json:"for_me"`
	SentBy []hub.Command `json:"sent_by_me"`
}

type signalOut struct {
	Signal hub.Signal `json:"signal"`
}

type postOut struct {
	Post hub.ChannelPost `json:"post"`
}

// rawJSON turns a JSON value from a tool call into raw JSON; nil stays nil.
func rawJSON(what string, v any) (json.RawMessage, error) {
	if v == nil {
		return nil, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, invalidf("%s: not a JSON value: %v", what, err)
	}
	return b, nil
}

// writeCommand renders a command on a few lines.
func (s *server) writeCommand(b *strings.Builder, c hub.Command) {
	fmt.Fprintf(b, "Command %d from %s to %s: %s", c.ID, sender(c.From), c.Target, c.Action)
	if p := compactJSON(c.Params, s.opts.Preview); p != "" && p != "{}" {
		fmt.Fprintf(b, " %s", p)
	}
	fmt.Fprintf(b, "\nStatus: %s", c.Status)
	if c.ClaimedBy != "" {
		fmt.Fprintf(b, ", taken by %s", c.ClaimedBy)
	}
	if !c.Deadline.IsZero() && !c.Finished() {
		fmt.Fprintf(b, ", expires %s", fmtTime(c.Deadline))
	}
	b.WriteByte('\n')
	if r := compactJSON(c.Result, s.opts.Preview); r != "" {
		fmt.Fprintf(b, "Result: %s\n", r)
	}
	if c.Error != "" {
		fmt.Fprintf(b, "Error: %s\n", c.Error)
	}
}

func (s *server) formatCommand(c hub.Command) string {
	var b strings.Builder
	s.writeCommand(&b, c)
	return b.String()
}

func (s *server) addCoordinationTools() {
	s.addCommandTools()
	s.addChannelTools()
	s.addSignalTools()
	s.addAgreementTools()
}

func (s *server) addCommandTools() {
	addTool(s, &mcp.Tool{
		Name: "command_send",
		Description: "Order another agent or role to do something and get a result back: " +
			"\"tell the backend to start the server\" is target=backend action=start_server. " +
			"The target takes it with command_next and reports with command_complete; see the result with command_status.",
	}, func(ctx context.Context, req *mcp.CallToolRequest, in commandSendIn) (string, any, error) {
		params, err := rawJSON("params", in.Params)
		if err != nil {
			return "", nil, err
		}
		dl, err := hub.ParseDeadline(in.Deadline)
		if err != nil {
			return "", nil, err
		}
		wait, err := s.optionalWait(req, in.WaitSeconds)
		if err != nil {
			return "", nil, err
		}
		cmd, err := s.b.SendCommand(ctx, hub.CommandRequest{Target: in.Target, Action: in.Action, Params: params, Deadline: dl})
		if err != nil {
			return "", nil, err
		}
		if wait > 0 {
			err := s.block(ctx, req, fmt.Sprintf("waiting for command %d", cmd.ID), wait, func(ctx context.Context) error {
				c, err := s.b.Command(ctx, cmd.ID, wait)
				if err == nil {
					cmd = c
				}
				return err
			})
			if err != nil {
				return "", nil, err
			}
		}
		var b strings.Builder
		fmt.Fprintf(&b, "Sent command %d.\n", cmd.ID)
		s.writeCommand(&b, cmd)
		if !cmd.Finished() {
			fmt.Fprintf(&b, "Not finished yet: call command_status id=%d (with wait_seconds to wait for the result).\n", cmd.ID)
		}
		return b.String(), commandOut{Command: cmd}, nil
	})

	addTool(s, &mcp.Tool{
		Name: "command_next",
		Description: "Take the next command addressed to you or your role, waiting for one to arrive (\"wait for a command\", \"check for work\"). " +
			"Do what it asks, then report with command_complete.",
	}, func(ctx context.Context, req *mcp.CallToolRequest, in commandNextIn) (string, any, error) {
		timeout, err := s.waitTimeout(req, in.TimeoutSeconds)
		if err != nil {
			return "", nil, err
		}
		var cmd hub.Command
		var ok bool
		err = s.block(ctx, req, "waiting for a command", timeout, func(ctx context.Context) error {
			var err error
			cmd, ok, err = s.b.NextCommand(ctx, timeout)
			return err
		})
		if err != nil {
			return "", nil, err
		}
		if !ok {
			return fmt.Sprintf("No command arrived within %s. Call command_next again to keep waiting.\n", timeout.Round(time.Second)),
				commandOut{Claimed: &ok}, nil
		}
		var b strings.Builder
		b.WriteString("You took this command; nobody else will get it:\n")
		s.writeCommand(&b, cmd)
		fmt.Fprintf(&b, "Do it, then call command_complete id=%d with a result (or error if it failed).\n", cmd.ID)
		return b.String(), commandOut{Command: cmd, Claimed: &ok}, nil
	})

	addTool(s, &mcp.Tool{
		Name:        "command_complete",
		Description: "Report that you finished a command you took with command_next, with its result, or with error if it failed. The sender is told.",
	}, func(ctx context.Context, req *mcp.CallToolRequest, in commandCompleteIn) (string, any, error) {
		if in.ID <= 0 {
			return "", nil, invalidf("id: give the id of the command you took")
		}
		result, err := rawJSON("result", in.Result)
		if err != nil {
			return "", nil, err
		}
		cmd, err := s.b.CompleteCommand(ctx, in.ID, hub.AckRequest{Result: result, Error: in.Error})
		if err != nil {
			return "", nil, err
		}
		return fmt.Sprintf("Command %d is %s; %s sees the result.\n", cmd.ID, cmd.Status, cmd.From), commandOut{Command: cmd}, nil
	})

	addTool(s, &mcp.Tool{
		Name: "command_status",
		Description: "Show a command and its result (with wait_seconds, wait for it to finish), " +
			"or without id list the commands you sent and those waiting for you.",
		Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true},
	}, func(ctx context.Context, req *mcp.CallToolRequest, in commandStatusIn) (string, any, error) {
		if in.ID < 0 {
			return "", nil, invalidf("id must not be negative")
		}
		if in.ID == 0 {
			me := s.b.Name()
			forMe, err := s.b.Commands(ctx, hub.CommandListOptions{For: me, Limit: 20})
			if err != nil {
				return "", nil, err
			}
			sent, err := s.b.Commands(ctx, hub.CommandListOptions{From: me, Limit: 20})
			if err != nil {
				return "", nil, err
			}
			var b strings.Builder
			fmt.Fprintf(&b, "Commands for you or your role (%d, newest first):\n", len(forMe))
			for _, c := range forMe {
				s.writeCommand(&b, c)
			}
			fmt.Fprintf(&b, "Commands you sent (%d, newest first):\n", len(sent))
			for _, c := range sent {
				s.writeCommand(&b, c)
			}
			return b.String(), commandsOut{ForMe: nonNil(forMe), SentBy: nonNil(sent)}, nil
		}
		wait, err := s.optionalWait(req, in.WaitSeconds)
		if err != nil {
			return "", nil, err
		}
		var cmd hub.Command
		err = s.block(ctx, req, fmt.Sprintf("waiting for command %d", in.ID), wait, func(ctx context.Context) error {
			var err error
			cmd, err = s.b.Command(ctx, in.ID, wait)
			return err
		})
		if err != nil {
			return "", nil, err
		}
		return s.formatCommand(cmd), commandOut{Command: cmd}, nil
	})
}

func (s *server) writePost(b *strings.Builder, p hub.ChannelPost) {
	from := "anonymous"
	if p.From != "" {
		from = sender(p.From)
	}
	fmt.Fprintf(b, "#%d from %s at %s: %s\n", p.Seq, from, fmtTime(p.CreatedAt), postText(p.Data, s.opts.Preview))
}

// postText shows a post's data: a JSON string as its text, anything else
// as compact JSON, cut to n bytes.
func postText(data json.RawMessage, n int) string {
	var str string
	if json.Unmarshal(data, &str) == nil {
		if len(str) > n {
			return str[:n] + "..."
		}
		return str
	}
	return compactJSON(data, n)
}

func (s *server) addChannelTools() {
	addTool(s, &mcp.Tool{
		Name:        "channel_post",
		Description: "Post text or JSON to a named channel, an append-only stream that any agent can read (e.g. results, build-log).",
	}, func(ctx context.Context, req *mcp.CallToolRequest, in channelPostIn) (string, any, error) {
		data, err := rawJSON("data", in.Data)
		if err != nil {
			return "", nil, err
		}
		if data == nil {
			return "", nil, invalidf("data: give text or a JSON value to post")
		}
		p, err := s.b.PostChannel(ctx, in.Channel, data)
		if err != nil {
			return "", nil, err
		}
		return fmt.Sprintf("Posted #%d to channel %s.\n", p.Seq, p.Channel), postOut{Post: p}, nil
	})

	addTool(s, &mcp.Tool{
		Name: "channel_read",
		Description: "Read the posts of a named channel, oldest first; since returns only newer posts, " +
			"and wait_seconds waits for a new post when there is none.",
		Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true},
	}, func(ctx context.Context, req *mcp.CallToolRequest, in channelReadIn) (string, any, error) {
		opts := hub.ChannelReadOptions{Limit: in.Limit}
		if in.Since != nil {
			opts.Since, opts.HasSince = *in.Since, true
		}
		var res hub.ChannelRead
		var err error
		if in.WaitSeconds != nil {
			wait, err := s.waitTimeout(req, in.WaitSeconds)
			if err != nil {
				return "", nil, err
			}
			err = s.block(ctx, req, "waiting for posts on "+in.Channel, wait, func(ctx context.Context) error {
				var err error
				res, err = s.b.WaitChannel(ctx, in.Channel, opts, wait)
				return err
			})
			if err != nil {
				return "", nil, err
			}
		} else if res, err = s.b.ReadChannel(ctx, in.Channel, opts); err != nil {
			return "", nil, err
		}
		var b strings.Builder
		if len(res.Messages) == 0 {
			fmt.Fprintf(&b, "No new posts on channel %s (last sequence %d).\n", res.Channel, res.LastSeq)
		} else {
			fmt.Fprintf(&b, "Channel %s, %d post(s):\n", res.Channel, len(res.Messages))
			for _, p := range res.Messages {
				s.writePost(&b, p)
			}
		}
		if res.More {
			fmt.Fprintf(&b, "More posts: call again with since=%d.\n", res.Next)
		} else {
			fmt.Fprintf(&b, "Next time read with since=%d for newer posts.\n", res.Next)
		}
		res.Messages = nonNil(res.Messages)
		return b.String(), res, nil
	})
}

func describeSignal(sig hub.Signal, n int) string {
	if !sig.Emitted {
		return fmt.Sprintf("Signal %s has not been emitted.", sig.Name)
	}
	text := fmt.Sprintf("Signal %s was emitted", sig.Name)
	if sig.By != "" {
		text += " by " + sender(sig.By)
	}
	text += " at " + fmtTime(sig.EmittedAt)
	if d := compactJSON(sig.Data, n); d != "" {
		text += " with data " + d
	}
	return text + "."
}

func (s *server) addSignalTools() {
	addTool(s, &mcp.Tool{
		Name: "signal_emit",
		Description: "Announce that something happened, as a named one-shot signal that wakes everyone waiting for it " +
			"(\"signal that the server is ready\": name=server_ready). It stays emitted, so later waiters return at once.",
	}, func(ctx context.Context, req *mcp.CallToolRequest, in signalEmitIn) (string, any, error) {
		data, err := rawJSON("data", in.Data)
		if err != nil {
			return "", nil, err
		}
		sig, err := s.b.EmitSignal(ctx, in.Name, data)
		if err != nil {
			return "", nil, err
		}
		return describeSignal(sig, s.opts.Preview) + "\n", signalOut{Signal: sig}, nil
	})

	addTool(s, &mcp.Tool{
		Name: "signal_wait",
		Description: "Wait until a named signal is emitted (\"wait until the server is ready\": name=server_ready); " +
			"returns at once if it already was, with its data. timeout_seconds=0 only checks.",
	}, func(ctx context.Context, req *mcp.CallToolRequest, in signalWaitIn) (string, any, error) {
		timeout, err := s.waitTimeout(req, in.TimeoutSeconds)
		if err != nil {
			return "", nil, err
		}
		var sig hub.Signal
		err = s.block(ctx, req, "waiting for signal "+in.Name, timeout, func(ctx context.Context) error {
			var err error
			sig, err = s.b.WaitSignal(ctx, in.Name, timeout)
			return err
		})
		if err != nil {
			return "", nil, err
		}
		text := describeSignal(sig, s.opts.Preview)
		if !sig.Emitted && timeout > 0 {
			text = fmt.Sprintf("Signal %s was not emitted within %s.", sig.Name, timeout.Round(time.Second))
			if s.opts.AwaitSignal != nil {
				s.opts.AwaitSignal(sig.Name)
				text += " You will get a channel notification when it is."
			} else {
				text += " Call signal_wait again to keep waiting."
			}
		}
		return text + "\n", signalOut{Signal: sig}, nil
	})
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
