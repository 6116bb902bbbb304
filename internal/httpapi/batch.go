package httpapi

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/parley-dev/parley/internal/hub"
)

// MaxBatchBody is the largest body of POST /messages/batch, in bytes
// (8 MiB + 64 KiB), unless the single-send limit is larger: a batch holds
// at most hub.MaxBatchBytes of bodies and attachments, plus room for
// JSON escaping and field names. A batch of hub.MaxBatch messages at the
// full message limit does not fit; such messages go one per request.
const MaxBatchBody = hub.MaxBatchBytes + requestSlack

// batchBody is POST /messages/batch.
type batchBody struct {
	Messages []sendBody `json:"messages"`
}

// batchResult is the answer of POST /messages/batch.
type batchResult struct {
	Results []hub.SendResult `json:"results"`
	Count   int              `json:"count"`
}

// handleSendBatch sends several messages from one agent in one write
// transaction: all are stored, or none (hub.Service.SendBatch).
func (s *Server) handleSendBatch(w http.ResponseWriter, r *http.Request) error {
	p, err := s.authenticateAgent(r)
	if err != nil {
		return err
	}
	if r.Header.Get(HeaderIdempotencyKey) != "" {
		return hub.Errorf(hub.CodeInvalid, "%s: a batch takes an idempotency_key per message instead", HeaderIdempotencyKey)
	}
	data, err := s.readBodyLimit(w, r, max(MaxBatchBody, s.opts.MaxBody))
	if err != nil {
		return err
	}
	var body batchBody
	if err := decodeBody(data, &body, false); err != nil {
		return err
	}
	if len(body.Messages) > hub.MaxBatch {
		return hub.Errorf(hub.CodeTooLarge, "messages: %d given, at most %d in one batch", len(body.Messages), hub.MaxBatch)
	}
	// Every message's from must name the caller, as POST /messages checks
	// its one from.
	hints := make([]hint, 0, len(body.Messages))
	reqs := make([]hub.SendRequest, len(body.Messages))
	for i, m := range body.Messages {
		if m.From != "" {
			hints = append(hints, hint{what: fmt.Sprintf("messages[%d].from", i), name: m.From})
		}
		reqs[i] = m.SendRequest
		reqs[i].To = m.To
	}
	c, err := s.actAs(r, p, hints...)
	if err != nil {
		return err
	}
	if err := s.chargeBatch(w, r, len(reqs)); err != nil {
		return err
	}
	res, err := s.svc.SendBatch(r.Context(), c, reqs)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, batchResult{Results: res, Count: len(res)})
	return nil
}

// chargeBatch takes the agent's rate tokens for the messages of a batch
// beyond the one its request took, so that a batch cannot multiply an
// agent's sending rate. A batch larger than the burst takes the whole
// burst.
func (s *Server) chargeBatch(w http.ResponseWriter, r *http.Request, messages int) error {
	l := s.limiter
	if l == nil || l.agents == nil || messages <= 1 {
		return nil
	}
	key := l.agentKey(r)
	if key == "" {
		return nil
	}
	if wait, ok := l.agents.takeN(key, min(messages-1, l.agents.burst)); !ok {
		secs := max(1, int(wait+0.999))
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		return hub.Errorf(hub.CodeRateLimited,
			"a batch of %d messages counts as %d requests: the limit is %g per second (bursts of %d); retry after %d s",
			messages, messages, l.lim.Rate, l.lim.Burst, secs)
	}
	return nil
}

// readBodyLimit is readBody with a limit of its own.
func (s *Server) readBodyLimit(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Now().Add(s.opts.BodyTimeout))
	defer func() { _ = rc.SetReadDeadline(time.Time{}) }()

	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return nil, hub.Errorf(hub.CodeTooLarge, "request body is larger than the limit of %d bytes for a batch", limit)
		}
		return nil, hub.Errorf(hub.CodeInvalid, "reading request body failed")
	}
	return data, nil
}
