package camera

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"time"
)

// SyntheticConfig describes the built-in test scene: a front door in a
// textured wall, a visitor who comes, stands at the door and leaves on a
// schedule, sensor noise, and optionally a slow lighting cycle.
type SyntheticConfig struct {
	Width, Height int
	FPS           float64
	Seed          int64
	Noise         float64       // standard deviation of the sensor noise, in Y levels
	VisitorPeriod time.Duration // one visitor every period; 0: nobody comes
	VisitorStay   time.Duration // how long the visitor stands at the door
	LightingRamp  time.Duration // period of a bright-dark-bright cycle; 0: steady light
	Realtime      bool          // pace frames at FPS; false: as fast as they are read
	Now           func() time.Time
}

// Visitor timing: the visitor enters VisitorWalk after the start of each
// period, takes VisitorWalk to reach the door, stands, then takes VisitorWalk
// to leave.
const VisitorWalk = 2 * time.Second

// noiseVariants is how many noisy copies of the scene's Y plane are made up
// front: picking one per frame costs a copy, not a random number per pixel.
// Each costs a Y plane of memory (0.9 MB at 720p), so few.
const noiseVariants = 4

// Synthetic is the built-in camera. Frame n depends only on the config and n,
// apart from the time strip, which carries the capture time.
type Synthetic struct {
	cfg     SyntheticConfig
	scene   [][]byte // noiseVariants noisy copies of the empty scene's Y plane
	chroma  []byte   // its U and V planes, which have no noise
	sprite  []bool   // visitor silhouette, spriteW x spriteH
	spriteW int
	spriteH int
	pacer   Pacer
	seq     uint64
}

// NewSynthetic builds the scene. It is cheap enough to call on every restart.
func NewSynthetic(cfg SyntheticConfig) (*Synthetic, error) {
	if err := CheckSize(cfg.Width, cfg.Height); err != nil {
		return nil, err
	}
	if !(cfg.FPS > 0) {
		return nil, fmt.Errorf("synthetic camera: fps is %g; use a positive frame rate", cfg.FPS)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Synthetic{cfg: cfg, pacer: Pacer{FPS: cfg.FPS, Now: cfg.Now}}
	s.drawScene()
	s.drawSprite()
	return s, nil
}

// Read waits for the next frame's time (when Realtime) and renders it into f.
func (s *Synthetic) Read(ctx context.Context, f *Frame) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.cfg.Realtime {
		// A consumer that fell behind skips the frames whose time has passed.
		if skip := s.pacer.Overdue(s.seq); skip > 0 {
			s.seq += skip
		}
		if err := s.pacer.Wait(ctx, s.seq); err != nil {
			return err
		}
	}
	s.Render(s.seq, f)
	f.Captured = s.cfg.Now()
	StampTime(f, f.Captured)
	s.seq++
	return nil
}

// Close does nothing; the scene holds no resources.
func (s *Synthetic) Close() error { return nil }

// Elapsed is the scene time of frame seq.
func (s *Synthetic) Elapsed(seq uint64) time.Duration {
	return time.Duration(float64(seq) / s.cfg.FPS * float64(time.Second))
}

// Render draws frame seq (without the time strip) into f.
func (s *Synthetic) Render(seq uint64, f *Frame) {
	f.Resize(s.cfg.Width, s.cfg.Height)
	f.Seq = seq
	t := s.Elapsed(seq)
	copy(f.Data, s.variant(seq))
	copy(f.Data[len(s.scene[0]):], s.chroma)
	if s.cfg.LightingRamp > 0 {
		phase := 2 * math.Pi * float64(t) / float64(s.cfg.LightingRamp)
		applyGain(f.Y(), 0.7+0.3*math.Cos(phase)) // between 40% and 100% of full light
	}
	if box, ok := VisitorBox(s.cfg.VisitorPeriod, s.cfg.VisitorStay, t); ok {
		s.drawVisitor(f, box)
	}
}

// VisitorBox says where the visitor is at scene time t, as a box normalised
// to 0..1, and false when nobody is in the picture.
func VisitorBox(period, stay, t time.Duration) ([4]float64, bool) {
	if period <= 0 {
		return [4]float64{}, false
	}
	phase := t % period
	const w, h = 0.14, 0.62 // visitor size as a share of the picture
	const doorX = 0.5 - w/2
	arrive := VisitorWalk
	leave := arrive + VisitorWalk + stay
	var x float64
	switch {
	case phase < arrive:
		return [4]float64{}, false
	case phase < arrive+VisitorWalk: // walking in from the left edge
		x = -w + (doorX+w)*float64(phase-arrive)/float64(VisitorWalk)
	case phase < leave:
		x = doorX
	case phase < leave+VisitorWalk: // walking out to the right edge
		x = doorX + (1-doorX)*float64(phase-leave)/float64(VisitorWalk)
	default:
		return [4]float64{}, false
	}
	y := 0.93 - h
	return [4]float64{x, y, x + w, y + h}, true
}

