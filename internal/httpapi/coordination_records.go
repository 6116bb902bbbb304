package httpapi

import (
	"errors"
	"net/http"

	"github.com/parley-dev/parley/internal/hub"
)

func (s *Server) routesProposals(mux router) {
	mux.HandleFunc("POST /proposals", s.handlePropose)
	mux.HandleFunc("GET /proposals", s.handleListProposals)
	mux.HandleFunc("GET /proposals/{id}", s.handleGetProposal)
	mux.HandleFunc("POST /proposals/{id}/vote", s.handleVote)
	mux.HandleFunc("GET /proposals/{id}/wait", s.handleWaitProposal)
}

// proposeBody is POST /proposals.
type proposeBody struct {
	hub.ProposalRequest
	From string `json:"from"`
}

func (s *Server) handlePropose(w http.ResponseWriter, r *http.Request) error {
	p, err := s.authenticateAgent(r)
	if err != nil {
		return err
	}
	var body proposeBody
	if err := s.decodeJSON(w, r, &body, false); err != nil {
		return err
	}
	c, err := s.actAs(r, p, hint{what: "from", name: body.From})
	if err != nil {
		return err
	}
	prop, err := s.svc.Propose(r.Context(), c, body.ProposalRequest)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, prop)
	return nil
}

// proposalsResponse lists proposals.
type proposalsResponse struct {
	Proposals []hub.Proposal `json:"proposals"`
	Count     int            `json:"count"`
}

func (s *Server) handleListProposals(w http.ResponseWriter, r *http.Request) error {
	c, err := s.maybeCaller(r)
	if err != nil {
		return err
	}
	q := newQuery(r)
	pq := hub.ProposalQuery{
		Status: q.String("status"),
		Before: q.Int("before", 0),
		Limit:  int(min(q.Int("limit", 0), hub.MaxListLimit)),
	}
	if err := q.Err(); err != nil {
		return err
	}
	ps, err := s.svc.ListProposals(r.Context(), c, pq)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, proposalsResponse{Proposals: ps, Count: len(ps)})
	return nil
}

func (s *Server) handleGetProposal(w http.ResponseWriter, r *http.Request) error {
	return s.proposal(w, r, false)
}

// handleWaitProposal waits up to ?timeout= for the decision.
func (s *Server) handleWaitProposal(w http.ResponseWriter, r *http.Request) error {
	return s.proposal(w, r, true)
}

func (s *Server) proposal(w http.ResponseWriter, r *http.Request, wait bool) error {
	c, err := s.maybeCaller(r)
	if err != nil {
		return err
	}
	id, err := pathID(r, "id", "proposal id")
	if err != nil {
		return err
	}
	q := newQuery(r)
	var timeout = q.Timeout(DefaultWait)
	if !wait {
		timeout = 0
	}
	if err := q.Err(); err != nil {
		return err
	}
	prop, pending, err := s.svc.StartWaitProposal(r.Context(), c, id, timeout)
	return serveWait(s, w, r, prop, pending, err, asIs)
}

// voteBody is POST /proposals/{id}/vote.
type voteBody struct {
	hub.VoteRequest
	From string `json:"from"`
}

func (s *Server) handleVote(w http.ResponseWriter, r *http.Request) error {
	p, err := s.authenticateAgent(r)
	if err != nil {
		return err
	}
	id, err := pathID(r, "id", "proposal id")
	if err != nil {
		return err
	}
	var body voteBody
	if err := s.decodeJSON(w, r, &body, false); err != nil {
		return err
	}
	c, err := s.actAs(r, p, hint{what: "from", name: body.From})
	if err != nil {
		return err
	}
	prop, err := s.svc.Vote(r.Context(), c, id, body.VoteRequest)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, prop)
	return nil
}

func (s *Server) routesLeases(mux router) {
	mux.HandleFunc("POST /leases", s.handleReserve)
	mux.HandleFunc("GET /leases", s.handleListLeases)
	mux.HandleFunc("POST /leases/check", s.handleCheckPaths)
	mux.HandleFunc("GET /leases/{id}", s.handleGetLease)
	mux.HandleFunc("POST /leases/{id}/renew", s.handleRenewLease)
	mux.HandleFunc("POST /leases/{id}/release", s.handleReleaseLease)
	mux.HandleFunc("DELETE /leases/{id}", s.handleReleaseLease)
}

