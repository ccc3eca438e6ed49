package stream

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"doorbell/camera"
)

// auLog collects access units.
type auLog struct {
	mu  sync.Mutex
	aus []*AccessUnit
	at  []time.Time   // when each arrived
	got chan struct{} // signalled on every access unit
}

func newAULog() *auLog { return &auLog{got: make(chan struct{}, 1)} }

func (l *auLog) WriteAccessUnit(au *AccessUnit) {
	l.mu.Lock()
	l.aus = append(l.aus, au)
	l.at = append(l.at, time.Now())
	l.mu.Unlock()
	select {
	case l.got <- struct{}{}:
	default:
	}
}

func (l *auLog) times() []time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]time.Time(nil), l.at...)
}

func (l *auLog) list() []*AccessUnit {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]*AccessUnit(nil), l.aus...)
}

// frameLog remembers the frames fed, by sequence number.
type frameLog struct {
	camera.Sink
	mu       sync.Mutex
	captured map[uint64]time.Time
}

func (f *frameLog) WriteFrame(fr *camera.Frame) {
	f.mu.Lock()
	f.captured[fr.Seq] = fr.Captured
	f.mu.Unlock()
	f.Sink.WriteFrame(fr)
}

func runEncoder(t *testing.T, cfg FFmpegConfig, out AccessUnitSink) (*FFmpeg, *frameLog, func()) {
	t.Helper()
	enc, err := NewFFmpeg(cfg, out, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	fl := &frameLog{Sink: enc, captured: map[uint64]time.Time{}}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); enc.Run(ctx) }()
	go func() { defer wg.Done(); _ = feed(ctx, cfg.Width, cfg.Height, cfg.FPS, fl) }()
	stop := func() { cancel(); wg.Wait() }
	t.Cleanup(stop)
	return enc, fl, stop
}

func TestEncoderOutput(t *testing.T) {
	out := newAULog()
	cfg := FFmpegConfig{Backend: BackendX264, Width: 320, Height: 240, FPS: 30, BitrateKbps: 500, KeyframeInterval: 500 * time.Millisecond}
	enc, frames, stop := runEncoder(t, cfg, out)
	if !waitFor(10*time.Second, func() bool { return len(out.list()) >= 50 }) {
		t.Fatalf("only %d access units within 10 s; encoder status %+v", len(out.list()), enc.Status())
	}
	if st := enc.Status(); st.State != "running" || st.FPS < 20 {
		t.Errorf("status while running: %+v", st)
	}
	stop()
	aus := out.list()
	if !aus[0].Keyframe {
		t.Fatalf("the first access unit is not a keyframe: NAL types %v", types(aus[0]))
	}
	lastKey := -1
	for i, au := range aus {
		if au.Keyframe {
			// SPS, PPS, then the IDR slices.
			if ty := types(au); ty[0] != nalSPS || ty[1] != nalPPS || ty[2] != nalIDR {
				t.Errorf("keyframe %d has NAL types %v, want SPS (7), PPS (8), then IDR (5)", i, ty)
			}
			if lastKey >= 0 && i-lastKey != 15 {
				t.Errorf("keyframes %d apart, want 15 (0.5 s at 30 fps)", i-lastKey)
			}
			lastKey = i
		} else if bytes.IndexByte(types(au), nalIDR) >= 0 {
			t.Errorf("access unit %d has an IDR slice but is not a keyframe: %v", i, types(au))
		}
		for _, ty := range types(au) {
			if ty == nalAUD {
				t.Errorf("access unit %d still holds its delimiter", i)
			}
		}
		// Each access unit carries the capture time of its own frame.
		frames.mu.Lock()
		want, ok := frames.captured[au.Seq]
		frames.mu.Unlock()
		if !ok || !want.Equal(au.Captured) {
			t.Fatalf("access unit %d: seq %d captured %v; the frame with that seq was captured %v", i, au.Seq, au.Captured, want)
		}
		if i > 0 && au.Seq <= aus[i-1].Seq {
			t.Fatalf("access unit %d has seq %d after %d", i, au.Seq, aus[i-1].Seq)
		}
	}
	// Constrained Baseline: profile_idc 66 with constraint_set1_flag.
	sps := aus[0].NALUs[0]
	if sps[1] != 66 || sps[2]&0x40 == 0 {
		t.Errorf("SPS profile_idc %d, constraints %08b: not Constrained Baseline", sps[1], sps[2])
	}
}

