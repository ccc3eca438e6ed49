package web

import (
	"bufio"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"doorbell/events"
	"doorbell/internal/testkit"
)

// One paired device cannot take every event stream: past MaxPerToken its
// next stream is refused, and another device still gets one.
func TestEventStreamsAreLimitedPerDevice(t *testing.T) {
	bus := events.NewBus()
	auth := testkit.NewTokens(map[string]string{"a": "dev-a", "b": "dev-b"})
	e := &Events{Auth: auth, Subscribe: func(n int) (<-chan events.Event, func()) { return bus.Subscribe("test", n) }, MaxStreams: 10, MaxPerToken: 3}
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	for i := range 3 {
		r := getEvents(t, srv.URL, "a")
		t.Cleanup(func() { r.Body.Close() })
		if r.StatusCode != 200 {
			t.Fatalf("stream %d of device a: %s", i+1, r.Status)
		}
	}
	r := getEvents(t, srv.URL, "a")
	msg := readAll(t, r)
	if r.StatusCode != http.StatusServiceUnavailable || !strings.Contains(msg, "this device already has 3") {
		t.Errorf("fourth stream of device a: %s %q", r.Status, msg)
	}
	rb := getEvents(t, srv.URL, "b")
	defer rb.Body.Close()
	if rb.StatusCode != 200 {
		t.Errorf("device b, after a took its share: %s", rb.Status)
	}
}

func readAll(t *testing.T, r *http.Response) string {
	t.Helper()
	defer r.Body.Close()
	var b strings.Builder
	sc := bufio.NewScanner(r.Body)
	for sc.Scan() {
		b.WriteString(sc.Text())
	}
	return b.String()
}

// smallBuffers makes accepted connections' send buffers small, so that a
// client that stops reading blocks the server's writes soon.
type smallBuffers struct{ net.Listener }

func (l smallBuffers) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetWriteBuffer(4096)
	}
	return c, err
}

// A client that stops reading its event stream blocks the server's write;
// revoking its token still ends the stream at the next check, not at the
// write timeout.
func TestRevocationEndsAStreamWhoseClientStoppedReading(t *testing.T) {
	auth := testkit.NewTokens(map[string]string{"good": "dev1"})
	feed := make(chan events.Event)
	e := &Events{Auth: auth, Recheck: 20 * time.Millisecond, Heartbeat: time.Hour, WriteTimeout: time.Hour,
		Subscribe: func(int) (<-chan events.Event, func()) { return feed, func() {} }}
	srv := httptest.NewUnstartedServer(e)
	srv.Listener = smallBuffers{srv.Listener}
	srv.Start()
	t.Cleanup(srv.Close)

	d := net.Dialer{Control: nil}
	c, err := d.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.(*net.TCPConn).SetReadBuffer(4096)
	if _, err := c.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer good\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	// Never read: feed events until the handler stops taking them, which
	// it does once a write blocks.
	ev := events.Event{Kind: events.Ring, Time: time.Now()}
	for blocked := false; !blocked; {
		select {
		case feed <- ev:
		case <-time.After(500 * time.Millisecond):
			blocked = true
		}
	}
	if e.Open() != 1 {
		t.Fatalf("%d streams open, want the stuck one", e.Open())
	}
	auth.Revoke("good")
	testkit.Eventually(t, 30*time.Second, "the revoked stream to close despite its stuck write", func() bool { return e.Open() == 0 })
}
