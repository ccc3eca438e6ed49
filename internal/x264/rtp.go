package x264

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
)

// rtpClock is H.264's RTP clock rate (RFC 6184).
const rtpClock = 90000

// EncodeRTP encodes raw I420 pictures read from in, one after another,
// until in ends, and writes each access unit to out as RTP packets of at
// most mtu bytes (RFC 6184: single NAL units, FU-A fragments and a STAP-A
// of SPS and PPS), one packet per Write, the marker bit on each picture's
// last packet, as ffmpeg's rtp muxer does. out must keep packets whole and
// in order (a SOCK_SEQPACKET socket). A partial picture at the end of in
// is an error; so is a failed write.
func (e *Encoder) EncodeRTP(in io.Reader, out io.Writer, mtu int) error {
	if mtu < 100 || mtu > 65535 {
		return fmt.Errorf("x264: RTP packet size %d is not usable; use one between 100 and 65535, e.g. 1200", mtu)
	}
	pay := &codecs.H264Payloader{}
	p := rtp.NewPacketizer(uint16(mtu), 96, rand.Uint32(), pay, rtp.NewRandomSequencer(), rtpClock)
	samples := uint32(float64(rtpClock)/e.cfg.FPS + 0.5)
	buf := make([]byte, mtu)
	for n := 0; ; n++ {
		if _, err := io.ReadFull(in, e.Frame()); err != nil {
			if err == io.EOF {
				return nil
			}
			if errors.Is(err, io.ErrUnexpectedEOF) {
				return fmt.Errorf("x264: the input ended inside picture %d: each picture is %d bytes (%dx%d I420); check the sender's frame size", n, e.size, e.cfg.Width, e.cfg.Height)
			}
			return fmt.Errorf("x264: reading picture %d: %w", n, err)
		}
		au, _, err := e.Encode()
		if err != nil {
			return err
		}
		for _, pkt := range p.Packetize(au, samples) {
			m, err := pkt.MarshalTo(buf)
			if err != nil {
				return fmt.Errorf("x264: RTP packet of picture %d: %w", n, err)
			}
			if _, err := out.Write(buf[:m]); err != nil {
				return fmt.Errorf("x264: writing picture %d: %w", n, err)
			}
		}
	}
}
