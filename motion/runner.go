package motion

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"doorbell/camera"
	"doorbell/events"
)

// RunnerOptions connect a Runner to the rest of the program.
type RunnerOptions struct {
	// Publish receives every event, on the runner's goroutine. It must not block.
	Publish func(events.Event)
	// Observe, if set, sees every frame's result, on the runner's goroutine.
	Observe func(*Result)
	// Log receives problems, such as a frame size the zones do not fit. Nil: none.
	Log *slog.Logger
}

// Runner watches camera frames for motion on its own goroutine. As a
// camera.Sink it copies the Y plane into one of two buffers and returns at
// once; when both are busy it drops the frame and counts it, so a slow
// detector never holds the camera up.
type Runner struct {
	cfg   Config
	opt   RunnerOptions
	free  chan *slot
	ready chan *slot

	dropped atomic.Uint64

	mu     sync.Mutex
	status Status
}

type slot struct {
	y    []byte
	w, h int
	at   time.Time
}

// Status is what /healthz shows of motion detection.
type Status struct {
	State    string    `json:"state"`          // idle, rising, active, cooldown; waiting before the first frame; off
	Since    time.Time `json:"since,omitzero"` // when the state began (capture time)
	EventID  uint64    `json:"event_id,omitempty"`
	Zones    []string  `json:"zones"`
	Fraction float64   `json:"fraction"` // largest changed share of a zone, last frame
	Frames   uint64    `json:"frames"`
	Dropped  uint64    `json:"dropped"`
	Relearns uint64    `json:"relearns"` // background learnt anew (lighting changes, gaps)
	Events   uint64    `json:"events"`
	DetectMs float64   `json:"detect_ms"` // detector time per frame, recent average
	Size     string    `json:"size,omitempty"`
	Error    string    `json:"error,omitempty"`
}

// NewRunner makes a runner; Run does the work.
func NewRunner(cfg Config, opt RunnerOptions) *Runner {
	r := &Runner{cfg: cfg, opt: opt, free: make(chan *slot, 2), ready: make(chan *slot, 2)}
	r.free <- &slot{}
	r.free <- &slot{}
	r.status = Status{State: "waiting", Zones: cfg.ZoneNames()}
	return r
}

// WriteFrame hands the frame's Y plane to the runner, or drops it if the
// runner is busy with two frames already.
func (r *Runner) WriteFrame(f *camera.Frame) {
	select {
	case s := <-r.free:
		y := f.Y()
		if cap(s.y) < len(y) {
			s.y = make([]byte, len(y)) // first frame, or a bigger one
		}
		s.y = s.y[:len(y)]
		copy(s.y, y)
		s.w, s.h, s.at = f.Width, f.Height, f.Captured
		if s.at.IsZero() {
			s.at = time.Now() // a source that does not know: events still need time to pass
		}
		r.ready <- s // never blocks: there are only as many slots as room
	default:
		r.dropped.Add(1)
	}
}

// Dropped counts frames dropped because the detector was busy.
func (r *Runner) Dropped() uint64 { return r.dropped.Load() }

// Status returns the current state, for /healthz.
func (r *Runner) Status() Status {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.status
	s.Zones = append([]string(nil), s.Zones...)
	s.Dropped = r.dropped.Load()
	return s
}

// Run processes frames until ctx ends, then ends any open event.
func (r *Runner) Run(ctx context.Context) {
	var (
		det        *Detector
		detErr     string
		lastAt     time.Time // capture time of the last frame
		lastWall   time.Time // when it was processed
		lastLogged time.Time
	)
	// The status follows the machine before an event goes out, so that
	// whoever sees the event and then asks /healthz finds the same state.
	var m *Machine
	m = NewMachine(r.cfg, r.cfg.ZoneNames(), func(e events.Event) {
		r.mu.Lock()
		if e.Kind == events.MotionStart {
			r.status.Events++
		}
		r.status.follow(m)
		r.mu.Unlock()
		if r.opt.Publish != nil {
			r.opt.Publish(e)
		}
	})
	defer func() {
		if det != nil {
			det.Close()
		}
	}()
	// Frames that stop coming (a camera fault) must still end an event, so
	// time goes on without them, counted from the last frame's capture time.
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			if !lastAt.IsZero() {
				m.Flush(lastAt.Add(time.Since(lastWall)))
				r.update(m, nil)
			}
			return
		case now := <-tick.C:
			if !lastAt.IsZero() && now.Sub(lastWall) > time.Second {
				m.Update(lastAt.Add(now.Sub(lastWall)), nil)
				r.update(m, nil)
			}
		case s := <-r.ready:
			if det == nil || det.w != s.w || det.h != s.h {
				if det != nil {
					det.Close()
					det = nil
				}
				var err error
				if det, err = NewDetector(r.cfg, s.w, s.h); err != nil {
					det = nil
					if msg := err.Error(); msg != detErr || time.Since(lastLogged) > time.Minute {
						detErr, lastLogged = msg, time.Now()
						r.logError("motion detection is off for this picture size", err, s.w, s.h)
					}
					r.mu.Lock()
					r.status.Error = detErr
					r.mu.Unlock()
					r.free <- s
					continue
				}
				detErr = ""
				r.mu.Lock()
				r.status.Error = ""
				r.status.Size = fmt.Sprintf("%dx%d", det.sw, det.sh)
				r.mu.Unlock()
			}
			res, err := det.Detect(s.y, s.at)
			lastAt, lastWall = s.at, time.Now()
			r.free <- s
			if err != nil {
				continue
			}
			m.Update(lastAt, res)
			if r.opt.Observe != nil {
				r.opt.Observe(res)
			}
			r.update(m, res)
		}
	}
}

func (r *Runner) logError(msg string, err error, w, h int) {
	if r.opt.Log != nil {
		r.opt.Log.Error(msg, "err", err, "width", w, "height", h)
	}
}

// follow copies the state machine's state into the status.
func (s *Status) follow(m *Machine) {
	st, since := m.State()
	s.State, s.Since, s.EventID = st.String(), since, m.EventID()
}

// update copies the state machine's and the frame's news into the status.
func (r *Runner) update(m *Machine, res *Result) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := &r.status
	s.follow(m)
	if res == nil {
		return
	}
	s.Frames++
	s.Fraction = res.Fraction
	if res.Relearned {
		s.Relearns++
	}
	ms := float64(res.Took) / float64(time.Millisecond)
	if s.Frames == 1 {
		s.DetectMs = ms
	} else {
		s.DetectMs += (ms - s.DetectMs) / 32 // about the last 32 frames
	}
}
