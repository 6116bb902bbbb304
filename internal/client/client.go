// Package client is the Go client of Parley's HTTP API (docs/API.md). The
// command line, the MCP bridge and the load generator all talk to a hub
// through it, so it returns the hub's own types and errors: a failure the
// hub reports arrives as a *hub.Error with its code, and
// errors.Is(err, hub.ErrNotFound) works as it does inside the hub.
//
// Every call goes through one method, Client.do, so a file that adds
// endpoints (commands, channels, leases...) only builds a path and a body.
package client

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parley-dev/parley/internal/hub"
)

// Options configure a Client. The zero value talks to the hub without a
// credential, which works only against a hub started with --open.
type Options struct {
	// Token is an agent token (pt_...): the client acts as that agent.
	Token string
	// AdminSecret is the hub's admin secret (pa_...). Without Token the
	// client is the admin, acting as As (the hub's "human" when As is
	// empty). It is also the credential Register uses when JoinSecret is
	// empty.
	AdminSecret string
	// JoinSecret is the join secret of a hub started with --secret; it
	// may only register, so only Register sends it.
	JoinSecret string
	// As names the agent the client acts as. It fills the {agent} of
	// paths such as /inbox/{agent} and is sent as X-Parley-As, which the
	// hub honours for the admin and under --open. With a Token and no As
	// the client asks the hub once (GET /whoami) for its name.
	As string
	// HTTPClient, when set, makes the requests; CAFile must then be empty.
	// Its Timeout must be longer than any Wait, or zero.
	HTTPClient *http.Client
	// CAFile is a PEM file of certificates to trust for an https hub, in
	// place of the system's roots.
	CAFile string
	// UserAgent is sent with every request; DefaultUserAgent when empty.
	UserAgent string
}

// DefaultUserAgent is the User-Agent of a Client whose Options name none.
const DefaultUserAgent = "parley-client"

// Transport tuning. A load generator drives hundreds of connections to one
// hub through one Client, so idle connections are kept per host in
// numbers, not the two net/http keeps by default.
const (
	maxIdleConns        = 1024
	maxIdleConnsPerHost = 512
	idleConnTimeout     = 90 * time.Second
	dialTimeout         = 10 * time.Second
	tlsHandshakeTimeout = 10 * time.Second
	// maxErrorBody bounds how much of an error response is read.
	maxErrorBody = 64 << 10
)

// Client calls one hub. It is safe for concurrent use; its connections are
// kept alive and shared by every call, and by the clients WithAgent
// returns, so create one Client per hub and reuse it.
type Client struct {
	base  string // scheme://host[:port][/prefix], without a trailing slash
	hc    *http.Client
	ua    string
	token string
	admin string
	join  string

	// name is the agent the client acts as; empty until known. It
	// changes when the agent renames itself.
	name   atomic.Pointer[string]
	nameMu sync.Mutex // serializes the whoami that learns the name
}

// New returns a client of the hub at baseURL, an http or https URL such
// as http://127.0.0.1:7878. A path in the URL is kept as a prefix, for a
// hub behind a reverse proxy.
func New(baseURL string, opts Options) (*Client, error) {
	base, err := parseBase(baseURL)
	if err != nil {
		return nil, err
	}
	c := &Client{base: base, ua: opts.UserAgent, token: opts.Token, admin: opts.AdminSecret, join: opts.JoinSecret}
	if c.ua == "" {
		c.ua = DefaultUserAgent
	}
	if opts.As != "" {
		name, err := hub.NormalizeName("agent name", opts.As)
		if err != nil {
			return nil, err
		}
		c.name.Store(&name)
	}
	switch {
	case opts.HTTPClient != nil && opts.CAFile != "":
		return nil, errors.New("client: give HTTPClient or CAFile, not both")
	case opts.HTTPClient != nil:
		c.hc = opts.HTTPClient
	default:
		t, err := newTransport(opts.CAFile)
		if err != nil {
			return nil, err
		}
		c.hc = &http.Client{Transport: t}
	}
	return c, nil
}

