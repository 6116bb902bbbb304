package web

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"sync"
	"time"
)

// session is one login. Its CSRF token must accompany every call that
// changes state; the page reads it from the index it was served.
type session struct {
	csrf    string
	expires time.Time
}

func (s *session) checkCSRF(tok string) bool {
	return tok != "" && subtle.ConstantTimeCompare([]byte(tok), []byte(s.csrf)) == 1
}

// sessions holds logins and unused one-time login links, both keyed by
// the SHA-256 of their secret so that a memory dump or a timing probe of
// the map reveals nothing usable. It is safe for concurrent use.
type sessions struct {
	max int

	mu    sync.Mutex
	byKey map[[32]byte]*session
	links map[[32]byte]time.Time // link token hash → expiry
}

func newSessions(max int) *sessions {
	return &sessions{
		max:   max,
		byKey: make(map[[32]byte]*session),
		links: make(map[[32]byte]time.Time),
	}
}

// randomToken returns 256 random bits, URL-safe.
func randomToken() string {
	var b [32]byte
	rand.Read(b[:]) // never fails (crypto/rand doc)
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func key(secret string) [32]byte { return sha256.Sum256([]byte(secret)) }

// create starts a session and returns its id, which goes in the cookie.
func (ss *sessions) create(now time.Time, ttl time.Duration) (id string, s *session) {
	id = randomToken()
	s = &session{csrf: randomToken(), expires: now.Add(ttl)}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	ss.pruneLocked(now)
	ss.byKey[key(id)] = s
	return id, s
}

// get returns the live session with id, or nil.
func (ss *sessions) get(id string, now time.Time) *session {
	if id == "" {
		return nil
	}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	s := ss.byKey[key(id)]
	if s == nil || !now.Before(s.expires) {
		return nil
	}
	return s
}

func (ss *sessions) remove(id string) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	delete(ss.byKey, key(id))
}

// newLink returns a one-time login token valid until expires.
func (ss *sessions) newLink(now, expires time.Time) string {
	tok := randomToken()
	ss.mu.Lock()
	defer ss.mu.Unlock()
	ss.pruneLocked(now)
	ss.links[key(tok)] = expires
	return tok
}

// takeLink spends a one-time token: it reports whether the token was
// valid, and it is never valid again.
func (ss *sessions) takeLink(tok string, now time.Time) bool {
	if tok == "" {
		return false
	}
	k := key(tok)
	ss.mu.Lock()
	defer ss.mu.Unlock()
	exp, ok := ss.links[k]
	delete(ss.links, k)
	return ok && now.Before(exp)
}

// pruneLocked drops what has expired and, while either map is full, the
// entry closest to expiry.
func (ss *sessions) pruneLocked(now time.Time) {
	for k, s := range ss.byKey {
		if !now.Before(s.expires) {
			delete(ss.byKey, k)
		}
	}
	for k, exp := range ss.links {
		if !now.Before(exp) {
			delete(ss.links, k)
		}
	}
	for len(ss.byKey) >= ss.max {
		var oldest [32]byte
		var at time.Time
		for k, s := range ss.byKey {
			if at.IsZero() || s.expires.Before(at) {
				oldest, at = k, s.expires
			}
		}
		delete(ss.byKey, oldest)
	}
	for len(ss.links) >= ss.max {
		var oldest [32]byte
		var at time.Time
		for k, exp := range ss.links {
			if at.IsZero() || exp.Before(at) {
				oldest, at = k, exp
			}
		}
		delete(ss.links, oldest)
	}
}
