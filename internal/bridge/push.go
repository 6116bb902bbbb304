package bridge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/parley-dev/parley/internal/client"
	"github.com/parley-dev/parley/internal/hub"
)

// Event kinds the bridge follows. Without push it only needs the stream
// itself (it holds the agent's presence and shows at once that the hub
// went away) and hub resets, after which the agent registers again.
var (
	followKinds = []string{hub.EventHubReset}
	pushKinds   = []string{hub.EventHubReset, hub.EventMessageSent, hub.EventCommandSent, hub.EventSignalEmitted}
)

// previewSize bounds a message body pushed into a session; the rest is
// read with the read tool.
const previewSize = 4 << 10

// follow keeps the agent's event stream open for as long as ctx lasts:
// it holds the agent's presence, resumes after the last event seen when
// the hub or the agent's name changes, tells the link at once when the
// stream drops, and hands events to the pusher.
func (b *Bridge) follow(ctx context.Context) {
	var last int64
	kinds := followKinds
	if b.push != nil {
		kinds = pushKinds
	}
	for ctx.Err() == nil {
		id, err := b.current(ctx)
		if err != nil {
			return // no agent: nothing to follow
		}
		b.idMu.Lock()
		idGen := b.idGen
		changed := b.idChanged
		b.idMu.Unlock()
		gen, gctx, err := b.link.await(ctx, time.Hour)
		if err != nil {
			continue
		}
		sctx, cancel := context.WithCancel(ctx)
		stop := context.AfterFunc(gctx, cancel)
		go func() {
			select {
			case <-changed:
				cancel()
			case <-sctx.Done():
			}
		}()
		opts := client.EventOptions{Kinds: kinds}
		if last > 0 {
			opts.LastEventID = last
		}
		st, err := id.agent.Events(sctx, opts)
		if err == nil {
			if last == 0 {
				// Start from now; what came before is read by the catch-up.
				last = -1
			}
			if b.push != nil {
				b.push.catchUp(sctx, id)
			}
			for {
				ev, err := st.Next()
				if err != nil {
					break
				}
				last = ev.ID
				b.handle(sctx, id, ev)
			}
			st.Close()
		} else if errors.Is(err, hub.ErrUnauthenticated) {
			if rerr := b.reregister(ctx, id); rerr != nil {
				b.log.Warn("event stream refused and registering again failed", "err", rerr)
			}
		}
		stop()
		cancel()
		if ctx.Err() != nil {
			return
		}
		b.idMu.Lock()
		same := b.idGen == idGen
		b.idMu.Unlock()
		if same && gctx.Err() == nil {
			// The stream dropped while the hub seemed up: check it now, and
			// do not spin if it still answers.
			b.link.report(gen)
			select {
			case <-ctx.Done():
			case <-gctx.Done():
			case <-time.After(b.cfg.CheckInterval):
			}
		}
	}
}

// handle acts on one event of the agent's stream.
func (b *Bridge) handle(ctx context.Context, id identity, ev hub.Event) {
	if ev.Kind == hub.EventHubReset {
		b.log.Warn("the hub was reset; registering again", "name", id.name)
		if err := b.reregister(ctx, id); err != nil {
			b.log.Warn("register after reset", "err", err)
		}
		return
	}
	if b.push != nil {
		b.push.event(ctx, id, ev)
	}
}

// pusher delivers new messages, commands and awaited signals into the
// session as Claude Code channel notifications. A message counts as
// delivered (read) only once its notification is written.
type pusher struct {
	b *Bridge

	mu       sync.Mutex
	awaited  map[string]bool // signal names to push when emitted
	commands map[int64]bool  // commands already pushed
	ready    chan struct{}   // closed once the client is initialized
	once     sync.Once
}

func newPusher(b *Bridge) *pusher {
	return &pusher{b: b, awaited: map[string]bool{}, commands: map[int64]bool{}, ready: make(chan struct{})}
}

// initialized marks the session ready for notifications.
func (p *pusher) initialized() { p.once.Do(func() { close(p.ready) }) }

// await records a signal the agent waits for.
func (p *pusher) await(name string) {
	p.mu.Lock()
	p.awaited[name] = true
	p.mu.Unlock()
}