func parseBase(raw string) (string, error) {
	raw = strings.TrimSpace(raw)
	if !strings.Contains(raw, "://") {
		return "", fmt.Errorf("hub URL %q: must start with http:// or https://", raw)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("hub URL %q: %w", raw, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", fmt.Errorf("hub URL %q: must start with http:// or https://", raw)
	}
	if u.Host == "" {
		return "", fmt.Errorf("hub URL %q: no host", raw)
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return "", fmt.Errorf("hub URL %q: must not have a query, fragment or user", raw)
	}
	return u.Scheme + "://" + u.Host + strings.TrimRight(u.EscapedPath(), "/"), nil
}

func newTransport(caFile string) (*http.Transport, error) {
	t := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          maxIdleConns,
		MaxIdleConnsPerHost:   maxIdleConnsPerHost,
		IdleConnTimeout:       idleConnTimeout,
		TLSHandshakeTimeout:   tlsHandshakeTimeout,
		ExpectContinueTimeout: time.Second,
	}
	if caFile != "" {
		tc, err := TLSConfig(caFile)
		if err != nil {
			return nil, err
		}
		t.TLSClientConfig = tc
	}
	return t, nil
}

// TLSConfig returns the TLS configuration of a client that trusts the CA
// certificates of a PEM file, in place of the system's roots: for a hub
// whose certificate a private CA signed, or a self-signed one.
func TLSConfig(caFile string) (*tls.Config, error) {
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("CA file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("CA file %s: no PEM certificate found", caFile)
	}
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, nil
}

// URL returns the hub's base URL as the client uses it.
func (c *Client) URL() string { return c.base }

// Name returns the name of the agent the client acts as, or "" when it
// is not known yet.
func (c *Client) Name() string {
	if p := c.name.Load(); p != nil {
		return *p
	}
	return ""
}

// WithAgent returns a client that acts as the agent name with token (and
// the same admin secret), sharing this client's connections. A load
// generator registers many agents and drives them all through one pool.
func (c *Client) WithAgent(name, token string) *Client {
	n := &Client{base: c.base, hc: c.hc, ua: c.ua, token: token, admin: c.admin, join: c.join}
	if name != "" {
		n.name.Store(&name)
	}
	return n
}

// self returns the name of the agent the client acts as, asking the hub
// once when only a token is known.
func (c *Client) self(ctx context.Context) (string, error) {
	if p := c.name.Load(); p != nil {
		return *p, nil
	}
	if c.token == "" {
		if c.admin != "" {
			return hub.HumanName, nil
		}
		return "", errors.New("no agent: give a token or the name of the agent to act as")
	}
	c.nameMu.Lock()
	defer c.nameMu.Unlock()
	if p := c.name.Load(); p != nil {
		return *p, nil
	}
	var p hub.Peer
	if err := c.do(ctx, http.MethodGet, "/whoami", nil, &p); err != nil {
		return "", err
	}
	c.name.Store(&p.Name)
	return p.Name, nil
}

func (c *Client) setName(name string) { c.name.Store(&name) }

// rawKey is the context key of CaptureJSON.
type rawKey struct{}

// CaptureJSON returns a context under which a call also stores the hub's
// JSON response body in *dst, for front ends (parley --json) that print
// exactly what the hub said.
func CaptureJSON(ctx context.Context, dst *json.RawMessage) context.Context {
	return context.WithValue(ctx, rawKey{}, dst)
}

// credential selects what a request authenticates with.
type credential int

const (
	credAgent    credential = iota // the token, else the admin secret
	credRegister                   // the join secret, else the admin secret, else the token
	credAdmin                      // the admin secret, else the token
)

// do sends one request and decodes the JSON response into out (when not
// nil). path is relative to the base URL and may carry a query. A
// response that is not 2xx becomes a *hub.Error.
func (c *Client) do(ctx context.Context, method, path string, body, out any) error {
	return c.doAs(ctx, credAgent, method, path, body, out)
}

