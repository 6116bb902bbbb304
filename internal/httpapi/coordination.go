package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/parley-dev/parley/internal/hub"
)

// Coordination routes: commands (this file), channels and signals
// (coordination_streams.go), proposals, leases and shared state
// (coordination_records.go). They follow seed 001 where it has a route
// and extend it in the same style where it has none.

// maybeCaller resolves the caller of a route that also serves callers
// who are no agent: on an open hub, a request that names no agent (no
// token, no X-Parley-As, no hint) acts anonymously, as seed 001's curl
// examples do; the admin secret acts as human with admin rights. Anything
// that names an agent resolves as actAs does.
func (s *Server) maybeCaller(r *http.Request, hints ...hint) (hub.Caller, error) {
	p, err := s.authenticateAny(r)
	if err != nil {
		return hub.Caller{}, err
	}
	return s.maybeActAs(r, p, hints...)
}

// authenticateAny authenticates a request that any agent, the admin, or
// anyone on an open hub may make.
func (s *Server) authenticateAny(r *http.Request) (principal, error) {
	p, err := s.authenticate(r)
	if err != nil {
		return principal{}, err
	}
	if err := s.requireAny(p); err != nil {
		return principal{}, err
	}
	if p.kind == joinSecret && !s.svc.Open() {
		return principal{}, errJoinOnly
	}
	return p, nil
}

// maybeActAs is maybeCaller for a principal already authenticated.
func (s *Server) maybeActAs(r *http.Request, p principal, hints ...hint) (hub.Caller, error) {
	if p.kind == agentToken || p.kind == adminSecret {
		return s.actAs(r, p, hints...)
	}
	named := r.Header.Get(HeaderAs) != ""
	for _, h := range hints {
		named = named || h.name != ""
	}
	if !named {
		return hub.Caller{}, nil
	}
	return s.actAs(r, p, hints...)
}

// jsonValue reads a body that is any JSON value. A body sent as text
// (Content-Type text/...) that is not JSON becomes a JSON string.
func (s *Server) jsonValue(w http.ResponseWriter, r *http.Request) (json.RawMessage, error) {
	data, err := s.readBody(w, r)
	if err != nil {
		return nil, err
	}
	trimmed := strings.TrimSpace(string(data))
	if trimmed == "" {
		return nil, hub.Errorf(hub.CodeInvalid, "request body is empty: send a JSON value")
	}
	if !utf8.Valid(data) {
		return nil, hub.Errorf(hub.CodeInvalid, "request body is not valid UTF-8")
	}
	if json.Valid(data) {
		if err := checkDepth(data); err != nil {
			return nil, err
		}
		return json.RawMessage(trimmed), nil
	}
	if strings.HasPrefix(r.Header.Get("Content-Type"), "text/") {
		b, err := json.Marshal(string(data))
		if err != nil {
			return nil, err
		}
		return b, nil
	}
	return nil, hub.Errorf(hub.CodeInvalid, "malformed JSON: %s (send Content-Type: text/plain to post text)",
		syntaxMessage(json.Unmarshal(data, new(any))))
}

// statusCoordination adds commands, channels, signals, open proposals,
// live leases and state keys to GET /status (seed 001's full state).
func (s *Server) statusCoordination(ctx context.Context, st map[string]any) error {
	cs, err := s.svc.CoordinationStatus(ctx)
	if err != nil {
		return err
	}
	st["commands"] = cs.Commands
	st["pending_commands"] = cs.PendingCommands
	st["channels"] = cs.Channels
	st["signals"] = cs.Signals
	st["proposals"] = cs.Proposals
	st["leases"] = cs.Leases
	st["state"] = cs.State
	return nil
}

func (s *Server) routesCommands(mux router) {
	mux.HandleFunc("POST /commands/send", s.handleSendCommand)
	mux.HandleFunc("POST /commands", s.handleSendCommand)
	mux.HandleFunc("GET /commands", s.handleListCommands)
	mux.HandleFunc("GET /commands/{peer}", s.handlePeerCommands)
	mux.HandleFunc("GET /commands/{peer}/wait", s.handleWaitCommand)
	mux.HandleFunc("POST /commands/{id}/ack", s.handleAckCommand)
	mux.HandleFunc("GET /commands/{id}/result", s.handleCommandResult)
	s.status = append(s.status, s.statusCoordination)
}

// commandsResponse lists commands.
type commandsResponse struct {
	Commands []hub.Command `json:"commands"`
	Count    int           `json:"count"`
}

