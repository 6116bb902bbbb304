package web

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"log/slog"
	"maps"
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

// csrfFor derives a session's CSRF token from its id, so that nothing
// kept about a session (in memory or in its file) is a secret: the id
// lives only in the browser's cookie.
func csrfFor(id string) string {
	m := hmac.New(sha256.New, []byte(id))
	m.Write([]byte("parley dashboard csrf"))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// sessions holds logins and unused one-time login links, both keyed by
// the SHA-256 of their secret so that a memory dump, the sessions file
// or a timing probe of the map reveals nothing usable. Logins are also
// kept in a file when there is one (sessionFile), so that they outlive
// a restart of the hub; links, valid for minutes, are not. It is safe
// for concurrent use.
type sessions struct {
	max  int
	file *sessionFile // nil: logins live in memory only
	log  *slog.Logger

	// saveMu orders the file's writes: each writes a copy of byKey
	// taken under it, so the last write holds the latest logins. The
	// writes happen outside mu, which every dashboard request takes.
	saveMu sync.Mutex

	mu    sync.Mutex
	byKey map[[32]byte]time.Time // session id hash → expiry
	links map[[32]byte]time.Time // link token hash → expiry
}

func newSessions(max int, file *sessionFile, log *slog.Logger, now time.Time) *sessions {
	ss := &sessions{
		max:   max,
		file:  file,
		log:   log,
		byKey: make(map[[32]byte]time.Time),
		links: make(map[[32]byte]time.Time),
	}
	if file != nil {
		loaded, err := file.load()
		if err != nil {
			log.Warn("dashboard sessions not restored: everyone logs in again", "err", err)
		}
		for k, exp := range loaded {
			if now.Before(exp) {
				ss.byKey[k] = exp
			}
		}
	}
	return ss
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
	s = &session{csrf: csrfFor(id), expires: now.Add(ttl)}
	ss.mu.Lock()
	ss.pruneSessionsLocked(now)
	ss.byKey[key(id)] = s.expires
	ss.mu.Unlock()
	ss.save()
	return id, s
}

// get returns the live session with id, or nil.
func (ss *sessions) get(id string, now time.Time) *session {
	if id == "" {
		return nil
	}
	ss.mu.Lock()
	exp, ok := ss.byKey[key(id)]
	ss.mu.Unlock()
	if !ok || !now.Before(exp) {
		return nil
	}
	return &session{csrf: csrfFor(id), expires: exp}
}

func (ss *sessions) remove(id string) {
	ss.mu.Lock()
	delete(ss.byKey, key(id))
	ss.mu.Unlock()
	ss.save()
}

// save writes the logins to the file, if there is one. A failed
// write is logged and the logins go on in memory: a restart would then
// ask people to log in again, or keep a session that was logged out, until
// it expires (the browser dropped its cookie at logout).
func (ss *sessions) save() {
	if ss.file == nil {
		return
	}
	ss.saveMu.Lock()
	defer ss.saveMu.Unlock()
	ss.mu.Lock()
	logins := maps.Clone(ss.byKey)
	ss.mu.Unlock()
	if err := ss.file.save(logins); err != nil {
		ss.log.Error("save dashboard sessions", "err", err)
	}
}

// newLink returns a one-time login token valid until expires.
func (ss *sessions) newLink(now, expires time.Time) string {
	tok := randomToken()
	ss.mu.Lock()
	defer ss.mu.Unlock()
	ss.pruneLinksLocked(now)
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

// pruneSessionsLocked drops the logins that have expired and, while
// there are max of them, the one closest to expiry.
func (ss *sessions) pruneSessionsLocked(now time.Time) {
	dropExpired(ss.byKey, now)
	dropSoonest(ss.byKey, ss.max)
}

// pruneLinksLocked does the same for the one-time links.
func (ss *sessions) pruneLinksLocked(now time.Time) {
	dropExpired(ss.links, now)
	dropSoonest(ss.links, ss.max)
}

// dropExpired deletes the entries of m that have expired by now.
func dropExpired(m map[[32]byte]time.Time, now time.Time) {
	for k, exp := range m {
		if !now.Before(exp) {
			delete(m, k)
		}
	}
}

// dropSoonest deletes the entries closest to expiry until m has fewer
// than max.
func dropSoonest(m map[[32]byte]time.Time, max int) {
	for len(m) >= max {
		var soonest [32]byte
		var at time.Time
		for k, exp := range m {
			if at.IsZero() || exp.Before(at) {
				soonest, at = k, exp
			}
		}
		delete(m, soonest)
	}
}
