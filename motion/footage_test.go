package motion

import (
	"fmt"
	"image"
	"image/color"
	"math"
	"testing"
	"time"

	"gocv.io/x/gocv"

	"doorbell/camera"
)

// Zones on vtest.avi (768x576, 10 fps, 79.5 s of people walking on paths
// across a lawn, a building behind). Found with -debug-out.
var (
	// The building's front along the top: nobody walks there.
	vtestBuilding = rectZone("building", 0, 0, 0.38, 0.08)
	// The path on the left: people pass now and then.
	vtestLeftPath = rectZone("left path", 0, 0.25, 0.3, 0.5)
)

func TestVtestWholePicture(t *testing.T) {
	l := scan(t, vtest(t), DefaultConfig())
	t.Log(l)
	if l.sum.Frames != 795 || l.sum.Width != 768 || l.sum.Height != 576 {
		t.Fatalf("read %d frames of %dx%d, want 795 of 768x576", l.sum.Frames, l.sum.Width, l.sum.Height)
	}
	if got := l.frameTime[100]; got != 10*time.Second {
		t.Errorf("frame 100 is at %v, want 10s: the file's timestamps are not used", got)
	}
	if len(l.events) == 0 {
		t.Fatal("no motion event in footage of people walking")
	}
	// People are walking from the first frame on.
	if e := l.events[0]; e.Start > time.Second || e.End <= e.Start {
		t.Errorf("first event %v-%v; want it to start within the first second", e.Start, e.End)
	}
	for _, e := range l.events {
		if e.Peak < DefaultConfig().MinArea || e.Peak > 0.5 {
			t.Errorf("event peak %.4f is implausible for people on a lawn", e.Peak)
		}
		if len(e.Boxes) == 0 || len(e.Zones) != 1 || e.Zones[0] != WholePicture {
			t.Errorf("event has boxes %v zones %v; want boxes and zone %q", e.Boxes, e.Zones, WholePicture)
		}
		for _, b := range e.Boxes {
			if !boxInside(b, [4]float64{0, 0, 1, 1}, 0) || b[2] <= b[0] || b[3] <= b[1] {
				t.Errorf("box %v is not a box within 0..1", b)
			}
		}
	}
	if l.relearns != 1 {
		t.Errorf("the background was learnt %d times; want once, at the start: nothing in this footage is a lighting change", l.relearns)
	}
}

func TestVtestZoneOnThePath(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Zones = []Zone{vtestLeftPath}
	l := scan(t, vtest(t), cfg)
	t.Log(l)
	if len(l.events) < 2 {
		t.Fatalf("want at least two events as people come and go on the left path")
	}
	for i, e := range l.events {
		if len(e.Zones) != 1 || e.Zones[0] != "left path" {
			t.Errorf("event %d zones %v, want [left path]", i, e.Zones)
		}
		for _, b := range e.Boxes {
			if !boxInside(b, [4]float64{0, 0.25, 0.3, 0.5}, 0.01) {
				t.Errorf("event %d box %v lies outside the zone", i, b)
			}
		}
		if i > 0 && e.Start-l.events[i-1].End < cfg.Cooldown {
			t.Errorf("event %d starts %v after the last ended, within the cooldown", i, e.Start-l.events[i-1].End)
		}
	}
}

func TestVtestZoneWhereNobodyWalks(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Zones = []Zone{vtestBuilding}
	l := scan(t, vtest(t), cfg)
	if len(l.events) != 0 || l.motion != 0 {
		t.Errorf("motion in a zone where nobody walks: %v", l)
	}
	if l.sum.Frames != 795 {
		t.Errorf("scanned %d frames, want 795", l.sum.Frames)
	}
}

// scaled paints src with its brightness scaled by gain into dst, as a lamp or
// the camera's exposure would.
func scaled(src gocv.Mat, gain float64, dst *gocv.Mat) {
	src.ConvertToWithParams(dst, gocv.MatTypeCV8UC3, float32(gain), 0)
}

// staticVideo writes vtest's first frame n times at 10 fps, each passed through paint.
func staticVideo(t *testing.T, name string, n int, paint func(i int, frame gocv.Mat, dst *gocv.Mat)) string {
	frame := vtestFrame(t, 0)
	defer frame.Close()
	return writeVideo(t, name, frame.Cols(), frame.Rows(), n, 10, func(i int, dst *gocv.Mat) { paint(i, frame, dst) })
}

// meanY returns the mean luma of some frames of a video.
func meanY(t *testing.T, path string, frames ...int) []float64 {
	v, err := OpenVideo(path)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	var out []float64
	for i := 0; len(out) < len(frames); i++ {
		if ok, err := v.Next(); !ok || err != nil {
			t.Fatalf("%s ends at frame %d: %v", path, i, err)
		}
		for _, f := range frames {
			if f == i {
				var sum float64
				for _, y := range v.Frame.Y() {
					sum += float64(y)
				}
				out = append(out, sum/float64(len(v.Frame.Y())))
			}
		}
	}
	return out
}

