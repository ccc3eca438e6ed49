package motion

import (
	"context"
	"testing"
	"time"

	"doorbell/camera"
	"doorbell/events"
)

// visit is when the synthetic visitor is inside a region.
type visit struct{ enter, leave time.Duration }

// visits finds, to the millisecond, when the synthetic visitor's box overlaps
// the rectangle r within the first length of scene time.
func visits(period, stay, length time.Duration, r [4]float64) []visit {
	var out []visit
	inside := false
	for t := time.Duration(0); t < length; t += time.Millisecond {
		b, ok := camera.VisitorBox(period, stay, t)
		in := ok && b[2] > r[0] && b[0] < r[2] && b[3] > r[1] && b[1] < r[3]
		switch {
		case in && !inside:
			out = append(out, visit{enter: t})
		case !in && inside:
			out[len(out)-1].leave = t
		}
		inside = in
	}
	return out
}

func TestSyntheticVisitor(t *testing.T) {
	const (
		w, h   = 640, 360
		fps    = 15
		period = 20 * time.Second
		stay   = 4 * time.Second
		length = 40 * time.Second
	)
	door := [4]float64{0.35, 0.15, 0.65, 0.95}
	cases := []struct {
		name     string
		zones    []Zone
		region   [4]float64
		lighting time.Duration
	}{
		{"door zone", []Zone{rectZone("door", door[0], door[1], door[2], door[3])}, door, 0},
		{"whole picture, light changing", nil, [4]float64{0, 0, 1, 1}, 25 * time.Second},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			epoch := time.Unix(1_700_000_000, 0)
			var src *camera.Synthetic
			var seq uint64
			src, err := camera.NewSynthetic(camera.SyntheticConfig{
				Width: w, Height: h, FPS: fps, Seed: 3, Noise: 3,
				VisitorPeriod: period, VisitorStay: stay, LightingRamp: c.lighting,
				Now: func() time.Time { return epoch.Add(src.Elapsed(seq)) },
			})
			if err != nil {
				t.Fatal(err)
			}
			cfg := DefaultConfig()
			cfg.Zones = c.zones
			cfg.Masks = [][][2]float64{TimeStripMask(w, h)} // as the daemon does for this camera
			det, err := NewDetector(cfg, w, h)
			if err != nil {
				t.Fatal(err)
			}
			defer det.Close()
			var got []events.Event
			m := NewMachine(cfg, det.ZoneNames(), func(e events.Event) { got = append(got, e) })
			f := camera.NewFrame(w, h)
			var at time.Time
			for ; src.Elapsed(seq) < length; seq++ {
				if err := src.Read(context.Background(), f); err != nil {
					t.Fatal(err)
				}
				at = epoch.Add(src.Elapsed(f.Seq))
				r, err := det.Detect(f.Y(), at)
				if err != nil {
					t.Fatal(err)
				}
				m.Update(at, r)
			}
			m.Flush(at)

			want := visits(period, stay, length, c.region)
			if len(want) != 2 {
				t.Fatalf("the scene has %d visits, want 2: %v", len(want), want)
			}
			if len(got) != 2*len(want) {
				t.Fatalf("got %d events, want a start and an end for each of %d visits: %v", len(got), len(want), got)
			}
			for i, v := range want {
				start, end := got[2*i], got[2*i+1]
				if start.Kind != events.MotionStart || end.Kind != events.MotionEnd || start.ID != end.ID {
					t.Fatalf("events %d, %d are %s #%d and %s #%d, want a start and its end", 2*i, 2*i+1, start.Kind, start.ID, end.Kind, end.ID)
				}
				s, e := start.Time.Sub(epoch), end.Time.Sub(epoch)
				t.Logf("visit %v-%v: event %v-%v, peak %.3f, boxes %v", v.enter, v.leave, s, e, end.Peak, end.Boxes)
				if d := s - v.enter; d < -500*time.Millisecond || d > 500*time.Millisecond {
					t.Errorf("visit %d: event starts at %v, %v after the visitor enters at %v; want within 0.5 s", i, s, d, v.enter)
				}
				if d := e - v.leave; d < 0 || d > cfg.Quiet+500*time.Millisecond {
					t.Errorf("visit %d: event ends at %v, %v after the visitor leaves at %v; want within quiet (%v) + 0.5 s", i, e, d, v.leave, cfg.Quiet)
				}
				if len(end.Zones) != 1 || end.Zones[0] != det.ZoneNames()[0] {
					t.Errorf("visit %d: zones %v", i, end.Zones)
				}
				for _, b := range end.Boxes {
					if !boxInside(b, c.region, 0.02) {
						t.Errorf("visit %d: box %v outside %v", i, b, c.region)
					}
				}
			}
		})
	}
}

// TestSyntheticNobody: the synthetic camera without a visitor, its time
// strip masked as the daemon does, with noise and the light changing, makes
// no events.
func TestSyntheticNobody(t *testing.T) {
	const w, h, fps = 640, 360, 15
	src, err := camera.NewSynthetic(camera.SyntheticConfig{Width: w, Height: h, FPS: fps, Seed: 5, Noise: 6, LightingRamp: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.Masks = [][][2]float64{TimeStripMask(w, h)}
	det, err := NewDetector(cfg, w, h)
	if err != nil {
		t.Fatal(err)
	}
	defer det.Close()
	f := camera.NewFrame(w, h)
	epoch := time.Unix(1_700_000_000, 0)
	motion := 0
	for seq := uint64(0); seq < 20*fps; seq++ {
		src.Render(seq, f)
		camera.StampTime(f, epoch.Add(src.Elapsed(seq)))
		r, err := det.Detect(f.Y(), epoch.Add(src.Elapsed(seq)))
		if err != nil {
			t.Fatal(err)
		}
		if r.Motion {
			motion++
		}
	}
	if motion > 0 {
		t.Errorf("%d frames with motion in an empty scene", motion)
	}

	// Without the strip masked, its changing blocks are motion: the mask matters.
	cfg.Masks = nil
	bare, err := NewDetector(cfg, w, h)
	if err != nil {
		t.Fatal(err)
	}
	defer bare.Close()
	motion = 0
	for seq := uint64(0); seq < 3*fps; seq++ {
		src.Render(seq, f)
		camera.StampTime(f, epoch.Add(src.Elapsed(seq)))
		r, _ := bare.Detect(f.Y(), epoch.Add(src.Elapsed(seq)))
		if r.Motion {
			motion++
		}
	}
	if motion == 0 {
		t.Errorf("the time strip made no motion without its mask; TimeStripMask is not needed, or the test is broken")
	}
}
