package bridge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/parley-dev/parley/internal/client"
	"github.com/parley-dev/parley/internal/config"
	"github.com/parley-dev/parley/internal/hub"
	"github.com/parley-dev/parley/internal/hubserver"
	"github.com/parley-dev/parley/internal/mcpserver"
)

// Push modes.
const (
	// PushNone delivers nothing by itself: the agent reads and waits.
	PushNone = ""
	// PushClaudeChannel sends Claude Code channel notifications.
	PushClaudeChannel = "claude-channel"
)

// Claude Code's channel contract.
const (
	// ChannelCapability is the experimental capability a server declares
	// to be a channel.
	ChannelCapability = "claude/channel"
	// ChannelMethod is the notification that pushes content.
	ChannelMethod = "notifications/claude/channel"
)

// StdioProtocolVersions are the MCP revisions the bridge offers on stdio:
// up to 2025-11-25, the newest that Claude Code registers channels for.
var StdioProtocolVersions = []string{"2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"}

// Config configures a Bridge. URL and DataDir are required; zero fields
// take defaults.
type Config struct {
	// URL is the hub's address, such as config.DefaultURL.
	URL string
	// DataDir is the data directory of a hub this bridge starts, and
	// where it reads the admin secret of a local hub.
	DataDir string
	// ConfigDir holds the agent tokens (config.ConfigDir() when empty).
	ConfigDir string
	// Name is the agent's name; empty derives one from the client and
	// the project.
	Name string
	// Role, Capabilities and Description are registered with the agent.
	Role         string
	Capabilities []string
	Description  string
	// Project names the project for derived names (ProjectName() when
	// empty).
	Project string
	// Tools is the tool profile (mcpserver.ParseTools).
	Tools string
	// Push is PushNone or PushClaudeChannel.
	Push string
	// PushFrom limits push to these senders: agent names, role:<role>,
	// or * (everyone, the default). Content from others stays unread in
	// the inbox for the read tool (pushfrom.go).
	PushFrom []string
	// CAFile is a PEM file of the CA to trust for an https hub URL.
	CAFile string
	// JoinSecret registers with a hub's join secret (PARLEY_SECRET);
	// AdminSecret overrides the one read from DataDir.
	JoinSecret  string
	AdminSecret string
	// NoElect keeps the bridge from ever starting a hub. A bridge only
	// starts one for a loopback URL anyway.
	NoElect bool
	// CheckInterval is how often the hub is checked (DefaultCheckInterval).
	CheckInterval time.Duration
	// HubWait bounds how long a call waits for a hub (DefaultHubWait).
	HubWait time.Duration
	// Hub adjusts the configuration of a hub this bridge starts.
	Hub func(*hubserver.Config)
	// Version is reported to clients and by a hub this bridge starts.
	Version string
	Logger  *slog.Logger
}

// Bridge is one agent session's connection to Parley. Create it with
// New, run it with Serve; it is safe for concurrent use.
type Bridge struct {
	cfg        Config
	log        *slog.Logger
	local      bool // the hub URL is a loopback address
	tokens     config.TokenStore
	httpClient *http.Client
	base       *client.Client
	link       *link
	notifier   *notifyTransport

	idMu       sync.Mutex
	id         identity
	idErr      error         // why the session has no agent, if it has none
	idReady    chan struct{} // closed once the first registration ended
	idOnce     sync.Once
	idGen      int64         // counts identity changes
	idChanged  chan struct{} // closed and replaced when the identity changes
	clientName string        // the MCP client's name, once known
	startOnce  sync.Once

	push        *pusher
	pushFrom    *pushPolicy // nil: push from everyone
	startLazily func()

	cmdMu    sync.Mutex
	seenCmds map[int64]bool // commands given to the session
}

// New checks cfg and returns a Bridge; nothing starts until Serve.
func New(cfg Config) (*Bridge, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	u, err := url.Parse(cfg.URL)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("bridge: hub URL %q: want http://host:port", cfg.URL)
	}
	tokens, err := config.NewTokenStore(cfg.ConfigDir, cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("bridge: %w", err)
	}
	b := &Bridge{
		cfg:       cfg,
		log:       cfg.Logger.With("component", "bridge"),
		local:     hubserver.IsLoopback(u.Hostname()),
		tokens:    tokens,
		idReady:   make(chan struct{}),
		idChanged: make(chan struct{}),
	}
	if b.httpClient, err = newHTTPClient(b.local, cfg.CAFile); err != nil {
		return nil, err
	}
	if b.pushFrom, err = parsePushFrom(cfg.PushFrom); err != nil {
		return nil, err
	}
	b.base, err = client.New(cfg.URL, client.Options{HTTPClient: b.httpClient, UserAgent: b.userAgent()})
	if err != nil {
		return nil, fmt.Errorf("bridge: %w", err)
	}
	elect := b.local && !cfg.NoElect
	b.link = newLink(cfg.URL, elect, b.startHub, b.base, cfg.CheckInterval, b.log)
	if cfg.Push == PushClaudeChannel {
		b.push = newPusher(b)
	}
	return b, nil
}

