package hub

import (
	"context"
	"sync"
	"time"
)

// Hand-off of mail to an agent already waiting for it.
//
// A wait woken by a send used to read the inbox and mark what it found
// read: a second commit right after the send's, on the path from the send
// to the woken agent. Now a wait that finds nothing opens a handoff, and a
// send that delivers to that agent while it has no other unread mail
// claims it: the send's own transaction marks the delivery read, and once
// it commits (Tx.AfterCommit, before the message's event wakes the
// waiter) the waiter has its answer in memory and returns it without
// touching the store. One commit per message waited for instead of two.
//
// The answer is what the woken read would have returned: the one unread
// message, read, nothing left unread; or, for a wait that peeks after a
// since cursor, the one delivery after it, left unread. What can go wrong is covered so
// that mail is never lost to a hand-off:
//
//   - The send fails or rolls back: nothing committed, and the claim is
//     released (releaseClaims); the waiter waits on.
//   - The wait ends without taking what was handed over (a timeout that
//     came first, a client that left): endHandoff marks the message
//     unread again, so the next read returns it.
//   - The waiter checks the store itself (woken by other news): it closes
//     its handoff first, so no send can claim it meanwhile, and opens it
//     again if the store had nothing.
//
// A handoff is open only while it is in the registry, so a send finds
// it there or not at all; one agent has at most one open at a time, and
// its other waits read the store as before.

// handoffState is where a handoff stands.
type handoffState int8

const (
	// handoffOpen: the wait waits, and a send may claim it.
	handoffOpen handoffState = iota
	// handoffClaimed: a send's open transaction holds it.
	handoffClaimed
	// handoffDelivered: the send committed; res is the wait's answer.
	handoffDelivered
	// handoffClosed: the wait reads the store itself, or has ended.
	handoffClosed
)

// handoff is one wait's slot for mail handed to it by a send.
type handoff struct {
	agentID int64
	preview int // the wait's ReadOptions.Preview
	// peek: the wait peeks after a since cursor (ReadOptions.Since):
	// handed mail stays unread, and only a message right after the
	// cursor is the whole answer.
	peek  bool
	since int64

	// Guarded by handoffs.mu and mu together when the state moves into or
	// out of handoffOpen (so that the registry holds exactly the open
	// ones), by mu alone otherwise.
	mu    sync.Mutex
	state handoffState
	res   ReadResult // the answer, once delivered
	// resolved is closed when a claim's outcome is known: delivered, or
	// released by a send that failed.
	resolved chan struct{}
}

// handoffs is the registry of open handoffs, by agent ID.
type handoffs struct {
	mu   sync.Mutex
	open map[int64]*handoff
}

func newHandoffs() *handoffs {
	return &handoffs{open: make(map[int64]*handoff)}
}

// newHandoff returns a closed handoff for a wait reading with opts, or
// nil when a send cannot hand it its answer: the wait must either mark
// what it reads from the unread mail, or peek after a since cursor.
func newHandoff(agentID int64, opts ReadOptions) *handoff {
	switch {
	case !opts.Peek && !opts.HasSince && opts.Since == 0:
		return &handoff{agentID: agentID, preview: opts.Preview, state: handoffClosed}
	case opts.Peek && opts.HasSince:
		return &handoff{agentID: agentID, preview: opts.Preview, peek: true, since: opts.Since, state: handoffClosed}
	}
	return nil
}

// openFor opens h for sends, unless another wait of the same agent
// holds the slot; a closed h stays closed then, and its wait reads the
// store.
func (hs *handoffs) openFor(h *handoff) {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.state != handoffClosed {
		return
	}
	if _, taken := hs.open[h.agentID]; taken {
		return
	}
	h.state = handoffOpen
	hs.open[h.agentID] = h
}

// close closes an open h, taking it out of the registry; h is then
// closed whatever it was, except claimed.
func (hs *handoffs) close(h *handoff) (was handoffState, resolved chan struct{}, res ReadResult) {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	h.mu.Lock()
	defer h.mu.Unlock()
	was = h.state
	switch was {
	case handoffOpen:
		delete(hs.open, h.agentID)
		h.state = handoffClosed
	case handoffClaimed:
		return was, h.resolved, ReadResult{}
	case handoffDelivered:
		res, h.res = h.res, ReadResult{}
		h.state = handoffClosed
	}
	return was, nil, res
}

// take is a wait's look at its handoff before it checks the store: it
// returns the answer a send handed over, if any, waiting for a claim's
// outcome when one is pending. Either way h is closed afterwards, so
// that the store check that follows races no send; openFor opens it
// again.
func (hs *handoffs) take(h *handoff) (ReadResult, bool) {
	for {
		was, resolved, res := hs.close(h)
		switch was {
		case handoffClaimed:
			// A send's transaction holds it: its commit or failure is
			// a moment away.
			<-resolved
		case handoffDelivered:
			return res, true
		default:
			return ReadResult{}, false
		}
	}
}

