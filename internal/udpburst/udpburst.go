// Package udpburst sends a burst of UDP datagrams in as few system calls as
// the kernel allows: the datagrams of one video picture to one viewer go out
// in one sendmsg with UDP segmentation offload (GSO) instead of one sendto each.
//
// A Net is a pion transport.Net: pion's ICE makes its sockets through it.
// Between Hold and Flush, writes to those sockets are queued; Flush sends
// what is queued, in order.
package udpburst

import (
	"fmt"
	"net"
	"net/netip"
	"sync"

	"github.com/pion/transport/v5"
	"github.com/pion/transport/v5/stdnet"
)

// Limits of one GSO send: the kernel takes at most 64 segments
// (UDP_MAX_SEGMENTS), and all of them must fit one IP packet's length field.
const (
	maxSegments   = 64
	maxBurstBytes = 60 << 10
)

// writeMsg is a variable so that a test can play a device that cannot segment.
var writeMsg = (*net.UDPConn).WriteMsgUDPAddrPort

// Net makes UDP sockets whose writes can be held and sent together. One Net
// serves one peer connection, so that its owner holds only its own sockets.
type Net struct {
	*stdnet.Net

	mu    sync.Mutex
	conns []*Conn
}

// NewNet returns a Net over the machine's network.
func NewNet() (*Net, error) {
	n, err := stdnet.NewNet()
	if err != nil {
		return nil, fmt.Errorf("listing the network interfaces: %w", err)
	}
	return &Net{Net: n}, nil
}

// ListenUDP implements transport.Net.
func (n *Net) ListenUDP(network string, laddr *net.UDPAddr) (transport.UDPConn, error) {
	c, err := net.ListenUDP(network, laddr)
	if err != nil {
		return nil, err
	}
	conn := newConn(c)
	n.mu.Lock()
	n.conns = append(n.conns, conn)
	n.mu.Unlock()
	return conn, nil
}

// Hold queues the writes to every socket of n until Flush.
func (n *Net) Hold() {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, c := range n.conns {
		c.hold()
	}
}

// Flush sends what Hold queued and stops queueing. It returns the first
// error of a send; datagrams a send could not take are lost, as UDP's are.
func (n *Net) Flush() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	var first error
	for _, c := range n.conns {
		if err := c.release(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// Conn is a UDP socket whose writes can be queued and sent as bursts. It
// implements pion's transport.UDPConn and ice.AddrPortReaderWriter.
type Conn struct {
	*net.UDPConn
	gso bool   // the kernel segments for this socket; cleared when a send says otherwise
	oob []byte // the control message of a GSO send

	mu     sync.Mutex
	held   bool
	buf    []byte     // queued datagrams, back to back
	queued []datagram // where each ends in buf, and where it goes
}

type datagram struct {
	end int
	to  netip.AddrPort
}

func newConn(c *net.UDPConn) *Conn { return &Conn{UDPConn: c, gso: gsoSupported(c)} }

func (c *Conn) hold() {
	c.mu.Lock()
	c.held = true
	c.mu.Unlock()
}

func (c *Conn) release() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.held = false
	return c.flush()
}

// WriteToAddrPort sends b to addr, or queues it while the socket is held.
func (c *Conn) WriteToAddrPort(b []byte, addr netip.AddrPort) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.held {
		return c.UDPConn.WriteToUDPAddrPort(b, addr)
	}
	if len(b) > maxBurstBytes {
		if err := c.flush(); err != nil {
			return 0, err
		}
		return c.UDPConn.WriteToUDPAddrPort(b, addr)
	}
	if len(c.buf)+len(b) > maxBurstBytes {
		if err := c.flush(); err != nil {
			return 0, err
		}
	}
	if c.buf == nil {
		c.buf = make([]byte, 0, maxBurstBytes) // once: a picture never grows it
	}
	c.buf = append(c.buf, b...)
	c.queued = append(c.queued, datagram{end: len(c.buf), to: addr})
	return len(b), nil
}

// ReadFromAddrPort implements ice.AddrPortReaderWriter.
func (c *Conn) ReadFromAddrPort(b []byte) (int, netip.AddrPort, error) {
	return c.UDPConn.ReadFromUDPAddrPort(b)
}

// WriteTo implements net.PacketConn.
func (c *Conn) WriteTo(b []byte, addr net.Addr) (int, error) {
	ua, ok := addr.(*net.UDPAddr)
	if !ok {
		return 0, &net.OpError{Op: "write", Net: "udp", Addr: addr, Err: net.InvalidAddrError("not a UDP address")}
	}
	return c.WriteToUDP(b, ua)
}

// WriteToUDP implements transport.UDPConn.
func (c *Conn) WriteToUDP(b []byte, addr *net.UDPAddr) (int, error) {
	return c.WriteToAddrPort(b, addr.AddrPort())
}

// flush sends the queued datagrams in order: each run of datagrams to one
// address, all of one size but the last, which may be shorter, goes out in
// one GSO send. c.mu is held.
func (c *Conn) flush() error {
	var first error
	start := 0
	for i := 0; i < len(c.queued); {
		j, size := c.run(i, start)
		if err := c.send(start, i, j, size); err != nil && first == nil {
			first = err
		}
		start, i = c.queued[j-1].end, j
	}
	c.buf, c.queued = c.buf[:0], c.queued[:0]
	return first
}

// run returns the end of the run of datagrams that begins at queued[i],
// whose bytes begin at start, and the run's segment size.
func (c *Conn) run(i, start int) (end, size int) {
	size = c.queued[i].end - start
	end, total := i+1, size
	if !c.gso {
		return end, size
	}
	for end < len(c.queued) && end-i < maxSegments {
		d, prev := c.queued[end], c.queued[end-1]
		n := d.end - prev.end
		if d.to != c.queued[i].to || n > size || total+n > maxBurstBytes {
			break
		}
		end, total = end+1, total+n
		if n < size {
			break // a shorter datagram ends a run
		}
	}
	return end, size
}

// send sends queued[i:j], whose bytes begin at start, as segments of size.
func (c *Conn) send(start, i, j, size int) error {
	to := c.queued[i].to
	if j-i > 1 {
		_, _, err := writeMsg(c.UDPConn, c.buf[start:c.queued[j-1].end], c.segmentSize(size), to)
		if err == nil || !isGSOError(err) {
			return err
		}
		c.gso = false // the device cannot segment: one send each from now on
	}
	var first error
	for k := i; k < j; k++ {
		if _, err := c.UDPConn.WriteToUDPAddrPort(c.buf[start:c.queued[k].end], c.queued[k].to); err != nil && first == nil {
			first = err
		}
		start = c.queued[k].end
	}
	return first
}
