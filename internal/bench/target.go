package bench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/parley-dev/parley/internal/client"
	"github.com/parley-dev/parley/internal/config"
	"github.com/parley-dev/parley/internal/hub"
	"github.com/parley-dev/parley/internal/hubserver"
)

// Kinds of target.
const (
	kindSelf   = "self"   // in this process
	kindSpawn  = "spawn"  // a `parley serve` child process
	kindRemote = "remote" // a running hub at a URL
)

// startTimeout bounds how long a hub the run starts may take to answer.
const startTimeout = 15 * time.Second

// target is the hub a run drives.
type target struct {
	kind  string
	url   string
	admin string // admin secret, if known
	join  string // join secret, if known
	sync  string // synchronous mode, when the run started the hub
	// pid is the hub's process when it runs on this machine, else 0.
	pid int
	// svc is the hub's service when it runs in this process: the inbox
	// scenario preloads through it, skipping HTTP.
	svc *hub.Service
	// subscribers counts the hub's live event subscriptions (waiters
	// among them), when it runs in this process; nil otherwise.
	subscribers func() int
	close       func() error
}

// startTarget starts the hub a run drives: in process, as a child, or
// none when opts.URL names a running one.
func startTarget(ctx context.Context, opts *Options, sync string, spawn bool) (*target, error) {
	switch {
	case opts.URL != "":
		t := &target{kind: kindRemote, url: strings.TrimRight(opts.URL, "/"), admin: opts.AdminSecret,
			join: opts.JoinSecret, pid: opts.HubPID, close: func() error { return nil }}
		if t.admin == "" && t.join == "" {
			return nil, errors.New("bench: registering bench agents on a running hub needs its admin secret (--data) or join secret (--secret)")
		}
		hctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		c, err := client.New(t.url, client.Options{})
		if err != nil {
			return nil, err
		}
		if err := c.Health(hctx); err != nil {
			return nil, fmt.Errorf("bench: hub at %s: %w", t.url, err)
		}
		return t, nil
	case spawn:
		return spawnHub(ctx, opts.Exe, sync)
	}
	return selfHub(ctx, sync)
}

// selfHub starts a hub in this process on a free loopback port with a
// temporary data directory, removed when it closes.
func selfHub(ctx context.Context, sync string) (*target, error) {
	dir, err := os.MkdirTemp("", "parley-bench-*")
	if err != nil {
		return nil, fmt.Errorf("bench: data directory: %w", err)
	}
	// Rate limits off: a benchmark measures the hub, not its limiter.
	h, err := hubserver.Start(ctx, hubserver.Config{DataDir: dir, Addr: "127.0.0.1:0", Synchronous: sync, Version: "bench", RateLimit: -1})
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("bench: start hub: %w", err)
	}
	t := &target{kind: kindSelf, url: h.URL(), admin: h.AdminSecret(), sync: sync, pid: os.Getpid(), svc: h.Service()}
	if c, ok := h.Service().Bus().(interface{ Subscribers() int }); ok {
		t.subscribers = c.Subscribers
	}
	t.close = func() error {
		err := h.Close()
		return errors.Join(err, os.RemoveAll(dir))
	}
	return t, nil
}

// spawnHub starts `exe serve` on a free loopback port with a temporary
// data directory, and stops it (SIGINT, then SIGKILL) when it closes.
func spawnHub(ctx context.Context, exe, sync string) (*target, error) {
	dir, err := os.MkdirTemp("", "parley-bench-*")
	if err != nil {
		return nil, fmt.Errorf("bench: data directory: %w", err)
	}
	p, err := startServe(ctx, exe, dir, sync)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	admin, err := config.ReadSecret(config.AdminSecretPath(dir))
	if err != nil {
		p.stop()
		os.RemoveAll(dir)
		return nil, fmt.Errorf("bench: admin secret of the spawned hub: %w", err)
	}
	return &target{kind: kindSpawn, url: p.url, admin: admin, sync: sync, pid: p.cmd.Process.Pid,
		close: func() error { return errors.Join(p.stop(), os.RemoveAll(dir)) }}, nil
}

