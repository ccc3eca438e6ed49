package motion

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"doorbell/events"
)

// runMachine feeds a machine one frame per character of frames, 100 ms
// apart: 'm' motion, '.' none. It returns the events as "start@1.2 end@3.4".
func runMachine(t *testing.T, cfg Config, frames string) (string, []events.Event) {
	t.Helper()
	epoch := time.Unix(0, 0)
	var evs []events.Event
	m := NewMachine(cfg, []string{"path", "door"}, func(e events.Event) { evs = append(evs, e) })
	var at time.Time
	for i, c := range frames {
		at = epoch.Add(time.Duration(i) * 100 * time.Millisecond)
		r := &Result{Hit: []bool{true, i%2 == 0}, Fraction: float64(i) / 1000,
			found: true, boxes: []events.Box{{0.1, 0.2, 0.3, float64(i) / 1000}}}
		r.Motion = c == 'm'
		if !r.Motion {
			r.Hit, r.Fraction, r.boxes = []bool{false, false}, 0, nil
		}
		m.Update(at, r)
	}
	m.Flush(at.Add(100 * time.Millisecond))
	var s []string
	for _, e := range evs {
		k := "start"
		if e.Kind == events.MotionEnd {
			k = "end"
		}
		s = append(s, fmt.Sprintf("%s@%.1f", k, e.Time.Sub(epoch).Seconds()))
	}
	return strings.Join(s, " "), evs
}

func TestMachine(t *testing.T) {
	cfg := DefaultConfig()
	cfg.StartFrames = 3
	cfg.Quiet = 500 * time.Millisecond
	cfg.MaxEvent = 2 * time.Second
	cfg.Cooldown = 300 * time.Millisecond
	cases := []struct {
		name, frames, want string
	}{
		{"nothing", "..........", ""},
		{"too short to start", "..mm..mm..", ""},
		{"starts after N frames, dated at the first", "..mmm.........", "start@0.2 end@0.9"},
		{"quiet gaps shorter than T keep it going", "mmm...m....m.........", "start@0.0 end@1.6"},
		{"ends after T of quiet", "mmmm........", "start@0.0 end@0.8"},
		{"cooldown: motion right after the end does not count", "mmm.....mmmm.....", "start@0.0 end@0.7"},
		{"after the cooldown, motion counts again", "mmm........mmm", "start@0.0 end@0.7 start@1.1 end@1.4"},
		{"max event length, then cooldown, then a new event", strings.Repeat("m", 30), "start@0.0 end@2.0 start@2.3 end@3.0"},
		{"flush ends an open event", "..mmmmm", "start@0.2 end@0.7"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, _ := runMachine(t, cfg, c.frames)
			if got != c.want {
				t.Errorf("frames %q: got %q, want %q", c.frames, got, c.want)
			}
		})
	}
}

func TestMachineEventContents(t *testing.T) {
	cfg := DefaultConfig()
	cfg.StartFrames, cfg.Quiet, cfg.Cooldown = 2, 300*time.Millisecond, 0
	_, evs := runMachine(t, cfg, ".mm.mm....mm....")
	if len(evs) != 4 {
		t.Fatalf("got %d events, want 4: %v", len(evs), evs)
	}
	if evs[0].ID != evs[1].ID || evs[2].ID != evs[3].ID || evs[0].ID == evs[2].ID || evs[0].ID == 0 {
		t.Errorf("IDs %d %d %d %d: want a start and its end to share a non-zero ID, and events to differ", evs[0].ID, evs[1].ID, evs[2].ID, evs[3].ID)
	}
	end := evs[1]
	// Frames 1, 2, 4, 5 had motion; "door" only on the even ones; the peak was frame 5.
	if strings.Join(end.Zones, ",") != "path,door" {
		t.Errorf("zones %v, want path and door", end.Zones)
	}
	if end.Peak != 0.005 || len(end.Boxes) != 1 || end.Boxes[0][3] != 0.005 {
		t.Errorf("peak %v boxes %v, want the peak frame's (5)", end.Peak, end.Boxes)
	}
	if strings.Join(evs[2].Zones, ",") != "path,door" || evs[3].Peak != 0.011 {
		t.Errorf("second event: zones %v peak %v", evs[2].Zones, evs[3].Peak)
	}
}

func TestMachineStates(t *testing.T) {
	cfg := DefaultConfig()
	cfg.StartFrames, cfg.Quiet, cfg.Cooldown = 2, time.Second, time.Second
	m := NewMachine(cfg, []string{WholePicture}, nil)
	epoch := time.Unix(0, 0)
	yes := &Result{Motion: true, Hit: []bool{true}, Fraction: 0.1}
	steps := []struct {
		at   time.Duration
		r    *Result
		want State
	}{
		{0, nil, Idle},
		{100 * time.Millisecond, yes, Rising},
		{200 * time.Millisecond, yes, Active},
		{time.Second, nil, Active},
		{1200 * time.Millisecond, nil, Cooldown}, // a nil result is a frame without motion
		{2100 * time.Millisecond, yes, Cooldown},
		{2200 * time.Millisecond, yes, Rising},
	}
	for _, s := range steps {
		m.Update(epoch.Add(s.at), s.r)
		if st, since := m.State(); st != s.want {
			t.Fatalf("at %v: state %s (since %v), want %s", s.at, st, since.Sub(epoch), s.want)
		}
	}
}

// TestBoxesAreFoundOnlyForThePeak: the state machine asks for a frame's
// boxes only when the frame raises its event's peak, and its events are
// the same as when every frame's boxes are found.
func TestBoxesAreFoundOnlyForThePeak(t *testing.T) {
	const w, h, fps = 640, 360, 30
	frames := visitorFrames(t, w, h, 300, fps, 0, time.Minute)
	cfg := DefaultConfig()
	cfg.Zones = []Zone{rectZone("path", 0, 0.2, 1, 1)}
	run := func(eager bool) ([]events.Event, int, int) {
		d := newDetector(t, cfg, w, h)
		var evs []events.Event
		m := NewMachine(cfg, d.ZoneNames(), func(e events.Event) { evs = append(evs, e) })
		at, moving := time.Unix(0, 0), 0
		for _, y := range frames {
			at = at.Add(time.Second / fps)
			r, err := d.Detect(y, at)
			if err != nil {
				t.Fatal(err)
			}
			if r.Motion {
				moving++
			}
			if eager {
				r.Boxes()
			}
			m.Update(at, r)
		}
		m.Flush(at)
		return evs, d.traced, moving
	}
	lazy, traced, moving := run(false)
	eager, all, _ := run(true)
	if len(lazy) == 0 || len(lazy[len(lazy)-1].Boxes) == 0 {
		t.Fatalf("the visitor made no event with boxes (%d events), so the test shows nothing", len(lazy))
	}
	if fmt.Sprint(lazy) != fmt.Sprint(eager) {
		t.Errorf("events with boxes found when asked:\n%v\nwith every frame's found:\n%v", lazy, eager)
	}
	t.Logf("%d frames with motion: boxes found for %d (every frame's: %d)", moving, traced, all)
	if traced >= moving/2 {
		t.Errorf("boxes were found for %d of %d frames with motion; only frames that raise the peak need them", traced, moving)
	}
}
