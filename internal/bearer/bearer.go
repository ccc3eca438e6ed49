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
