package push

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"doorbell/events"
	"doorbell/push/pushtest"
)

const contact = "mailto:owner@example.org"

type fixture struct {
	dir    string
	key    Key
	store  *Store
	sender *Sender
	svc    *pushtest.Service
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	dir := t.TempDir()
	key, err := LoadOrCreateKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	store, err := OpenStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	svc := pushtest.New(t)
	sender := NewSender(key, store, Options{Contact: contact, AllowHosts: []string{"127.0.0.1"}, RootCAs: svc.Roots()})
	return &fixture{dir, key, store, sender, svc}
}

func (f *fixture) subscribe(t *testing.T, device string, motion, snapshot bool) pushtest.Subscription {
	t.Helper()
	s := f.svc.Subscribe()
	if err := f.store.Put(Subscription{Device: device, Endpoint: s.Endpoint, P256dh: s.P256dh, Auth: s.Auth, Motion: motion, Snapshot: snapshot}); err != nil {
		t.Fatal(err)
	}
	return s
}

// next returns the next push, failing on what the service found wrong.
func (f *fixture) next(t *testing.T) pushtest.Message {
	t.Helper()
	m, ok := f.svc.Next(5 * time.Second)
	if !ok {
		t.Fatal("no push reached the push service within 5 s")
	}
	if m.Err != nil {
		t.Fatalf("the push service refused a push: %v", m.Err)
	}
	return m
}

func (f *fixture) none(t *testing.T) {
	t.Helper()
	if m, ok := f.svc.Next(0); ok {
		t.Fatalf("unexpected push to %s", m.Endpoint)
	}
}

func decode(t *testing.T, m pushtest.Message) Payload {
	t.Helper()
	var p Payload
	if err := json.Unmarshal(m.Plaintext, &p); err != nil {
		t.Fatalf("payload is not JSON: %v", err)
	}
	return p
}

func TestRingReachesEveryPhoneAndMotionOnlyThoseWhoAsked(t *testing.T) {
	f := newFixture(t)
	ringOnly := f.subscribe(t, "aaaa", false, false)
	motionToo := f.subscribe(t, "bbbb", true, false)
	at := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

	f.sender.Notify(context.Background(), events.Event{Kind: events.Ring, Time: at, ID: 7}, nil)
	got := map[string]pushtest.Message{}
	for range 2 {
		m := f.next(t)
		got[m.Endpoint] = m
	}
	f.none(t)
	for _, s := range []pushtest.Subscription{ringOnly, motionToo} {
		m, ok := got[s.Endpoint]
		if !ok {
			t.Fatalf("no ring push to %s", s.Endpoint)
		}
		if p := decode(t, m); p.Kind != "ring" || !p.Time.Equal(at) || p.ID != "7" || p.Snapshot != "" {
			t.Errorf("payload %+v", p)
		}
		if len(m.Plaintext) != PayloadSize || m.BodyLen != BodySize {
			t.Errorf("payload %d bytes in a body of %d, want %d in %d", len(m.Plaintext), m.BodyLen, PayloadSize, BodySize)
		}
		if m.Urgency != "high" || m.TTL != "120" {
			t.Errorf("ring sent with Urgency %q, TTL %q; want high and a short TTL", m.Urgency, m.TTL)
		}
		if m.Claims.Sub != contact || m.VAPIDKey != f.key.PublicString() || m.Claims.Aud != f.svc.Origin() {
			t.Errorf("VAPID sub %q, k %q, aud %q", m.Claims.Sub, m.VAPIDKey, m.Claims.Aud)
		}
		if exp := time.Unix(m.Claims.Exp, 0); exp.After(time.Now().Add(24 * time.Hour)) {
			t.Errorf("JWT expires at %s, more than 24 h away", exp)
		}
	}

	// A press repeated soon within the button's cooldown buzzes nobody
	// twice; one after RepeatGap does.
	f.sender.Notify(context.Background(), events.Event{Kind: events.Ring, Time: at.Add(RepeatGap - time.Second), ID: 8, Repeat: true}, nil)
	f.none(t)
	f.sender.Notify(context.Background(), events.Event{Kind: events.Ring, Time: at.Add(RepeatGap), ID: 9, Repeat: true}, nil)
	f.next(t)
	f.next(t)

	f.sender.Notify(context.Background(), events.Event{Kind: events.MotionStart, Time: at, ID: 9}, nil)
	m := f.next(t)
	if m.Endpoint != motionToo.Endpoint || decode(t, m).Kind != "motion" || m.Urgency != "normal" {
		t.Errorf("motion push to %s, urgency %q", m.Endpoint, m.Urgency)
	}
	f.none(t)
	f.sender.Notify(context.Background(), events.Event{Kind: events.MotionEnd, Time: at, ID: 9}, nil)
	f.none(t)
	if st := f.sender.Status(); st.Sent != 5 || st.Failed != 0 || st.Subscriptions != 2 {
		t.Errorf("status %+v", st)
	}
}

