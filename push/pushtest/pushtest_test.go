package pushtest

import (
	"net/http"
	"strings"
	"testing"
	"time"

	webpush "github.com/SherClockHolmes/webpush-go"
)

// The emulator refuses what a push service would: a JWT signed with
// another key than k=, a payload encrypted to another subscription, a
// mailto:mailto: contact, a missing TTL.
func TestServiceRefusesBadPushes(t *testing.T) {
	s := New(t)
	sub, other := s.Subscribe(), s.Subscribe()
	priv, pub, _ := webpush.GenerateVAPIDKeys()
	_, otherPub, _ := webpush.GenerateVAPIDKeys()
	client := s.srv.Client()
	send := func(to Subscription, keys Subscription, subscriber, vapidPub string, ttl int) Message {
		t.Helper()
		resp, err := webpush.SendNotification([]byte(`{"kind":"ring"}`), &webpush.Subscription{Endpoint: to.Endpoint,
			Keys: webpush.Keys{P256dh: keys.P256dh, Auth: keys.Auth}},
			&webpush.Options{HTTPClient: client, Subscriber: subscriber, VAPIDPublicKey: vapidPub, VAPIDPrivateKey: priv, TTL: ttl})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		m, ok := s.Next(5 * time.Second)
		if !ok {
			t.Fatal("no request")
		}
		return m
	}
	if m := send(sub, sub, "owner@example.org", pub, 60); m.Err != nil || string(m.Plaintext) != `{"kind":"ring"}` || m.Claims.Sub != "mailto:owner@example.org" {
		t.Fatalf("a good push: %v %q %q", m.Err, m.Plaintext, m.Claims.Sub)
	}
	for name, m := range map[string]Message{
		"signed with another key": send(sub, sub, "owner@example.org", otherPub, 60),
		"encrypted to another":    send(sub, other, "owner@example.org", pub, 60),
	} {
		if m.Err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	// webpush-go adds mailto: itself; the emulator sees what Apple would.
	if m := send(sub, sub, "mailto:owner@example.org", pub, 60); m.Err != nil || !strings.HasPrefix(m.Claims.Sub, "mailto:mailto:") {
		t.Errorf("double mailto: %v %q", m.Err, m.Claims.Sub)
	}
	s.Answer(sub, http.StatusGone)
	if m := send(sub, sub, "owner@example.org", pub, 60); m.Err != nil {
		t.Errorf("gone: %v", m.Err)
	}
}
