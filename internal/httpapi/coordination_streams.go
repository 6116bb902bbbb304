package httpapi

import (
	"encoding/json"
	"net/http"

	"github.com/parley-dev/parley/internal/hub"
)

func (s *Server) routesChannels(mux router) {
	mux.HandleFunc("GET /channels", s.handleListChannels)
	mux.HandleFunc("POST /channels/{name}/send", s.handlePostChannel)
	mux.HandleFunc("GET /channels/{name}/messages", s.handleReadChannel)
	mux.HandleFunc("GET /channels/{name}/wait", s.handleWaitChannel)
}

// channelsResponse lists channels.
type channelsResponse struct {
	Channels []hub.Channel `json:"channels"`
	Count    int           `json:"count"`
}

func (s *Server) handleListChannels(w http.ResponseWriter, r *http.Request) error {
	c, err := s.maybeCaller(r)
	if err != nil {
		return err
	}
	chs, err := s.svc.ListChannels(r.Context(), c)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, channelsResponse{Channels: chs, Count: len(chs)})
	return nil
}

// handlePostChannel is seed 001's POST /channels/<name>/send: the body is
// the post, any JSON, stored as sent. The poster is the token's agent or
// X-Parley-As; a body's "from" is data like the rest.
func (s *Server) handlePostChannel(w http.ResponseWriter, r *http.Request) error {
	c, err := s.maybeCaller(r)
	if err != nil {
		return err
	}
	// The name first: a bad name is the clearer error.
	if _, err := hub.NormalizeName("channel", r.PathValue("name")); err != nil {
		return err
	}
	data, err := s.jsonValue(w, r)
	if err != nil {
		return err
	}
	post, err := s.svc.PostChannel(r.Context(), c, r.PathValue("name"), data)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, post)
	return nil
}

// channelReadOptions parses ?since=&limit=.
func channelReadOptions(q *query) hub.ChannelReadOptions {
	return hub.ChannelReadOptions{
		Since:    q.Int("since", 0),
		HasSince: q.Has("since"),
		Limit:    int(min(q.Int("limit", 0), hub.MaxListLimit)),
	}
}

func (s *Server) handleReadChannel(w http.ResponseWriter, r *http.Request) error {
	c, err := s.maybeCaller(r)
	if err != nil {
		return err
	}
	q := newQuery(r)
	opts := channelReadOptions(q)
	if err := q.Err(); err != nil {
		return err
	}
	res, err := s.svc.ReadChannel(r.Context(), c, r.PathValue("name"), opts)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}

// handleWaitChannel waits for posts after ?since= (after the newest post
// when since is absent).
func (s *Server) handleWaitChannel(w http.ResponseWriter, r *http.Request) error {
	c, err := s.maybeCaller(r)
	if err != nil {
		return err
	}
	q := newQuery(r)
	opts := channelReadOptions(q)
	timeout := q.Timeout(DefaultWait)
	if err := q.Err(); err != nil {
		return err
	}
	res, wait, err := s.svc.StartWaitChannel(r.Context(), c, r.PathValue("name"), opts, timeout)
	return serveWait(s, w, r, res, wait, err, asIs)
}

func (s *Server) routesSignals(mux router) {
	mux.HandleFunc("GET /signals", s.handleListSignals)
	mux.HandleFunc("POST /signals/{name}", s.handleEmitSignal)
	mux.HandleFunc("GET /signals/{name}", s.handleGetSignal)
	mux.HandleFunc("GET /signals/{name}/wait", s.handleWaitSignal)
	mux.HandleFunc("DELETE /signals/{name}", s.handleClearSignal)
}

// signalsResponse lists emitted signals.
type signalsResponse struct {
	Signals []hub.Signal `json:"signals"`
	Count   int          `json:"count"`
}

func (s *Server) handleListSignals(w http.ResponseWriter, r *http.Request) error {
	c, err := s.maybeCaller(r)
	if err != nil {
		return err
	}
	sigs, err := s.svc.ListSignals(r.Context(), c)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, signalsResponse{Signals: sigs, Count: len(sigs)})
	return nil
}

// emitBody is POST /signals/{name}: {"data": any JSON}, all optional.
type emitBody struct {
	Data json.RawMessage `json:"data"`
	From string          `json:"from"`
}

func (s *Server) handleEmitSignal(w http.ResponseWriter, r *http.Request) error {
	p, err := s.authenticateAny(r)
	if err != nil {
		return err
	}
	var body emitBody
	if err := s.decodeJSON(w, r, &body, true); err != nil {
		return err
	}
	c, err := s.maybeActAs(r, p, hint{what: "from", name: body.From})
	if err != nil {
		return err
	}
	sig, err := s.svc.EmitSignal(r.Context(), c, r.PathValue("name"), body.Data)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, sig)
	return nil
}

// handleGetSignal is seed 001's check without waiting: a signal never
// emitted answers with "emitted": false.
func (s *Server) handleGetSignal(w http.ResponseWriter, r *http.Request) error {
	c, err := s.maybeCaller(r)
	if err != nil {
		return err
	}
	sig, err := s.svc.GetSignal(r.Context(), c, r.PathValue("name"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, sig)
	return nil
}

// handleWaitSignal blocks until the signal is emitted (at once when it
// already is) or the timeout passes ("emitted": false).
func (s *Server) handleWaitSignal(w http.ResponseWriter, r *http.Request) error {
	c, err := s.maybeCaller(r)
	if err != nil {
		return err
	}
	q := newQuery(r)
	timeout := q.Timeout(DefaultWait)
	if err := q.Err(); err != nil {
		return err
	}
	sig, wait, err := s.svc.StartWaitSignal(r.Context(), c, r.PathValue("name"), timeout)
	return serveWait(s, w, r, sig, wait, err, asIs)
}

func (s *Server) handleClearSignal(w http.ResponseWriter, r *http.Request) error {
	c, err := s.maybeCaller(r)
	if err != nil {
		return err
	}
	cleared, err := s.svc.ClearSignal(r.Context(), c, r.PathValue("name"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"ok": true, "cleared": cleared})
	return nil
}
