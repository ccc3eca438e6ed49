package camera

import (
	"context"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

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
	f := &Frame{}
	var first []byte
	for i := 0; i < 20; i++ {
		if err := src.Read(ctx, f); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			first = append([]byte(nil), f.Data...)
		}
	}
	if f.Width != 640 || f.Height != 480 || len(f.Data) != I420Size(640, 480) || f.Seq != 19 {
		t.Fatalf("frame %d is %dx%d with %d bytes", f.Seq, f.Width, f.Height, len(f.Data))
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
	// The picture is real: not flat.
	var lo, hi byte = 255, 0
	for _, p := range f.Y() {
		lo, hi = min(lo, p), max(hi, p)
	}
	if hi-lo < 100 {
		t.Errorf("luma spans only %d..%d", lo, hi)
	}
}

// The file's own size and rate, and the same pictures as the encoder's
// own conversion: I420 straight from the decoder.
func TestFileSourceNativeSize(t *testing.T) {
	src, err := OpenFile(context.Background(), FileConfig{Path: footage.VTest(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if src.Width != 768 || src.Height != 576 || src.FPS != 10 {
		t.Fatalf("vtest.avi opened as %dx%d at %v fps, want 768x576 at 10", src.Width, src.Height, src.FPS)
	}
	f := &Frame{}
	if err := src.Read(context.Background(), f); err != nil {
		t.Fatal(err)
	}
	want, err := exec.Command("ffmpeg", "-v", "error", "-i", footage.VTest(t), "-frames:v", "1", "-pix_fmt", "yuv420p", "-f", "rawvideo", "-").Output()
	if err != nil {
		t.Fatal(err)
	}
	if string(want) != string(f.Data) {
		t.Error("the first frame differs from ffmpeg's own I420 decoding")
	}
}

// Luma only: the same Y plane, neutral chroma.
func TestFileSourceLumaOnly(t *testing.T) {
	ctx := context.Background()
	read := func(luma bool) *Frame {
		src, err := OpenFile(ctx, FileConfig{Path: footage.VTest(t), LumaOnly: luma})
		if err != nil {
			t.Fatal(err)
		}
		defer src.Close()
		f := &Frame{}
		for range 3 {
			if err := src.Read(ctx, f); err != nil {
				t.Fatal(err)
			}
		}
		return f
	}
	colour, grey := read(false), read(true)
	if grey.Width != colour.Width || grey.Height != colour.Height || string(grey.Y()) != string(colour.Y()) {
		t.Fatalf("luma-only frame (%dx%d) differs from the colour one's Y plane (%dx%d)", grey.Width, grey.Height, colour.Width, colour.Height)
	}
	for i, v := range grey.Data[len(grey.Y()):] {
		if v != 128 {
			t.Fatalf("chroma byte %d is %d, want 128", i, v)
		}
	}
}

// ReadLuma reads the same Y planes as Read, straight into the caller's
// buffer, and says what is wrong when it cannot.
func TestFileSourceReadLuma(t *testing.T) {
	ctx := context.Background()
	open := func(luma bool) *Decoded {
		src, err := OpenFile(ctx, FileConfig{Path: footage.VTest(t), LumaOnly: luma})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { src.Close() })
		return src
	}
	a, b := open(true), open(true)
	f := &Frame{}
	y := make([]byte, a.Width*a.Height)
	for i := range 5 {
		if err := a.Read(ctx, f); err != nil {
			t.Fatal(err)
		}
		if err := b.ReadLuma(ctx, y); err != nil {
			t.Fatal(err)
		}
		if string(y) != string(f.Y()) {
			t.Fatalf("frame %d: ReadLuma's Y plane differs from Read's", i)
		}
	}
	if err := b.ReadLuma(ctx, y[1:]); err == nil || !strings.Contains(err.Error(), "cannot hold") {
		t.Errorf("a buffer of the wrong size: %v", err)
	}
	if err := open(false).ReadLuma(ctx, y); err == nil || !strings.Contains(err.Error(), "LumaOnly") {
		t.Errorf("a colour decoder: %v", err)
	}
}

// EvenRows reads rows 0, 2, 4, … of the same Y planes, keeps the picture's
// own size, and turns away what cannot be: a colour decoder with it, and
// Read of frames it does not have.
func TestFileSourceEvenRows(t *testing.T) {
	ctx := context.Background()
	all, err := OpenFile(ctx, FileConfig{Path: footage.VTest(t), LumaOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer all.Close()
	even, err := OpenFile(ctx, FileConfig{Path: footage.VTest(t), LumaOnly: true, EvenRows: true})
	if err != nil {
		t.Fatal(err)
	}
	defer even.Close()
	if even.Width != all.Width || even.Height != all.Height || even.LumaRows() != all.Height/2 {
		t.Fatalf("even rows of %dx%d read as %dx%d with %d rows", all.Width, all.Height, even.Width, even.Height, even.LumaRows())
	}
	w := all.Width
	y := make([]byte, w*all.LumaRows())
	half := make([]byte, w*even.LumaRows())
	for i := range 5 {
		if err := all.ReadLuma(ctx, y); err != nil {
			t.Fatal(err)
		}
		if err := even.ReadLuma(ctx, half); err != nil {
			t.Fatal(err)
		}
		for r := range even.LumaRows() {
			if string(half[r*w:(r+1)*w]) != string(y[2*r*w:2*r*w+w]) {
				t.Fatalf("frame %d: even row %d differs from row %d of the whole Y plane", i, r, 2*r)
			}
		}
	}
	if err := even.ReadLuma(ctx, y); err == nil || !strings.Contains(err.Error(), "cannot hold") {
		t.Errorf("a buffer for every row: %v", err)
	}
	if err := even.Read(ctx, &Frame{}); err == nil || !strings.Contains(err.Error(), "ReadLuma") {
		t.Errorf("Read of a decoder opened EvenRows: %v", err)
	}
	if _, err := OpenFile(ctx, FileConfig{Path: footage.VTest(t), EvenRows: true}); err == nil || !strings.Contains(err.Error(), "LumaOnly") {
		t.Errorf("EvenRows in colour: %v", err)
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
	f := &Frame{}
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
	if err == nil || !strings.Contains(err.Error(), "cannot decode video file") || !strings.Contains(err.Error(), "ffmpeg said") {
		t.Errorf("garbage file: %v", err)
	}
	_, err = OpenFile(ctx, FileConfig{Command: "/nonexistent/ffmpeg", Path: footage.VTest(t)})
	if err == nil || !strings.Contains(err.Error(), "apt-get install ffmpeg") {
		t.Errorf("no ffmpeg: %v", err)
	}
}

func TestV4L2MissingDevice(t *testing.T) {
	_, err := OpenV4L2(context.Background(), V4L2Config{Device: "/dev/video-none", Width: 640, Height: 480, FPS: 30}, slog.New(slog.DiscardHandler))
	if err == nil || !strings.Contains(err.Error(), "does not exist") || !strings.Contains(err.Error(), "camera.v4l2.device") {
		t.Errorf("missing device: %v", err)
	}
}

func TestV4L2Args(t *testing.T) {
	line := strings.Join(V4L2Args(V4L2Config{Device: "/dev/video2", Width: 1280, Height: 720, FPS: 15}), " ")
	for _, want := range []string{"-f v4l2", "-framerate 15", "-video_size 1280x720", "-i /dev/video2"} {
		if !strings.Contains(line, want) {
			t.Errorf("%q lacks %q", line, want)
		}
	}
}

// A camera that stops giving frames is not told to loop like a file. (A
// file stands in for the device: there is no camera here.)
func TestDeviceEndAdvice(t *testing.T) {
	d, err := startDecoder(context.Background(), "", []string{"-v", "error", "-i", shortClip(t, 2)}, 320, 240, colour, "/dev/video9")
	if err != nil {
		t.Fatal(err)
	}
	d.device = true
	defer d.Close()
	f := &Frame{}
	for i := 0; ; i++ {
		err := d.Read(context.Background(), f)
		if err == nil {
			continue
		}
		if strings.Contains(err.Error(), "camera.file.loop") || !strings.Contains(err.Error(), "/dev/video9") {
			t.Errorf("after %d frames: %v; want advice for a camera", i, err)
		}
		break
	}
}

// BenchmarkFileDecodeVTest: frames a second through the ffmpeg decoder
// and the pipe (ffmpeg's own CPU is in another process).
func BenchmarkFileDecodeVTest(b *testing.B) {
	ctx := context.Background()
	src, err := OpenFile(ctx, FileConfig{Path: footage.VTest(b), Loop: true})
	if err != nil {
		b.Fatal(err)
	}
	defer src.Close()
	f := &Frame{}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := src.Read(ctx, f); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "frames/s")
}
