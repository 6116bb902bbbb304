package httpapi

import (
	"context"
	"net/http"

	"github.com/parley-dev/parley/internal/hub"
)

// HeaderIdempotencyKey carries a send's idempotency key, as an
// alternative to the body's idempotency_key.
const HeaderIdempotencyKey = "Idempotency-Key"

func (s *Server) routesMessages(mux router) {
	mux.HandleFunc("POST /messages", s.handleSendMessage)
	mux.HandleFunc("POST /messages/batch", s.handleSendBatch)
	mux.HandleFunc("GET /messages/{id}", s.handleGetMessage)
	mux.HandleFunc("POST /messages/{id}/ack", s.handleAckMessage)
	mux.HandleFunc("GET /inbox/{agent}", s.handleReadInbox)
	mux.HandleFunc("GET /inbox/{agent}/wait", s.handleWaitInbox)
	mux.HandleFunc("GET /threads/{id}", s.handlePaged(s.thread))
	mux.HandleFunc("GET /history/{peer}", s.handlePaged(s.conversation))
	mux.HandleFunc("GET /search", s.handlePaged(s.search))
}

// sendBody is POST /messages: hub.SendRequest whose to may be a string
// or a list, plus the sender as seed clients name it.
type sendBody struct {
	hub.SendRequest
	To   stringList `json:"to"`
	From string     `json:"from"`
}

func (s *Server) handleSendMessage(w http.ResponseWriter, r *http.Request) error {
	p, err := s.authenticateAgent(r)
	if err != nil {
		return err
	}
	var body sendBody
	if err := s.decodeJSON(w, r, &body, false); err != nil {
		return err
	}
	c, err := s.actAs(r, p, hint{what: "from", name: body.From})
	if err != nil {
		return err
	}
	req := body.SendRequest
	req.To = body.To
	if key := r.Header.Get(HeaderIdempotencyKey); key != "" {
		if req.IdempotencyKey != "" && req.IdempotencyKey != key {
			return hub.Errorf(hub.CodeInvalid, "idempotency_key and the %s header differ; give one", HeaderIdempotencyKey)
		}
		req.IdempotencyKey = key
	}
	res, err := s.svc.Send(r.Context(), c, req)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, res)
	return nil
}

func (s *Server) handleGetMessage(w http.ResponseWriter, r *http.Request) error {
	c, err := s.auth(r)
	if err != nil {
		return err
	}
	id, err := pathID(r, "id", "message id")
	if err != nil {
		return err
	}
	v, err := s.svc.GetMessage(r.Context(), c, id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

func (s *Server) handleAckMessage(w http.ResponseWriter, r *http.Request) error {
	p, err := s.authenticateAgent(r)
	if err != nil {
		return err
	}
	id, err := pathID(r, "id", "message id")
	if err != nil {
		return err
	}
	var body struct {
		From string `json:"from"`
	}
	if err := s.decodeJSON(w, r, &body, true); err != nil {
		return err
	}
	c, err := s.actAs(r, p, hint{what: "from", name: body.From})
	if err != nil {
		return err
	}
	if err := s.svc.Ack(r.Context(), c, id); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, ok)
	return nil
}

// readOptions parses ?since=&peek=&limit=&preview=.
func readOptions(q *query) hub.ReadOptions {
	return hub.ReadOptions{
		Since:    q.Int("since", 0),
		HasSince: q.Has("since"),
		Peek:     q.Bool("peek"),
		Limit:    int(min(q.Int("limit", 0), hub.MaxReadLimit)),
		Preview:  int(min(q.Int("preview", 0), int64(hub.MaxReadBytes))),
	}
}

func (s *Server) handleReadInbox(w http.ResponseWriter, r *http.Request) error {
	c, err := s.auth(r, pathAgent(r, "agent"))
	if err != nil {
		return err
	}
	q := newQuery(r)
	opts := readOptions(q)
	if err := q.Err(); err != nil {
		return err
	}
	res, err := s.svc.Read(r.Context(), c, opts)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}

func (s *Server) handleWaitInbox(w http.ResponseWriter, r *http.Request) error {
	// The request's goroutine parks for the whole wait: authenticate on a
	// goroutine of its own (see hub.Shallow), since a token not cached yet is
	// looked up in the store.
	var c hub.Caller
	var err error
	hub.Shallow(func() { c, err = s.auth(r, pathAgent(r, "agent")) })
	if err != nil {
		return err
	}
	q := newQuery(r)
	opts := readOptions(q)
	timeout := q.Timeout(DefaultWait)
	if err := q.Err(); err != nil {
		return err
	}
	// Read once; with nothing to read, wait here for a while, then park
	// off net/http (serveWait).
	res, wait, err := s.svc.StartWait(r.Context(), c, opts, timeout)
	return serveWait(s, w, r, res, wait, err, asIs)
}

// page parses ?before=&limit=.
func page(q *query) hub.Page {
	return hub.Page{Before: q.Int("before", 0), Limit: int(min(q.Int("limit", 0), hub.MaxReadLimit))}
}

// historyPage is the shape of the paged history routes: one service
// call that takes the caller, the request's query and ?before=&limit=.
type historyPage func(ctx context.Context, c hub.Caller, r *http.Request, q *query, pg hub.Page) (hub.HistoryResult, error)

// handlePaged serves a paged history route with fetch.
func (s *Server) handlePaged(fetch historyPage) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		c, err := s.auth(r)
		if err != nil {
			return err
		}
		q := newQuery(r)
		pg := page(q)
		if err := q.Err(); err != nil {
			return err
		}
		res, err := fetch(r.Context(), c, r, q, pg)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, res)
		return nil
	}
}

func (s *Server) thread(ctx context.Context, c hub.Caller, r *http.Request, _ *query, pg hub.Page) (hub.HistoryResult, error) {
	return s.svc.Thread(ctx, c, r.PathValue("id"), pg)
}

func (s *Server) conversation(ctx context.Context, c hub.Caller, r *http.Request, _ *query, pg hub.Page) (hub.HistoryResult, error) {
	return s.svc.Conversation(ctx, c, r.PathValue("peer"), pg)
}

func (s *Server) search(ctx context.Context, c hub.Caller, _ *http.Request, q *query, pg hub.Page) (hub.HistoryResult, error) {
	return s.svc.Search(ctx, c, q.String("q"), pg)
}
