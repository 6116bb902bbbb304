package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/parley-dev/parley/internal/client"
	"github.com/parley-dev/parley/internal/config"
	"github.com/parley-dev/parley/internal/hub"
)

// Global flags of the client commands. They are persistent flags of the
// root, so every command (and commands added later) reads them with
// globalsOf.
const (
	flagURL    = "url"
	flagAs     = "as"
	flagJSON   = "json"
	flagData   = "data"
	flagSecret = "secret"
	flagCA     = "ca"
)

// callTimeout bounds a client command's request, so a hub that stopped
// answering does not hang the shell. Waits get their own bound.
const callTimeout = time.Minute

// addGlobalFlags adds the flags every client command shares to root.
func addGlobalFlags(root *cobra.Command) {
	f := root.PersistentFlags()
	f.String(flagURL, "", "hub URL (default $"+config.EnvURL+" or "+config.DefaultURL+")")
	f.String(flagAs, "", "agent to act as (default $"+config.EnvAgent+", or the only agent registered from here)")
	f.Bool(flagJSON, false, "print the hub's JSON instead of text")
	f.String(flagData, "", "hub data directory, where the admin secret is read (default $"+config.EnvData+" or the user's data dir)")
	f.String(flagSecret, "", "join secret of the hub, for register (default $"+config.EnvSecret+")")
	f.String(flagCA, "", "PEM file of the CA that signed an https hub's certificate (default $"+config.EnvCA+")")
}

// globals are the global flags after defaults and environment.
type globals struct {
	url    string
	as     string // normalized; empty when not given
	json   bool
	data   string
	secret string
	ca     string
	// dataSet is true when the data directory was named explicitly.
	dataSet bool
}

// flagOrEnv returns the flag's value when given, else the environment's.
func flagOrEnv(cmd *cobra.Command, name, env string) (string, bool) {
	if f := cmd.Flag(name); f != nil && f.Changed {
		return f.Value.String(), true
	}
	if v := os.Getenv(env); v != "" {
		return v, true
	}
	return "", false
}

// globalsOf reads the global flags of cmd, with environment and defaults.
func globalsOf(cmd *cobra.Command) (globals, error) {
	var g globals
	g.url, _ = flagOrEnv(cmd, flagURL, config.EnvURL)
	if g.url == "" {
		g.url = config.DefaultURL
	}
	g.url = strings.TrimRight(g.url, "/")
	if as, ok := flagOrEnv(cmd, flagAs, config.EnvAgent); ok {
		name, err := hub.NormalizeName("--as", as)
		if err != nil {
			return g, err
		}
		g.as = name
	}
	if f := cmd.Flag(flagJSON); f != nil {
		g.json, _ = strconv.ParseBool(f.Value.String())
	}
	g.data, g.dataSet = flagOrEnv(cmd, flagData, config.EnvData)
	if g.data == "" {
		d, err := config.DataDir()
		if err != nil {
			return g, err
		}
		g.data = d
	}
	g.secret, _ = flagOrEnv(cmd, flagSecret, config.EnvSecret)
	g.ca, _ = flagOrEnv(cmd, flagCA, config.EnvCA)
	return g, nil
}

// adminSecret returns the admin secret from the data directory, or "".
// It is only sent to a hub on this machine (a loopback URL) unless the
// data directory was named explicitly, so that pointing --url at another
// machine never leaks the local hub's secret.
func (g globals) adminSecret() string {
	if !g.dataSet && !isLoopback(g.url) {
		return ""
	}
	s, err := config.ReadSecret(config.AdminSecretPath(g.data))
	if err != nil {
		return ""
	}
	return s
}

func isLoopback(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil {
		return false
	}
	host := u.Hostname()
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// need says whether a command must act as an agent.
type need int

const (
	// needAgent: the command acts as an agent (inbox, send...).
	needAgent need = iota
	// anyCredential: an agent if one is known, else the admin secret.
	anyCredential
)

// session is what a client command runs with.
type session struct {
	g      globals
	c      *client.Client
	tokens config.TokenStore
	// name is the agent acted as; empty when acting without one.
	name string
	// hasToken is true when a stored token authenticates the agent.
	hasToken bool
}

// connect resolves the identity a command acts as and returns a client
// for it. No request is made.
func connect(cmd *cobra.Command, n need) (*session, error) {
	g, err := globalsOf(cmd)
	if err != nil {
		return nil, err
	}
	ts, err := config.NewTokenStore("", g.url)
	if err != nil {
		return nil, err
	}
	s := &session{g: g, tokens: ts}
	name, token, err := resolveAgent(ts, g.as)
	switch {
	case err == nil:
	case n == anyCredential && errors.Is(err, errNoIdentity):
	default:
		return nil, err
	}
	opts := client.Options{As: name, Token: token, CAFile: g.ca, UserAgent: userAgent(cmd)}
	if token == "" {
		opts.AdminSecret = g.adminSecret()
	}
	s.name, s.hasToken = name, token != ""
	if s.c, err = client.New(g.url, opts); err != nil {
		return nil, err
	}
	return s, nil
}

func userAgent(cmd *cobra.Command) string {
	v := cmd.Root().Version
	if v == "" {
		v = "dev"
	}
	return "parley-cli/" + v
}

// context returns the context of one call of the command: the command's
// own, bounded by callTimeout, and capturing the hub's JSON under --json.
func (s *session) context(cmd *cobra.Command, raw *json.RawMessage) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(cmd.Context(), callTimeout)
	return s.capture(ctx, raw), cancel
}

func (s *session) capture(ctx context.Context, raw *json.RawMessage) context.Context {
	if !s.g.json || raw == nil {
		return ctx
	}
	return client.CaptureJSON(ctx, raw)
}

// explain makes an error of a client command read well: a hub error
// gets its code, an unreachable hub a hint.
func (s *session) explain(err error) error {
	if err == nil {
		return nil
	}
	var he *hub.Error
	if errors.As(err, &he) {
		if he.Code == hub.CodeUnauthenticated && s != nil && s.name != "" && s.hasToken {
			return fmt.Errorf("%w (%s; the hub does not accept the token stored for %q: register again with \"parley register %s\")", err, he.Code, s.name, s.name)
		}
		if he.Code == hub.CodeUnauthenticated && s != nil && s.name != "" && !s.hasToken {
			return fmt.Errorf("%w (%s; no token is stored for %q at %s: run \"parley register %s\")", err, he.Code, s.name, s.g.url, s.name)
		}
		return fmt.Errorf("%w (%s)", err, he.Code)
	}
	if s != nil && isUnreachable(err) {
		return fmt.Errorf("%w\n(is the hub running at %s? start one with \"parley serve\", or point --url or $%s at it)", err, s.g.url, config.EnvURL)
	}
	return err
}

// call runs the one request of a simple command: it connects with the
// credential n needs, calls do, and prints the hub's own JSON under
// --json, or hands the result to text.
func call[T any](cmd *cobra.Command, n need, do func(ctx context.Context, c *client.Client) (T, error), text func(w io.Writer, v T) error) error {
	s, err := connect(cmd, n)
	if err != nil {
		return err
	}
	var raw json.RawMessage
	ctx, cancel := s.context(cmd, &raw)
	defer cancel()
	v, err := do(ctx, s.c)
	if err != nil {
		return s.explain(err)
	}
	w := cmd.OutOrStdout()
	if s.g.json {
		return printJSON(w, raw)
	}
	return text(w, v)
}