// claim takes agentID's open handoff for a send's transaction, or
// returns nil when it has none.
func (hs *handoffs) claim(agentID int64) *handoff {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	h := hs.open[agentID]
	if h == nil {
		return nil
	}
	delete(hs.open, agentID)
	h.mu.Lock()
	defer h.mu.Unlock()
	h.state = handoffClaimed
	h.resolved = make(chan struct{})
	return h
}

// fill gives a claimed h its answer; the send's transaction has
// committed.
func (h *handoff) fill(res ReadResult) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.state != handoffClaimed {
		return
	}
	h.state, h.res = handoffDelivered, res
	close(h.resolved)
}

// release undoes a claim whose transaction did not commit: h is open
// again, unless its wait has given up its slot meanwhile.
func (hs *handoffs) release(h *handoff) {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.state != handoffClaimed {
		return // delivered: the commit happened after all
	}
	close(h.resolved)
	if _, taken := hs.open[h.agentID]; taken {
		h.state = handoffClosed
		return
	}
	h.state = handoffOpen
	hs.open[h.agentID] = h
}

// endHandoff closes h for good as its wait ends. Mail handed over that
// the wait did not take is marked unread again, so that the agent's next
// read returns it.
func (s *Service) endHandoff(ctx context.Context, h *handoff) {
	res, ok := s.handoffs.take(h)
	if !ok || h.peek {
		return // nothing handed over, or nothing marked
	}
	seqs := make([]int64, len(res.Messages))
	for i, m := range res.Messages {
		seqs[i] = m.Seq
	}
	// The wait's request may be over; the mark must not be.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	err := s.store.UpdateVisible(ctx, func(tx Tx) error {
		return tx.MarkUnread(ctx, h.agentID, seqs)
	})
	if err != nil {
		s.log.Error("mail handed to a wait that ended stays read", "agent_id", h.agentID, "seqs", seqs, "err", err)
	}
}

// handoffClaims are the handoffs one Update claimed, released if it fails.
type handoffClaims []*handoff

// releaseClaims releases the claims of an Update that failed.
func (s *Service) releaseClaims(claims handoffClaims) {
	for _, h := range claims {
		s.handoffs.release(h)
	}
}

// deliver delivers a message to agent a within a send's transaction.
// With claims (a Send, not a batch), when a has a wait open for mail and
// the message is the whole of that wait's answer, the message is handed
// to it: the wait's answer once this transaction commits, marked read in
// it unless the wait peeks. It returns the delivery's sequence number and
// state.
func (s *Service) deliver(ctx context.Context, tx Tx, m Message, a Agent, now time.Time, claims *handoffClaims) (int64, string, error) {
	var h *handoff
	if claims != nil {
		if h = s.handoffs.claim(a.ID); h != nil {
			whole, err := wholeAnswer(ctx, tx, h, a)
			if err != nil || !whole {
				// Not the whole answer (older mail comes first): the wait
				// reads the store.
				s.handoffs.release(h)
				h = nil
			}
			if err != nil {
				return 0, "", err
			}
			if h != nil {
				*claims = append(*claims, h)
			}
		}
	}
	if h == nil || h.peek {
		seq, err := tx.Deliver(ctx, m.ID, a.ID)
		if err != nil || h == nil {
			return seq, DeliveryUnread, err
		}
		n, err := tx.UnreadCount(ctx, a.ID)
		if err != nil {
			return 0, "", err
		}
		h.hand(tx, m, Inbound{Seq: seq, State: DeliveryUnread}, n)
		return seq, DeliveryUnread, nil
	}
	seq, err := tx.DeliverRead(ctx, m.ID, a.ID, now)
	if err != nil {
		return 0, "", err
	}
	h.hand(tx, m, Inbound{Seq: seq, State: DeliveryRead}, 0)
	return seq, DeliveryRead, nil
}

// wholeAnswer reports whether a message delivered to a now is the whole
// answer of its wait h: the only unread mail of a wait that reads unread
// mail, the first delivery after the cursor of one that peeks.
func wholeAnswer(ctx context.Context, tx Tx, h *handoff, a Agent) (bool, error) {
	if h.peek {
		return a.LastSeq == h.since, nil
	}
	n, err := tx.UnreadCount(ctx, a.ID)
	return n == 0, err
}

// hand arranges for h's answer, the delivery in of m with unread left
// unread, once tx commits.
func (h *handoff) hand(tx Tx, m Message, in Inbound, unread int) {
	in.Message = m
	if h.preview > 0 {
		in.Message = Preview(in.Message, h.preview)
	}
	res := ReadResult{Messages: []Inbound{in}, Next: in.Seq, Unread: unread}
	tx.AfterCommit(func() { h.fill(res) })
}
