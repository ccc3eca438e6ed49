package config

import (
	"fmt"
	"strings"
)

// Stream configures the H.264 encoder and live view.
type Stream struct {
	Encoder          string  `toml:"encoder"`           // "libx264" (software) or "h264_v4l2m2m" (Raspberry Pi 4 hardware)
	FFmpeg           string  `toml:"ffmpeg"`            // the ffmpeg executable (h264_v4l2m2m)
	X264Encoder      string  `toml:"x264_encoder"`      // the libx264 encoder executable: doorbell-encoder, next to doorbelld or on $PATH
	BitrateKbps      int     `toml:"bitrate_kbps"`      // target bit rate, kbit/s
	KeyframeInterval float64 `toml:"keyframe_interval"` // seconds between keyframes; a new viewer starts at one
	RingBytes        int     `toml:"ring_bytes"`        // encoded video kept for instant start and clip pre-roll
	MaxViewers       int     `toml:"max_viewers"`       // live-view sessions at once
	ViewerQueue      int     `toml:"viewer_queue"`      // pictures queued per viewer before it skips to the next keyframe

	LoopbackCandidates bool        `toml:"loopback_candidates"` // offer 127.0.0.1 to viewers too
	UDPPortMin         int         `toml:"udp_port_min"`        // media UDP port range; both 0: any port
	UDPPortMax         int         `toml:"udp_port_max"`
	ICEServers         []ICEServer `toml:"ice_servers"` // STUN/TURN; none on a LAN
}

// ICEServer is a STUN or TURN server for viewers outside the home network.
type ICEServer struct {
	URLs       []string `toml:"urls"`
	Username   string   `toml:"username"`
	Credential string   `toml:"credential"`
}

func defaultStream() Stream {
	return Stream{
		Encoder: "libx264", FFmpeg: "ffmpeg", X264Encoder: "doorbell-encoder", BitrateKbps: 2000, KeyframeInterval: 0.5,
		RingBytes: 2 << 20, MaxViewers: 10, ViewerQueue: 30,
		LoopbackCandidates: true, ICEServers: []ICEServer{},
	}
}

// MinRingBytes is the smallest ring that holds two keyframe intervals at
// the bit rate: a keyframe and the pictures after it, while the next arrives.
func (s *Stream) MinRingBytes() int {
	return int(2 * float64(s.BitrateKbps) * 1000 / 8 * s.KeyframeInterval)
}

func (s *Stream) validate(v *validator) {
	switch s.Encoder {
	case "libx264", "h264_v4l2m2m":
	default:
		v.errorf("stream.encoder", "stream.encoder is %q; use \"libx264\" (software, any machine) or \"h264_v4l2m2m\" (the Raspberry Pi 4's hardware encoder)", s.Encoder)
	}
	if s.FFmpeg == "" {
		v.errorf("stream.ffmpeg", "stream.ffmpeg is empty; set it to \"ffmpeg\" or the path of the ffmpeg executable")
	}
	if s.X264Encoder == "" {
		v.errorf("stream.x264_encoder", "stream.x264_encoder is empty; set it to \"doorbell-encoder\" or the path of the doorbell-encoder executable")
	}
	if s.BitrateKbps < 100 || s.BitrateKbps > 20000 {
		v.errorf("stream.bitrate_kbps", "stream.bitrate_kbps is %d; use 100 to 20000 kbit/s, e.g. 2000 for 720p", s.BitrateKbps)
	}
	if !(s.KeyframeInterval >= 0.1 && s.KeyframeInterval <= 1) {
		v.errorf("stream.keyframe_interval", "stream.keyframe_interval is %g; use 0.1 to 1 seconds, e.g. 0.5: a new viewer's picture waits for a keyframe", s.KeyframeInterval)
	}
	if s.BitrateKbps > 0 && s.KeyframeInterval > 0 && s.RingBytes < s.MinRingBytes() {
		v.errorf("stream.ring_bytes", "stream.ring_bytes is %d, too small for two keyframe intervals at %d kbit/s; use at least %d", s.RingBytes, s.BitrateKbps, s.MinRingBytes())
	} else if s.RingBytes > 256<<20 {
		v.errorf("stream.ring_bytes", "stream.ring_bytes is %d; use at most %d (256 MiB): it is held in memory", s.RingBytes, 256<<20)
	}
	if s.MaxViewers < 1 || s.MaxViewers > 100 {
		v.errorf("stream.max_viewers", "stream.max_viewers is %d; use 1 to 100", s.MaxViewers)
	}
	if s.ViewerQueue < 2 || s.ViewerQueue > 600 {
		v.errorf("stream.viewer_queue", "stream.viewer_queue is %d; use 2 to 600 pictures, e.g. 30 (one second at 30 fps)", s.ViewerQueue)
	}
	switch {
	case s.UDPPortMin == 0 && s.UDPPortMax == 0:
	case s.UDPPortMin < 1 || s.UDPPortMin > 65535:
		v.errorf("stream.udp_port_min", "stream.udp_port_min is %d; use a port from 1 to 65535, or 0 with udp_port_max 0 for any port", s.UDPPortMin)
	case s.UDPPortMax < s.UDPPortMin || s.UDPPortMax > 65535:
		v.errorf("stream.udp_port_max", "stream.udp_port_max is %d; use a port from udp_port_min (%d) to 65535", s.UDPPortMax, s.UDPPortMin)
	}
	for i, ice := range s.ICEServers {
		key := fmt.Sprintf("stream.ice_servers[%d]", i)
		if len(ice.URLs) == 0 {
			v.errorf(key+".urls", "%s.urls is empty; give the server's URLs, e.g. [\"stun:stun.example.net:3478\"]", key)
		}
		turn := false
		for _, u := range ice.URLs {
			scheme, _, _ := strings.Cut(u, ":")
			switch scheme {
			case "stun", "stuns":
			case "turn", "turns":
				turn = true
			default:
				v.errorf(key+".urls", "%s.urls has %q; URLs start with stun:, stuns:, turn: or turns:", key, u)
			}
		}
		if turn && (ice.Username == "" || ice.Credential == "") {
			v.errorf(key+".username", "%s is a TURN server without username and credential; set both, as the TURN server's owner gave them", key)
		}
	}
}