func TestStaticVideo(t *testing.T) {
	path := staticVideo(t, "static.avi", 60, func(i int, f gocv.Mat, dst *gocv.Mat) { f.CopyTo(dst) })
	l := scan(t, path, DefaultConfig())
	if len(l.events) != 0 || l.motion != 0 || l.sum.Frames != 60 {
		t.Errorf("a still picture: %v", l)
	}
}

func TestNoisyStaticVideo(t *testing.T) {
	path := staticVideo(t, "noisy.avi", 60, func(i int, f gocv.Mat, dst *gocv.Mat) {
		f.CopyTo(dst)
		addNoise(dst, 40)
	})
	// The noise must survive the video encoding for the test to mean anything.
	if d := frameDiff(t, path, 10, 11); d < 12 {
		t.Fatalf("consecutive noisy frames differ by %.1f levels on average; the noise did not survive encoding", d)
	}
	l := scan(t, path, DefaultConfig())
	t.Log(l)
	if len(l.events) != 0 || l.motion != 0 {
		t.Errorf("sensor noise made motion: %v", l)
	}
}

// addNoise adds Gaussian noise of standard deviation sigma to a BGR
// picture, fresh each call, in 16 bits so that it can go both ways.
func addNoise(img *gocv.Mat, sigma float64) {
	wide, noise := gocv.NewMat(), gocv.NewMatWithSize(img.Rows(), img.Cols(), gocv.MatTypeCV16SC3)
	defer wide.Close()
	defer noise.Close()
	gocv.RandN(&noise, gocv.NewScalar(0, 0, 0, 0), gocv.NewScalar(sigma, sigma, sigma, 0))
	img.ConvertTo(&wide, gocv.MatTypeCV16SC3)
	gocv.Add(wide, noise, &wide)
	wide.ConvertTo(img, gocv.MatTypeCV8UC3)
}

// frameDiff is the mean absolute luma difference between two frames of a video.
func frameDiff(t *testing.T, path string, a, b int) float64 {
	v, err := OpenVideo(path)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	var ya []byte
	for i := 0; i <= b; i++ {
		if ok, _ := v.Next(); !ok {
			t.Fatalf("%s has no frame %d", path, i)
		}
		if i == a {
			ya = append([]byte(nil), v.Frame.Y()...)
		}
	}
	var sum float64
	for i, y := range v.Frame.Y() {
		sum += math.Abs(float64(y) - float64(ya[i]))
	}
	return sum / float64(len(ya))
}

func TestBrightnessRamps(t *testing.T) {
	// 10 fps: 1 s steady, up 40% over 2 s, 1 s steady, down to 60% over 2 s,
	// 1 s steady, back to 100% over 2 s.
	gain := func(i int) float64 {
		s := float64(i) / 10
		switch {
		case s < 1:
			return 1
		case s < 3:
			return 1 + 0.4*(s-1)/2
		case s < 4:
			return 1.4
		case s < 6:
			return 1.4 - 0.8*(s-4)/2
		case s < 7:
			return 0.6
		default:
			return 0.6 + 0.4*min(s-7, 2)/2
		}
	}
	path := staticVideo(t, "ramp.avi", 95, func(i int, f gocv.Mat, dst *gocv.Mat) { scaled(f, gain(i), dst) })
	m := meanY(t, path, 0, 35, 65)
	if !(m[1] > m[0]*1.25 && m[2] < m[0]*0.75) {
		t.Fatalf("mean luma at 100%%, 140%%, 60%%: %.1f %.1f %.1f; the ramp is not in the video", m[0], m[1], m[2])
	}
	l := scan(t, path, DefaultConfig())
	t.Log(l)
	if len(l.events) != 0 || l.motion != 0 {
		t.Errorf("a brightness ramp made motion: %v", l)
	}
}

func TestLampSwitchesOn(t *testing.T) {
	// 10 fps: 2 s as it is; a lamp: 150% for 2 s; off again for 2 s; dusk:
	// the camera's night mode at 55% for 2 s.
	gain := func(i int) float64 {
		switch s := i / 20; s {
		case 1:
			return 1.5
		case 3:
			return 0.55
		}
		return 1
	}
	path := staticVideo(t, "lamp.avi", 80, func(i int, f gocv.Mat, dst *gocv.Mat) { scaled(f, gain(i), dst) })
	l := scan(t, path, DefaultConfig())
	t.Log(l)
	if len(l.events) != 0 || l.motion != 0 {
		t.Errorf("a lamp switching made motion: %v", l)
	}
	// Learnt at the start and at each of the three jumps, not in between.
	if l.relearns != 4 {
		t.Errorf("the background was learnt %d times; want 4: at the start and at each jump", l.relearns)
	}
}