// reserveBody is POST /leases.
type reserveBody struct {
	hub.LeaseRequest
	From string `json:"from"`
}

func (s *Server) handleReserve(w http.ResponseWriter, r *http.Request) error {
	p, err := s.authenticateAgent(r)
	if err != nil {
		return err
	}
	var body reserveBody
	if err := s.decodeJSON(w, r, &body, false); err != nil {
		return err
	}
	c, err := s.actAs(r, p, hint{what: "from", name: body.From})
	if err != nil {
		return err
	}
	l, err := s.svc.Reserve(r.Context(), c, body.LeaseRequest)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, l)
	return nil
}

// leasesResponse lists live leases.
type leasesResponse struct {
	Leases []hub.Lease `json:"leases"`
	Count  int         `json:"count"`
}

func (s *Server) handleListLeases(w http.ResponseWriter, r *http.Request) error {
	c, err := s.maybeCaller(r)
	if err != nil {
		return err
	}
	q := newQuery(r)
	opts := hub.LeaseListOptions{Holder: q.String("holder"), Path: q.String("path")}
	ls, err := s.svc.ListLeases(r.Context(), c, opts)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, leasesResponse{Leases: ls, Count: len(ls)})
	return nil
}

// checkBody is POST /leases/check: the paths a commit would touch.
type checkBody struct {
	Paths []string `json:"paths"`
	From  string   `json:"from"`
}

// checkResponse lists the paths under another agent's exclusive lease.
type checkResponse struct {
	Conflicts []hub.LeaseHit `json:"conflicts"`
	OK        bool           `json:"ok"`
}

// handleCheckPaths is what `parley guard` asks: which of these paths are
// under another agent's live exclusive lease.
func (s *Server) handleCheckPaths(w http.ResponseWriter, r *http.Request) error {
	p, err := s.authenticateAny(r)
	if err != nil {
		return err
	}
	var body checkBody
	if err := s.decodeJSON(w, r, &body, false); err != nil {
		return err
	}
	c, err := s.maybeActAs(r, p, hint{what: "from", name: body.From})
	if err != nil {
		return err
	}
	hits, err := s.svc.CheckPaths(r.Context(), c, body.Paths)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, checkResponse{Conflicts: hits, OK: len(hits) == 0})
	return nil
}

func (s *Server) handleGetLease(w http.ResponseWriter, r *http.Request) error {
	c, err := s.maybeCaller(r)
	if err != nil {
		return err
	}
	id, err := pathID(r, "id", "lease id")
	if err != nil {
		return err
	}
	l, err := s.svc.GetLease(r.Context(), c, id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, l)
	return nil
}

// renewBody is POST /leases/{id}/renew.
type renewBody struct {
	TTL  hub.Duration `json:"ttl"`
	From string       `json:"from"`
}

func (s *Server) handleRenewLease(w http.ResponseWriter, r *http.Request) error {
	p, err := s.authenticateAgent(r)
	if err != nil {
		return err
	}
	id, err := pathID(r, "id", "lease id")
	if err != nil {
		return err
	}
	var body renewBody
	if err := s.decodeJSON(w, r, &body, true); err != nil {
		return err
	}
	c, err := s.actAs(r, p, hint{what: "from", name: body.From})
	if err != nil {
		return err
	}
	l, err := s.svc.RenewLease(r.Context(), c, id, body.TTL)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, l)
	return nil
}

func (s *Server) handleReleaseLease(w http.ResponseWriter, r *http.Request) error {
	p, err := s.authenticateAny(r)
	if err != nil {
		return err
	}
	id, err := pathID(r, "id", "lease id")
	if err != nil {
		return err
	}
	var body struct {
		From string `json:"from"`
	}
	if err := s.decodeJSON(w, r, &body, true); err != nil {
		return err
	}
	c, err := s.maybeActAs(r, p, hint{what: "from", name: body.From})
	if err != nil {
		return err
	}
	l, err := s.svc.ReleaseLease(r.Context(), c, id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, l)
	return nil
}

