package stream

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// TestNackedPacketsAreSentAgain: a viewer that reports packets lost (RTCP
// NACK) gets them again, byte for byte, even after many newer pictures: the
// NACK responder keeps the packets as they were sent, sharing the access
// units' payloads with every viewer instead of copying them.
func TestNackedPacketsAreSentAgain(t *testing.T) {
	p := startPipeline(t, pipelineConfig{})
	m := &webrtc.MediaEngine{}
	if err := m.RegisterDefaultCodecs(); err != nil {
		t.Fatal(err)
	}
	se := clientSettings()
	// The packets asked for again did arrive the first time: let them
	// through twice, as a viewer that lost them would see them once.
	se.DisableSRTPReplayProtection(true)
	pc, err := webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithSettingEngine(se)).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo,
		webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
		t.Fatal(err)
	}
	type sent struct {
		hdr     rtp.Header
		payload []byte
		again   bool
	}
	const asked, after = 12, 150 // packets asked for again, and how many newer ones come first
	result := make(chan error, 1)
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		seen := map[uint16]*sent{}
		var order []uint16
		nacked := map[uint16]bool{}
		got := 0
		for {
			pkt, _, err := tr.ReadRTP()
			if err != nil {
				result <- err
				return
			}
			first, ok := seen[pkt.SequenceNumber]
			if !ok {
				seen[pkt.SequenceNumber] = &sent{hdr: pkt.Header, payload: bytes.Clone(pkt.Payload)}
				order = append(order, pkt.SequenceNumber)
				if len(order) == asked+after {
					var seqs []uint16
					for _, s := range order[:asked] {
						seqs = append(seqs, s)
						nacked[s] = true
					}
					if err := pc.WriteRTCP([]rtcp.Packet{&rtcp.TransportLayerNack{
						MediaSSRC: uint32(tr.SSRC()), Nacks: rtcp.NackPairsFromSequenceNumbers(seqs)}}); err != nil {
						result <- err
						return
					}
				}
				continue
			}
			if !nacked[pkt.SequenceNumber] || first.again {
				result <- fmt.Errorf("packet %d came twice unasked", pkt.SequenceNumber)
				return
			}
			first.again = true
			if !bytes.Equal(pkt.Payload, first.payload) || pkt.Timestamp != first.hdr.Timestamp || pkt.Marker != first.hdr.Marker {
				result <- fmt.Errorf("packet %d sent again differs: %d bytes starting %x, ts %d, marker %v; first %d bytes starting %x, ts %d, marker %v",
					pkt.SequenceNumber, len(pkt.Payload), pkt.Payload[:min(8, len(pkt.Payload))], pkt.Timestamp, pkt.Marker,
					len(first.payload), first.payload[:min(8, len(first.payload))], first.hdr.Timestamp, first.hdr.Marker)
				return
			}
			if got++; got == asked {
				result <- nil
				return
			}
		}
	})
	if _, _, err := connectWHEP(pc, p.srv.URL+"/whep", "good-token"); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-result:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("the %d packets asked for again did not all come within 30 s", asked)
	}
}
