package testkit

import "sync"

// Tokens is a fake token store, a bearer.Authorizer: each token names the
// paired device it belongs to. It is safe for concurrent use.
type Tokens struct {
	mu sync.Mutex
	m  map[string]string
}

// NewTokens makes a store of token → device id pairs.
func NewTokens(tokenIDs map[string]string) *Tokens {
	m := make(map[string]string, len(tokenIDs))
	for k, v := range tokenIDs {
		m[k] = v
	}
	return &Tokens{m: m}
}

// Authorize returns the device id of token.
func (t *Tokens) Authorize(token string) (string, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	id, ok := t.m[token]
	return id, ok
}

// Revoke forgets token.
func (t *Tokens) Revoke(token string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.m, token)
}
