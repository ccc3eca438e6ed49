package stream

import (
	"fmt"
	"strconv"
	"time"

	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
)

// registerOpus adds Opus (48 kHz, in-band FEC) to the hub's codecs.
func registerOpus(m *webrtc.MediaEngine) error {
	return m.RegisterCodec(webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2,
			SDPFmtpLine: "minptime=10;useinbandfec=1"},
		PayloadType: 111,
	}, webrtc.RTPCodecTypeAudio)
}

// addAudio gives session s the doorbell's audio if the hub has audio and
// the offer has an audio section; otherwise the session is video only.
func (h *Hub) addAudio(s *session, offer string) error {
	if h.cfg.Audio == nil || !offersAudio(offer) {
		return nil
	}
	detach, err := h.cfg.Audio.attach(s.pc)
	if err != nil {
		return err
	}
	s.detachAudio = detach
	return nil
}

// offersAudio reports whether offer has an audio section.
func offersAudio(offer string) bool {
	var d sdp.SessionDescription
	if d.UnmarshalString(offer) != nil {
		return false
	}
	for _, m := range d.MediaDescriptions {
		if m.MediaName.Media == "audio" && m.MediaName.Port.Value != 0 {
			return true
		}
	}
	return false
}

// askPtime adds a=ptime (RFC 4566) to answer's audio sections, asking
// the phone for OpusFrame packets as the microphone sends: libwebrtc's
// Opus encoder (Chrome, Safari) takes the packet length from it.
func askPtime(answer string) (string, error) {
	var d sdp.SessionDescription
	if err := d.UnmarshalString(answer); err != nil {
		return "", fmt.Errorf("the answer pion made does not parse, so no packet length could be asked for: %w; please report this", err)
	}
	changed := false
	for _, m := range d.MediaDescriptions {
		if _, ok := m.Attribute("ptime"); ok || m.MediaName.Media != "audio" || m.MediaName.Port.Value == 0 {
			continue
		}
		m.WithValueAttribute("ptime", strconv.Itoa(int(OpusFrame/time.Millisecond)))
		changed = true
	}
	if !changed {
		return answer, nil
	}
	b, err := d.Marshal()
	if err != nil {
		return "", fmt.Errorf("the answer with its packet length does not marshal: %w; please report this", err)
	}
	return string(b), nil
}
