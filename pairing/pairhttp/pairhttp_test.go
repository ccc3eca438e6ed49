package pairhttp

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"doorbell/internal/testkit"
	"doorbell/pairing"
	"doorbell/wire"
)

func newCode(t *testing.T, dir, member string, now time.Time) string {
	t.Helper()
	c, err := pairing.NewCode(dir, member, now)
	if err != nil {
		t.Fatal(err)
	}
	return c.Code
}

func pairServer(t *testing.T, h *Handler) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle("/api/pair", h)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func post(t *testing.T, url, contentType string, body io.Reader) (*http.Response, map[string]string) {
	t.Helper()
	resp, err := http.Post(url, contentType, body)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]string
	_ = json.NewDecoder(resp.Body).Decode(&m)
	return resp, m
}

func pairBody(code, device string) io.Reader {
	b, _ := json.Marshal(wire.PairRequest{Code: code, Device: device})
	return bytes.NewReader(b)
}

func TestPairHTTP(t *testing.T) {
	dir := t.TempDir()
	testkit.AddMember(t, dir, "anna")
	s := pairing.Open(dir, nil)
	now := time.Now()
	var results []string
	h := &Handler{Store: s, DeviceKey: "ed25519:KEY", Rate: rate.Inf, OnResult: func(r string) { results = append(results, r) }}
	srv := pairServer(t, h)
	url := srv.URL + "/api/pair"

	code := newCode(t, dir, "anna", now)
	resp, m := post(t, url, "application/json; charset=utf-8", pairBody(code, "Anna's phone"))
	if resp.StatusCode != 200 || m["token"] == "" || m["member"] != "anna" || m["device"] != "Anna's phone" || m["device_key"] != "ed25519:KEY" {
		t.Fatalf("pairing: %s %v", resp.Status, m)
	}
	if resp.Header.Get("Cache-Control") != "no-store" {
		t.Error("token response may be cached")
	}
	if id, ok := s.Authorize(m["token"]); !ok || id != m["id"] {
		t.Error("the token does not authorize")
	}

	expired := newCode(t, dir, "anna", now.Add(-pairing.CodeTTL-time.Second))
	for name, tc := range map[string]struct {
		method, ctype string
		body          io.Reader
		want          int
	}{
		"reused":        {"POST", "application/json", pairBody(code, "x"), http.StatusGone},
		"expired":       {"POST", "application/json", pairBody(expired, "x"), http.StatusGone},
		"unknown":       {"POST", "application/json", pairBody(strings.Repeat("a", 32), "x"), http.StatusUnauthorized},
		"garbage code":  {"POST", "application/json", pairBody("<script>", "x"), http.StatusUnauthorized},
		"no code":       {"POST", "application/json", strings.NewReader(`{"device":"x"}`), http.StatusBadRequest},
		"not json":      {"POST", "application/json", strings.NewReader(`code=x`), http.StatusBadRequest},
		"extra field":   {"POST", "application/json", strings.NewReader(`{"code":"x","admin":true}`), http.StatusBadRequest},
		"trailing }":    {"POST", "application/json", strings.NewReader(`{"code":"` + strings.Repeat("a", 32) + `"}}`), http.StatusBadRequest},
		"trailing ]":    {"POST", "application/json", strings.NewReader(`{"code":"` + strings.Repeat("a", 32) + `"}]`), http.StatusBadRequest},
		"form":          {"POST", "application/x-www-form-urlencoded", strings.NewReader(`code=x`), http.StatusUnsupportedMediaType},
		"no type":       {"POST", "", pairBody(code, "x"), http.StatusUnsupportedMediaType},
		"too big":       {"POST", "application/json", strings.NewReader(`{"code":"` + strings.Repeat("a", MaxPairBody) + `"}`), http.StatusRequestEntityTooLarge},
		"too big, sent": {"POST", "application/json", io.MultiReader(strings.NewReader(`{"code":"`), strings.NewReader(strings.Repeat("a", 2*MaxPairBody))), http.StatusRequestEntityTooLarge},
		"get":           {"GET", "", nil, http.StatusMethodNotAllowed},
	} {
		req, _ := http.NewRequest(tc.method, url, tc.body)
		if tc.ctype != "" {
			req.Header.Set("Content-Type", tc.ctype)
		}
		if name == "too big, sent" {
			req.ContentLength = -1 // chunked: the size is found while reading
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]string
		json.NewDecoder(resp.Body).Decode(&m)
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("%s: %s, want %d (%v)", name, resp.Status, tc.want, m)
		}
		if m["error"] == "" || m["token"] != "" {
			t.Errorf("%s: body %v", name, m)
		}
	}
	if results[0] != ResultPaired {
		t.Errorf("results %v", results)
	}
}

