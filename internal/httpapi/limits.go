package httpapi

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"

	"github.com/parley-dev/parley/internal/hub"
)

// Limits bound what one agent and one remote address may take of the
// hub, so that a runaway or hostile client slows down itself and nobody
// else. The zero value limits nothing; hubserver starts hubs with
// DefaultLimits.
type Limits struct {
	// Rate is the sustained requests per second allowed to one agent (one
	// credential, or the admin acting as one agent), and separately to
	// one remote address; 0 turns rate limiting off. Loopback addresses
	// are not limited as addresses, since every local process shares
	// them; local agents are still limited by their credential.
	Rate float64
	// Burst is how many requests may arrive at once before Rate applies
	// (2×Rate when 0).
	Burst int
	// MaxWaiters bounds the long-polls and event streams one agent holds
	// open at once; 0: no bound.
	MaxWaiters int
}

// Defaults for Limits: generous for agents (which make a few requests a
// second) and for a dashboard; `parley bench` turns rate limits off.
const (
	DefaultRate       = 200
	DefaultBurst      = 400
	DefaultMaxWaiters = 16
)

// DefaultLimits are the limits of a hub started without options.
var DefaultLimits = Limits{Rate: DefaultRate, Burst: DefaultBurst, MaxWaiters: DefaultMaxWaiters}

// requestClass says how the limiter treats a request.
type requestClass int

const (
	classNormal requestClass = iota
	classExempt              // health checks: cheap, and how hubs are discovered
	classRead                // reading one's own mail: a bucket of its own
)

// classify sorts a request by its method and path. It runs before
// routing, on the raw path, which is enough: a request misfiled here
// only lands in another bucket.
func classify(r *http.Request) (class requestClass, waiter bool) {
	p := r.URL.Path
	get := r.Method == http.MethodGet || r.Method == http.MethodHead
	switch {
	case get && p == "/healthz":
		return classExempt, false
	case get && strings.HasPrefix(p, "/inbox/"):
		return classRead, strings.HasSuffix(p, "/wait")
	case r.Method == http.MethodPost && strings.HasPrefix(p, "/messages/") && strings.HasSuffix(p, "/ack"):
		return classRead, false
	}
	if !get {
		return classNormal, false
	}
	waiter = strings.HasSuffix(p, "/wait") || p == "/events" || p == "/mcp/sse" || p == "/mcp" ||
		strings.HasPrefix(p, "/commands/") && strings.HasSuffix(p, "/result") && r.URL.Query().Has("timeout")
	return classNormal, waiter
}

// limiter applies Limits. It is safe for concurrent use.
type limiter struct {
	lim       Limits
	adminHash [32]byte // SHA-256 of the admin secret; zero when none
	hasAdmin  bool
	agents    *buckets
	addrs     *buckets

	mu      sync.Mutex
	waiting map[string]int // open long-polls by agent key
}

func newLimiter(lim Limits, adminSecret string) *limiter {
	if lim.Burst <= 0 {
		lim.Burst = max(1, int(2*lim.Rate))
	}
	l := &limiter{lim: lim, waiting: make(map[string]int)}
	if adminSecret != "" {
		l.adminHash, l.hasAdmin = sha256.Sum256([]byte(adminSecret)), true
	}
	if lim.Rate > 0 {
		l.agents = newBuckets(lim.Rate, lim.Burst, maxBuckets)
		l.addrs = newBuckets(lim.Rate, lim.Burst, maxBuckets)
	}
	return l
}

// agentKey names the agent a request speaks for, from its credential,
// without a store lookup: a hash of the bearer token, the admin plus the
// agent it acts as, or under --open the X-Parley-As name. A request with
// no credential and no name has no key. A forged token gets a bucket of
// its own and fails authentication anyway; the address limit and the
// bounded bucket table keep such floods in check.
func (l *limiter) agentKey(r *http.Request) string {
	as := strings.ToLower(strings.TrimSpace(r.Header.Get(HeaderAs)))
	if h := r.Header.Get("Authorization"); h != "" {
		_, cred, _ := strings.Cut(h, " ")
		sum := sha256.Sum256([]byte(strings.TrimSpace(cred)))
		if l.hasAdmin && subtle.ConstantTimeCompare(sum[:], l.adminHash[:]) == 1 {
			if as == "" {
				as = hub.HumanName
			}
			return "admin/" + as
		}
		return "cred/" + hex.EncodeToString(sum[:16])
	}
	if as != "" {
		return "as/" + as
	}
	return ""
}

// addrKey names the remote address of a request for the address limit:
// the IP, or for IPv6 its /64, which one host usually owns whole. It is
// empty for loopback addresses.
func addrKey(remote string) string {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return ""
	}
	ip = ip.Unmap().WithZone("")
	switch {
	case ip.IsLoopback():
		return ""
	case ip.Is4():
		return ip.String()
	}
	return netip.PrefixFrom(ip, 64).Masked().String()
}

// addrCountedKey marks a request whose address was already counted, so a
// dashboard call forwarded in process to the API counts once.
type addrCountedKey struct{}

// limit is the middleware that applies the limits: it answers 429 with
// Retry-After when a bucket is empty or an agent holds too many waits.
func (s *Server) limit(next http.Handler) http.Handler {
	l := s.limiter
	if l == nil || l.lim.Rate <= 0 && l.lim.MaxWaiters <= 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		class, waiter := classify(r)
		if class == classExempt {
			next.ServeHTTP(w, r)
			return
		}
		key := l.agentKey(r)
		if l.agents != nil {
			if r.Context().Value(addrCountedKey{}) == nil {
				if ak := addrKey(r.RemoteAddr); ak != "" {
					if wait, ok := l.addrs.take(ak); !ok {
						s.refuseRate(w, r, wait, "this address")
						return
					}
				}
				r = r.WithContext(context.WithValue(r.Context(), addrCountedKey{}, true))
			}
			if key != "" {
				bucket := key
				if class == classRead {
					bucket += "#read"
				}
				if wait, ok := l.agents.take(bucket); !ok {
					s.refuseRate(w, r, wait, "this agent")
					return
				}
			}
		}
		if waiter && key != "" && l.lim.MaxWaiters > 0 {
			if !l.enter(key) {
				s.writeError(w, r, hub.Errorf(hub.CodeRateLimited,
					"too many waits open at once for this agent: at most %d long-polls and event streams; end one first", l.lim.MaxWaiters))
				return
			}
			// A parked wait (park.go) holds its place until it answers.
			defer whenDone(w, func() { l.leave(key) })
		}
		next.ServeHTTP(w, r)
	})
}

// refuseRate answers 429 with Retry-After in whole seconds.
func (s *Server) refuseRate(w http.ResponseWriter, r *http.Request, wait float64, who string) {
	secs := max(1, int(wait+0.999))
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	s.writeError(w, r, hub.Errorf(hub.CodeRateLimited,
		"too many requests from %s: the limit is %g per second (bursts of %d); retry after %d s",
		who, s.limiter.lim.Rate, s.limiter.lim.Burst, secs))
}

// enter counts one more open wait for key, unless it holds MaxWaiters.
func (l *limiter) enter(key string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.waiting[key] >= l.lim.MaxWaiters {
		return false
	}
	l.waiting[key]++
	return true
}

func (l *limiter) leave(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.waiting[key]--; l.waiting[key] <= 0 {
		delete(l.waiting, key)
	}
}
