package mcpserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/parley-dev/parley/internal/hub"
)

// Defaults for Options.
const (
	// DefaultWait is how long a blocking tool waits when the call names no
	// timeout. MCP clients give up on a tool call after about 60 s, so it
	// stays well under that.
	DefaultWait = 30 * time.Second
	// MaxWaitNoProgress is the longest a blocking tool may wait when the
	// client gave no progress token to keep the call alive.
	MaxWaitNoProgress = 50 * time.Second
	// MaxWaitProgress is the longest wait when progress notifications keep
	// the call alive.
	MaxWaitProgress = hub.MaxWait
	// DefaultProgressEvery is the interval of progress notifications
	// during a blocking call whose client sent a progress token.
	DefaultProgressEvery = 5 * time.Second
	// DefaultPreview is the body size beyond which results show a preview.
	DefaultPreview = hub.DefaultPreview
	// ServerName is the name the server reports in its implementation info.
	ServerName = "parley"
)

// Options configure the tools of one MCP server. Zero fields take defaults.
type Options struct {
	// Tools selects the tools: "all" (the default), "core", or a comma
	// list of tool and group names (see ParseTools).
	Tools string
	// Version is reported as the server's version.
	Version string
	// Instructions replace the default server instructions when set.
	Instructions string
	// ReadFiles lets share_file read a file from disk when the call gives
	// no content. Only the bridge, which runs on the agent's machine as
	// its user, sets it; the hub never reads files for a remote caller.
	ReadFiles bool
	// Push says that new messages arrive as channel notifications, which
	// changes the instructions and the advice in wait results.
	Push bool
	// AwaitSignal, when set, is told the name of a signal that signal_wait
	// gave up on, so that the bridge pushes it into the session once it
	// is emitted.
	AwaitSignal func(name string)
	// Capabilities, when set, are the server's capabilities before the
	// tools capability is inferred (e.g. experimental["claude/channel"]).
	Capabilities *mcp.ServerCapabilities
	// ProtocolVersions restricts the protocol revisions offered.
	ProtocolVersions []string
	// InitializedHandler runs when the client has finished initializing.
	InitializedHandler func(context.Context, *mcp.InitializedRequest)
	// WaitDefault is the timeout of blocking tools that name none
	// (DefaultWait).
	WaitDefault time.Duration
	// ProgressEvery is the interval of progress notifications
	// (DefaultProgressEvery).
	ProgressEvery time.Duration
	// Preview is the body size beyond which results show a preview
	// (DefaultPreview).
	Preview int
	// ShowInternalErrors puts the text of errors that are not hub errors
	// (a refused connection, a timeout) into tool results. The bridge sets
	// it: the reader is the user's own session. The hub leaves it off.
	ShowInternalErrors bool
	// Logger receives the server's logs.
	Logger *slog.Logger
	// GetSessionID, when set, makes the IDs of Streamable HTTP sessions.
	GetSessionID func() string
	// SchemaCache, when set, is shared between servers built for many
	// sessions, so tool schemas are reflected once.
	SchemaCache *mcp.SchemaCache
}

func (o *Options) setDefaults() {
	if o.WaitDefault <= 0 {
		o.WaitDefault = DefaultWait
	}
	if o.ProgressEvery <= 0 {
		o.ProgressEvery = DefaultProgressEvery
	}
	if o.Preview <= 0 {
		o.Preview = DefaultPreview
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Version == "" {
		o.Version = "dev"
	}
}

// server holds what the tool handlers share.
type server struct {
	b       Backend
	opts    Options
	srv     *mcp.Server
	enabled map[string]bool
}

// New returns an MCP server whose tools act through b. Serve it with
// (*mcp.Server).Run or Connect on any transport. It fails only when
// opts.Tools names an unknown tool or group.
func New(b Backend, opts Options) (*mcp.Server, error) {
	opts.setDefaults()
	enabled, err := ParseTools(opts.Tools)
	if err != nil {
		return nil, err
	}
	instr := opts.Instructions
	if instr == "" {
		instr = instructions(enabled, opts.Push)
	}
	caps := opts.Capabilities
	if caps == nil {
		caps = &mcp.ServerCapabilities{}
	}
	s := &server{b: b, opts: opts, enabled: enabled}
	s.srv = mcp.NewServer(&mcp.Implementation{Name: ServerName, Title: "Parley", Version: opts.Version}, &mcp.ServerOptions{
		Instructions:              instr,
		Logger:                    opts.Logger,
		Capabilities:              caps,
		InitializedHandler:        opts.InitializedHandler,
		SupportedProtocolVersions: opts.ProtocolVersions,
		SchemaCache:               opts.SchemaCache,
		GetSessionID:              opts.GetSessionID,
	})
	s.addIdentityTools()
	s.addMessageTools()
	s.addCoordinationTools()
	return s.srv, nil
}

// textResult is a successful tool result: text for the model, out as the
// structured content (it must marshal to a JSON object, or be nil).
func textResult(text string) *mcp.CallToolResult {
	return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: text}}}
}