func TestPairRateLimitPerAddress(t *testing.T) {
	dir := t.TempDir()
	testkit.AddMember(t, dir, "anna")
	h := &Handler{Store: pairing.Open(dir, nil), Rate: rate.Every(time.Hour), Burst: 3}
	srv := pairServer(t, h)
	for i := 0; i < 3; i++ {
		if resp, _ := post(t, srv.URL+"/api/pair", "application/json", pairBody("wrong", "x")); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("attempt %d: %s", i, resp.Status)
		}
	}
	// Even a good code waits now: the budget is per address, not per guess.
	code := newCode(t, dir, "anna", time.Now())
	resp, m := post(t, srv.URL+"/api/pair", "application/json", pairBody(code, "x"))
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" || !strings.Contains(m["error"], "wait") {
		t.Fatalf("4th attempt: %s %v %v", resp.Status, resp.Header, m)
	}
	// Another address has its own budget.
	if _, ok := h.allow(clientKey("192.168.1.7:5000")); !ok {
		t.Error("another address was limited")
	}
	// And the code was not used up by the refused attempt.
	if n := pairing.PendingCodes(dir, time.Now()); n != 1 {
		t.Errorf("refused attempt used the code: %d pending, want 1", n)
	}
}

func TestClientKey(t *testing.T) {
	for in, want := range map[string]string{
		"192.168.1.7:5000":                   "192.168.1.7/32",
		"[::ffff:192.168.1.7]:5000":          "192.168.1.7/32",
		"[2001:db8:1:2:aaaa:bbbb:cccc:1]:80": "2001:db8:1:2::/64",
		"[2001:db8:1:2:1111:2222:3333:4]:80": "2001:db8:1:2::/64",
		"[fe80::1%eth0]:80":                  "fe80::/64",
		"[fe80::2:3:4:5%wlan0]:80":           "fe80::/64",
		"[fe80::99%7]:443":                   "fe80::/64",
	} {
		if got := clientKey(in).String(); got != want {
			t.Errorf("clientKey(%q) = %q, want %q", in, got, want)
		}
	}
	if got := clientKey("garbage"); got.IsValid() || got != clientKey("more garbage") {
		t.Errorf("unparsable addresses are not one unknown client: %v", got)
	}
}

// Link-local IPv6 clients share one budget however many addresses and
// zones they use (reproduced: 40 addresses × 5 attempts all got 401).
func TestPairRateLimitOverLinkLocalIPv6(t *testing.T) {
	h := &Handler{Store: pairing.Open(t.TempDir(), nil)}
	limited := 0
	for i := range 40 {
		for range 5 {
			req := httptest.NewRequest("POST", "/api/pair", strings.NewReader(`{"code":"`+strings.Repeat("a", 32)+`"}`))
			req.Header.Set("Content-Type", "application/json")
			req.RemoteAddr = fmt.Sprintf("[fe80::%x:1%%eth%d]:5000", i+1, i%3)
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			if w.Code == http.StatusTooManyRequests {
				limited++
			}
		}
	}
	if limited < 200-DefaultPairBurst-2 {
		t.Errorf("%d of 200 attempts from 40 link-local addresses were limited, want all but the burst of %d", limited, DefaultPairBurst)
	}
}

// The limiter remembers at most MaxClients clients, forgetting the one
// seen longest ago.
func TestPairRateLimitIsBounded(t *testing.T) {
	h := &Handler{Rate: rate.Every(time.Hour), Burst: 1}
	first := netip.MustParsePrefix("10.0.0.1/32")
	if _, ok := h.allow(first); !ok {
		t.Fatal("first attempt refused")
	}
	for i := range 3 * MaxClients {
		h.allow(netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}), 32))
		if i == 0 {
			if _, ok := h.allow(first); ok { // seen again: now the most recent
				t.Fatal("second attempt from the first client allowed")
			}
		}
	}
	if len(h.limiters) != MaxClients || h.recent.Len() != MaxClients {
		t.Errorf("the limiter holds %d clients (list %d), want %d", len(h.limiters), h.recent.Len(), MaxClients)
	}
	if _, ok := h.allow(first); !ok {
		t.Error("the client seen longest ago was not the one forgotten")
	}
}
