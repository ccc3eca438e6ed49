// Package bearer reads the token of an "Authorization: Bearer TOKEN"
// header: how paired phones and computers prove who they are.
package bearer

import (
	"net/http"
	"strings"
)

// Token returns the request's bearer token, or false if it has none. The
// scheme is case-insensitive (RFC 9110); the token is never logged.
func Token(r *http.Request) (string, bool) {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	token = strings.TrimSpace(token)
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return "", false
	}
	return token, true
}

// Authorizer says whose a bearer token is: the token store of package
// pairing implements it for live view, the clips API and the event stream.
type Authorizer interface {
	// Authorize returns a stable id for the paired device that token
	// belongs to (never the token itself), or false if the token is
	// unknown or revoked. It is called on every request and again every
	// 500 ms for every open session or stream, so it must be cheap (a
	// look-up of the token's hash) and must see a revocation at once.
	Authorize(token string) (id string, ok bool)
}

// AuthorizerFunc adapts a function to Authorizer.
type AuthorizerFunc func(token string) (string, bool)

// Authorize calls f(token).
func (f AuthorizerFunc) Authorize(token string) (string, bool) { return f(token) }

// The WWW-Authenticate challenges of a 401 (RFC 6750): for a request
// without a token, and for one whose token is unknown or revoked.
const (
	Challenge        = `Bearer realm="doorbell"`
	ChallengeInvalid = `Bearer realm="doorbell", error="invalid_token"`
)
