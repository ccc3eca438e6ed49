//go:build !linux

package udpburst

import "net"

// Only Linux segments UDP sends: elsewhere each datagram is its own send.
func gsoSupported(*net.UDPConn) bool { return false }

func (c *Conn) segmentSize(int) []byte { return nil }

func isGSOError(error) bool { return false }
