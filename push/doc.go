// Package push sends Web Push notifications (RFC 8030, 8291, 8292) of rings
// and motion to the household's phones, through their own push services.
//
// Only phones with a paired token may subscribe; a subscription is bound to
// that token and goes when the token is revoked. Every payload is padded to
// one size, so the push service learns only that a push was sent, when, and
// to which phone.
package push