func types(au *AccessUnit) []byte {
	var ty []byte
	for _, n := range au.NALUs {
		ty = append(ty, nalType(n))
	}
	return ty
}

func TestEncoderRestartsAfterKill(t *testing.T) {
	out := newAULog()
	cfg := FFmpegConfig{Backend: BackendX264, Width: 320, Height: 240, FPS: 30, BitrateKbps: 500, KeyframeInterval: 500 * time.Millisecond}
	enc, _, _ := runEncoder(t, cfg, out)
	if !waitFor(10*time.Second, func() bool { return len(out.list()) >= 10 }) {
		t.Fatalf("no output; encoder status %+v", enc.Status())
	}
	pid := enc.PID()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	before := len(out.list())
	if !waitFor(3*time.Second, func() bool { return enc.PID() != pid && enc.PID() != 0 && len(out.list()) > before+1 }) {
		t.Fatalf("no access units within 3 s of killing the encoder; status %+v", enc.Status())
	}
	t.Logf("encoder resumed %v after it was killed", time.Since(killed).Round(time.Millisecond))
	aus := out.list()
	if !aus[before].Keyframe {
		t.Errorf("the first access unit from the new encoder is not a keyframe: %v", types(aus[before]))
	}
	st := enc.Status()
	if st.Restarts != 1 || st.State != "running" {
		t.Errorf("status after the restart: %+v", st)
	}
}

func TestEncoderMissing(t *testing.T) {
	t.Run("doorbell-encoder", func(t *testing.T) {
		testEncoderMissing(t, FFmpegConfig{X264: "/nonexistent/doorbell-encoder"}, "stream.x264_encoder", "package")
	})
	t.Run("ffmpeg", func(t *testing.T) {
		testEncoderMissing(t, FFmpegConfig{Backend: BackendV4L2M2M, Command: "/nonexistent/ffmpeg"}, "stream.ffmpeg", "apt-get install ffmpeg")
	})
}