// commandWait is the answer of a command wait: the claimed command, or
// null and timed_out when none came in time.
type commandWait struct {
	Command  *hub.Command `json:"command"`
	TimedOut bool         `json:"timed_out"`
}

func (s *Server) handleSendCommand(w http.ResponseWriter, r *http.Request) error {
	p, err := s.authenticateAgent(r)
	if err != nil {
		return err
	}
	var req hub.CommandRequest
	if err := s.decodeJSON(w, r, &req, false); err != nil {
		return err
	}
	c, err := s.actAs(r, p, hint{what: "from", name: req.From})
	if err != nil {
		return err
	}
	cmd, err := s.svc.SendCommand(r.Context(), c, req)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, cmd)
	return nil
}

// listOptions parses ?status=&before=&limit=.
func commandListOptions(q *query) hub.CommandListOptions {
	return hub.CommandListOptions{
		Status: q.String("status"),
		Before: q.Int("before", 0),
		Limit:  int(min(q.Int("limit", 0), hub.MaxListLimit)),
	}
}

func (s *Server) handleListCommands(w http.ResponseWriter, r *http.Request) error {
	c, err := s.maybeCaller(r)
	if err != nil {
		return err
	}
	q := newQuery(r)
	opts := commandListOptions(q)
	opts.For, opts.From = q.String("for"), q.String("from")
	if err := q.Err(); err != nil {
		return err
	}
	if opts.For == "" && opts.From == "" && c.IsAgent() && !c.Admin && !s.svc.Open() {
		opts.For = c.Name
	}
	return s.writeCommands(w, r, c, opts)
}

// handlePeerCommands is seed 001's GET /commands/<peer-id>: commands for
// that agent, newest first.
func (s *Server) handlePeerCommands(w http.ResponseWriter, r *http.Request) error {
	c, err := s.maybeCaller(r)
	if err != nil {
		return err
	}
	q := newQuery(r)
	opts := commandListOptions(q)
	opts.For = r.PathValue("peer")
	if err := q.Err(); err != nil {
		return err
	}
	return s.writeCommands(w, r, c, opts)
}

func (s *Server) writeCommands(w http.ResponseWriter, r *http.Request, c hub.Caller, opts hub.CommandListOptions) error {
	cmds, err := s.svc.ListCommands(r.Context(), c, opts)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, commandsResponse{Commands: cmds, Count: len(cmds)})
	return nil
}

// handleWaitCommand is seed 001's long-poll: it claims the next command
// for the agent in the path, by name or role.
func (s *Server) handleWaitCommand(w http.ResponseWriter, r *http.Request) error {
	c, err := s.auth(r, pathAgent(r, "peer"))
	if err != nil {
		return err
	}
	q := newQuery(r)
	timeout := q.Timeout(DefaultWait)
	if err := q.Err(); err != nil {
		return err
	}
	claim, wait, err := s.svc.StartWaitCommand(r.Context(), c, timeout)
	return serveWait(s, w, r, claim, wait, err, commandAnswer)
}

// commandAnswer is the body of a command wait's answer.
func commandAnswer(claim hub.CommandClaim) any {
	res := commandWait{TimedOut: !claim.Claimed}
	if claim.Claimed {
		res.Command = &claim.Command
	}
	return res
}

// ackBody is POST /commands/{id}/ack.
type ackBody struct {
	hub.AckRequest
	From string `json:"from"`
}

func (s *Server) handleAckCommand(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id", "command id")
	if err != nil {
		return err
	}
	p, err := s.authenticateAny(r)
	if err != nil {
		return err
	}
	var body ackBody
	if err := s.decodeJSON(w, r, &body, true); err != nil {
		return err
	}
	c, err := s.maybeActAs(r, p, hint{what: "from", name: body.From})
	if err != nil {
		return err
	}
	cmd, err := s.svc.AckCommand(r.Context(), c, id, body.AckRequest)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, cmd)
	return nil
}

// handleCommandResult returns a command; with ?timeout= it waits until
// the command is done, failed or expired, so a sender can wait for the
// result.
func (s *Server) handleCommandResult(w http.ResponseWriter, r *http.Request) error {
	c, err := s.maybeCaller(r)
	if err != nil {
		return err
	}
	id, err := pathID(r, "id", "command id")
	if err != nil {
		return err
	}
	q := newQuery(r)
	timeout := q.Timeout(0)
	if err := q.Err(); err != nil {
		return err
	}
	cmd, wait, err := s.svc.StartGetCommand(r.Context(), c, id, timeout)
	return serveWait(s, w, r, cmd, wait, err, asIs)
}
