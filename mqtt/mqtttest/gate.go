package mqtttest

import (
	"errors"
	"io"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// Gate is a TCP relay in front of a Broker, on a port of its own, that a
// test closes to make the broker unreachable for the clients that use it,
// while other clients (a Subscriber) stay connected to the broker itself.
// Closed, it refuses connections as a stopped broker does, so the client
// under test sees what a broker outage looks like without the broker
// losing the subscriptions of the rest.
type Gate struct {
	t      testing.TB
	broker *Broker
	addr   string

	mu    sync.Mutex
	ln    net.Listener
	conns map[net.Conn]bool
	wg    sync.WaitGroup
}

// NewGate opens a gate to b; it is closed at cleanup.
func NewGate(t testing.TB, b *Broker) *Gate {
	t.Helper()
	g := &Gate{t: t, broker: b, addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(t))), conns: map[net.Conn]bool{}}
	g.Open()
	t.Cleanup(g.Close)
	return g
}

// URL is the broker's URL through the gate.
func (g *Gate) URL() *url.URL {
	u, err := url.Parse(g.broker.URL())
	if err != nil {
		g.t.Fatal(err)
	}
	u.Host = g.addr
	return u
}

// Open listens again, on the same port, after Close.
func (g *Gate) Open() {
	g.t.Helper()
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.ln != nil {
		return
	}
	ln, err := net.Listen("tcp", g.addr)
	if err != nil {
		g.t.Fatalf("mqtttest: cannot reopen the gate on %s: %v", g.addr, err)
	}
	g.ln = ln
	g.wg.Add(1)
	go g.accept(ln)
}

// Close stops listening and cuts every connection through the gate, and
// returns once the relay's goroutines have ended.
func (g *Gate) Close() {
	g.mu.Lock()
	if g.ln != nil {
		g.ln.Close()
		g.ln = nil
	}
	for c := range g.conns {
		c.Close()
	}
	g.mu.Unlock()
	g.wg.Wait()
}

func (g *Gate) accept(ln net.Listener) {
	defer g.wg.Done()
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		up, err := net.Dial("tcp", g.broker.Addr())
		if err != nil {
			c.Close()
			continue
		}
		g.mu.Lock()
		if g.ln != ln { // closed meanwhile
			g.mu.Unlock()
			c.Close()
			up.Close()
			return
		}
		g.conns[c], g.conns[up] = true, true
		g.wg.Add(2)
		g.mu.Unlock()
		go g.pipe(c, up)
		go g.pipe(up, c)
	}
}

// pipe copies one direction; when it ends, both ends are closed.
func (g *Gate) pipe(dst, src net.Conn) {
	defer g.wg.Done()
	_, err := io.Copy(dst, src)
	if err != nil && !errors.Is(err, net.ErrClosed) && !strings.Contains(err.Error(), "reset by peer") {
		g.t.Logf("mqtttest: gate relay: %v", err)
	}
	dst.Close()
	src.Close()
	g.mu.Lock()
	delete(g.conns, dst)
	delete(g.conns, src)
	g.mu.Unlock()
}