// check validates cfg, normalizes its names and fills in defaults.
func (cfg *Config) check() error {
	if cfg.URL == "" {
		return errors.New("bridge: URL is empty")
	}
	if cfg.DataDir == "" {
		return errors.New("bridge: DataDir is empty")
	}
	switch cfg.Push {
	case PushNone, PushClaudeChannel:
	default:
		return fmt.Errorf("bridge: push %q: must be %q or empty", cfg.Push, PushClaudeChannel)
	}
	if _, err := mcpserver.ParseTools(cfg.Tools); err != nil {
		return fmt.Errorf("bridge: %w", err)
	}
	if cfg.Name != "" {
		n, err := hub.NormalizeName("name", cfg.Name)
		if err != nil {
			return fmt.Errorf("bridge: %w", err)
		}
		cfg.Name = n
	}
	if cfg.Role != "" {
		r, err := hub.NormalizeName("role", cfg.Role)
		if err != nil {
			return fmt.Errorf("bridge: %w", err)
		}
		cfg.Role = r
	}
	if cfg.CheckInterval <= 0 {
		cfg.CheckInterval = DefaultCheckInterval
	}
	if cfg.HubWait <= 0 {
		cfg.HubWait = DefaultHubWait
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Version == "" {
		cfg.Version = "dev"
	}
	if cfg.Project == "" {
		cfg.Project = ProjectName()
	}
	return nil
}

// newHTTPClient returns the one pool of connections every call of a
// bridge uses. It has no overall timeout, since waits are long polls
// bounded by their own contexts. A loopback hub (local) is never reached
// through a proxy; caFile, when set, is the CA the hub's certificate is
// checked against.
func newHTTPClient(local bool, caFile string) (*http.Client, error) {
	t := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConnsPerHost: 16,
		IdleConnTimeout:     90 * time.Second,
	}
	if !local {
		t.Proxy = http.ProxyFromEnvironment
	}
	if caFile != "" {
		tc, err := client.TLSConfig(caFile)
		if err != nil {
			return nil, fmt.Errorf("bridge: %w", err)
		}
		t.TLSClientConfig = tc
	}
	return &http.Client{Transport: t}, nil
}

func (b *Bridge) userAgent() string { return "parley-mcp/" + b.cfg.Version }

// startHub runs a hub in this process on the URL's address, from
// DataDir, with MCP over HTTP mounted as parley serve has it.
func (b *Bridge) startHub(ctx context.Context) (*hubserver.Hub, error) {
	u, _ := url.Parse(b.cfg.URL)
	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), "80")
	}
	hc := hubserver.Config{
		DataDir:    b.cfg.DataDir,
		Addr:       addr,
		JoinSecret: b.cfg.JoinSecret,
		Version:    b.cfg.Version,
		Logger:     b.cfg.Logger,
	}
	if b.cfg.Hub != nil {
		b.cfg.Hub(&hc)
	}
	return hubserver.Start(ctx, hc)
}

// Serve runs the MCP server on t (mcp.StdioTransport for parley mcp)
// until the client disconnects or ctx ends, keeping the agent connected
// meanwhile. When it returns, the agent is offline and a hub this
// process ran has stopped, so another bridge takes over.
func (b *Bridge) Serve(ctx context.Context, t mcp.Transport) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	// The link outlives the session's goroutines (wg) so that goodbye
	// still reaches the hub, and a hub this process runs stops last.
	var linkWG, wg sync.WaitGroup
	linkCtx, stopLink := context.WithCancel(context.WithoutCancel(ctx))
	linkWG.Go(func() { b.link.run(linkCtx) })
	defer func() {
		cancel()
		wg.Wait()
		b.goodbye()
		stopLink()
		linkWG.Wait()
		b.releaseIdentity()
	}()

	opts := mcpserver.Options{
		Tools:              b.cfg.Tools,
		Version:            b.cfg.Version,
		ReadFiles:          true,
		Push:               b.push != nil,
		ProtocolVersions:   StdioProtocolVersions,
		ShowInternalErrors: true,
		Logger:             b.cfg.Logger.With("component", "mcp"),
		InitializedHandler: func(_ context.Context, req *mcp.InitializedRequest) {
			name := ""
			if p := req.Session.InitializeParams(); p != nil && p.ClientInfo != nil {
				name = p.ClientInfo.Name
			}
			if b.push != nil {
				b.push.initialized()
			}
			b.startOnce.Do(func() { wg.Go(func() { b.start(ctx, name) }) })
		},
	}
	// A client that never sends initialized (the stateless protocol) gets
	// its agent with its first tool call.
	b.startLazily = func() { b.startOnce.Do(func() { wg.Go(func() { b.start(ctx, "") }) }) }
	if b.push != nil {
		opts.Capabilities = &mcp.ServerCapabilities{Experimental: map[string]any{ChannelCapability: map[string]any{}}}
		opts.AwaitSignal = b.push.await
	}
	srv, err := mcpserver.New(b, opts)
	if err != nil {
		return err
	}
	b.notifier = &notifyTransport{Transport: t}
	ss, err := srv.Connect(ctx, b.notifier, nil)
	if err != nil {
		return fmt.Errorf("bridge: connect MCP session: %w", err)
	}
	done := make(chan error, 1)
	go func() { done <- ss.Wait() }()
	select {
	case err = <-done:
	case <-ctx.Done():
		ss.Close()
		err = <-done
	}
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	return err
}