func (s *Server) routesState(mux router) {
	mux.HandleFunc("GET /state", s.handleListState)
	mux.HandleFunc("GET /state/{key}", s.handleGetState)
	mux.HandleFunc("PUT /state/{key}", s.handleSetState)
	mux.HandleFunc("DELETE /state/{key}", s.handleDeleteState)
	mux.HandleFunc("GET /state/{key}/wait", s.handleWatchState)
}

// stateResponse lists keys.
type stateResponse struct {
	Items []hub.StateItem `json:"items"`
	Count int             `json:"count"`
}

// revisionConflictBody is the 409 of a failed compare-and-swap: the usual
// error plus the key's current revision, so the client can retry.
type revisionConflictBody struct {
	Error struct {
		errorDetail
		CurrentRevision int64 `json:"current_revision"`
	} `json:"error"`
}

// stateError sends a revision conflict with its current revision and
// leaves other errors to the adapter.
func stateError(w http.ResponseWriter, err error) error {
	rc, ok := errors.AsType[*hub.RevisionConflictError](err)
	if !ok {
		return err
	}
	var body revisionConflictBody
	body.Error.Code, body.Error.Message = hub.CodeConflict, rc.Error()
	body.Error.CurrentRevision = rc.Current
	if lw, ok := w.(*logWriter); ok {
		lw.code = hub.CodeConflict
	}
	writeJSON(w, http.StatusConflict, body)
	return nil
}

func (s *Server) handleListState(w http.ResponseWriter, r *http.Request) error {
	c, err := s.maybeCaller(r)
	if err != nil {
		return err
	}
	q := newQuery(r)
	limit := int(min(q.Int("limit", 0), hub.MaxListLimit))
	if err := q.Err(); err != nil {
		return err
	}
	items, err := s.svc.ListState(r.Context(), c, q.String("prefix"), limit)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, stateResponse{Items: items, Count: len(items)})
	return nil
}

func (s *Server) handleGetState(w http.ResponseWriter, r *http.Request) error {
	c, err := s.maybeCaller(r)
	if err != nil {
		return err
	}
	it, err := s.svc.GetState(r.Context(), c, r.PathValue("key"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, it)
	return nil
}

// setStateBody is PUT /state/{key}.
type setStateBody struct {
	hub.StateSetRequest
	From string `json:"from"`
}

func (s *Server) handleSetState(w http.ResponseWriter, r *http.Request) error {
	p, err := s.authenticateAny(r)
	if err != nil {
		return err
	}
	var body setStateBody
	if err := s.decodeJSON(w, r, &body, false); err != nil {
		return err
	}
	c, err := s.maybeActAs(r, p, hint{what: "from", name: body.From})
	if err != nil {
		return err
	}
	it, err := s.svc.SetState(r.Context(), c, r.PathValue("key"), body.StateSetRequest)
	if err != nil {
		return stateError(w, err)
	}
	writeJSON(w, http.StatusOK, it)
	return nil
}

// handleDeleteState removes a key; ?expected_revision= makes it
// conditional.
func (s *Server) handleDeleteState(w http.ResponseWriter, r *http.Request) error {
	c, err := s.maybeCaller(r)
	if err != nil {
		return err
	}
	q := newQuery(r)
	var expected *int64
	if q.Has("expected_revision") {
		n := q.Int("expected_revision", 0)
		expected = &n
	}
	if err := q.Err(); err != nil {
		return err
	}
	it, err := s.svc.DeleteState(r.Context(), c, r.PathValue("key"), expected)
	if err != nil {
		return stateError(w, err)
	}
	writeJSON(w, http.StatusOK, it)
	return nil
}

// handleWatchState waits for the key to change after ?after=.
func (s *Server) handleWatchState(w http.ResponseWriter, r *http.Request) error {
	c, err := s.maybeCaller(r)
	if err != nil {
		return err
	}
	q := newQuery(r)
	after := q.Int("after", 0)
	timeout := q.Timeout(DefaultWait)
	if err := q.Err(); err != nil {
		return err
	}
	res, wait, err := s.svc.StartWaitState(r.Context(), c, r.PathValue("key"), after, timeout)
	return serveWait(s, w, r, res, wait, err, asIs)
}
