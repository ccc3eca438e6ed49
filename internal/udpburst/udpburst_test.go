package udpburst

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// receiver is a loopback socket the tests send to.
type receiver struct {
	t    *testing.T
	conn *net.UDPConn
}

func newReceiver(t *testing.T) *receiver {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.SetReadBuffer(4 << 20); err != nil {
		t.Fatal(err)
	}
	return &receiver{t: t, conn: c}
}

func (r *receiver) addr() netip.AddrPort { return r.conn.LocalAddr().(*net.UDPAddr).AddrPort() }

// expect reads datagrams until it has had want, in order, and fails on
// anything else.
func (r *receiver) expect(want ...[]byte) {
	r.t.Helper()
	buf := make([]byte, 1<<16)
	for i, w := range want {
		_ = r.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		n, _, err := r.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			r.t.Fatalf("datagram %d of %d: %v", i+1, len(want), err)
		}
		if !bytes.Equal(buf[:n], w) {
			r.t.Fatalf("datagram %d of %d: got %d bytes starting %x, want %d starting %x", i+1, len(want), n, buf[:min(n, 4)], len(w), w[:min(len(w), 4)])
		}
	}
}

// datagram returns a datagram of size bytes that says which one it is.
func datagramOf(i, size int) []byte {
	b := bytes.Repeat([]byte{byte(i)}, size)
	copy(b, fmt.Sprintf("%04d", i))
	return b
}

func newTestNet(t *testing.T) (*Net, *Conn) {
	t.Helper()
	n, err := NewNet()
	if err != nil {
		t.Fatal(err)
	}
	c, err := n.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return n, c.(*Conn)
}

func TestHeldWritesArriveInOrder(t *testing.T) {
	for _, gso := range []bool{true, false} {
		t.Run(fmt.Sprintf("gso=%v", gso), func(t *testing.T) {
			n, c := newTestNet(t)
			if gso && !c.gso {
				t.Skip("this kernel has no UDP segmentation offload")
			}
			c.gso = gso
			a, b := newReceiver(t), newReceiver(t)
			// A picture's packets (full, full, full, short), a small one
			// (an RTCP report) to the same viewer, two to someone else,
			// then a full one again, and one larger than the rest.
			var toA, toB [][]byte
			n.Hold()
			for i, d := range []struct {
				to   *receiver
				size int
			}{{a, 1200}, {a, 1200}, {a, 1200}, {a, 700}, {a, 80}, {b, 1200}, {b, 1200}, {a, 1200}, {a, 1300}} {
				p := datagramOf(i, d.size)
				if got, err := c.WriteToAddrPort(p, d.to.addr()); err != nil || got != len(p) {
					t.Fatalf("held write %d: %d, %v", i, got, err)
				}
				if d.to == a {
					toA = append(toA, p)
				} else {
					toB = append(toB, p)
				}
			}
			if err := n.Flush(); err != nil {
				t.Fatal(err)
			}
			a.expect(toA...)
			b.expect(toB...)
		})
	}
}

// TestBurstLongerThanOneSend: a keyframe larger than one GSO send (64
// datagrams or 60 KiB) still arrives whole and in order.
func TestBurstLongerThanOneSend(t *testing.T) {
	n, c := newTestNet(t)
	r := newReceiver(t)
	var want [][]byte
	n.Hold()
	for i := range 150 {
		p := datagramOf(i, 1200)
		if i%70 == 69 {
			p = datagramOf(i, 333) // a slice's last packet
		}
		want = append(want, p)
		if _, err := c.WriteToUDP(p, net.UDPAddrFromAddrPort(r.addr())); err != nil {
			t.Fatal(err)
		}
	}
	if err := n.Flush(); err != nil {
		t.Fatal(err)
	}
	r.expect(want...)
}

// TestBurstIsOneSend: with GSO, a picture's datagrams leave as one
// segmented send. A receiver that asks for UDP GRO on loopback then gets
// them as one read, with the segment size beside it.
func TestBurstIsOneSend(t *testing.T) {
	n, c := newTestNet(t)
	if !c.gso {
		t.Skip("this kernel has no UDP segmentation offload")
	}
	r := newReceiver(t)
	rc, err := r.conn.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_UDP, unix.UDP_GRO, 1) }); err != nil || serr != nil {
		t.Fatalf("UDP_GRO on the receiver: %v, %v", err, serr)
	}
	var all []byte
	n.Hold()
	for i := range 7 {
		p := datagramOf(i, 1200)
		if i == 6 {
			p = datagramOf(i, 500)
		}
		all = append(all, p...)
		if _, err := c.WriteToAddrPort(p, r.addr()); err != nil {
			t.Fatal(err)
		}
	}
	if err := n.Flush(); err != nil {
		t.Fatal(err)
	}
	buf, oob := make([]byte, 1<<16), make([]byte, 64)
	_ = r.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	got, oobn, _, _, err := r.conn.ReadMsgUDPAddrPort(buf, oob)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf[:got], all) {
		t.Fatalf("one read got %d bytes, want the burst's %d: its datagrams did not leave in one send", got, len(all))
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) != 1 || msgs[0].Header.Type != unix.UDP_GRO {
		t.Fatalf("control messages %v, %v: want the segment size", msgs, err)
	}
}

// TestWritesNotHeldGoAtOnce: outside Hold and Flush a write is a send.
func TestWritesNotHeldGoAtOnce(t *testing.T) {
	n, c := newTestNet(t)
	r := newReceiver(t)
	n.Hold()
	if err := n.Flush(); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		p := datagramOf(i, 1200)
		if _, err := c.WriteTo(p, net.UDPAddrFromAddrPort(r.addr())); err != nil {
			t.Fatal(err)
		}
		r.expect(p)
	}
	if _, err := c.WriteTo([]byte("x"), &net.IPAddr{IP: net.IPv4(127, 0, 0, 1)}); err == nil {
		t.Fatal("a write to an IP address, not a UDP one, did not fail")
	}
}

// TestDeviceThatCannotSegment: where the device refuses a segmented send
// (EIO: no checksum offload), the burst goes out one datagram at a time,
// and so does every later one.
func TestDeviceThatCannotSegment(t *testing.T) {
	n, c := newTestNet(t)
	c.gso = true
	refused := 0
	writeMsg = func(*net.UDPConn, []byte, []byte, netip.AddrPort) (int, int, error) {
		refused++
		return 0, 0, &net.OpError{Op: "write", Net: "udp", Err: os.NewSyscallError("sendmsg", unix.EIO)}
	}
	t.Cleanup(func() { writeMsg = (*net.UDPConn).WriteMsgUDPAddrPort })
	r := newReceiver(t)
	for round := range 2 {
		var want [][]byte
		n.Hold()
		for i := range 5 {
			p := datagramOf(10*round+i, 1200)
			want = append(want, p)
			if _, err := c.WriteToAddrPort(p, r.addr()); err != nil {
				t.Fatal(err)
			}
		}
		if err := n.Flush(); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		r.expect(want...)
	}
	if refused != 1 || c.gso {
		t.Fatalf("%d segmented sends tried, GSO still on: %v; want one, then none", refused, c.gso)
	}
}
