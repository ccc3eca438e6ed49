package motion

import (
	"image"
	"testing"
	"time"

	"gocv.io/x/gocv"

	"doorbell/camera"
)

// visitorFrames renders n frames of the synthetic camera at w x h and fps,
// starting at scene time from, as Y planes.
func visitorFrames(b testing.TB, w, h, n int, fps float64, from time.Duration, stay time.Duration) [][]byte {
	src, err := camera.NewSynthetic(camera.SyntheticConfig{Width: w, Height: h, FPS: fps, Seed: 1, Noise: 2,
		VisitorPeriod: time.Hour, VisitorStay: stay})
	if err != nil {
		b.Fatal(err)
	}
	f := camera.NewFrame(w, h)
	first := uint64(from.Seconds() * fps)
	out := make([][]byte, n)
	for i := range out {
		src.Render(first+uint64(i), f)
		out[i] = append([]byte(nil), f.Y()...)
	}
	return out
}

// benchDetector measures Detect on frames of the synthetic visitor walking
// in, at 30 fps, with the state machine after it as in the daemon:
// downscale included, with motion, boxes and a zone in play.
func benchDetector(b *testing.B, w, h int) {
	frames := visitorFrames(b, w, h, 60, 30, camera.VisitorWalk, 0)
	cfg := DefaultConfig()
	cfg.Zones = []Zone{rectZone("path", 0, 0.2, 1, 1)}
	d, err := NewDetector(cfg, w, h)
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	m := NewMachine(cfg, d.ZoneNames(), nil)
	at := time.Unix(0, 0)
	for i := range 60 { // past the first frame's learning
		at = at.Add(33 * time.Millisecond)
		d.Detect(frames[i], at)
	}
	motion := 0
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		at = at.Add(33 * time.Millisecond)
		r, _ := d.Detect(frames[i%len(frames)], at)
		if r.Motion {
			motion++
		}
		m.Update(at, r)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/1e6/float64(b.N), "ms/frame")
	if b.N > 60 && motion < b.N/2 {
		b.Errorf("only %d of %d frames had motion; the benchmark does not measure the busy path", motion, b.N)
	}
}

func BenchmarkDetector640x480(b *testing.B)   { benchDetector(b, 640, 480) }
func BenchmarkDetector1280x720(b *testing.B)  { benchDetector(b, 1280, 720) }
func BenchmarkDetector1920x1080(b *testing.B) { benchDetector(b, 1920, 1080) }

// BenchmarkMotionScanVtest is `doorbelld motion-scan` on vtest.avi:
// decoding, conversion to I420, detection and the state machine.
func BenchmarkMotionScanVtest(b *testing.B) {
	path := vtest(b)
	var frames int
	var detect time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		sum, err := Scan(path, DefaultConfig(), ScanOptions{})
		if err != nil {
			b.Fatal(err)
		}
		frames += sum.Frames
		detect += sum.Detect
	}
	b.ReportMetric(float64(frames)/b.Elapsed().Seconds(), "frames/s")
	b.ReportMetric(detect.Seconds()*1000/float64(frames), "detector-ms/frame")
}

// BenchmarkBackgroundModel measures the detector's background model (a
// running average) at the processing size (320x180, 30 fps): the time per
// frame, and how much of a visitor standing still at the door it still sees
// after 1, 3 and 6 seconds, as a share of the visitor's box. It once
// compared OpenCV's MOG2 and KNN too; those need OpenCV's video module,
// which the doorbell does not link.
func BenchmarkBackgroundModel(b *testing.B) {
	const w, h, fps = 320, 180, 30
	const stay = 8 * time.Second
	// The visitor walks in (2 s), then stands at the door.
	frames := visitorFrames(b, w, h, int((2*time.Second+stay).Seconds()*fps), fps, camera.VisitorWalk, stay)
	box, _ := camera.VisitorBox(time.Hour, stay, 2*camera.VisitorWalk+time.Second)
	rect := image.Rect(int(box[0]*w), int(box[1]*h), int(box[2]*w), int(box[3]*h))
	newDetector := func() *Detector {
		d, err := NewDetector(DefaultConfig(), w, h)
		if err != nil {
			b.Fatal(err)
		}
		return d
	}
	// Quality, once, outside the timing.
	d := newDetector()
	empty := visitorFrames(b, w, h, 1, fps, 0, stay)[0]
	at := time.Unix(0, 0)
	for range 4 * fps { // learn the empty scene for 4 s, past any warm-up
		at = at.Add(time.Second / fps)
		d.Detect(empty, at)
	}
	seen := map[int]float64{}
	for i, y := range frames {
		at = at.Add(time.Second / fps)
		d.Detect(y, at)
		if s := (i - 2*fps) / fps; (s == 1 || s == 3 || s == 6) && i%fps == 0 {
			region := d.fg.Region(rect)
			seen[s] = float64(gocv.CountNonZero(region)) / float64(rect.Dx()*rect.Dy()) * 100
			region.Close()
		}
	}
	d.Close()

	d = newDetector()
	defer d.Close()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		at = at.Add(time.Second / fps)
		d.Detect(frames[i%len(frames)], at)
	}
	b.StopTimer()
	b.ReportMetric(seen[1], "seen-1s-%")
	b.ReportMetric(seen[3], "seen-3s-%")
	b.ReportMetric(seen[6], "seen-6s-%")
}
