package web

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"doorbell/events"
	"doorbell/internal/testkit"
)

func TestPageIsSmallAndSelfContained(t *testing.T) {
	if n := Size(); n > 100<<10 {
		t.Errorf("the page is %d bytes, over 100 KB", n)
	}
	external := regexp.MustCompile(`(?i:(https?:)?//[a-z0-9.-]+\.[a-z]{2,})|@import|[^A-Za-z]url\(`)
	for name, f := range files {
		if m := external.Find(f.data); m != nil {
			t.Errorf("%s refers to something outside the doorbell: %q", name, m)
		}
	}
	for _, want := range []string{"index.html", "pair.html", "app.js", "pair.js", "style.css"} {
		if _, ok := files[want]; !ok {
			t.Errorf("%s missing", want)
		}
	}
	idx := string(files["index.html"].data)
	for _, want := range []string{"<video", "playsinline", "autoplay", "muted"} {
		if !strings.Contains(idx, want) {
			t.Errorf("index.html lacks %s", want)
		}
	}
}

func TestServesThePage(t *testing.T) {
	mux := http.NewServeMux()
	Register(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	for path, ctype := range map[string]string{
		"/":                 "text/html",
		"/pair":             "text/html",
		"/assets/app.js":    "text/javascript",
		"/assets/pair.js":   "text/javascript",
		"/assets/style.css": "text/css",
	} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), ctype) || len(body) == 0 {
			t.Errorf("%s: %s %s", path, resp.Status, resp.Header.Get("Content-Type"))
		}
		csp := resp.Header.Get("Content-Security-Policy")
		if !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "script-src 'self'") {
			t.Errorf("%s: CSP %q", path, csp)
		}
		// Revalidation answers 304.
		req, _ := http.NewRequest("GET", srv.URL+path, nil)
		req.Header.Set("If-None-Match", resp.Header.Get("ETag"))
		resp2, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp2.Body.Close()
		if resp2.StatusCode != http.StatusNotModified {
			t.Errorf("%s with its ETag: %s", path, resp2.Status)
		}
	}
	for _, path := range []string{"/assets/nope.js", "/assets/../web.go", "/index.html", "/static/app.js"} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("%s: %s, want 404", path, resp.Status)
		}
	}
}

func eventsServer(t *testing.T) (*httptest.Server, *events.Bus, *testkit.Tokens, *Events) {
	bus := events.NewBus()
	auth := testkit.NewTokens(map[string]string{"good": "dev1"})
	e := &Events{Auth: auth, Subscribe: func(n int) (<-chan events.Event, func()) { return bus.Subscribe("event_stream", n) }, Recheck: 20 * time.Millisecond, Heartbeat: 50 * time.Millisecond, MaxStreams: 2}
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	return srv, bus, auth, e
}

func getEvents(t *testing.T, url, token string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func TestEventsNeedAToken(t *testing.T) {
	srv, _, _, _ := eventsServer(t)
	for _, token := range []string{"", "bad"} {
		resp := getEvents(t, srv.URL, token)
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("token %q: %s", token, resp.Status)
		}
	}
	req, _ := http.NewRequest("GET", srv.URL, nil)
	req.Header.Set("Authorization", "Basic Z29vZA==")
	resp, _ := http.DefaultClient.Do(req)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("basic auth: %s", resp.Status)
	}
}

func TestEventsStreamRingsAndEndOnRevoke(t *testing.T) {
	srv, bus, auth, e := eventsServer(t)
	resp := getEvents(t, srv.URL, "good")
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("%s %s", resp.Status, resp.Header.Get("Content-Type"))
	}
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	next := func() string {
		select {
		case l, ok := <-lines:
			if !ok {
				return "EOF"
			}
			return l
		case <-time.After(5 * time.Second):
			t.Fatal("nothing arrived")
			return ""
		}
	}
	if l := next(); !strings.HasPrefix(l, ":") {
		t.Errorf("first line %q", l)
	}
	for e.Open() != 1 {
		time.Sleep(time.Millisecond)
	}
	at := time.Date(2026, 11, 28, 9, 0, 0, 123e6, time.UTC)
	bus.Publish(events.Event{Kind: events.Ring, Time: at, Zones: []string{"porch"}, Clip: "secret-clip-id"})
	var data string
	for {
		l := next()
		if l == "event: ring" {
			data = next()
			break
		}
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(strings.TrimPrefix(data, "data: ")), &got); err != nil {
		t.Fatal(data, err)
	}
	if len(got) != 2 || got["kind"] != "ring" || got["time"] != "2026-11-28T09:00:00.123Z" {
		t.Errorf("event sent as %s: kind and time only", data)
	}
	// Heartbeats keep it open.
	for l := next(); l != ": ping"; l = next() {
	}
	// A third stream is refused (MaxStreams 2), a second is fine.
	r2 := getEvents(t, srv.URL, "good")
	defer r2.Body.Close()
	r3 := getEvents(t, srv.URL, "good")
	r3.Body.Close()
	if r2.StatusCode != 200 || r3.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("second and third streams: %s, %s", r2.Status, r3.Status)
	}
	// Revoked: the stream ends.
	auth.Revoke("good")
	deadline := time.After(time.Second)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				return
			}
			_ = l
		case <-deadline:
			t.Fatal("stream still open a second after the token was revoked")
		}
	}
}

// A revoked phone gets no event published after its revocation, however
// long until the stream's next periodic recheck; End closes the stream at once.
func TestRevokedStreamGetsNoFurtherEvent(t *testing.T) {
	bus := events.NewBus()
	auth := testkit.NewTokens(map[string]string{"good": "dev1", "other": "dev2"})
	e := &Events{Auth: auth, Recheck: time.Hour, Heartbeat: time.Hour,
		Subscribe: func(n int) (<-chan events.Event, func()) { return bus.Subscribe("event_stream", n) }}
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	read := func(token string) <-chan string {
		resp := getEvents(t, srv.URL, token)
		t.Cleanup(func() { resp.Body.Close() })
		lines := make(chan string, 100)
		go func() {
			defer close(lines)
			sc := bufio.NewScanner(resp.Body)
			for sc.Scan() {
				lines <- sc.Text()
			}
		}()
		if l := <-lines; !strings.HasPrefix(l, ":") {
			t.Fatalf("first line %q", l)
		}
		return lines
	}
	// drain reads until the stream ends (true) or a second passes.
	drain := func(lines <-chan string) (got []string, ended bool) {
		deadline := time.After(time.Second)
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					return got, true
				}
				if strings.HasPrefix(l, "event:") {
					got = append(got, l)
				}
			case <-deadline:
				return got, false
			}
		}
	}

	lines := read("good")
	for e.Open() != 1 {
		time.Sleep(time.Millisecond)
	}
	auth.Revoke("good")
	bus.Publish(events.Event{Kind: events.MotionEnd, Time: time.Now()})
	if got, ended := drain(lines); len(got) != 0 || !ended {
		t.Errorf("after the revocation the stream sent %v and ended: %v; want nothing, and the end", got, ended)
	}

	// End, as the daemon calls it on a revocation, closes the stream at once.
	lines = read("other")
	for e.Open() != 1 {
		time.Sleep(time.Millisecond)
	}
	e.End("dev2")
	if got, ended := drain(lines); len(got) != 0 || !ended {
		t.Errorf("after End the stream sent %v and ended: %v", got, ended)
	}
}