// TestWrittenVideoWithAVisitor is the control for the tests above: the same
// still picture, noise and a lamp, plus a dark figure crossing it, does
// make an event.
func TestWrittenVideoWithAVisitor(t *testing.T) {
	// 10 fps, 12 s: the figure walks from x=0.1 to 0.9 between 2 s and 5 s;
	// a lamp switches on at 3 s, while it walks.
	path := staticVideo(t, "visitor.avi", 120, func(i int, f gocv.Mat, dst *gocv.Mat) {
		g := 1.0
		if i >= 30 {
			g = 1.4
		}
		scaled(f, g, dst)
		if s := float64(i) / 10; s >= 2 && s < 5 {
			x := int((0.1 + 0.8*(s-2)/3) * float64(f.Cols()))
			gocv.Rectangle(dst, image.Rect(x, 250, x+40, 400), color.RGBA{40, 30, 30, 0}, -1)
		}
		addNoise(dst, 8)
	})
	l := scan(t, path, DefaultConfig())
	t.Log(l)
	if len(l.events) != 1 {
		t.Fatalf("want one event for the figure: %v", l)
	}
	e := l.events[0]
	if e.Start < 1900*time.Millisecond || e.Start > 2500*time.Millisecond {
		t.Errorf("event starts at %v; the figure appears at 2s", e.Start)
	}
	want := 5*time.Second + DefaultConfig().Quiet
	if e.End < want-time.Second || e.End > want+500*time.Millisecond {
		t.Errorf("event ends at %v; the figure is gone at 5s, and quiet is %v", e.End, DefaultConfig().Quiet)
	}
	for _, b := range e.Boxes {
		if !boxInside(b, [4]float64{0, 250.0 / 576, 1, 400.0 / 576}, 0.03) {
			t.Errorf("box %v is not where the figure walks", b)
		}
	}
}

// Luma only, the scan reads just the rows the detector needs (the even
// ones, when the picture has rows to spare) and masks those; it must see
// exactly what the detector sees given whole colour frames, masked whole,
// picking the rows itself (as motion-scan -debug-out and the daemon do). At
// 480x360 no rows are spare, and the decoder is opened again for all.
func TestScanReadsTheRowsItNeeds(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Masks = [][][2]float64{{{0, 0.2}, {0.45, 0.2}, {0.45, 0.8}, {0, 0.8}}}
	const frames = 30
	for _, size := range [][2]int{{768, 576}, {480, 360}} {
		w, h := size[0], size[1]
		path := writeVideo(t, fmt.Sprintf("walk-%dx%d.avi", w, h), w, h, frames, 10, func(i int, dst *gocv.Mat) {
			dst.SetTo(gocv.NewScalar(120, 130, 125, 0))
			x := w * i / frames
			gocv.Rectangle(dst, image.Rect(x, h/4, x+w/10, h*3/4), color.RGBA{40, 30, 30, 0}, -1)
			addNoise(dst, 8)
		})
		var luma []Result
		sum, err := Scan(path, cfg, ScanOptions{Frame: func(_ time.Duration, r *Result) { luma = append(luma, *r) }})
		if err != nil {
			t.Fatalf("%dx%d: %v", w, h, err)
		}
		if sum.Width != w || sum.Height != h || len(luma) != frames {
			t.Fatalf("%dx%d: scanned %d frames of %dx%d; want %d of %dx%d", w, h, len(luma), sum.Width, sum.Height, frames, w, h)
		}

		v, err := OpenVideo(path)
		if err != nil {
			t.Fatal(err)
		}
		defer v.Close()
		mask, err := camera.NewMask(w, h, cfg.Masks)
		if err != nil {
			t.Fatal(err)
		}
		det := newDetector(t, cfg, w, h)
		if det.EvenRows() != (h == 576) {
			t.Fatalf("%dx%d: the detector reads even rows only: %v", w, h, det.EvenRows())
		}
		moved := 0
		for i, a := range luma {
			if ok, err := v.Next(); !ok || err != nil {
				t.Fatalf("%dx%d: the video ends at frame %d: %v", w, h, i, err)
			}
			mask.Apply(&v.Frame)
			b, err := det.Detect(v.Frame.Y(), time.Time{}.Add(v.Time))
			if err != nil {
				t.Fatal(err)
			}
			if a.Changed != b.Changed || a.Fraction != b.Fraction || a.Gain != b.Gain || a.Motion != b.Motion {
				t.Fatalf("%dx%d frame %d: the scan saw changed %.5f gain %.5f, the detector on whole frames %.5f gain %.5f",
					w, h, i, a.Changed, a.Gain, b.Changed, b.Gain)
			}
			if a.Motion {
				moved++
			}
		}
		if moved < frames/3 {
			t.Errorf("%dx%d: %d of %d frames had motion; the figure walks in all of them, beside the mask in half", w, h, moved, frames)
		}
	}
}
