package daemon

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"doorbell/internal/testkit"
	"doorbell/tlscert"
)

// limitedServer serves h over HTTPS on loopback within lim, like Run does.
func limitedServer(t *testing.T, h http.Handler, lim httpLimits) (addr string, conns *connLimiter) {
	t.Helper()
	cfg, _, err := tlscert.Load(t.TempDir(), "", "", []string{"localhost", "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv, conns := newHTTPServer(context.Background(), h, cfg, slog.New(slog.DiscardHandler), lim)
	go func() { _ = srv.ServeTLS(conns.Listener(ln), "", "") }()
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String(), conns
}

// dialFrom opens a TLS connection to addr from the loopback address src
// (Linux routes all of 127/8 to lo).
func dialFrom(t *testing.T, src, addr string) *tls.Conn {
	t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
	c, err := tls.DialWithDialer(d, "tcp", addr, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// get sends one GET on c and returns the status code, or the error.
func get(c net.Conn, extra string) (int, error) {
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: doorbell\r\n"+extra+"\r\n"); err != nil {
		return 0, err
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

// closedByServer reports whether the server closed c (a read sees EOF or a reset).
func closedByServer(c net.Conn) bool {
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err := c.Read(make([]byte, 1))
	var ne net.Error
	return err != nil && !(errors.As(err, &ne) && ne.Timeout())
}

var ok200 = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.Copy(io.Discard, r.Body) })

func TestHTTPServerLimits(t *testing.T) {
	lim := defaultHTTPLimits
	lim.PerAddress, lim.Total = 3, 6
	lim.Read, lim.Idle = 300*time.Millisecond, 300*time.Millisecond

	t.Run("connections per address", func(t *testing.T) {
		addr, _ := limitedServer(t, ok200, lim)
		for range 3 {
			if code, err := get(dialFrom(t, "127.0.0.2", addr), ""); code != 200 {
				t.Fatalf("a connection within the bound: %d %v", code, err)
			}
		}
		// The TLS handshake of the fourth fails, or its request does.
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}}
		c, err := tls.DialWithDialer(d, "tcp", addr, &tls.Config{InsecureSkipVerify: true})
		if err == nil {
			defer c.Close()
			if code, err := get(c, ""); err == nil {
				t.Fatalf("a fourth connection from one address was served: %d", code)
			}
		}
		if code, err := get(dialFrom(t, "127.0.0.3", addr), ""); code != 200 {
			t.Errorf("another address was refused: %d %v", code, err)
		}
	})

	t.Run("a flood of idle connections does not keep a device out", func(t *testing.T) {
		addr, conns := limitedServer(t, ok200, lim)
		var idle []*tls.Conn
		for i := range lim.Total {
			c := dialFrom(t, fmt.Sprintf("127.0.1.%d", i+1), addr)
			idle = append(idle, c)
		}
		testkit.Eventually(t, 30*time.Second, "every idle connection counted", func() bool { return conns.Open() == lim.Total })
		if code, err := get(dialFrom(t, "127.0.0.1", addr), ""); code != 200 {
			t.Fatalf("the device was not served with %d idle connections held: %d %v", lim.Total, code, err)
		}
		if !closedByServer(idle[0]) {
			t.Error("the oldest idle connection was kept, not closed to make room")
		}
	})

	t.Run("headers too large", func(t *testing.T) {
		addr, _ := limitedServer(t, ok200, lim)
		code, err := get(dialFrom(t, "127.0.0.4", addr), "X-Big: "+strings.Repeat("a", 1<<20)+"\r\n")
		if code != http.StatusRequestHeaderFieldsTooLarge && err == nil {
			t.Errorf("1 MiB of headers: %d, want 431 or a closed connection", code)
		}
		if code, err := get(dialFrom(t, "127.0.0.4", addr), "X-Fine: "+strings.Repeat("a", 8<<10)+"\r\n"); code != 200 {
			t.Errorf("8 KiB of headers: %d %v", code, err)
		}
	})

	t.Run("a body trickled in is cut off", func(t *testing.T) {
		addr, _ := limitedServer(t, ok200, lim)
		c := dialFrom(t, "127.0.0.5", addr)
		if _, err := io.WriteString(c, "POST / HTTP/1.1\r\nHost: doorbell\r\nContent-Length: 1000\r\n\r\nx"); err != nil {
			t.Fatal(err)
		}
		cut := make(chan struct{})
		go func() {
			defer close(cut)
			for {
				_ = c.SetWriteDeadline(time.Now().Add(time.Second))
				if _, err := io.WriteString(c, "x"); err != nil {
					return
				}
				if closedWithin(c, 50*time.Millisecond) {
					return
				}
			}
		}()
		select {
		case <-cut:
		case <-time.After(10 * time.Second):
			t.Fatal("a body trickled for 10 s is still being read; the read timeout is 300 ms")
		}
	})

	t.Run("idle connections are closed", func(t *testing.T) {
		addr, _ := limitedServer(t, ok200, lim)
		c := dialFrom(t, "127.0.0.6", addr)
		if code, err := get(c, ""); code != 200 {
			t.Fatal(code, err)
		}
		if !closedByServer(c) {
			t.Error("an idle kept-alive connection is still open 5 s later; the idle timeout is 300 ms")
		}
	})
}

// closedWithin reports whether a read on c ends with anything but a timeout within d.
func closedWithin(c net.Conn, d time.Duration) bool {
	_ = c.SetReadDeadline(time.Now().Add(d))
	_, err := c.Read(make([]byte, 1))
	var ne net.Error
	return err == nil || !(errors.As(err, &ne) && ne.Timeout())
}
