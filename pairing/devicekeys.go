package pairing

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"doorbell/crypto/keys"
)

// ErrRecipient wraps what is wrong with the public keys a device sent.
var ErrRecipient = errors.New("the device's public key cannot be used")

// pickRecipient chooses, of the keys a device made, the one of the
// household's kind: age refuses to mix hybrid and classic recipients.
func pickRecipient(kind keys.Kind, recipients []string) (string, error) {
	if len(recipients) == 0 {
		return "", nil
	}
	if len(recipients) > 2 {
		return "", fmt.Errorf("%w: the device sent %d keys; send at most one of each kind (age1pq1…, age1…)", ErrRecipient, len(recipients))
	}
	found := ""
	for _, r := range recipients {
		_, k, err := keys.ParseRecipient(r)
		if err != nil {
			return "", fmt.Errorf("%w: %w", ErrRecipient, err)
		}
		if k == kind || kind == 0 && k == keys.Hybrid {
			found = strings.ToLower(strings.TrimSpace(r))
		}
	}
	if found == "" {
		return "", fmt.Errorf("%w: the household uses %s keys and the device sent none of that kind; update the app and pair again", ErrRecipient, kind)
	}
	return found, nil
}

// DeviceRecipients returns the public keys of the paired devices that have
// one and whose member is in the household: the recorder seals to them
// beside the members' own keys.
func (s *Store) DeviceRecipients() []string {
	s.refresh()
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, e := range s.entries {
		if e.Recipient != "" && s.isMember(e.Token) {
			out = append(out, e.Recipient)
		}
	}
	return out
}

// KeysSince says since when the keys of paired device id are in the
// household: its member's own key, and the key the device made at pairing
// (zero if it made none). ok is false for an unknown device or a former
// member's.
func (s *Store) KeysSince(id string) (member, phone time.Time, ok bool) {
	s.refresh()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range s.entries {
		if e.ID != id || s.members == nil {
			continue
		}
		m, found := memberOf(s.members, e.Token)
		if !found {
			return time.Time{}, time.Time{}, false
		}
		if e.Recipient != "" {
			phone = e.Paired
		}
		return m.Added, phone, true
	}
	return time.Time{}, time.Time{}, false
}
