package daemon

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"
)

// httpLimits are the HTTPS server's bounds, so that nobody on the LAN can
// hold its connections or memory without a token (issue 13, item 3).
type httpLimits struct {
	// MaxHeaderBytes bounds a request's headers. The API's largest is an
	// Authorization header of 60 bytes; browsers send 1–2 KiB.
	MaxHeaderBytes int
	// ReadHeader and Read bound the time to read a request's headers, and
	// its headers and body. Long-lived responses (the event stream) lift
	// the read deadline once their request is read.
	ReadHeader, Read time.Duration
	// Idle closes a kept-alive connection with no request.
	Idle time.Duration
	// PerAddress and Total bound the connections at once from one address
	// (IPv6: one /64) and in all. A phone's browser opens at most 6
	// (HTTP/1.1), or 1 (HTTP/2).
	PerAddress, Total int
}

// defaultHTTPLimits: each request of this API is small (a token, an SDP
// offer, a pairing code), and a household has a few phones.
var defaultHTTPLimits = httpLimits{
	MaxHeaderBytes: 16 << 10, // net/http adds 4 KiB of slack
	ReadHeader:     10 * time.Second,
	Read:           15 * time.Second,
	Idle:           30 * time.Second,
	PerAddress:     64,
	Total:          512,
}

// newHTTPServer is the HTTPS server for h, within lim, and the limiter
// whose Listener it must serve. Its BaseContext is ctx, so that
// long-lived requests end with the daemon.
func newHTTPServer(ctx context.Context, h http.Handler, tlsConfig *tls.Config, log *slog.Logger, lim httpLimits) (*http.Server, *connLimiter) {
	conns := newConnLimiter(lim.PerAddress, lim.Total)
	srv := &http.Server{
		Handler:           h,
		TLSConfig:         tlsConfig,
		ReadHeaderTimeout: lim.ReadHeader,
		ReadTimeout:       lim.Read,
		IdleTimeout:       lim.Idle,
		MaxHeaderBytes:    lim.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
		BaseContext:       func(net.Listener) context.Context { return ctx },
		ConnState:         conns.connState,
	}
	return srv, conns
}

// connLimiter is a listener that bounds connections per address and in
// all. Over the per-address bound a new connection is closed at once. At
// the total bound, the oldest connection that is not serving a request
// (still handshaking, or idle between requests) is closed to make room, so
// that a flood of idle connections cannot keep a paired phone out: its
// request is served while the flood's connections wait their turn to be
// cut.
type connLimiter struct {
	perAddress, total int

	mu     sync.Mutex
	byAddr map[string]int
	conns  map[*limitedConn]struct{}
}

func newConnLimiter(perAddress, total int) *connLimiter {
	return &connLimiter{perAddress: perAddress, total: total,
		byAddr: map[string]int{}, conns: map[*limitedConn]struct{}{}}
}

// Listener wraps ln.
func (l *connLimiter) Listener(ln net.Listener) net.Listener { return &limitedListener{ln, l} }

// Open returns the number of connections held.
func (l *connLimiter) Open() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.conns)
}

type limitedListener struct {
	net.Listener
	l *connLimiter
}

func (ll *limitedListener) Accept() (net.Conn, error) {
	for {
		c, err := ll.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if lc := ll.l.admit(c); lc != nil {
			return lc, nil
		}
		c.Close()
	}
}

// admit returns c wrapped, or nil when its address holds too many.
func (l *connLimiter) admit(c net.Conn) *limitedConn {
	key := addressKey(c.RemoteAddr())
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.byAddr[key] >= l.perAddress {
		return nil
	}
	if len(l.conns) >= l.total {
		var oldest *limitedConn
		for o := range l.conns {
			if !o.busy && !o.closing && (oldest == nil || o.since.Before(oldest.since)) {
				oldest = o
			}
		}
		if oldest == nil {
			return nil // every one is serving a request
		}
		oldest.closing = true
		go oldest.Conn.Close() // a TLS close may write; never under the lock
	}
	lc := &limitedConn{Conn: c, l: l, key: key, since: time.Now()}
	l.byAddr[key]++
	l.conns[lc] = struct{}{}
	return lc
}

// connState tracks which connections are serving a request (http.Server.ConnState).
func (l *connLimiter) connState(c net.Conn, s http.ConnState) {
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	lc, ok := c.(*limitedConn)
	if !ok {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	switch s {
	case http.StateActive, http.StateHijacked:
		lc.busy = true
	case http.StateIdle:
		lc.busy = false
		lc.since = time.Now()
	}
}

type limitedConn struct {
	net.Conn
	l    *connLimiter
	key  string
	once sync.Once

	// Under l.mu.
	since   time.Time // accepted, or last became idle
	busy    bool      // serving a request
	closing bool      // chosen to make room
}

func (c *limitedConn) Close() error {
	c.once.Do(func() {
		c.l.mu.Lock()
		delete(c.l.conns, c)
		if c.l.byAddr[c.key]--; c.l.byAddr[c.key] <= 0 {
			delete(c.l.byAddr, c.key)
		}
		c.l.mu.Unlock()
	})
	return c.Conn.Close()
}

// addressKey is the address a connection is counted under: the IP, or for
// IPv6 its /64, since one host may use any address of its network.
func addressKey(a net.Addr) string {
	tcp, ok := a.(*net.TCPAddr)
	if !ok {
		return a.String()
	}
	if ip4 := tcp.IP.To4(); ip4 != nil {
		return ip4.String()
	}
	return tcp.IP.Mask(net.CIDRMask(64, 128)).String()
}
