package hub

import "sync"

// maxCachedTokens bounds the token cache; past it the cache starts over.
const maxCachedTokens = 10_000

// tokenCache remembers tokens that authenticated, so that a request costs
// no store read. Anything that changes credentials or agent names calls
// forget, which empties it; those are rare identity and admin operations.
//
// A lookup that read the store before such a change must not put a stale
// entry back afterwards: put only stores when no forget happened since
// the caller took its generation with gen.
type tokenCache struct {
	mu         sync.Mutex
	generation uint64
	entries    map[string]cachedToken
}

type cachedToken struct {
	caller Caller
	cred   Credential
}

func (tc *tokenCache) gen() uint64 {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	return tc.generation
}

func (tc *tokenCache) get(key string) (cachedToken, bool) {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	ct, ok := tc.entries[key]
	return ct, ok
}

func (tc *tokenCache) put(gen uint64, key string, ct cachedToken) {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	if gen != tc.generation {
		return
	}
	if tc.entries == nil || len(tc.entries) >= maxCachedTokens {
		tc.entries = make(map[string]cachedToken)
	}
	tc.entries[key] = ct
}

// extended records a credential's new expiry, if it is cached.
func (tc *tokenCache) extended(key string, cred Credential) {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	if ct, ok := tc.entries[key]; ok {
		ct.cred.ExpiresAt = cred.ExpiresAt
		tc.entries[key] = ct
	}
}

// forget empties the cache and starts a new generation.
func (tc *tokenCache) forget() {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	tc.generation++
	clear(tc.entries)
}
