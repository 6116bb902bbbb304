package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"time"

	"github.com/nats-io/nats.go"
)

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
