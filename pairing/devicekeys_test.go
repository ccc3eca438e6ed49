package pairing

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"doorbell/crypto/keys"
	"doorbell/crypto/members"
)

// A phone sends a key of each kind; the doorbell keeps the household's,
// seals to it while the token lasts, and drops it with the token or the
// member. Bad keys are refused before the code is used.
func TestPhoneKeyFollowsItsToken(t *testing.T) {
	dir := household(t) // hybrid members
	s := Open(dir, nil)
	hybrid, _ := keys.Generate(keys.Hybrid)
	classic, _ := keys.Generate(keys.Classic)

	for _, bad := range [][]string{
		{"AGE-SECRET-KEY-1QQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQ"},
		{classic.Recipient}, // classic only, for a hybrid household
		{hybrid.Recipient, classic.Recipient, hybrid.Recipient},
	} {
		code := newCode(t, dir, "anna", s.now())
		if _, _, err := s.Pair(code, "phone", bad...); !errors.Is(err, ErrRecipient) {
			t.Errorf("keys %.20q: %v, want ErrRecipient", bad, err)
		}
		if _, _, err := s.Pair(code, "phone"); err != nil { // the code was not used up
			t.Errorf("the code was used up by a refused key: %v", err)
		}
	}
	if strings.Contains(ErrRecipient.Error(), "AGE-SECRET") {
		t.Error("the error repeats a secret key")
	}

	_, tok, err := s.Pair(newCode(t, dir, "anna", s.now()), "Anna's phone", classic.Recipient, hybrid.Recipient)
	if err != nil {
		t.Fatal(err)
	}
	if tok.Recipient != strings.ToLower(hybrid.Recipient) {
		t.Fatalf("kept %.20s…, want the hybrid key", tok.Recipient)
	}
	_, benTok, err := s.Pair(newCode(t, dir, "ben", s.now()), "Ben's phone", hybrid2(t))
	if err != nil {
		t.Fatal(err)
	}
	if got := s.DeviceRecipients(); len(got) != 2 || !slices.Contains(got, tok.Recipient) {
		t.Fatalf("device recipients %d", len(got))
	}
	reg, _ := members.Load(dir)
	if n := len(reg.WithDeviceKeys(s.DeviceRecipients()).Recipients()); n != reg.Len()+2 {
		t.Errorf("sealed to %d keys, want %d members and 2 phones", n, reg.Len())
	}

	if m, phone, ok := s.KeysSince(tok.ID); !ok || !phone.Equal(tok.Paired) || m.IsZero() || m.After(phone) {
		t.Errorf("KeysSince = %v %v %v", m, phone, ok)
	}
	if _, _, ok := s.KeysSince("0000000000000000"); ok {
		t.Error("KeysSince knows an unknown device")
	}

	// Revoking the phone removes its key.
	if _, _, err := Revoke(dir, tok.ID); err != nil {
		t.Fatal(err)
	}
	if got := s.DeviceRecipients(); slices.Contains(got, tok.Recipient) || len(got) != 1 {
		t.Errorf("after revoking anna's phone: %d keys, hers among them: %v", len(got), slices.Contains(got, tok.Recipient))
	}
	// Removing the member removes theirs, in the one step of the member list.
	if _, _, err := members.Remove(dir, "ben"); err != nil {
		t.Fatal(err)
	}
	if got := s.DeviceRecipients(); slices.Contains(got, benTok.Recipient) {
		t.Error("a removed member's phone key is still sealed to")
	}
}

func hybrid2(t *testing.T) string {
	id, err := keys.Generate(keys.Hybrid)
	if err != nil {
		t.Fatal(err)
	}
	return id.Recipient
}