func (c *Client) doAs(ctx context.Context, cred credential, method, path string, body, out any) error {
	resp, err := c.send(ctx, cred, method, path, body, "application/json", "")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return decodeError(resp)
	}
	raw, _ := ctx.Value(rawKey{}).(*json.RawMessage)
	if raw == nil && out == nil {
		_, err := io.Copy(io.Discard, resp.Body)
		return err
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("read response: %w", err)
	}
	if raw != nil {
		*raw = b
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("decode response of %s %s: %w", method, path, err)
		}
	}
	return nil
}

// send builds and sends a request and returns the response whatever its
// status.
func (c *Client) send(ctx context.Context, cred credential, method, path string, body any, accept, lastEventID string) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, fmt.Errorf("encode request: %w", err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", accept)
	req.Header.Set("User-Agent", c.ua)
	if lastEventID != "" {
		req.Header.Set("Last-Event-ID", lastEventID)
	}
	if secret := c.credential(cred); secret != "" {
		req.Header.Set("Authorization", "Bearer "+secret)
	}
	if p := c.name.Load(); p != nil && *p != "" {
		req.Header.Set("X-Parley-As", *p)
	}
	return c.hc.Do(req)
}

func (c *Client) credential(cred credential) string {
	if cred == credAdmin && c.admin != "" {
		return c.admin
	}
	if cred == credRegister {
		for _, s := range []string{c.join, c.admin, c.token} {
			if s != "" {
				return s
			}
		}
		return ""
	}
	if c.token != "" {
		return c.token
	}
	return c.admin
}

// decodeError turns a failed response into a *hub.Error: the hub's own
// code and message when the body is the API's error JSON, else a code
// from the status.
func decodeError(resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBody))
	var body struct {
		Error struct {
			Code    hub.Code `json:"code"`
			Message string   `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(b, &body) == nil && body.Error.Code != "" {
		msg := body.Error.Message
		if msg == "" {
			msg = string(body.Error.Code)
		}
		e := &hub.Error{Code: body.Error.Code, Message: msg}
		if e.Code == hub.CodeRateLimited {
			if s := resp.Header.Get("Retry-After"); s != "" {
				e.Message += " (retry after " + s + "s)"
			}
		}
		return e
	}
	text := strings.TrimSpace(string(b))
	if len(text) > 200 {
		text = text[:200] + "..."
	}
	msg := "hub answered " + resp.Status
	if text != "" {
		msg += ": " + text
	}
	return &hub.Error{Code: codeForStatus(resp.StatusCode), Message: msg}
}

func codeForStatus(status int) hub.Code {
	switch status {
	case http.StatusBadRequest:
		return hub.CodeInvalid
	case http.StatusUnauthorized:
		return hub.CodeUnauthenticated
	case http.StatusForbidden:
		return hub.CodeForbidden
	case http.StatusNotFound:
		return hub.CodeNotFound
	case http.StatusConflict:
		return hub.CodeConflict
	case http.StatusRequestEntityTooLarge:
		return hub.CodeTooLarge
	case http.StatusTooManyRequests:
		return hub.CodeRateLimited
	case http.StatusServiceUnavailable, http.StatusBadGateway, http.StatusGatewayTimeout:
		return hub.CodeUnavailable
	}
	return hub.CodeInternal
}

// wrap names the operation on a transport failure. Errors the hub
// reported pass unchanged: their message already says what was wrong.
func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	var he *hub.Error
	if errors.As(err, &he) {
		return err
	}
	return fmt.Errorf("%s: %w", op, err)
}

// esc escapes one path segment.
func esc(s string) string { return url.PathEscape(s) }

// itoa formats an ID for a path or query.
func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// withQuery appends q to path when it is not empty.
func withQuery(path string, q url.Values) string {
	if len(q) == 0 {
		return path
	}
	return path + "?" + q.Encode()
}
