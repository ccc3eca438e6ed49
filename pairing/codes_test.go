package pairing

import (
	"errors"
	"testing"
	"time"
)

// The first-time setup card carries a code made on the owner's computer.
func TestAcceptCodeFromASetupCard(t *testing.T) {
	dir := household(t)
	s := Open(dir, nil)
	card := "K7QD-M2XA-PL3Z-WQ5N-HB6T" // 100 bits, as doorbell setup-card makes them
	if err := AcceptCode(dir, card, "alice", time.Time{}); err != nil {
		t.Fatal(err)
	}
	if err := AcceptCode(dir, card, "alice", time.Time{}); err != nil {
		t.Errorf("accepting again (an import resumed after a power cut): %v", err)
	}
	if err := AcceptCode(dir, card, "mallory", time.Time{}); err == nil {
		t.Error("the same code accepted for another member")
	}
	if n := PendingCodes(dir, time.Now().Add(365*24*time.Hour)); n != 1 {
		t.Errorf("a code without expiry is not pending a year later: %d", n)
	}
	s.now = func() time.Time { return time.Now().Add(365 * 24 * time.Hour) }
	if _, tok, err := s.Pair("k7qdm2xapl3zwq5nhb6t", "phone"); err != nil || tok.Member != "alice" {
		t.Fatalf("pairing with the card's code: %v", err)
	}
	if _, _, err := s.Pair(card, "phone"); !errors.Is(err, ErrCodeUsed) {
		t.Errorf("card code reused: %v", err)
	}
	if err := AcceptCode(dir, card, "alice", time.Time{}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Pair(card, "phone"); !errors.Is(err, ErrCodeUsed) {
		t.Errorf("accepting a used code again revived it: %v", err)
	}
	for _, bad := range []string{"", "K7QD-M2XA", "K7QD-M2XA-PL3Z-WQ5N-HB61"} {
		if err := AcceptCode(dir, bad, "alice", time.Time{}); err == nil {
			t.Errorf("code %q accepted", bad)
		}
	}
	expired := "ABCD-EFGH-IJKL-MNOP-QRST"
	AcceptCode(dir, expired, "alice", time.Now().Add(-time.Minute))
	if _, _, err := s.Pair(expired, "phone"); !errors.Is(err, ErrCodeExpired) {
		t.Errorf("expired card code: %v", err)
	}
}
