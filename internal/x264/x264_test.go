package x264

import (
	"bytes"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// picture fills f with an I420 picture that moves with n.
func picture(f []byte, w, h, n int) {
	for y := range h {
		for x := range w {
			f[y*w+x] = byte(x + y + 4*n)
		}
	}
	for i := w * h; i < len(f); i++ {
		f[i] = byte(128 + n)
	}
}

// TestDecodes encodes 45 pictures and has ffmpeg's own decoder read them:
// every picture there, Constrained Baseline, an IDR every 15.
func TestDecodes(t *testing.T) {
	const w, h, n = 320, 240, 45
	enc, err := New(Config{Width: w, Height: h, FPS: 30, BitrateKbps: 500, GOP: 15})
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	var stream bytes.Buffer
	for i := range n {
		picture(enc.Frame(), w, h, i)
		au, idr, err := enc.Encode()
		if err != nil {
			t.Fatal(err)
		}
		if len(au) == 0 {
			t.Fatalf("picture %d gave no access unit: with no lookahead each must come out at once", i)
		}
		if want := i%15 == 0; idr != want {
			t.Errorf("picture %d: IDR %v, want %v", i, idr, want)
		}
		// SPS (7) then PPS (8) first in every IDR access unit.
		if idr && (au[4]&0x1f != 7 || !bytes.Contains(au, []byte{0, 0, 0, 1, 0x68})) {
			t.Errorf("IDR picture %d does not start with SPS and PPS: % x", i, au[:min(16, len(au))])
		}
		stream.Write(au)
	}
	file := filepath.Join(t.TempDir(), "out.h264")
	if err := os.WriteFile(file, stream.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("ffprobe", "-v", "error", "-select_streams", "v", "-show_entries", "stream=profile,width,height:frame=key_frame",
		"-of", "default=nw=1", file).CombinedOutput()
	if err != nil {
		t.Fatalf("ffprobe: %v\n%s", err, out)
	}
	var keys []int
	frames := 0
	for _, l := range strings.Fields(string(out)) {
		if v, ok := strings.CutPrefix(l, "key_frame="); ok {
			if v == "1" {
				keys = append(keys, frames)
			}
			frames++
		}
	}
	if frames != n || len(keys) != 3 || keys[1] != 15 || keys[2] != 30 {
		t.Errorf("ffprobe read %d pictures, keyframes at %v; want %d, at [0 15 30]\n%s", frames, keys, n, out)
	}
	for _, want := range []string{"profile=Constrained Baseline", "width=320", "height=240"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("ffprobe does not say %q:\n%s", want, out)
		}
	}
}

func TestConfigErrors(t *testing.T) {
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{Width: 321, Height: 240, FPS: 30, BitrateKbps: 500, GOP: 15}, "must be positive and even"},
		{Config{Width: 320, Height: 240, FPS: 0, BitrateKbps: 500, GOP: 15}, "frame rate is 0"},
		{Config{Width: 320, Height: 240, FPS: 30, BitrateKbps: 0, GOP: 15}, "bit rate is 0"},
		{Config{Width: 320, Height: 240, FPS: 30, BitrateKbps: 500, GOP: 0}, "keyframe interval is 0"},
	} {
		if _, err := New(c.cfg); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: error %v, want one saying %q", c.cfg, err, c.want)
		}
	}
}

// seqpacket is a SOCK_SEQPACKET pair, as doorbelld gives the encoder.
func seqpacket(t *testing.T) (ours, theirs *os.File) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_SEQPACKET|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	ours, theirs = os.NewFile(uintptr(fds[0]), "ours"), os.NewFile(uintptr(fds[1]), "theirs")
	t.Cleanup(func() { ours.Close(); theirs.Close() })
	return ours, theirs
}

// TestEncodeRTP: one picture's packets, each whole and at most the MTU,
// the marker bit on the last only; then a cut-off picture is an error
// that says what to check.
func TestEncodeRTP(t *testing.T) {
	const w, h = 320, 240
	enc, err := New(Config{Width: w, Height: h, FPS: 30, BitrateKbps: 2000, GOP: 15})
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	frame := make([]byte, w*h*3/2)
	picture(frame, w, h, 0)
	ours, theirs := seqpacket(t)
	if err := enc.EncodeRTP(bytes.NewReader(frame), theirs, 300); err != nil {
		t.Fatal(err)
	}
	theirs.Close()
	conn, err := net.FileConn(ours)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	buf := make([]byte, 2000)
	var packets, markers int
	last := false
	for {
		n, err := conn.Read(buf)
		if err != nil || n == 0 {
			break
		}
		if n > 300 {
			t.Errorf("packet %d is %d bytes, over the MTU of 300", packets, n)
		}
		last = buf[1]&0x80 != 0
		if last {
			markers++
		}
		packets++
	}
	if packets < 3 || markers != 1 || !last {
		t.Errorf("%d packets, %d with the marker bit (the last: %v); want several, the last one marked", packets, markers, last)
	}
	err = enc.EncodeRTP(bytes.NewReader(frame[:1000]), &bytes.Buffer{}, 1200)
	if err == nil || !strings.Contains(err.Error(), "ended inside picture 0") || !strings.Contains(err.Error(), "frame size") {
		t.Errorf("a cut-off picture: %v", err)
	}
}

// BenchmarkEncode720p is libx264's cost per 720p picture at the live
// view's settings, on a moving picture.
func BenchmarkEncode720p(b *testing.B) {
	const w, h = 1280, 720
	enc, err := New(Config{Width: w, Height: h, FPS: 30, BitrateKbps: 2000, GOP: 15})
	if err != nil {
		b.Fatal(err)
	}
	defer enc.Close()
	i := 0
	for b.Loop() {
		picture(enc.Frame(), w, h, i)
		if _, _, err := enc.Encode(); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
