package stream

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
)

// H.264 NAL unit types this package looks at.
const (
	nalSlice = 1  // coded slice of a non-IDR picture
	nalIDR   = 5  // coded slice of an IDR picture
	nalSEI   = 6  // supplemental enhancement information
	nalSPS   = 7  // sequence parameter set
	nalPPS   = 8  // picture parameter set
	nalAUD   = 9  // access unit delimiter
	nalEOSeq = 10 // end of sequence
)

func nalType(n []byte) byte { return n[0] & 0x1f }

// AccessUnit is one encoded picture: the NAL units of one frame, in decoding
// order, without start codes and without access unit delimiters. A keyframe
// starts with its SPS and PPS, so a decoder can start from it.
//
// An AccessUnit is shared by every consumer (viewers, the ring, a recorder)
// and must not be changed once made.
type AccessUnit struct {
	NALUs    [][]byte
	Captured time.Time // when the camera captured the frame
	Seq      uint64    // the camera frame's sequence number
	Keyframe bool      // an IDR picture with SPS and PPS in front

	size    int
	rtpOnce sync.Once
	rtp     [][]byte
}

// NewAccessUnit makes an access unit from NAL units (without start codes).
// It is a keyframe if it holds an IDR slice and the SPS and PPS before it.
func NewAccessUnit(nalus [][]byte, captured time.Time, seq uint64) *AccessUnit {
	au := &AccessUnit{NALUs: nalus, Captured: captured, Seq: seq}
	var sps, pps bool
	for _, n := range nalus {
		au.size += len(n)
		switch nalType(n) {
		case nalSPS:
			sps = true
		case nalPPS:
			pps = true
		case nalIDR:
			au.Keyframe = au.Keyframe || (sps && pps)
		}
	}
	return au
}

// Size is the number of bytes in the NAL units.
func (au *AccessUnit) Size() int { return au.size }

// AnnexB returns the access unit as an H.264 Annex B byte stream (each NAL
// unit after a 4-byte start code), as written to a .h264 file.
func (au *AccessUnit) AnnexB() []byte {
	b := make([]byte, 0, au.size+4*len(au.NALUs))
	for _, n := range au.NALUs {
		b = append(b, 0, 0, 0, 1)
		b = append(b, n...)
	}
	return b
}

// rtpMTU is the largest RTP payload sent. With the RTP header, SRTP tag,
// UDP and IP it stays under 1280 bytes, the IPv6 minimum MTU.
const rtpMTU = 1200

// payloads packetizes the access unit for RTP (RFC 6184, packetization
// mode 1) once, however many viewers it is sent to. SPS and PPS travel
// together in one STAP-A packet.
func (au *AccessUnit) payloads() [][]byte {
	au.rtpOnce.Do(func() {
		var p codecs.H264Payloader
		for _, n := range au.NALUs {
			au.rtp = append(au.rtp, p.Payload(rtpMTU, n)...)
		}
	})
	return au.rtp
}

// assembler groups NAL units into access units (H.264 section 7.4.1.2.3): a
// new one begins at an access unit delimiter, at an SPS, PPS or SEI after a
// picture's slices, or at the first slice of the next picture. It remembers
// the latest SPS and PPS and puts them in front of any IDR that lacks them,
// so every keyframe can start a decoder whatever the encoder emits.
type assembler struct {
	cur      [][]byte
	hasSlice bool
	sps, pps []byte
	emit     func(nalus [][]byte)
}

func (a *assembler) push(n []byte) {
	// A NAL unit ends in its stop bit, never in a zero byte: zeros at the
	// end belong to the byte stream (trailing_zero_8bits).
	for len(n) > 0 && n[len(n)-1] == 0 {
		n = n[:len(n)-1]
	}
	if len(n) == 0 {
		return
	}
	t := nalType(n)
	switch {
	case t == nalAUD:
		a.flush()
		return // delimiters carry nothing a consumer needs
	case t == nalSPS || t == nalPPS || t == nalSEI:
		if a.hasSlice {
			a.flush()
		}
	case t == nalSlice || t == nalIDR:
		// first_mb_in_slice is the first field of the slice header, coded
		// ue(v): a leading 1 bit means 0, the first slice of a picture.
		if a.hasSlice && len(n) > 1 && n[1]&0x80 != 0 {
			a.flush()
		}
		a.hasSlice = true
	case t == nalEOSeq:
		return
	}
	a.cur = append(a.cur, n)
}

// flush emits the access unit collected so far, if it has a picture.
func (a *assembler) flush() {
	cur := a.cur
	a.cur, a.hasSlice = nil, false
	var idr, haveSPS, havePPS bool
	for _, n := range cur {
		switch nalType(n) {
		case nalSPS:
			a.sps, haveSPS = n, true
		case nalPPS:
			a.pps, havePPS = n, true
		case nalIDR:
			idr = true
		}
	}
	hasPicture := false
	for _, n := range cur {
		if t := nalType(n); t == nalSlice || t == nalIDR {
			hasPicture = true
			break
		}
	}
	if !hasPicture {
		return
	}
	if idr && (!haveSPS || !havePPS) && a.sps != nil && a.pps != nil {
		fixed := make([][]byte, 0, len(cur)+2)
		fixed = append(fixed, a.sps, a.pps)
		for _, n := range cur {
			if t := nalType(n); t != nalSPS && t != nalPPS {
				fixed = append(fixed, n)
			}
		}
		cur = fixed
	}
	a.emit(cur)
}

// rtpAccessUnits reads RTP packets of H.264 (RFC 6184, as ffmpeg's rtp
// muxer writes them), one packet per Read, from r and calls emit for each
// access unit as soon as its last packet, the one with the marker bit,
// arrives: no waiting for the next picture to begin. RTCP packets are
// skipped. The reader must not lose or reorder packets (a socket pair, not
// UDP): a gap in sequence numbers is an error. The error is never nil; it is
// io.EOF at a clean end.
func rtpAccessUnits(r io.Reader, emit func(nalus [][]byte)) error {
	buf := make([]byte, 64<<10)
	a := assembler{emit: emit}
	depack := codecs.H264Packet{IsAVC: true} // length-prefixed NAL units: no start codes to search for
	var pkt rtp.Packet
	var next uint16
	started := false
	for {
		n, err := r.Read(buf)
		if err != nil {
			return err
		}
		if n >= 2 && buf[1] >= 200 && buf[1] <= 204 { // RTCP sender report and friends (RFC 5761)
			continue
		}
		if err := pkt.Unmarshal(buf[:n]); err != nil {
			return fmt.Errorf("not an RTP packet: %w", err)
		}
		if started && pkt.SequenceNumber != next {
			return fmt.Errorf("RTP packets lost: sequence number %d after %d", pkt.SequenceNumber, next-1)
		}
		next, started = pkt.SequenceNumber+1, true
		nalus, err := depack.Unmarshal(pkt.Payload)
		if err != nil {
			return fmt.Errorf("RTP payload is not H.264: %w", err)
		}
		for len(nalus) >= 4 {
			size := int(binary.BigEndian.Uint32(nalus))
			if size > len(nalus)-4 {
				return errors.New("RTP payload is not H.264: a NAL unit runs past its packet")
			}
			if n := nalus[4 : 4+size : 4+size]; size > 0 && nalType(n) != nalSEI { // x264's SEI is its settings, of use to no viewer
				a.push(n)
			}
			nalus = nalus[4+size:]
		}
		if pkt.Marker {
			a.flush()
		}
	}
}
