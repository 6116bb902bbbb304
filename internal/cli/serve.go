package cli

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/parley-dev/parley/internal/config"
	"github.com/parley-dev/parley/internal/httpapi"
	"github.com/parley-dev/parley/internal/hub"
	"github.com/parley-dev/parley/internal/hubserver"
)

// serveFlags are the flags of parley serve.
type serveFlags struct {
	addr      string
	data      string
	open      bool
	secret    string
	sync      string
	logFormat string
	logLevel  string
	// Security (SECURITY.md).
	tlsCert    string
	tlsKey     string
	rate       float64
	burst      int
	maxWaiters int
	maxConns   int
	tokenTTL   time.Duration
	// Limits on what the hub stores.
	maxBody    int
	keepEvents int
	retain     time.Duration
	maxUnread  int
}

func newServeCmd() *cobra.Command {
	var f serveFlags
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the hub: the store, the HTTP API and the event stream",
		Long: `Run the Parley hub until interrupted.

The hub keeps its data in --data, locked so that only one hub uses it, and
creates an admin secret there on first start (readable only by you): local
clients read it, so nothing needs configuring on one machine.

Listening on an address other than loopback lets agents on other machines
in; that needs a join secret (--secret or PARLEY_SECRET), which they present
to register. Serve TLS there with --tls-cert and --tls-key; clients trust
a private CA with --ca or $PARLEY_CA. --open turns authentication off, on
loopback only.

Each agent and each remote address may make --rate requests a second
(bursts of --burst) and hold --max-waiters long-polls open; --rate 0 turns
rate limits off, for benchmarks. See SECURITY.md.

Messages are kept until --retain after they were sent and every recipient
has read them (or acked them, when the sender asked for acks); unread mail
is never removed. By default messages are kept forever. --max-unread bounds
each agent's queue: a send skips agents with that many unread messages, and
fails if it reaches no one else.

SIGINT or SIGTERM stops the hub gracefully; a second one stops it at once.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runServe(cmd, f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.addr, "addr", config.DefaultAddr, "address to listen on (host:port; port 0 picks a free one)")
	fl.StringVar(&f.data, "data", "", "data directory (default $"+config.EnvData+", else the user's data dir, e.g. ~/.local/share/parley)")
	fl.BoolVar(&f.open, "open", false, "turn authentication off (loopback addresses only)")
	fl.StringVar(&f.secret, "secret", "", "join secret agents on other machines present to register (default $"+config.EnvSecret+")")
	fl.StringVar(&f.sync, "sync", "full", "durability of commits: full (survives power loss) or normal (survives a crash of the hub)")
	fl.StringVar(&f.logFormat, "log-format", "text", "log format: text or json")
	fl.StringVar(&f.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	fl.StringVar(&f.tlsCert, "tls-cert", "", "PEM certificate to serve HTTPS with (with --tls-key)")
	fl.StringVar(&f.tlsKey, "tls-key", "", "PEM private key of --tls-cert")
	fl.Float64Var(&f.rate, "rate", httpapi.DefaultRate, "requests per second allowed to each agent and each remote address; 0 turns rate limits off")
	fl.IntVar(&f.burst, "burst", 0, "requests at once allowed above --rate (default 2×rate)")
	fl.IntVar(&f.maxWaiters, "max-waiters", httpapi.DefaultMaxWaiters, "long-polls and event streams one agent may hold open; 0: no bound")
	fl.IntVar(&f.maxConns, "max-conns", 0, "open connections the hub keeps; idle ones are closed first to make room (default: "+strconv.Itoa(hubserver.DefaultMaxConns)+", or less under a low file limit); -1: no bound")
	fl.DurationVar(&f.tokenTTL, "token-ttl", hub.DefaultTokenTTL, "how long an unused agent token stays valid (each use extends it); 0: forever")
	fl.IntVar(&f.maxBody, "max-body", hub.DefaultMaxBody, "largest message a send may store: body plus attachments, in bytes")
	fl.IntVar(&f.keepEvents, "keep-events", hub.DefaultKeepEvents, "events kept for event-stream followers that resume with Last-Event-ID")
	fl.DurationVar(&f.retain, "retain", 0, "how long messages are kept once every recipient has read them, at least 1h, e.g. 720h; 0: forever")
	fl.IntVar(&f.maxUnread, "max-unread", 0, "unread messages queued for one agent; sends skip an agent that has this many; 0: no bound")
	return cmd
}

// check rejects limits that make no sense, naming the flag.
func (f serveFlags) check() error {
	switch {
	case f.maxBody <= 0:
		return fmt.Errorf("--max-body %d: must be at least 1 byte", f.maxBody)
	case f.keepEvents <= 0:
		return fmt.Errorf("--keep-events %d: must be at least 1", f.keepEvents)
	case f.retain < 0 || f.retain > 0 && f.retain < hub.MinRetain:
		return fmt.Errorf("--retain %s: must be 0 (keep forever) or at least %s", f.retain, hub.MinRetain)
	case f.maxUnread < 0:
		return fmt.Errorf("--max-unread %d: must not be negative", f.maxUnread)
	}
	return nil
}

func runServe(cmd *cobra.Command, f serveFlags) error {
	if err := f.check(); err != nil {
		return err
	}
	log, err := newLogger(cmd.ErrOrStderr(), f.logFormat, f.logLevel)
	if err != nil {
		return err
	}
	if f.data == "" {
		if f.data, err = config.DataDir(); err != nil {
			return err
		}
	}
	if !cmd.Flags().Changed("secret") {
		f.secret = os.Getenv(config.EnvSecret)
	}

	// The first SIGINT or SIGTERM ends cmd.Context() (main's
	// signal.NotifyContext); this channel sees it too, and a second one
	// skips the graceful shutdown.
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)

	ctx := cmd.Context()
	h, err := hubserver.Start(ctx, hubserver.Config{
		DataDir:     f.data,
		Addr:        f.addr,
		Open:        f.open,
		JoinSecret:  f.secret,
		Synchronous: f.sync,
		Version:     cmd.Root().Version,
		Logger:      log,
		TLSCert:     f.tlsCert,
		TLSKey:      f.tlsKey,
		RateLimit:   zeroOff(f.rate),
		RateBurst:   f.burst,
		MaxWaiters:  int(zeroOff(float64(f.maxWaiters))),
		MaxConns:    f.maxConns,
		TokenTTL:    time.Duration(zeroOff(float64(f.tokenTTL))),
		MaxBody:     f.maxBody,
		KeepEvents:  f.keepEvents,
		Retain:      f.retain,
		MaxUnread:   f.maxUnread,
	})
	if err != nil {
		return err
	}
	log.Info("parley hub listening",
		"url", h.URL(), "data", h.DataDir(), "admin_secret_file", h.AdminSecretPath(),
		"open", f.open, "join_secret", f.secret != "", "tls", f.tlsCert != "")
	if f.open {
		log.Warn("authentication is off (--open): any local process can act as any agent")
	}

	var serveErr error
	select {
	case <-ctx.Done():
		log.Info("shutting down; signal again to stop at once")
	case <-h.Done():
		serveErr = h.Err()
	}
	go func() {
		n := 0
		for range sigs {
			if n++; n >= 2 {
				log.Warn("second signal: exiting without a graceful shutdown")
				os.Exit(1)
			}
		}
	}()
	if err := h.Close(); err != nil && serveErr == nil {
		serveErr = err
	}
	if serveErr != nil {
		return fmt.Errorf("serve: %w", serveErr)
	}
	log.Info("parley hub stopped")
	return nil
}

// zeroOff maps a flag's 0 ("off") to the -1 that hubserver.Config reads
// as off, where 0 means the default.
func zeroOff(v float64) float64 {
	if v == 0 {
		return -1
	}
	return v
}

// newLogger builds the process's log handler: text or JSON on w, at level.
func newLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch strings.ToLower(format) {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: want text or json", format)
}