// serveProcess is a `parley serve` child process.
type serveProcess struct {
	cmd    *exec.Cmd
	url    string
	stderr *tailBuffer
	done   chan struct{}
	once   sync.Once
	err    error
}

// startServe runs exe serve on a free port of 127.0.0.1 and waits until
// it answers /healthz. Its logs are kept at warn level, as a quiet
// production hub would run; the last few KiB of them are kept for
// error messages.
func startServe(ctx context.Context, exe, dir, sync string) (*serveProcess, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe, "serve", "--addr", addr, "--data", dir, "--sync", sync, "--log-level", "warn", "--rate", "0")
	tail := &tailBuffer{max: 8 << 10}
	cmd.Stdout, cmd.Stderr = tail, tail
	cmd.Env = append(os.Environ(), config.EnvSecret+"=")
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("bench: start %s serve: %w", exe, err)
	}
	p := &serveProcess{cmd: cmd, url: "http://" + addr, stderr: tail, done: make(chan struct{})}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	c, err := client.New(p.url, client.Options{})
	if err != nil {
		p.stop()
		return nil, err
	}
	deadline := time.Now().Add(startTimeout)
	for {
		hctx, cancel := context.WithTimeout(ctx, time.Second)
		err := c.Health(hctx)
		cancel()
		if err == nil {
			return p, nil
		}
		select {
		case <-p.done:
			return nil, fmt.Errorf("bench: spawned hub exited: %v: %s", p.err, strings.TrimSpace(tail.String()))
		case <-ctx.Done():
			p.stop()
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			p.stop()
			return nil, fmt.Errorf("bench: spawned hub did not answer within %s: %s", startTimeout, strings.TrimSpace(tail.String()))
		}
	}
}

// stop ends the process gracefully, or kills it after 10 s.
func (p *serveProcess) stop() error {
	p.once.Do(func() {
		if runtime.GOOS == "windows" {
			_ = p.cmd.Process.Kill()
		} else {
			_ = p.cmd.Process.Signal(os.Interrupt)
		}
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
	var ee *exec.ExitError
	if errors.As(p.err, &ee) {
		return nil // stopped by our signal
	}
	return p.err
}

// freeAddr returns a loopback address with a port that was free a
// moment ago.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("bench: find a free port: %w", err)
	}
	addr := ln.Addr().String()
	return addr, ln.Close()
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if over := len(t.b) - t.max; over > 0 {
		t.b = append(t.b[:0], t.b[over:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}

// procMemory is a process's memory as /proc/<pid>/status reports it.
type procMemory struct {
	RSS int64 // VmRSS, bytes
	HWM int64 // VmHWM, the peak RSS, bytes
}

// readProcMemory reads the resident memory of pid (Linux only).
func readProcMemory(pid int) (procMemory, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return procMemory{}, err
	}
	var m procMemory
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		key, val, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		var dst *int64
		switch key {
		case "VmRSS":
			dst = &m.RSS
		case "VmHWM":
			dst = &m.HWM
		default:
			continue
		}
		f := strings.Fields(val)
		if len(f) == 0 {
			continue
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			continue
		}
		if len(f) > 1 && strings.EqualFold(f[1], "kB") {
			n <<= 10
		}
		*dst = n
	}
	if m.RSS == 0 {
		return m, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
	}
	return m, nil
}

// HubPID returns the pid written in the lock file of a hub data
// directory, when that process is alive on this machine; else 0.
func HubPID(dataDir string) int {
	b, err := os.ReadFile(dataDir + string(os.PathSeparator) + hubserver.LockFile)
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0
	}
	if _, err := os.Stat("/proc/" + strconv.Itoa(pid)); err != nil {
		return 0
	}
	return pid
}

// clockTick is the unit of the CPU times in /proc/<pid>/stat (USER_HZ,
// 100 on every Linux the hub runs on).
const clockTick = 10 * time.Millisecond

// readProcCPU returns the CPU time (user and system) pid has used
// (Linux only).
func readProcCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// The command name, field 2, is in parentheses and may hold spaces.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	// After the name: state is field 3, utime 14 and stime 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	return time.Duration(ut+st) * clockTick, nil
}
