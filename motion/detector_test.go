package motion

import (
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// scene is a textured still picture with a dark square that can be put anywhere.
type scene struct {
	w, h int
	bg   []byte
	buf  []byte
}

func newScene(w, h int) *scene {
	s := &scene{w: w, h: h, bg: make([]byte, w*h), buf: make([]byte, w*h)}
	rng := rand.New(rand.NewPCG(1, 2))
	// Blocks of random grey, like bricks, so there is texture to ignore.
	bw := max(w/40, 2)
	shades := make([]byte, (w/bw+1)*(h/bw+1))
	for i := range shades {
		shades[i] = byte(100 + rng.IntN(80))
	}
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			s.bg[y*w+x] = shades[(y/bw)*(w/bw+1)+x/bw]
		}
	}
	return s
}

// frame returns the picture with a square of side size (a share of the
// width) at (x, y) (shares of the picture), or none if size is 0.
func (s *scene) frame(x, y, size float64) []byte {
	copy(s.buf, s.bg)
	side := int(size * float64(s.w))
	x0, y0 := int(x*float64(s.w)), int(y*float64(s.h))
	for r := max(y0, 0); r < min(y0+side, s.h); r++ {
		for c := max(x0, 0); c < min(x0+side, s.w); c++ {
			s.buf[r*s.w+c] = 20
		}
	}
	return s.buf
}

// feed runs frames 100 ms apart through d: first still ones, then the square
// at each position in turn. It returns the last result.
func feed(t *testing.T, d *Detector, s *scene, size float64, at ...[2]float64) *Result {
	t.Helper()
	epoch := time.Unix(0, 0)
	var r *Result
	var err error
	for i := 0; i < 3; i++ {
		if r, err = d.Detect(s.frame(0, 0, 0), epoch.Add(time.Duration(i)*100*time.Millisecond)); err != nil {
			t.Fatal(err)
		}
	}
	for i, p := range at {
		if r, err = d.Detect(s.frame(p[0], p[1], size), epoch.Add(time.Duration(i+3)*100*time.Millisecond)); err != nil {
			t.Fatal(err)
		}
	}
	return r
}