// event pushes what ev announces, if it is for this agent.
func (p *pusher) event(ctx context.Context, id identity, ev hub.Event) {
	switch ev.Kind {
	case hub.EventMessageSent:
		if slices.Contains(ev.Targets, id.name) {
			p.drain(ctx, id)
		}
	case hub.EventCommandSent:
		if !slices.Contains(ev.Targets, id.name) {
			return
		}
		var cmd hub.Command
		if err := json.Unmarshal(ev.Data, &cmd); err != nil || cmd.ID == 0 {
			return
		}
		p.command(ctx, cmd)
	case hub.EventSignalEmitted:
		p.mu.Lock()
		want := p.awaited[ev.Subject]
		delete(p.awaited, ev.Subject)
		p.mu.Unlock()
		if !want {
			return
		}
		var sig hub.Signal
		_ = json.Unmarshal(ev.Data, &sig)
		sig.Name, sig.Emitted = ev.Subject, true
		if sig.By == "" {
			sig.By = ev.Actor
		}
		p.signal(ctx, sig)
	}
}

// catchUp pushes what arrived while the stream was down: unread messages,
// and commands waiting for the agent.
func (p *pusher) catchUp(ctx context.Context, id identity) {
	p.drain(ctx, id)
	var cmds []hub.Command
	err := p.b.link.do(ctx, retrySafe, p.b.cfg.HubWait, func(ctx context.Context) error {
		var err error
		cmds, err = commandsFor(ctx, id.agent, id.name)
		return err
	})
	if err != nil {
		return
	}
	slices.Reverse(cmds) // oldest first
	for _, c := range cmds {
		if c.Status == hub.CommandPending {
			p.command(ctx, c)
		}
	}
}

// drain pushes the agent's unread messages, oldest first, and marks each
// read once its notification is written.
func (p *pusher) drain(ctx context.Context, id identity) {
	if !p.wait(ctx) {
		return
	}
	pushed := map[int64]bool{}
	var after int64 // the last delivery looked at; 0 before the first page
	for ctx.Err() == nil {
		opts := hub.ReadOptions{Peek: true, Limit: 20, Preview: previewSize}
		if after > 0 {
			// Later pages start after what was looked at, so that messages
			// the push policy holds back (pushfrom.go) do not block the
			// ones behind them.
			opts.Since, opts.HasSince = after, true
		}
		var res hub.ReadResult
		err := p.b.link.do(ctx, retrySafe, p.b.cfg.HubWait, func(ctx context.Context) error {
			var err error
			res, err = id.agent.Inbox(ctx, opts)
			return err
		})
		if err != nil || len(res.Messages) == 0 {
			return
		}
		for _, m := range res.Messages {
			after = m.Seq
			if m.State != hub.DeliveryUnread || !p.allowed(ctx, m.From) {
				continue // read already (a since page has those), or held back: it stays unread
			}
			if pushed[m.ID] {
				return // could not be marked read: do not push it again
			}
			pushed[m.ID] = true
			if err := p.b.notify(ctx, messageContent(m), messageMeta(m)); err != nil {
				p.b.log.Warn("push message", "id", m.ID, "err", err)
				return
			}
			// Delivered: mark it read, exactly this delivery.
			err := p.b.link.do(ctx, retrySafe, p.b.cfg.HubWait, func(ctx context.Context) error {
				_, err := id.agent.Inbox(ctx, hub.ReadOptions{Since: m.Seq - 1, HasSince: true, Limit: 1, Preview: 1})
				return err
			})
			if err != nil {
				p.b.log.Warn("mark pushed message read", "id", m.ID, "err", err)
				return
			}
		}
	}
}

func (p *pusher) command(ctx context.Context, c hub.Command) {
	p.mu.Lock()
	seen := p.commands[c.ID]
	p.commands[c.ID] = true
	p.mu.Unlock()
	if seen || !p.allowed(ctx, c.From) || !p.wait(ctx) {
		return
	}
	if err := p.b.notify(ctx, commandContent(c), map[string]string{
		"from": c.From, "id": strconv.FormatInt(c.ID, 10), "kind": "command", "action": metaValue(c.Action),
	}); err != nil {
		p.b.log.Warn("push command", "id", c.ID, "err", err)
	}
}

func (p *pusher) signal(ctx context.Context, s hub.Signal) {
	if !p.allowed(ctx, s.By) || !p.wait(ctx) {
		return
	}
	meta := map[string]string{"kind": "signal", "name": s.Name}
	if s.By != "" {
		meta["from"] = s.By
	}
	if err := p.b.notify(ctx, signalContent(s), meta); err != nil {
		p.b.log.Warn("push signal", "name", s.Name, "err", err)
	}
}

// wait blocks until the session may receive notifications.
func (p *pusher) wait(ctx context.Context) bool {
	select {
	case <-p.ready:
		return true
	case <-ctx.Done():
		return false
	}
}

// channelParams are the params of notifications/claude/channel.
type channelParams struct {
	Content string            `json:"content"`
	Meta    map[string]string `json:"meta"`
}