// drawScene paints a wall with a door, a window and a path, in noisy copies.
func (s *Synthetic) drawScene() {
	w, h := s.cfg.Width, s.cfg.Height
	base := NewFrame(w, h)
	rng := rand.New(rand.NewPCG(uint64(s.cfg.Seed), 1))
	y := base.Y()
	// Bricks with a little random shade each, so the detector has texture to ignore.
	bw, bh := max(w/24, 4), max(h/30, 3)
	shades := make([]int, (w/bw+2)*(h/bh+2))
	for i := range shades {
		shades[i] = 120 + rng.IntN(40)
	}
	for r := 0; r < h; r++ {
		row := r / bh
		off := 0
		if row%2 == 1 {
			off = bw / 2
		}
		for c := 0; c < w; c++ {
			col := (c + off) / bw
			v := shades[row*(w/bw+2)+col]
			if r%bh == 0 || (c+off)%bw == 0 {
				v = 90 // mortar
			}
			y[r*w+c] = byte(v)
		}
	}
	fill := func(x0, y0, x1, y1 float64, yv, u, v byte) {
		fillBox(base, [4]float64{x0, y0, x1, y1}, yv, u, v)
	}
	fill(0, 0.9, 1, 1, 70, 120, 130)           // path
	fill(0.4, 0.2, 0.6, 0.93, 60, 110, 150)    // door
	fill(0.55, 0.55, 0.57, 0.6, 200, 110, 140) // handle
	fill(0.08, 0.25, 0.28, 0.5, 170, 150, 110) // window
	fill(0.72, 0.3, 0.8, 0.38, 220, 128, 128)  // house number plate

	s.chroma = append([]byte(nil), base.Data[w*h:]...)
	s.scene = make([][]byte, noiseVariants)
	for i := range s.scene {
		v := make([]byte, w*h)
		copy(v, base.Data)
		if s.cfg.Noise > 0 {
			for j := range v[:w*h] {
				n := int(v[j]) + int(math.Round(rng.NormFloat64()*s.cfg.Noise))
				v[j] = byte(min(max(n, 0), 255))
			}
		}
		s.scene[i] = v
	}
}

// variant is the noisy Y plane of frame seq. A cheap hash picks it, so
// frames do not repeat in an obvious cycle.
func (s *Synthetic) variant(seq uint64) []byte {
	h := (seq + uint64(s.cfg.Seed)) * 0x9E3779B97F4A7C15
	return s.scene[(h>>59)%noiseVariants]
}

// drawSprite makes the visitor's silhouette: a head on a body.
func (s *Synthetic) drawSprite() {
	box, _ := VisitorBox(time.Hour, 0, 3*VisitorWalk/2)
	s.spriteW = max(int((box[2]-box[0])*float64(s.cfg.Width)), 2)
	s.spriteH = max(int((box[3]-box[1])*float64(s.cfg.Height)), 2)
	sw, sh := float64(s.spriteW), float64(s.spriteH)
	s.sprite = make([]bool, s.spriteW*s.spriteH)
	for r := 0; r < s.spriteH; r++ {
		for c := 0; c < s.spriteW; c++ {
			x, y := (float64(c)+0.5)/sw, (float64(r)+0.5)/sh
			head := sq((x-0.5)/0.22)+sq((y-0.12)/(0.11)) <= 1
			body := y > 0.22 && sq((x-0.5)/0.5)+sq((y-0.6)/0.4) <= 1
			s.sprite[r*s.spriteW+c] = head || body
		}
	}
}

func sq(v float64) float64 { return v * v }

// drawVisitor paints the silhouette at box (normalised), clipped to the frame.
func (s *Synthetic) drawVisitor(f *Frame, box [4]float64) {
	w, h := f.Width, f.Height
	x0 := int(math.Round(box[0] * float64(w)))
	y0 := int(math.Round(box[1] * float64(h)))
	y, u, v := f.Y(), f.U(), f.V()
	cw := w / 2
	for r := 0; r < s.spriteH; r++ {
		fy := y0 + r
		if fy < 0 || fy >= h {
			continue
		}
		for c := 0; c < s.spriteW; c++ {
			fx := x0 + c
			if fx < 0 || fx >= w || !s.sprite[r*s.spriteW+c] {
				continue
			}
			y[fy*w+fx] = byte(40 + 150*r/s.spriteH) // dark coat, lighter trousers
			if fx%2 == 0 && fy%2 == 0 {
				u[(fy/2)*cw+fx/2] = 160
				v[(fy/2)*cw+fx/2] = 100
			}
		}
	}
}

// applyGain scales the Y plane by g (0..1), eight pixels at a time: each
// byte is multiplied in a 16-bit lane of a uint64, so no lane overflows.
func applyGain(y []byte, g float64) {
	const lanes = 0x00FF00FF00FF00FF
	k := uint64(math.Round(min(max(g, 0), 1) * 256))
	n := len(y) &^ 7
	for i := 0; i < n; i += 8 {
		x := binary.LittleEndian.Uint64(y[i:])
		lo := ((x & lanes) * k) >> 8 & lanes
		hi := ((x >> 8) & lanes) * k &^ lanes
		binary.LittleEndian.PutUint64(y[i:], lo|hi)
	}
	for i := n; i < len(y); i++ {
		y[i] = byte(uint64(y[i]) * k >> 8)
	}
}

// fillBox paints a normalised box in one colour.
func fillBox(f *Frame, b [4]float64, yv, u, v byte) {
	w, h := f.Width, f.Height
	x0, x1 := clampInt(int(b[0]*float64(w)), 0, w), clampInt(int(b[2]*float64(w)), 0, w)
	y0, y1 := clampInt(int(b[1]*float64(h)), 0, h), clampInt(int(b[3]*float64(h)), 0, h)
	yp, up, vp := f.Y(), f.U(), f.V()
	for r := y0; r < y1; r++ {
		row := yp[r*w+x0 : r*w+x1]
		for i := range row {
			row[i] = yv
		}
	}
	cw := w / 2
	for r := y0 / 2; r < (y1+1)/2; r++ {
		for c := x0 / 2; c < (x1+1)/2; c++ {
			up[r*cw+c], vp[r*cw+c] = u, v
		}
	}
}

func clampInt(v, lo, hi int) int { return min(max(v, lo), hi) }