func newDetector(t *testing.T, cfg Config, w, h int) *Detector {
	t.Helper()
	d, err := NewDetector(cfg, w, h)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func TestDetectorFindsTheSquare(t *testing.T) {
	for _, size := range [][2]int{{640, 480}, {1920, 1080}, {641, 479}, {1281, 721}, {1366, 768}, {160, 120}, {100, 60}} {
		w, h := size[0], size[1]
		d := newDetector(t, DefaultConfig(), w, h)
		r := feed(t, d, newScene(w, h), 0.1, [2]float64{0.5, 0.5})
		if !r.Motion || len(r.Boxes()) != 1 {
			t.Errorf("%dx%d: motion %v boxes %v, want one box", w, h, r.Motion, r.Boxes())
			continue
		}
		b := r.Boxes()[0]
		want := [4]float64{0.5, 0.5, 0.6, 0.5 + 0.1*float64(w)/float64(h)}
		for i := range b {
			if d := b[i] - want[i]; d < -0.03 || d > 0.03 {
				t.Errorf("%dx%d: box %v, want about %v", w, h, b, want)
				break
			}
		}
		area := 0.1 * 0.1 * float64(w) / float64(h)
		if r.Fraction < area*0.7 || r.Fraction > area*1.4 { // the blur widens small squares
			t.Errorf("%dx%d: changed fraction %.4f, want about %.4f", w, h, r.Fraction, area)
		}
	}
}

// Pictures are processed at 320 wide, reading only their even rows when
// half of their rows are enough for the processing height.
func TestProcessingSize(t *testing.T) {
	for _, c := range []struct {
		w, h, sw, sh int
		even         bool
	}{
		{1920, 1080, 320, 180, true}, {1280, 720, 320, 180, true}, {768, 576, 320, 240, true},
		{640, 480, 320, 240, true}, {641, 481, 320, 240, true}, {480, 360, 320, 240, false},
		{639, 479, 320, 240, false}, {160, 120, 160, 120, false},
	} {
		d := newDetector(t, DefaultConfig(), c.w, c.h)
		if _, _, sw, sh := d.Size(); sw != c.sw || sh != c.sh {
			t.Errorf("%dx%d is processed at %dx%d, want %dx%d", c.w, c.h, sw, sh, c.sw, c.sh)
		}
		want := c.w * c.h
		if c.even {
			want = c.w * (c.h / 2)
		}
		if d.EvenRows() != c.even || len(d.Input()) != want {
			t.Errorf("%dx%d: even rows only %v into %d bytes, want %v", c.w, c.h, d.EvenRows(), len(d.Input()), c.even)
		}
	}
}

func TestZonesCount(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Zones = []Zone{rectZone("left", 0, 0, 0.4, 1), rectZone("right", 0.6, 0, 1, 1)}
	s := newScene(640, 480)
	d := newDetector(t, cfg, 640, 480)
	// In the middle strip, outside both zones.
	if r := feed(t, d, s, 0.1, [2]float64{0.45, 0.4}); r.Motion || r.Fraction != 0 || len(r.Boxes()) != 0 {
		t.Errorf("motion outside the zones counted: motion %v fraction %v boxes %v", r.Motion, r.Fraction, r.Boxes())
	} else if r.Changed == 0 {
		t.Errorf("the square outside the zones was not seen at all; the test shows nothing")
	}
	d = newDetector(t, cfg, 640, 480)
	r := feed(t, d, s, 0.1, [2]float64{0.7, 0.4})
	if !r.Motion || r.Hit[0] || !r.Hit[1] || r.Zones[0] != 0 || r.Zones[1] == 0 {
		t.Errorf("motion in the right zone: motion %v hit %v zones %v", r.Motion, r.Hit, r.Zones)
	}
	for _, b := range r.Boxes() {
		if b[0] < 0.59 {
			t.Errorf("box %v reaches outside the right zone", b)
		}
	}
}

func TestPrivacyMasksNeverCount(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Masks = [][][2]float64{{{0.4, 0.3}, {0.8, 0.3}, {0.8, 0.8}, {0.4, 0.8}}}
	s := newScene(640, 480)
	d := newDetector(t, cfg, 640, 480)
	// The square moves about inside the mask (the frames here are not blacked
	// out, as the daemon's are: the detector must ignore those pixels itself).
	r := feed(t, d, s, 0.1, [2]float64{0.45, 0.35}, [2]float64{0.6, 0.5}, [2]float64{0.65, 0.6})
	if r.Motion || r.Changed != 0 || r.Fraction != 0 {
		t.Errorf("masked motion counted: motion %v changed %v fraction %v", r.Motion, r.Changed, r.Fraction)
	}
	// The same without the mask is motion.
	d = newDetector(t, DefaultConfig(), 640, 480)
	if r := feed(t, d, s, 0.1, [2]float64{0.45, 0.35}, [2]float64{0.6, 0.5}, [2]float64{0.65, 0.6}); !r.Motion {
		t.Errorf("without the mask, the square is not seen; the test shows nothing")
	}
	// A zone partly under the mask counts only its open part.
	cfg.Zones = []Zone{rectZone("porch", 0.2, 0.3, 0.8, 0.8)}
	d = newDetector(t, cfg, 640, 480)
	if r := feed(t, d, s, 0.1, [2]float64{0.6, 0.5}); r.Motion {
		t.Errorf("motion under the mask counted inside a zone")
	}
	d = newDetector(t, cfg, 640, 480)
	if r := feed(t, d, s, 0.1, [2]float64{0.25, 0.5}); !r.Motion || r.Zones[0] < 0.02 {
		t.Errorf("motion in the open part of the zone: %v, fraction %v (of the open part, want about 0.04)", r.Motion, r.Zones[0])
	}
}

func TestDetectorSetupErrors(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Zones = []Zone{rectZone("hidden", 0.1, 0.1, 0.3, 0.3)}
	cfg.Masks = [][][2]float64{{{0, 0}, {0.5, 0}, {0.5, 0.5}, {0, 0.5}}}
	if _, err := NewDetector(cfg, 640, 480); err == nil || !strings.Contains(err.Error(), `zone "hidden" lies wholly under privacy masks`) {
		t.Errorf("zone under a mask: %v", err)
	}
	cfg = DefaultConfig()
	cfg.Masks = [][][2]float64{{{0, 0}, {1, 0}, {1, 1}, {0, 1}}}
	if _, err := NewDetector(cfg, 640, 480); err == nil || !strings.Contains(err.Error(), "cover the whole picture") {
		t.Errorf("everything masked: %v", err)
	}
	cfg = DefaultConfig()
	cfg.Zones = []Zone{{Name: "bow tie", Polygon: [][2]float64{{0.1, 0.1}, {0.9, 0.9}, {0.9, 0.1}, {0.1, 0.9}}}}
	if _, err := NewDetector(cfg, 640, 480); err == nil || !strings.Contains(err.Error(), "crosses itself") {
		t.Errorf("self-intersecting zone: %v", err)
	}
	cfg = DefaultConfig()
	cfg.Blur = 4
	if _, err := NewDetector(cfg, 640, 480); err == nil || !strings.Contains(err.Error(), "odd") {
		t.Errorf("even blur: %v", err)
	}
	d := newDetector(t, DefaultConfig(), 640, 480)
	if _, err := d.Detect(make([]byte, 100), time.Now()); !errors.Is(err, ErrFrameSize) {
		t.Errorf("a frame of the wrong size: %v", err)
	}
}

func TestRelearnAfterAGap(t *testing.T) {
	d := newDetector(t, DefaultConfig(), 640, 480)
	s := newScene(640, 480)
	epoch := time.Unix(0, 0)
	steps := []struct {
		at      time.Duration
		square  bool
		relearn bool
	}{
		{0, false, true},
		{100 * time.Millisecond, false, false},
		{30 * time.Second, true, true},                       // the camera was away: anything may have changed
		{30*time.Second + 100*time.Millisecond, true, false}, // and now the square is background
		{20 * time.Second, true, true},                       // time went backwards: a new camera clock
	}
	for _, st := range steps {
		size := 0.0
		if st.square {
			size = 0.1
		}
		r, _ := d.Detect(s.frame(0.5, 0.5, size), epoch.Add(st.at))
		if r.Relearned != st.relearn || r.Motion {
			t.Errorf("at %v: relearned %v motion %v, want relearned %v and no motion", st.at, r.Relearned, r.Motion, st.relearn)
		}
	}
}

// DetectInput on a picture written into Input (its even rows: 360 rows have
// twice the 180 of the processing size) sees what Detect sees.
func TestDetectInputIsDetect(t *testing.T) {
	cfg := DefaultConfig()
	const w, h = 640, 360
	a, b := newDetector(t, cfg, w, h), newDetector(t, cfg, w, h)
	if !b.EvenRows() || len(b.Input()) != w*h/2 {
		t.Fatalf("a %dx%d detector reads even rows %v into %d bytes; want only those, %d bytes", w, h, b.EvenRows(), len(b.Input()), w*h/2)
	}
	s := newScene(w, h)
	at := time.Unix(0, 0)
	for i := range 20 {
		at = at.Add(33 * time.Millisecond)
		frame := s.frame(0.2+0.02*float64(i), 0.3, 0.1)
		ra, err := a.Detect(frame, at)
		if err != nil {
			t.Fatal(err)
		}
		for r := range h / 2 {
			copy(b.Input()[r*w:(r+1)*w], frame[2*r*w:])
		}
		rb := b.DetectInput(at)
		if ra.Motion != rb.Motion || ra.Fraction != rb.Fraction || ra.Changed != rb.Changed || len(ra.Boxes()) != len(rb.Boxes()) {
			t.Fatalf("frame %d: Detect saw %+v, DetectInput %+v", i, *ra, *rb)
		}
	}
}

// TestDetectAllocatesNothing proves the steady state allocates nothing per
// frame, with motion, boxes and zones in play.
func TestDetectAllocatesNothing(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Zones = []Zone{rectZone("a", 0, 0, 0.6, 1), rectZone("b", 0.4, 0, 1, 1)}
	cfg.Masks = [][][2]float64{{{0, 0}, {0.1, 0}, {0.1, 0.1}}}
	const w, h = 1280, 720
	d := newDetector(t, cfg, w, h)
	s := newScene(w, h)
	frames := [][]byte{append([]byte(nil), s.frame(0.2, 0.3, 0.1)...), append([]byte(nil), s.frame(0.5, 0.4, 0.1)...)}
	at := time.Unix(0, 0)
	i := 0
	boxes := 0
	step := func() {
		at = at.Add(33 * time.Millisecond)
		r, err := d.Detect(frames[i%2], at)
		if err != nil {
			t.Fatal(err)
		}
		boxes += len(r.Boxes())
		i++
	}
	for range 10 {
		step()
	}
	if allocs := testing.AllocsPerRun(200, step); allocs != 0 {
		t.Errorf("Detect allocates %.1f times per frame; want 0", allocs)
	}
	if boxes == 0 || d.healed == 0 {
		t.Errorf("%d boxes and %d ghosts were found, so their paths were not all measured", boxes, d.healed)
	}
}

func TestGhostsFadeAndStillVisitorsStay(t *testing.T) {
	s := newScene(640, 480)
	epoch := time.Unix(0, 0)
	// A square is in the first frame, so in the background, and leaves after
	// 1 s; another arrives at 2 s and stands still for 10 s.
	d := newDetector(t, DefaultConfig(), 640, 480)
	for i := 0; i < 120; i++ {
		at := epoch.Add(time.Duration(i) * 100 * time.Millisecond)
		var y []byte
		switch {
		case i < 10:
			y = s.frame(0.1, 0.1, 0.15)
		case i < 20:
			y = s.frame(0, 0, 0)
		default:
			y = s.frame(0.6, 0.5, 0.15)
		}
		r, err := d.Detect(y, at)
		if err != nil {
			t.Fatal(err)
		}
		ghostLeft := r.Motion && len(r.Boxes()) > 0 && r.Boxes()[0][0] < 0.3
		if i >= 16 && ghostLeft {
			t.Fatalf("at %v the ghost of the square that left at 1s still counts: boxes %v", at.Sub(epoch), r.Boxes())
		}
		if i >= 20 && (!r.Motion || len(r.Boxes()) != 1 || r.Boxes()[0][0] < 0.55) {
			t.Fatalf("at %v the square standing since 2s is not seen: motion %v boxes %v", at.Sub(epoch), r.Motion, r.Boxes())
		}
	}
	if d.healed == 0 {
		t.Errorf("no ghost was removed")
	}
}