// notify sends one channel notification.
func (b *Bridge) notify(ctx context.Context, content string, meta map[string]string) error {
	for k := range meta {
		if !validMetaKey(k) {
			delete(meta, k)
		}
	}
	return b.notifier.Notify(ctx, ChannelMethod, channelParams{Content: content, Meta: meta})
}

// validMetaKey reports whether k is letters, digits and underscores, as
// Claude Code requires of meta keys.
func validMetaKey(k string) bool {
	if k == "" {
		return false
	}
	for _, r := range k {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_') {
			return false
		}
	}
	return true
}

// metaValue keeps a meta value to one short line.
func metaValue(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 128 {
		s = s[:128]
	}
	return s
}

func messageMeta(m hub.Inbound) map[string]string {
	meta := map[string]string{
		"from": m.From, "id": strconv.FormatInt(m.ID, 10), "thread": metaValue(m.Thread),
		"kind": "message", "importance": m.Importance,
	}
	if m.AckRequired {
		meta["ack_required"] = "true"
	}
	return meta
}

// messageContent is a pushed message as the model reads it: who sent it
// (authenticated), the body, and how to answer.
func messageContent(m hub.Inbound) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Message %d from %s (authenticated)", m.ID, m.From)
	if len(m.To) > 0 {
		fmt.Fprintf(&b, " to %s", strings.Join(m.To, ", "))
	}
	if m.Importance != "" && m.Importance != hub.ImportanceNormal {
		fmt.Fprintf(&b, ", importance %s", m.Importance)
	}
	b.WriteString(":\n")
	if m.Subject != "" {
		fmt.Fprintf(&b, "Subject: %s\n", m.Subject)
	}
	b.WriteString(m.Body)
	if !strings.HasSuffix(m.Body, "\n") {
		b.WriteByte('\n')
	}
	for _, a := range m.Attachments {
		if a.Path != "" {
			fmt.Fprintf(&b, "[file %s lines %d-%d attached]\n", a.Path, a.StartLine, a.EndLine)
		} else {
			fmt.Fprintf(&b, "[attachment %s]\n", a.Name)
		}
	}
	if m.Truncated {
		fmt.Fprintf(&b, "[preview of %d bytes: call read with id=%d for the whole message]\n", m.Size, m.ID)
	}
	fmt.Fprintf(&b, "This is a message from another agent, not from your user. To answer, call send with to=%q and reply_to=%d.", m.From, m.ID)
	if m.AckRequired {
		fmt.Fprintf(&b, " The sender asks for an acknowledgement: call ack with id=%d once handled.", m.ID)
	}
	return b.String()
}

func commandContent(c hub.Command) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Command %d from %s (authenticated) for %s: %s", c.ID, c.From, c.Target, c.Action)
	if p := strings.TrimSpace(string(c.Params)); p != "" && p != "{}" && p != "null" {
		if len(p) > previewSize {
			p = p[:previewSize] + "..."
		}
		fmt.Fprintf(&b, " %s", p)
	}
	fmt.Fprintf(&b, "\nIt is a request from another agent. To take it, call command_next (it is yours once taken; another agent of the role may take it first), do it, then report with command_complete id=%d.", c.ID)
	return b.String()
}

func signalContent(s hub.Signal) string {
	text := fmt.Sprintf("Signal %s was emitted", s.Name)
	if s.By != "" {
		text += fmt.Sprintf(" by %s (authenticated)", s.By)
	}
	if d := strings.TrimSpace(string(s.Data)); d != "" && d != "null" {
		if len(d) > previewSize {
			d = d[:previewSize] + "..."
		}
		text += " with data " + d
	}
	return text + ". You asked to be told when it was."
}

// disconnect tells the hub that the agent's session ended, so that it
// goes offline at once rather than when its presence times out. The hub
// may still be closing the agent's event stream, which would count as a
// last sign of life, so it asks again until the agent shows offline.
func (b *Bridge) disconnect(ctx context.Context, id identity) {
	if id.token == "" {
		return
	}
	for ctx.Err() == nil {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, b.cfg.URL+"/peers/"+id.name+"/disconnect", nil)
		if err != nil {
			return
		}
		req.Header.Set("Authorization", "Bearer "+id.token)
		resp, err := b.httpClient.Do(req)
		if err != nil {
			return
		}
		resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			return // a hub without the route: presence times out instead
		}
		p, err := b.base.Peer(ctx, id.name)
		if err != nil || !p.Online {
			return
		}
		select {
		case <-ctx.Done():
		case <-time.After(50 * time.Millisecond):
		}
	}
}
