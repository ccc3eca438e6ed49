package motion

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"doorbell/camera"
	"doorbell/events"
	"doorbell/internal/testkit"
)

// harness runs a Runner publishing to a bus, and feeds it frames one at a time.
type harness struct {
	t      *testing.T
	r      *Runner
	sub    <-chan events.Event
	cancel context.CancelFunc
	done   chan struct{}
	sent   uint64
	seen   chan Status // the status as each event was published
}

func startRunner(t *testing.T, cfg Config) *harness {
	bus := events.NewBus()
	sub, unsub := bus.Subscribe("test", 64)
	t.Cleanup(unsub)
	h := &harness{t: t, sub: sub, done: make(chan struct{}), seen: make(chan Status, 64)}
	h.r = NewRunner(cfg, RunnerOptions{Publish: func(e events.Event) {
		h.seen <- h.r.Status()
		bus.Publish(e)
	}})
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	go func() {
		h.r.Run(ctx)
		close(h.done)
	}()
	t.Cleanup(h.stop)
	return h
}

func (h *harness) stop() {
	h.cancel()
	select {
	case <-h.done:
	case <-time.After(10 * time.Second):
		h.t.Fatal("the runner did not stop within 10 s of its context ending")
	}
}

// write hands over a frame and waits until the runner has taken it in.
func (h *harness) write(f *camera.Frame) {
	h.t.Helper()
	h.r.WriteFrame(f)
	h.sent++
	deadline := time.Now().Add(10 * time.Second)
	for {
		s := h.r.Status()
		if s.Frames+s.Dropped >= h.sent {
			return
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("the runner took in %d of %d frames in 10 s", s.Frames+s.Dropped, h.sent)
		}
		time.Sleep(100 * time.Microsecond)
	}
}

func (h *harness) next(within time.Duration) events.Event {
	h.t.Helper()
	select {
	case e := <-h.sub:
		return e
	case <-time.After(within):
		h.t.Fatalf("no event within %v; status %+v", within, h.r.Status())
		return events.Event{}
	}
}

func squareFrame(s *scene, x, y, size float64, at time.Time, seq uint64) *camera.Frame {
	f := camera.NewFrame(s.w, s.h)
	copy(f.Y(), s.frame(x, y, size))
	f.Captured, f.Seq = at, seq
	return f
}

func TestRunnerPublishesEvents(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Quiet = 500 * time.Millisecond
	cfg.Zones = []Zone{rectZone("door", 0.3, 0.2, 0.8, 0.9)}
	h := startRunner(t, cfg)
	s := newScene(640, 360)
	epoch := time.Now()
	// A second apart at first, past the detector's warm-up, then ten a second.
	at := func(i int) time.Time {
		if i < 5 {
			return epoch.Add(time.Duration(i) * time.Second)
		}
		return epoch.Add(5*time.Second + time.Duration(i-5)*100*time.Millisecond)
	}
	for i := 0; i < 5; i++ {
		h.write(squareFrame(s, 0, 0, 0, at(i), uint64(i)))
	}
	if st := h.r.Status(); st.State != "idle" || st.Size != "320x180" || st.Frames != 5 || st.Relearns != 1 {
		t.Errorf("status before motion: %+v", st)
	}
	for i := 5; i < 10; i++ {
		h.write(squareFrame(s, 0.4+0.02*float64(i), 0.4, 0.1, at(i), uint64(i)))
	}
	start := h.next(time.Second)
	if start.Kind != events.MotionStart || !start.Time.Equal(at(5)) || len(start.Zones) != 1 || start.Zones[0] != "door" || len(start.Boxes) == 0 {
		t.Errorf("start event %+v; want motion_start at frame 5 in zone door, with boxes", start)
	}
	st := h.r.Status()
	if st.State != "active" || st.EventID != start.ID || st.Events != 1 || st.Fraction == 0 {
		t.Errorf("status during the event: %+v", st)
	}
	// Whoever sees an event and then asks for the status finds them agree.
	if st := <-h.seen; st.State != "active" || st.EventID != start.ID || st.Events != 1 {
		t.Errorf("status as motion_start went out: %+v", st)
	}
	if b, err := json.Marshal(st); err != nil || !strings.Contains(string(b), `"state":"active"`) || !strings.Contains(string(b), `"event_id":`) {
		t.Errorf("status JSON %s, %v", b, err)
	}
	for i := 10; i < 20; i++ {
		h.write(squareFrame(s, 0, 0, 0, at(i), uint64(i)))
	}
	end := h.next(time.Second)
	if end.Kind != events.MotionEnd || end.ID != start.ID || !end.Time.Equal(at(14)) || end.Peak < cfg.MinArea {
		t.Errorf("end event %+v; want motion_end of event %d at frame 14 (quiet 0.5 s after the last motion, frame 9)", end, start.ID)
	}
	if st := <-h.seen; st.State == "active" || st.EventID != 0 {
		t.Errorf("status as motion_end went out: %+v", st)
	}
}

