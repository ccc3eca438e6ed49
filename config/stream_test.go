package config

import (
	"testing"
)

func TestStreamDefaults(t *testing.T) {
	s := Defaults().Stream
	if s.Encoder != "libx264" || s.BitrateKbps != 2000 || s.KeyframeInterval != 0.5 || s.MaxViewers < 1 {
		t.Errorf("defaults %+v", s)
	}
	if s.RingBytes < s.MinRingBytes() {
		t.Errorf("default ring_bytes %d is under the minimum %d", s.RingBytes, s.MinRingBytes())
	}
	if len(s.ICEServers) != 0 {
		t.Errorf("default ICE servers %v: there must be none, so nothing leaves the LAN", s.ICEServers)
	}
}

func TestStreamParses(t *testing.T) {
	cfg, err := Parse("test.toml", []byte(`[stream]
encoder = "h264_v4l2m2m"
bitrate_kbps = 1500
keyframe_interval = 1.0
udp_port_min = 40000
udp_port_max = 40100
ice_servers = [
  { urls = ["stun:stun.example.net:3478"] },
  { urls = ["turn:turn.example.net:3478?transport=udp", "turns:turn.example.net:5349"], username = "u", credential = "p" },
]
`))
	if err != nil {
		t.Fatal(err)
	}
	s := cfg.Stream
	if s.Encoder != "h264_v4l2m2m" || s.BitrateKbps != 1500 || s.UDPPortMax != 40100 || len(s.ICEServers) != 2 ||
		s.ICEServers[1].Username != "u" || len(s.ICEServers[1].URLs) != 2 {
		t.Errorf("parsed %+v", s)
	}
}

func TestStreamErrors(t *testing.T) {
	cases := []errorCase{
		{"encoder", "[stream]\nencoder = \"nvenc\"\n", 2, []string{`stream.encoder is "nvenc"`, `"libx264"`, `"h264_v4l2m2m"`}},
		{"ffmpeg", "[stream]\nffmpeg = \"\"\n", 2, []string{"stream.ffmpeg is empty", "path"}},
		{"x264 encoder", "[stream]\nx264_encoder = \"\"\n", 2, []string{"stream.x264_encoder is empty", "doorbell-encoder"}},
		{"bitrate", "[stream]\n\nbitrate_kbps = 50\n", 3, []string{"stream.bitrate_kbps is 50", "100 to 20000"}},
		{"keyframe interval too long", "[stream]\nkeyframe_interval = 2.0\n", 2, []string{"stream.keyframe_interval is 2", "0.1 to 1"}},
		{"keyframe interval zero", "[stream]\nkeyframe_interval = 0\n", 2, []string{"stream.keyframe_interval is 0"}},
		{"ring too small", "[stream]\nring_bytes = 1000\n", 2, []string{"stream.ring_bytes is 1000", "at least 250000"}},
		{"ring too big", "[stream]\nring_bytes = 1000000000\n", 2, []string{"at most"}},
		{"max viewers", "[stream]\nmax_viewers = 0\n", 2, []string{"stream.max_viewers is 0", "1 to 100"}},
		{"viewer queue", "[stream]\nviewer_queue = 1\n", 2, []string{"stream.viewer_queue is 1", "2 to 600"}},
		{"udp port max without min", "[stream]\nudp_port_max = 5000\n", 1, []string{"stream.udp_port_min is 0"}},
		{"udp ports reversed", "[stream]\nudp_port_min = 5000\nudp_port_max = 4000\n", 3, []string{"stream.udp_port_max is 4000", "from udp_port_min (5000)"}},
		{"ice url scheme", "[stream]\nice_servers = [{ urls = [\"http://example.net\"] }]\n", 2, []string{"stream.ice_servers[0].urls", "stun:"}},
		{"ice no urls", "[stream]\nice_servers = [{ username = \"u\" }]\n", 2, []string{"stream.ice_servers[0].urls is empty"}},
		{"turn without credential", "[stream]\nice_servers = [{ urls = [\"turn:t.example.net\", \"turns:t.example.net\"] }]\n", 2, []string{"TURN server without username and credential"}},
		{"wrong type", "[stream]\nmax_viewers = \"ten\"\n", 2, []string{"stream.max_viewers must be of type int"}},
		{"unknown key", "[stream]\nbitrate = 2000\n", 2, []string{`unknown key "stream.bitrate"`}},
	}
	checkErrorCases(t, cases, func(t *testing.T, es Errors) {
		if len(es) != 1 {
			t.Errorf("got %d errors, want 1:\n%v", len(es), es)
		}
	})
}