func TestSnapshotOnlyToPhonesThatAskedAndSizeStaysTheSame(t *testing.T) {
	f := newFixture(t)
	plain := f.subscribe(t, "aaaa", false, false)
	withPicture := f.subscribe(t, "bbbb", false, true)
	jpg := []byte("\xff\xd8\xff\xe0 a small picture \xff\xd9")
	calls := 0
	f.sender.Notify(context.Background(), events.Event{Kind: events.Ring, Time: time.Now(), ID: 1}, func() []byte { calls++; return jpg })
	for range 2 {
		m := f.next(t)
		p := decode(t, m)
		if m.BodyLen != BodySize || len(m.Plaintext) != PayloadSize {
			t.Errorf("%d-byte body", m.BodyLen)
		}
		switch m.Endpoint {
		case plain.Endpoint:
			if p.Snapshot != "" {
				t.Error("a phone that did not ask got the picture")
			}
		case withPicture.Endpoint:
			if !strings.HasPrefix(p.Snapshot, "data:image/jpeg;base64,") {
				t.Errorf("snapshot %.40q", p.Snapshot)
			}
		}
	}
	if calls != 1 {
		t.Errorf("snapshot taken %d times, want once", calls)
	}

	// A picture too large for the payload is left out, not sent in a longer body.
	f.sender.Notify(context.Background(), events.Event{Kind: events.Ring, Time: time.Now(), ID: 2}, func() []byte { return make([]byte, MaxSnapshot+1) })
	for range 2 {
		if m := f.next(t); decode(t, m).Snapshot != "" || m.BodyLen != BodySize {
			t.Errorf("oversized snapshot: body %d", m.BodyLen)
		}
	}
	// The largest that fits still fits.
	if got := len(Payload{Kind: "motion", Time: time.Now(), ID: "18446744073709551615", Snapshot: "data:image/jpeg;base64," + strings.Repeat("A", MaxSnapshot/3*4)}.encode()); got != PayloadSize {
		t.Errorf("encode gave %d bytes", got)
	}
}

func TestGoneSubscriptionsAreDeleted(t *testing.T) {
	for _, code := range []int{http.StatusGone, http.StatusNotFound} {
		f := newFixture(t)
		gone := f.subscribe(t, "aaaa", false, false)
		kept := f.subscribe(t, "bbbb", false, false)
		f.svc.Answer(gone, code)
		f.sender.Notify(context.Background(), events.Event{Kind: events.Ring, Time: time.Now()}, nil)
		f.next(t)
		f.next(t)
		if _, ok := f.store.Device("aaaa"); ok {
			t.Errorf("%d: subscription kept", code)
		}
		if _, ok := f.store.Device("bbbb"); !ok {
			t.Errorf("%d: the other phone's subscription went too", code)
		}
		reopened, err := OpenStore(f.dir)
		if err != nil || len(reopened.All()) != 1 || reopened.All()[0].Endpoint != kept.Endpoint {
			t.Errorf("%d: on disk: %v %+v", code, err, reopened.All())
		}
		if st := f.sender.Status(); st.Gone != 1 || st.Sent != 1 {
			t.Errorf("status %+v", st)
		}
	}
}

func TestFailuresKeepTheSubscriptionAndShow(t *testing.T) {
	f := newFixture(t)
	s := f.subscribe(t, "aaaa", false, false)
	f.svc.Answer(s, http.StatusTooManyRequests)
	f.sender.Notify(context.Background(), events.Event{Kind: events.Ring, Time: time.Now()}, nil)
	f.next(t)
	st := f.sender.Status()
	if _, ok := f.store.Device("aaaa"); !ok || st.Failed != 1 || !strings.Contains(st.LastError, "429") {
		t.Errorf("status %+v", st)
	}
	if strings.Contains(st.LastError, s.Endpoint) {
		t.Errorf("the endpoint, a capability, is in the error: %s", st.LastError)
	}

	// A push service whose certificate the system does not trust is not sent to.
	untrusting := NewSender(f.key, f.store, Options{Contact: contact, AllowHosts: []string{"127.0.0.1"}})
	untrusting.Notify(context.Background(), events.Event{Kind: events.Ring, Time: time.Now()}, nil)
	if m, ok := f.svc.Next(0); ok {
		t.Errorf("pushed through an untrusted certificate: %+v", m)
	}
	st = untrusting.Status()
	if st.Failed != 1 || !strings.Contains(st.LastError, "certificate") || strings.Contains(st.LastError, s.Endpoint) {
		t.Errorf("status %+v", st)
	}
	if _, ok := f.store.Device("aaaa"); !ok {
		t.Error("a failed push deleted the subscription")
	}
}