func TestRunnerDropsWhenBusy(t *testing.T) {
	r := NewRunner(DefaultConfig(), RunnerOptions{})
	s := newScene(320, 240)
	for i := 0; i < 5; i++ {
		r.WriteFrame(squareFrame(s, 0, 0, 0, time.Now(), uint64(i)))
	}
	// Not running: two frames wait, the rest are dropped and counted.
	if got := r.Dropped(); got != 3 {
		t.Errorf("dropped %d of 5 frames with nobody processing; want 3", got)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.Run(ctx); close(done) }()
	testkit.Eventually(t, 30*time.Second, "two frames processed", func() bool { return r.Status().Frames >= 2 })
	cancel()
	<-done
	if st := r.Status(); st.Frames != 2 || st.Dropped != 3 {
		t.Errorf("status %+v; want the 2 waiting frames processed and 3 dropped", st)
	}
}

func TestRunnerEndsTheEventWhenStopped(t *testing.T) {
	cfg := DefaultConfig()
	cfg.StartFrames = 1
	h := startRunner(t, cfg)
	s := newScene(320, 240)
	epoch := time.Now()
	h.write(squareFrame(s, 0, 0, 0, epoch, 0))
	h.write(squareFrame(s, 0.5, 0.5, 0.2, epoch.Add(100*time.Millisecond), 1))
	if e := h.next(time.Second); e.Kind != events.MotionStart {
		t.Fatalf("got %+v, want motion_start", e)
	}
	h.stop()
	if e := h.next(time.Second); e.Kind != events.MotionEnd {
		t.Fatalf("got %+v after stopping, want the open event's motion_end", e)
	}
}

func TestRunnerEndsTheEventWhenFramesStop(t *testing.T) {
	cfg := DefaultConfig()
	cfg.StartFrames, cfg.Quiet = 1, 200*time.Millisecond
	h := startRunner(t, cfg)
	s := newScene(320, 240)
	epoch := time.Now()
	h.write(squareFrame(s, 0, 0, 0, epoch, 0))
	h.write(squareFrame(s, 0.5, 0.5, 0.2, epoch.Add(100*time.Millisecond), 1))
	if e := h.next(time.Second); e.Kind != events.MotionStart {
		t.Fatalf("got %+v, want motion_start", e)
	}
	// No more frames: the camera has failed. Time still ends the event.
	if e := h.next(5 * time.Second); e.Kind != events.MotionEnd {
		t.Fatalf("got %+v, want motion_end once frames stop", e)
	}
}

func TestRunnerFollowsSizeChanges(t *testing.T) {
	h := startRunner(t, DefaultConfig())
	epoch := time.Now()
	for i, size := range [][3]int{{640, 480, 320}, {200, 150, 200}, {1280, 720, 320}} {
		h.write(squareFrame(newScene(size[0], size[1]), 0, 0, 0, epoch.Add(time.Duration(i)*time.Second), uint64(i)))
		if st := h.r.Status(); !strings.HasPrefix(st.Size, fmt.Sprint(size[2], "x")) || st.Error != "" || st.Relearns != uint64(i+1) {
			t.Errorf("after a %dx%d frame: %+v", size[0], size[1], st)
		}
	}
}

func TestRunnerReportsAZoneItCannotUse(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Zones = []Zone{rectZone("hidden", 0.1, 0.1, 0.3, 0.3)}
	cfg.Masks = [][][2]float64{{{0, 0}, {0.5, 0}, {0.5, 0.5}, {0, 0.5}}}
	h := startRunner(t, cfg)
	h.r.WriteFrame(camera.NewFrame(320, 240))
	testkit.Eventually(t, 30*time.Second, "the runner to report the zone's problem", func() bool { return h.r.Status().Error != "" })
	if st := h.r.Status(); !strings.Contains(st.Error, `zone "hidden"`) || st.Frames != 0 {
		t.Errorf("status %+v; want the zone's problem and no frames processed", st)
	}
}
