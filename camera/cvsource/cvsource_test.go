package cvsource

import (
	"context"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"gocv.io/x/gocv"

	"doorbell/camera"
	"doorbell/internal/footage"
)

// shortClip cuts the first n frames of vtest.avi into a file of its own.
func shortClip(t testing.TB, n int) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "short.avi")
	cmd := exec.Command("ffmpeg", "-v", "error", "-i", footage.VTest(t), "-frames:v", strconv.Itoa(n), "-c:v", "mjpeg", "-q:v", "3", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, b)
	}
	return out
}

func TestFileSourceReadsRealFootage(t *testing.T) {
	ctx := context.Background()
	src, err := OpenFile(ctx, FileConfig{Path: footage.VTest(t), Width: 640, Height: 480})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	f := &camera.Frame{}
	var first []byte
	for i := 0; i < 20; i++ {
		if err := src.Read(ctx, f); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			first = append([]byte(nil), f.Data...)
		}
	}
	if f.Width != 640 || f.Height != 480 || len(f.Data) != camera.I420Size(640, 480) {
		t.Fatalf("frame is %dx%d with %d bytes", f.Width, f.Height, len(f.Data))
	}
	// People walk in vtest.avi: frame 20 differs from frame 1 in many pixels.
	diff := 0
	for i, p := range f.Y() {
		if d := int(p) - int(first[i]); d > 25 || d < -25 {
			diff++
		}
	}
	if diff < 500 {
		t.Errorf("only %d pixels changed in 20 frames of people walking", diff)
	}
	// The picture is real: not flat, with chroma near neutral grey-ish footage.
	var lo, hi byte = 255, 0
	for _, p := range f.Y() {
		lo, hi = min(lo, p), max(hi, p)
	}
	if hi-lo < 100 {
		t.Errorf("luma spans only %d..%d", lo, hi)
	}
}

func TestFileSourceLoopsOrEnds(t *testing.T) {
	clip := shortClip(t, 5)
	ctx := context.Background()
	looping, err := OpenFile(ctx, FileConfig{Path: clip, Width: 320, Height: 240, Loop: true})
	if err != nil {
		t.Fatal(err)
	}
	defer looping.Close()
	f := &camera.Frame{}
	for i := 0; i < 12; i++ {
		if err := looping.Read(ctx, f); err != nil {
			t.Fatalf("looping file stopped at frame %d: %v", i, err)
		}
	}
	once, err := OpenFile(ctx, FileConfig{Path: clip, Width: 320, Height: 240})
	if err != nil {
		t.Fatal(err)
	}
	defer once.Close()
	for i := 0; ; i++ {
		err := once.Read(ctx, f)
		if err == nil {
			continue
		}
		if i != 5 || !strings.Contains(err.Error(), "camera.file.loop") {
			t.Fatalf("after %d frames of 5: %v", i, err)
		}
		break
	}
}

func TestFileSourceErrors(t *testing.T) {
	ctx := context.Background()
	_, err := OpenFile(ctx, FileConfig{Path: "/nonexistent.mp4", Width: 320, Height: 240})
	if err == nil || !strings.Contains(err.Error(), "check camera.file.path") {
		t.Errorf("missing file: %v", err)
	}
	garbage := filepath.Join(t.TempDir(), "garbage.mp4")
	os.WriteFile(garbage, []byte("this is not a video at all"), 0o600)
	_, err = OpenFile(ctx, FileConfig{Path: garbage, Width: 320, Height: 240})
	if err == nil || !strings.Contains(err.Error(), "OpenCV does not read it") {
		t.Errorf("garbage file: %v", err)
	}
}

func TestV4L2MissingDevice(t *testing.T) {
	_, err := OpenV4L2(context.Background(), V4L2Config{Device: "/dev/video-none", Width: 640, Height: 480, FPS: 30}, slog.New(slog.DiscardHandler))
	if err == nil || !strings.Contains(err.Error(), "does not exist") || !strings.Contains(err.Error(), "camera.v4l2.device") {
		t.Errorf("missing device: %v", err)
	}
}

// A camera that stops giving frames is not told to loop like a file.
func TestDeviceEndAdvice(t *testing.T) {
	vc, err := gocv.VideoCaptureFile(shortClip(t, 2))
	if err != nil {
		t.Fatal(err)
	}
	c := newCapture(vc, 320, 240, "/dev/video9")
	c.device = true
	defer c.Close()
	f := &camera.Frame{}
	for i := 0; ; i++ {
		err := c.Read(context.Background(), f)
		if err == nil {
			continue
		}
		if strings.Contains(err.Error(), "camera.file.loop") || !strings.Contains(err.Error(), "/dev/video9") {
			t.Errorf("after %d frames: %v; want advice for a camera", i, err)
		}
		break
	}
}

func TestFileFPSIsTheFilesOwn(t *testing.T) {
	if fps := FileFPS(footage.VTest(t)); fps < 5 || fps > 60 {
		t.Fatalf("vtest.avi declares %v fps", fps)
	}
}

func BenchmarkFileDecodeVTest(b *testing.B) {
	ctx := context.Background()
	src, err := OpenFile(ctx, FileConfig{Path: footage.VTest(b), Width: 768, Height: 576, Loop: true})
	if err != nil {
		b.Fatal(err)
	}
	defer src.Close()
	f := &camera.Frame{}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := src.Read(ctx, f); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "frames/s")
}
