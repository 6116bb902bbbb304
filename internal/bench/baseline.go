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
	"slices"
	"strconv"
	"time"

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
	r, err := newRunner(&o, t, "hub sync="+mode, prog, rep)
	if err != nil {
		return errors.Join(err, t.close())
	}
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