func testEncoderMissing(t *testing.T, cfg FFmpegConfig, says ...string) {
	cfg.Width, cfg.Height, cfg.FPS, cfg.BitrateKbps = 64, 48, 10, 100
	cfg.KeyframeInterval, cfg.MinBackoff = time.Second, 10*time.Millisecond
	enc, err := NewFFmpeg(cfg, newAULog(), testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { enc.Run(ctx); close(done) }()
	if !waitFor(2*time.Second, func() bool { return enc.Status().Restarts >= 2 }) {
		t.Fatalf("status %+v", enc.Status())
	}
	st := enc.Status()
	for _, w := range append(says, "not found") {
		if st.State != "retrying" || !strings.Contains(st.Reason, w) {
			t.Errorf("status %+v does not say that the encoder is missing and what to do (%q)", st, w)
		}
	}
	cancel()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
	if st := enc.Status(); st.State != "stopped" {
		t.Errorf("state after stopping %q", st.State)
	}
}

func TestEncoderWriteFrameNeverBlocks(t *testing.T) {
	// No Run: nothing reads the queue.
	enc, err := NewFFmpeg(FFmpegConfig{Width: 64, Height: 48, FPS: 10, BitrateKbps: 100, KeyframeInterval: time.Second, Queue: 3},
		newAULog(), testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	f := camera.NewFrame(64, 48)
	start := time.Now()
	for range 100 {
		enc.WriteFrame(f)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("100 frames took %v to write", d)
	}
	if got := enc.Status().Dropped; got != 97 {
		t.Errorf("dropped %d frames, want 97 (100 minus a queue of 3)", got)
	}
	// The queued frames are copies.
	f.Data[0] = 99
	if c := <-enc.queue; c.Data[0] == 99 || &c.Data[0] == &f.Data[0] {
		t.Error("WriteFrame kept the caller's frame instead of a copy")
	}
	// A frame of the wrong size is dropped.
	enc.WriteFrame(camera.NewFrame(32, 32))
	if got := enc.Status().Dropped; got != 98 {
		t.Errorf("dropped %d frames after a wrong-sized one, want 98", got)
	}
}

func TestEncoderArgs(t *testing.T) {
	line := strings.Join(X264Args(FFmpegConfig{Backend: BackendX264, Width: 1280, Height: 720, FPS: 30, BitrateKbps: 2000, KeyframeInterval: 500 * time.Millisecond}), " ")
	if want := "-size 1280x720 -fps 30 -kbps 2000 -gop 15 -mtu 1200"; line != want {
		t.Errorf("doorbell-encoder's command line is %q, want %q", line, want)
	}
	if _, err := FFmpegArgs(FFmpegConfig{Backend: BackendX264}); err == nil || !strings.Contains(err.Error(), "doorbell-encoder") {
		t.Errorf("ffmpeg for libx264: %v", err)
	}
	args, err := FFmpegArgs(FFmpegConfig{Backend: BackendV4L2M2M, Width: 640, Height: 480, FPS: 15, BitrateKbps: 1000, KeyframeInterval: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	line = strings.Join(args, " ")
	for _, want := range []string{"-s 640x480", "-r 15 ", "-c:v h264_v4l2m2m", "-g 15 ", "dump_extra=freq=keyframe", "pipe:3"} {
		if !strings.Contains(line, want) {
			t.Errorf("command line lacks %q: %s", want, line)
		}
	}
	if _, err := FFmpegArgs(FFmpegConfig{Backend: "vp8"}); err == nil || !strings.Contains(err.Error(), "libx264") {
		t.Errorf("unknown backend: %v", err)
	}
}

// fakeEncoder writes a shell script to stand in for the encoder.
func fakeEncoder(t *testing.T, script string) string {
	path := t.TempDir() + "/encoder"
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"+script+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestEncoderFailures(t *testing.T) {
	cases := []struct {
		name, backend, script string
		want                  []string
	}{
		{"stalls", BackendX264, "exec cat >/dev/null", []string{"encoder returned nothing", "stalled"}},
		{"refuses", BackendX264, "echo 'doorbell-encoder: x264: libx264 refused 64x48' >&2; exit 1", []string{"libx264 refused", "check the camera and stream settings"}},
		{"ffmpeg refuses", BackendV4L2M2M, "echo \"Unknown encoder 'h264_v4l2m2m'\" >&2; exit 1", []string{"Unknown encoder", "check stream.encoder", "ffmpeg -encoders"}},
		{"talks nonsense", BackendX264, "echo hello >&3; exec cat >/dev/null", []string{"not H.264"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			fake := fakeEncoder(t, c.script)
			cfg := FFmpegConfig{Backend: c.backend, X264: fake, Command: fake, Width: 64, Height: 48, FPS: 30, BitrateKbps: 100,
				KeyframeInterval: time.Second, Stall: 300 * time.Millisecond, MinBackoff: 50 * time.Millisecond}
			enc, _, _ := runEncoder(t, cfg, newAULog())
			if !waitFor(5*time.Second, func() bool { return enc.Status().Restarts >= 1 }) {
				t.Fatalf("not restarted: %+v", enc.Status())
			}
			st := enc.Status()
			for _, w := range c.want {
				if !strings.Contains(st.Reason, w) {
					t.Errorf("reason %q does not say %q", st.Reason, w)
				}
			}
		})
	}
}

// doorbelld finds doorbell-encoder where make and the package put it.
func TestEncoderBesideExecutable(t *testing.T) {
	root := t.TempDir()
	put := func(p string, mode os.FileMode) {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("#!/bin/sh\n"), mode); err != nil {
			t.Fatal(err)
		}
	}
	// The package: /usr/bin/doorbelld, /usr/lib/doorbell/doorbell-encoder.
	self := filepath.Join(root, "usr/bin/doorbelld")
	put(self, 0o755)
	if got := beside(self, X264Program); got != X264Program {
		t.Errorf("with none installed: %q, want a look-up on $PATH", got)
	}
	put(filepath.Join(root, "usr/lib/doorbell", X264Program), 0o644)
	if got := beside(self, X264Program); got != X264Program {
		t.Errorf("a file that is not executable was taken: %q", got)
	}
	lib := filepath.Join(root, "usr/lib/doorbell", X264Program)
	if err := os.Chmod(lib, 0o755); err != nil {
		t.Fatal(err)
	}
	if got := beside(self, X264Program); got != lib {
		t.Errorf("installed by the package: %q, want %q", got, lib)
	}
	// make build: both in bin/, which comes first.
	bin := filepath.Join(root, "usr/bin", X264Program)
	put(bin, 0o755)
	if got := beside(self, X264Program); got != bin {
		t.Errorf("next to doorbelld: %q, want %q", got, bin)
	}
	if got := beside(self, "/opt/enc"); got != "/opt/enc" {
		t.Errorf("a path: %q", got)
	}
}