// start registers the agent once the client has said who it is, then
// keeps its event stream (presence, push) open.
func (b *Bridge) start(ctx context.Context, clientName string) {
	b.idMu.Lock()
	b.clientName = clientName
	b.idMu.Unlock()
	req := b.registerRequest(clientName)
	base := b.cfg.Name
	if base == "" {
		base = DeriveName(clientName, b.cfg.Project)
	}
	changed := b.identityChanged()
claim:
	for {
		id, _, err := b.claim(ctx, base, req)
		if err == nil {
			b.setIdentity(id, nil)
			if base != id.name {
				b.log.Warn("name taken; registered with a suffix", "wanted", base, "name", id.name)
			}
			b.log.Info("registered", "name", id.name, "url", b.cfg.URL)
			break
		}
		b.setIdentity(identity{}, err)
		if ctx.Err() != nil {
			return
		}
		b.log.Error("cannot register the agent", "name", base, "err", err)
		retry := time.After(time.Second)
		if !errors.Is(err, hub.ErrUnavailable) {
			retry = nil // only the register tool can help now
		}
		select {
		case <-ctx.Done():
			return
		case <-changed:
			break claim
		case <-retry:
		}
	}
	b.follow(ctx)
}

// setIdentity installs the session's agent (or the reason it has none)
// and wakes calls waiting for it.
func (b *Bridge) setIdentity(id identity, err error) {
	b.idMu.Lock()
	old := b.id
	if err == nil {
		b.id, b.idErr = id, nil
		b.idGen++
		close(b.idChanged)
		b.idChanged = make(chan struct{})
	} else if b.id.name == "" {
		b.idErr = err
	}
	b.idMu.Unlock()
	if err == nil && old.lock != id.lock {
		old.lock.release()
	}
	b.idOnce.Do(func() { close(b.idReady) })
}

// identityChanged returns a channel closed at the next identity change.
func (b *Bridge) identityChanged() <-chan struct{} {
	b.idMu.Lock()
	defer b.idMu.Unlock()
	return b.idChanged
}

func (b *Bridge) releaseIdentity() {
	b.idMu.Lock()
	id := b.id
	b.id.lock = nil
	b.idMu.Unlock()
	id.lock.release()
}

// current returns the session's agent, waiting for the first
// registration to finish.
func (b *Bridge) current(ctx context.Context) (identity, error) {
	if b.startLazily != nil {
		b.startLazily()
	}
	select {
	case <-b.idReady:
	case <-ctx.Done():
		return identity{}, ctx.Err()
	case <-time.After(b.cfg.HubWait):
		return identity{}, &hub.Error{Code: hub.CodeUnavailable, Message: "the agent is not registered yet: no hub answered at " + b.cfg.URL}
	}
	b.idMu.Lock()
	defer b.idMu.Unlock()
	if b.id.name == "" {
		msg := "this session has no agent: call register"
		if b.idErr != nil {
			msg = fmt.Sprintf("this session has no agent (%v): call register to choose a name", b.idErr)
		}
		return identity{}, &hub.Error{Code: hub.CodeForbidden, Message: msg}
	}
	return b.id, nil
}

// goodbye takes the agent offline at once: through the service when
// this process is the hub, else by telling the hub.
func (b *Bridge) goodbye() {
	b.idMu.Lock()
	id := b.id
	b.idMu.Unlock()
	if id.name == "" {
		return
	}
	if h := b.link.hostedHub(); h != nil {
		h.Service().Disconnect(context.Background(), id.name)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	b.disconnect(ctx, id)
}

func pidOf() int { return os.Getpid() }

func hostName() string {
	h, _ := os.Hostname()
	return h
}
