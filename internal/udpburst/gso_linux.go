package udpburst

import (
	"encoding/binary"
	"errors"
	"net"
	"unsafe"

	"golang.org/x/sys/unix"
)

// gsoSupported reports whether the kernel segments UDP sends on c (Linux 4.18 and later).
func gsoSupported(c *net.UDPConn) bool {
	rc, err := c.SyscallConn()
	if err != nil {
		return false
	}
	ok := false
	if err := rc.Control(func(fd uintptr) {
		_, err := unix.GetsockoptInt(int(fd), unix.IPPROTO_UDP, unix.UDP_SEGMENT)
		ok = err == nil
	}); err != nil {
		return false
	}
	return ok
}

// segmentSize returns the control message that asks the kernel to cut a
// send into datagrams of size bytes (UDP_SEGMENT).
func (c *Conn) segmentSize(size int) []byte {
	if c.oob == nil {
		c.oob = make([]byte, unix.CmsgSpace(2))
		h := (*unix.Cmsghdr)(unsafe.Pointer(&c.oob[0]))
		h.Level, h.Type = unix.IPPROTO_UDP, unix.UDP_SEGMENT
		h.SetLen(unix.CmsgLen(2))
	}
	binary.NativeEndian.PutUint16(c.oob[unix.CmsgLen(0):], uint16(size))
	return c.oob
}

// isGSOError reports whether a GSO send failed because segmenting is not
// possible on this path: EIO from a device without checksum offload,
// EINVAL from a kernel or route that refuses the segment size.
func isGSOError(err error) bool {
	return errors.Is(err, unix.EIO) || errors.Is(err, unix.EINVAL)
}
