package recorder

import (
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"doorbell/internal/testkit/audiotest"
)

// plainSink records what the muxer writes, checkpoints as markers.
type plainSink struct {
	bytes.Buffer
	checkpoints []time.Duration
}

func (s *plainSink) Checkpoint(video time.Duration) error {
	s.checkpoints = append(s.checkpoints, video)
	return nil
}

func TestMuxerMakesAFragmentedMP4ThatFFprobeReads(t *testing.T) {
	const fps = 30
	aus := restamp(encoded(t, 320, 240, fps, 91, 500*time.Millisecond), time.Now(), fps)
	var sink plainSink
	m := newMuxer(&sink, fps, time.Second, 0, false)
	// Start mid-GOP: access units before the first keyframe are skipped.
	start := 5
	for _, au := range aus[start:] {
		if err := m.add(au); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.close(); err != nil {
		t.Fatal(err)
	}
	first := start
	for !aus[first].Keyframe {
		first++
	}
	n := len(aus) - first
	wantDur := float64(n) / fps
	if got := m.duration().Seconds(); math.Abs(got-wantDur) > 0.001 {
		t.Errorf("muxer duration %.3f s, want %.3f", got, wantDur)
	}
	// One fragment per GOP (0.5 s), each followed by a checkpoint.
	if len(sink.checkpoints) < 5 || sink.checkpoints[len(sink.checkpoints)-1] != m.duration() {
		t.Errorf("checkpoints %v", sink.checkpoints)
	}
	data := sink.Bytes()
	if string(data[4:8]) != "ftyp" {
		t.Fatalf("does not start with ftyp: %q", data[4:8])
	}
	var types []string
	for p := 0; p < len(data); {
		size := int(binary.BigEndian.Uint32(data[p:]))
		types = append(types, string(data[p+4:p+8]))
		p += size
	}
	if types[1] != "moov" || types[2] != "moof" || types[3] != "mdat" {
		t.Errorf("boxes %v", types)
	}
	path := filepath.Join(t.TempDir(), "clip.mp4")
	os.WriteFile(path, data, 0o600)
	streams, d := audiotest.Probe(t, path, true)
	if len(streams) != 1 || streams[0].Codec != "h264" || streams[0].Width != 320 {
		t.Fatalf("ffprobe: %+v", streams)
	}
	if math.Abs(d-wantDur) > 0.1 {
		t.Errorf("ffprobe duration %.3f s, want %.3f", d, wantDur)
	}
	if streams[0].Frames != n {
		t.Errorf("ffprobe read %d frames, want %d", streams[0].Frames, n)
	}
	if errs := decodeErrors(t, path); errs != "" {
		t.Errorf("ffmpeg decode errors: %s", errs)
	}
}
