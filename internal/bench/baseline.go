package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/parley-dev/parley/internal/hub"
)

// syncScenarios are the scenarios whose numbers depend on the store's
// synchronous mode; the sync baseline runs these again.
var syncScenarios = []string{ScenarioSend, ScenarioWake, ScenarioBroadcast, ScenarioInbox, ScenarioChannel, ScenarioCommand, ScenarioMixed}

// runBaseline measures one baseline and adds its results to rep.
func runBaseline(ctx context.Context, opts *Options, name string, scenarios []string, prog *progress, rep *Report) error {
	opts.Logger.Info("baseline", "name", name)
	switch name {
	case BaselineHTTPEcho:
		return httpEcho(ctx, opts, prog, rep)
	case BaselineNATS:
		return natsBaseline(ctx, opts, prog, rep)
	case BaselineSync:
		return syncBaseline(ctx, opts, scenarios, prog, rep)
	}
	return fmt.Errorf("unknown baseline %q", name)
}

// otherSync returns the synchronous mode that is not mode.
func otherSync(mode string) string {
	if mode == "normal" {
		return "full"
	}
	return "normal"
}

// syncBaseline runs the store-bound scenarios again on a hub started by
// the run (in process, or spawned with Spawn) with the other synchronous
// mode.
func syncBaseline(ctx context.Context, opts *Options, scenarios []string, prog *progress, rep *Report) error {
	var run []string
	for _, s := range scenarios {
		if slices.Contains(syncScenarios, s) {
			run = append(run, s)
		}
	}
	if len(run) == 0 {
		return nil
	}
	mode := otherSync(opts.Sync)
	o := *opts
	o.URL = "" // the baseline is always a hub the run starts
	t, err := startTarget(ctx, &o, mode, opts.Spawn)
	if err != nil {
		return err
	}
	r := newRunner(&o, t, "hub sync="+mode, prog, rep)
	err = r.runAll(ctx, run)
	return errors.Join(err, t.close())
}

// echoHandler is the http-echo baseline: it reads the request body and
// writes it back as JSON, the least any JSON API does per request.
func echoHandler(w http.ResponseWriter, r *http.Request) {
	b, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(http.StatusCreated)
	_, _ = w.Write(b)
}

// httpEcho measures a plain net/http server on loopback that echoes the
// body of a send request: with Senders concurrent clients (the floor for
// the send scenario) and with one (the floor for a single call's
// latency).
func httpEcho(ctx context.Context, opts *Options, prog *progress, rep *Report) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: http.HandlerFunc(echoHandler), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	url := "http://" + ln.Addr().String() + "/messages"
	hc := &http.Client{Transport: &http.Transport{MaxIdleConns: 1024, MaxIdleConnsPerHost: 512, IdleConnTimeout: 90 * time.Second}}
	defer hc.CloseIdleConnections()
	reqBody, err := json.Marshal(hub.SendRequest{To: []string{"bench-receiver"}, Body: body(opts.Body)})
	if err != nil {
		return err
	}
	call := func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(reqBody))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer pt_bench")
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		var echoed hub.SendRequest
		if err := json.NewDecoder(resp.Body).Decode(&echoed); err != nil {
			return err
		}
		if resp.StatusCode != http.StatusCreated {
			return fmt.Errorf("echo answered %s", resp.Status)
		}
		return nil
	}
	r := &runner{opts: opts, label: BaselineHTTPEcho, prog: prog, rep: rep}
	st := r.loop(ctx, "http-echo", opts.Senders, opts.count(ScenarioSend), func(ctx context.Context, _ int, _ int64) error { return call(ctx) })
	res := r.result(ScenarioSend, "http-echo", st, "req/s")
	res.Metrics = map[string]float64{"clients": float64(opts.Senders), "request_bytes": float64(len(reqBody))}
	res.Note = "plain net/http handler echoing the send request's JSON"
	r.add(res)
	st = r.loop(ctx, "http-echo serial", 1, opts.count(ScenarioWake), func(ctx context.Context, _ int, _ int64) error { return call(ctx) })
	res = r.result(ScenarioWake, "http-echo.serial", st, "req/s")
	res.Note = "one client, one request at a time"
	r.add(res)
	return nil
}

// natsBaseline starts nats-server on a free loopback port and measures
// NATS core with the official Go client: request-reply round trips and
// one-way delivery to a subscriber, one message at a time, as the wake
// scenario sends them. NATS stores nothing, so this is the floor for
// delivery latency, not a like-for-like durable comparison.
func natsBaseline(ctx context.Context, opts *Options, prog *progress, rep *Report) error {
	if _, err := os.Stat(opts.NATSServer); err != nil {
		return fmt.Errorf("nats-server: %w (install Debian's nats-server)", err)
	}
	addr, err := freeAddr()
	if err != nil {
		return err
	}
	host, port, _ := net.SplitHostPort(addr)
	cmd := exec.Command(opts.NATSServer, "-a", host, "-p", port)
	tail := &tailBuffer{max: 4 << 10}
	cmd.Stdout, cmd.Stderr = tail, tail
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start nats-server: %w", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	defer func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	}()
	var nc *nats.Conn
	deadline := time.Now().Add(startTimeout)
	for {
		nc, err = nats.Connect("nats://"+addr, nats.Timeout(time.Second), nats.NoReconnect())
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("nats-server did not answer within %s: %v: %s", startTimeout, err, tail.String())
		}
		select {
		case <-exited:
			return fmt.Errorf("nats-server exited: %s", tail.String())
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	defer nc.Close()
	payload := []byte(body(opts.Body))
	r := &runner{opts: opts, label: BaselineNATS, prog: prog, rep: rep}

	// A second connection answers, as another process would.
	rc, err := nats.Connect("nats://" + addr)
	if err != nil {
		return err
	}
	defer rc.Close()
	sub, err := rc.Subscribe("bench.req", func(m *nats.Msg) { _ = m.Respond(m.Data) })
	if err != nil {
		return err
	}
	defer sub.Unsubscribe()
	if err := rc.Flush(); err != nil {
		return err
	}
	st := r.loop(ctx, "nats request-reply", 1, opts.count(ScenarioWake), func(ctx context.Context, _ int, _ int64) error {
		_, err := nc.Request("bench.req", payload, wakeTimeout)
		return err
	})
	res := r.result(ScenarioWake, "nats.reqreply", st, "round trips/s")
	res.Note = "NATS core request-reply, one at a time (stores nothing)"
	r.add(res)

	got := make(chan time.Time, 1)
	one, err := rc.Subscribe("bench.oneway", func(*nats.Msg) { got <- time.Now() })
	if err != nil {
		return err
	}
	defer one.Unsubscribe()
	if err := rc.Flush(); err != nil {
		return err
	}
	st = r.loopTimed(ctx, "nats one-way", 1, opts.count(ScenarioWake), func(ctx context.Context, _ int, _ int64) (time.Duration, error) {
		t0 := time.Now()
		if err := nc.Publish("bench.oneway", payload); err != nil {
			return 0, err
		}
		if err := nc.FlushTimeout(wakeTimeout); err != nil {
			return 0, err
		}
		select {
		case at := <-got:
			return max(at.Sub(t0), 1), nil
		case <-time.After(wakeTimeout):
			return 0, errors.New("subscriber did not get the message")
		}
	})
	res = r.result(ScenarioWake, "nats.oneway", st, "msg/s")
	res.Note = "NATS core publish to a subscriber on another connection, one at a time"
	r.add(res)
	return nil
}