// handler is what each tool implements: the text of the result, the
// structured content, or an error that becomes a tool error.
type handler[In any] func(ctx context.Context, req *mcp.CallToolRequest, in In) (string, any, error)

// addTool registers t when the profile enables it. Errors become tool
// errors (IsError results) whose text says what was wrong, so the model
// can correct its call; the SDK already turns arguments that do not
// match the input schema into such errors.
func addTool[In any](s *server, t *mcp.Tool, h handler[In]) {
	if !s.enabled[t.Name] {
		return
	}
	mcp.AddTool(s.srv, t, func(ctx context.Context, req *mcp.CallToolRequest, in In) (*mcp.CallToolResult, any, error) {
		text, out, err := h(ctx, req, in)
		if err != nil {
			res := textResult(s.errorText(t.Name, err))
			res.IsError = true
			return res, nil, nil
		}
		return textResult(text), out, nil
	})
}

// errorText is the text of a tool error: the hub's public message and
// code, or for other failures either their text (bridge) or a generic
// message (hub, where internal causes stay in the log).
func (s *server) errorText(tool string, err error) string {
	var he *hub.Error
	switch {
	case errors.As(err, &he) && he.Message != "":
		return fmt.Sprintf("%s failed: %s (%s)", tool, he.Message, he.Code)
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Sprintf("%s failed: timed out", tool)
	case errors.Is(err, context.Canceled):
		return fmt.Sprintf("%s failed: cancelled", tool)
	case s.opts.ShowInternalErrors:
		return fmt.Sprintf("%s failed: %v", tool, err)
	}
	s.opts.Logger.Error("tool failed", "tool", tool, "err", err)
	return fmt.Sprintf("%s failed: internal error", tool)
}

// invalidf returns an invalid-argument error for a tool's input.
func invalidf(format string, args ...any) error {
	return hub.Errorf(hub.CodeInvalid, format, args...)
}

// waitTimeout turns a timeout in seconds from a tool call into a
// duration: the default when zero, bounded by what the client can wait.
func (s *server) waitTimeout(req *mcp.CallToolRequest, seconds *float64) (time.Duration, error) {
	if seconds == nil {
		return s.opts.WaitDefault, nil
	}
	max := MaxWaitNoProgress
	if progressToken(req) != nil {
		max = MaxWaitProgress
	}
	d := time.Duration(*seconds * float64(time.Second))
	switch {
	case *seconds < 0:
		return 0, invalidf("timeout_seconds must not be negative")
	case d > max:
		return 0, invalidf("timeout_seconds %g is too long: at most %d (the client gives up on a tool call after about 60 s); wait again after it returns", *seconds, int(max/time.Second))
	}
	return d, nil
}

func progressToken(req *mcp.CallToolRequest) any {
	if req == nil || req.Params == nil {
		return nil
	}
	return req.Params.GetProgressToken()
}

// block runs fn, a call that blocks up to timeout, and meanwhile sends
// progress notifications when the client asked for them with a progress
// token, so that clients which reset their timeout on progress keep the
// call alive.
func (s *server) block(ctx context.Context, req *mcp.CallToolRequest, what string, timeout time.Duration, fn func(context.Context) error) error {
	tok := progressToken(req)
	if tok == nil || req.Session == nil || timeout <= 0 {
		return fn(ctx)
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(s.opts.ProgressEvery)
		defer t.Stop()
		start := time.Now()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
			}
			elapsed := time.Since(start)
			_ = req.Session.NotifyProgress(ctx, &mcp.ProgressNotificationParams{
				ProgressToken: tok,
				Progress:      float64(elapsed.Round(time.Second) / time.Second),
				Total:         float64(timeout.Round(time.Second) / time.Second),
				Message:       fmt.Sprintf("%s (%ds of %ds)", what, int(elapsed/time.Second), int(timeout/time.Second)),
			})
		}
	}()
	err := fn(ctx)
	close(done)
	wg.Wait()
	return err
}

// clientName returns the MCP client's name from its initialize request.
func clientName(req *mcp.CallToolRequest) string {
	if req == nil || req.Session == nil {
		return ""
	}
	p := req.Session.InitializeParams()
	if p == nil || p.ClientInfo == nil {
		return ""
	}
	return p.ClientInfo.Name
}