func TestAllowed(t *testing.T) {
	s := NewSender(Key{}, nil, Options{})
	for endpoint, ok := range map[string]bool{
		"https://fcm.googleapis.com/fcm/send/abc":             true,
		"https://web.push.apple.com/QGx":                      true,
		"https://updates.push.services.mozilla.com/wpush/v2/": true,
		"https://wns2-par02p.notify.windows.com/w/?token=x":   true,
		"https://FCM.googleapis.com./x":                       true,
		"http://fcm.googleapis.com/fcm/send/abc":              false,
		"https://evil.example/fcm.googleapis.com":             false,
		"https://fcm.googleapis.com.evil.example/":            false,
		"https://notify.windows.com.evil/":                    false,
		"https://user@fcm.googleapis.com/":                    false,
		"https://127.0.0.1/":                                  false,
		"https://192.168.1.1/":                                false,
		"fcm.googleapis.com/x":                                false,
	} {
		if err := s.Allowed(endpoint); (err == nil) != ok {
			t.Errorf("Allowed(%q) = %v", endpoint, err)
		}
	}
}

type tokens map[string]string

func (t tokens) Authorize(tok string) (string, bool) { id, ok := t[tok]; return id, ok }

func call(t *testing.T, h http.Handler, method, token, contentType, body string) (*httptest.ResponseRecorder, map[string]any) {
	t.Helper()
	r := httptest.NewRequest(method, "/api/push", strings.NewReader(body))
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	if contentType != "" {
		r.Header.Set("Content-Type", contentType)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	var m map[string]any
	_ = json.Unmarshal(w.Body.Bytes(), &m)
	return w, m
}

func TestHandler(t *testing.T) {
	f := newFixture(t)
	h := &Handler{Auth: tokens{"tok-a": "aaaa", "tok-b": "bbbb"}, Store: f.store, Sender: f.sender}
	sub := f.svc.Subscribe()

	for _, m := range []string{"GET", "POST", "DELETE"} {
		if w, body := call(t, h, m, "", "application/json", sub.JSON()); w.Code != 401 || body["error"] != "unpaired" {
			t.Errorf("%s without a token: %d %v", m, w.Code, body)
		}
		if w, _ := call(t, h, m, "wrong", "application/json", sub.JSON()); w.Code != 401 {
			t.Errorf("%s with a wrong token: %d", m, w.Code)
		}
	}
	w, body := call(t, h, "GET", "tok-a", "", "")
	if w.Code != 200 || body["public_key"] != f.key.PublicString() || body["subscribed"] != false {
		t.Fatalf("GET: %d %v", w.Code, body)
	}

	bad := func(endpoint, p256dh, auth string) string {
		b, _ := json.Marshal(map[string]any{"endpoint": endpoint, "keys": map[string]string{"p256dh": p256dh, "auth": auth}})
		return string(b)
	}
	httpURL := strings.Replace(sub.Endpoint, "https:", "http:", 1)
	other, _ := url.Parse(sub.Endpoint)
	other.Host = "localhost:" + other.Port()
	for name, tc := range map[string]struct {
		ct, body string
		code     int
		err      string
	}{
		"not json":    {"application/json", "{", 400, "bad_subscription"},
		"form":        {"application/x-www-form-urlencoded", sub.JSON(), 415, "content_type"},
		"short key":   {"application/json", bad(sub.Endpoint, "BAAA", sub.Auth), 400, "bad_subscription"},
		"short auth":  {"application/json", bad(sub.Endpoint, sub.P256dh, "AAAA"), 400, "bad_subscription"},
		"plain http":  {"application/json", bad(httpURL, sub.P256dh, sub.Auth), 400, "endpoint_not_allowed"},
		"not allowed": {"application/json", bad(other.String(), sub.P256dh, sub.Auth), 400, "endpoint_not_allowed"},
		"too large":   {"application/json", `{"endpoint":"` + strings.Repeat("a", MaxBody) + `"}`, 413, "too_large"},
		"no endpoint": {"application/json", bad("", sub.P256dh, sub.Auth), 400, "bad_subscription"},
	} {
		w, body := call(t, h, "POST", "tok-a", tc.ct, tc.body)
		if w.Code != tc.code || body["error"] != tc.err || body["message"] == "" {
			t.Errorf("%s: %d %v", name, w.Code, body)
		}
	}
	if len(f.store.All()) != 0 {
		t.Fatal("a refused subscription was stored")
	}

	withMotion := strings.Replace(sub.JSON(), `{`, `{"motion":true,`, 1)
	if w, body := call(t, h, "POST", "tok-a", "application/json", withMotion); w.Code != 201 || body["subscribed"] != true || body["motion"] != true {
		t.Fatalf("POST: %d %v", w.Code, body)
	}
	if got, ok := f.store.Device("aaaa"); !ok || got.Endpoint != sub.Endpoint || !got.Motion {
		t.Fatalf("stored %+v", got)
	}
	if _, body := call(t, h, "GET", "tok-b", "", ""); body["subscribed"] != false {
		t.Error("another device sees this one's subscription as its own")
	}
	// The same endpoint posted by another token moves to it.
	call(t, h, "POST", "tok-b", "application/json", sub.JSON())
	if _, ok := f.store.Device("aaaa"); ok || len(f.store.All()) != 1 {
		t.Errorf("one endpoint, two subscriptions: %+v", f.store.All())
	}
	if w, _ := call(t, h, "DELETE", "tok-b", "", ""); w.Code != 204 || len(f.store.All()) != 0 {
		t.Errorf("DELETE: %d, %d left", w.Code, len(f.store.All()))
	}
	if w, _ := call(t, h, "PUT", "tok-b", "", ""); w.Code != 405 {
		t.Errorf("PUT: %d", w.Code)
	}
}

func TestStoreAndKeyFiles(t *testing.T) {
	f := newFixture(t)
	f.subscribe(t, "aaaa", true, false)
	f.subscribe(t, "bbbb", false, false)
	for _, name := range []string{StoreFileName, KeyFileName} {
		if fi, err := os.Stat(filepath.Join(f.dir, name)); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v %v", name, err, fi.Mode())
		}
	}
	again, err := LoadOrCreateKey(f.dir)
	if err != nil || again.PublicString() != f.key.PublicString() {
		t.Errorf("the key changed on a second load: %v", err)
	}
	n, err := f.store.Keep(func(d string) bool { return d == "bbbb" })
	if err != nil || n != 1 || len(f.store.All()) != 1 {
		t.Errorf("Keep: %d %v", n, err)
	}

	if err := os.WriteFile(filepath.Join(f.dir, StoreFileName), []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenStore(f.dir); err == nil || !strings.Contains(err.Error(), "remove it") {
		t.Errorf("damaged store: %v", err)
	}
	if err := os.WriteFile(filepath.Join(f.dir, KeyFileName), []byte("junk"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreateKey(f.dir); err == nil || !strings.Contains(err.Error(), "damaged") {
		t.Errorf("damaged key: %v", err)
	}
}

func TestOffAndUnpaired(t *testing.T) {
	f := newFixture(t)
	off := &Handler{Auth: tokens{"tok": "aaaa"}, Store: f.store}
	if w, body := call(t, off, "GET", "tok", "", ""); w.Code != 404 || body["error"] != "push_off" {
		t.Errorf("push off: %d %v", w.Code, body)
	}
	if w, _ := call(t, off, "GET", "", "", ""); w.Code != 401 {
		t.Errorf("push off, unpaired: %d", w.Code)
	}

	// A device revoked a moment ago is neither sent to nor kept.
	f.subscribe(t, "aaaa", false, false)
	f.subscribe(t, "bbbb", false, false)
	sender := NewSender(f.key, f.store, Options{Contact: contact, AllowHosts: []string{"127.0.0.1"}, RootCAs: f.svc.Roots(),
		Paired: func(d string) bool { return d == "bbbb" }})
	sender.Notify(context.Background(), events.Event{Kind: events.Ring, Time: time.Now()}, nil)
	f.next(t)
	f.none(t)
	if _, ok := f.store.Device("aaaa"); ok {
		t.Error("a revoked device's subscription was kept")
	}
}
