package testkit

import (
	"testing"
	"time"

	"doorbell/crypto/keys"
	"doorbell/crypto/members"
)

// AddMember puts a member named name, with a new post-quantum key, in the
// household of dataDir, as doorbell member add does, unless there is one of
// that name already: pairing codes can be made for them from then on. It
// returns the new member's identity, or nil if the member was there.
func AddMember(tb testing.TB, dataDir, name string) *keys.Identity {
	tb.Helper()
	if reg, err := members.Load(dataDir); err == nil {
		if _, ok := reg.Find(name); ok {
			return nil
		}
	}
	id, err := keys.Generate(keys.Hybrid)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := members.Add(dataDir, name, id.Recipient, time.Now()); err != nil {
		tb.Fatalf("cannot add member %q: %v", name, err)
	}
	return id
}
