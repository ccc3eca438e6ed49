package camera

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Supervision timing. A source that gives no frame for StallTimeout is
// restarted; restarts back off from MinBackoff, doubling, up to MaxBackoff.
const (
	StallTimeout = 2 * time.Second
	FirstFrame   = 5 * time.Second // opening a device may take longer than a frame
	MinBackoff   = 250 * time.Millisecond
	MaxBackoff   = 10 * time.Second
	// healthyRun: a source that ran this long restarts from MinBackoff again.
	healthyRun = 10 * time.Second
)

// Status is the camera's state, as /healthz shows it.
type Status struct {
	State    string  `json:"state"` // starting, running, retrying or stopped
	Source   string  `json:"source"`
	FPS      float64 `json:"fps"`
	Width    int     `json:"width"`
	Height   int     `json:"height"`
	Reason   string  `json:"reason,omitempty"` // why it is retrying
	Restarts uint64  `json:"restarts"`
}

// Supervisor keeps a source running: it opens it, passes its frames to a
// sink, and restarts it with backoff when it fails or stalls. It never gives up.
type Supervisor struct {
	name string
	open Opener
	sink Sink
	log  *slog.Logger

	// Timing, changeable before Run (tests shorten it).
	Stall, First, MinBackoff, MaxBackoff time.Duration

	mu     sync.Mutex
	status Status
	times  [64]time.Time // capture times of the latest frames, for the fps figure
	nTimes int

	captured, dropped, restarts prometheus.Counter
}

// NewSupervisor supervises the source opened by open, named name in logs.
func NewSupervisor(name string, open Opener, sink Sink, log *slog.Logger) *Supervisor {
	return &Supervisor{
		name: name, open: open, sink: sink, log: log,
		Stall: StallTimeout, First: FirstFrame, MinBackoff: MinBackoff, MaxBackoff: MaxBackoff,
		status: Status{State: "starting", Source: name},
		captured: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "doorbell_camera_frames_captured_total", Help: "Frames delivered by the camera."}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "doorbell_camera_frames_dropped_total", Help: "Frames the camera skipped (gaps in its sequence numbers)."}),
		restarts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "doorbell_camera_source_restarts_total", Help: "Times the camera source was restarted after failing or stalling."}),
	}
}

// RegisterMetrics adds the camera counters to reg.
func (s *Supervisor) RegisterMetrics(reg prometheus.Registerer) {
	reg.MustRegister(s.captured, s.dropped, s.restarts)
}

// Status returns the current state and the frame rate over the last two seconds.
func (s *Supervisor) Status() Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.status
	st.FPS = s.fpsLocked(time.Now())
	return st
}

func (s *Supervisor) fpsLocked(now time.Time) float64 {
	n := min(s.nTimes, len(s.times))
	if n < 2 {
		return 0
	}
	last := s.times[(s.nTimes-1)%len(s.times)]
	if now.Sub(last) > s.Stall {
		return 0
	}
	// Count the frames in the last two seconds (at most len(times)).
	first, count := last, 1
	for i := 2; i <= n; i++ {
		t := s.times[(s.nTimes-i)%len(s.times)]
		if last.Sub(t) > 2*time.Second {
			break
		}
		first, count = t, i
	}
	if count < 2 || !last.After(first) {
		return 0
	}
	return float64(count-1) / last.Sub(first).Seconds()
}

// Run supervises until ctx ends. It returns after the current source has
// closed, or after one second if the source is stuck and will not close.
func (s *Supervisor) Run(ctx context.Context) {
	backoff := s.MinBackoff
	for {
		started := time.Now()
		err := s.runOnce(ctx)
		if ctx.Err() != nil {
			s.setState("stopped", "")
			return
		}
		s.restarts.Inc()
		if time.Since(started) >= healthyRun {
			backoff = s.MinBackoff
		}
		s.setState("retrying", err.Error())
		select {
		case <-ctx.Done():
			s.setState("stopped", "")
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, s.MaxBackoff)
	}
}

// runOnce opens the source and passes frames on until it fails or stalls.
// The source is read on its own goroutine, so a read stuck in a driver cannot
// hold up the restart; that goroutine closes the source when it ends.
func (s *Supervisor) runOnce(ctx context.Context) error {
	attempt, cancel := context.WithCancel(ctx)
	defer cancel()
	frames := make(chan *Frame)
	free := make(chan *Frame, 2)
	free <- &Frame{}
	free <- &Frame{}
	failed := make(chan error, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		src, err := s.open(attempt)
		if err != nil {
			failed <- err
			return
		}
		defer src.Close()
		for {
			var f *Frame
			select {
			case f = <-free:
			case <-attempt.Done():
				return
			}
			if err := src.Read(attempt, f); err != nil {
				failed <- err
				return
			}
			select {
			case frames <- f:
			case <-attempt.Done():
				return
			}
		}
	}()
	defer func() {
		cancel()
		select {
		case <-done:
		case <-time.After(time.Second):
			s.log.Warn("camera source did not close within 1 s; leaving it behind", "source", s.name)
		}
	}()

	stall := time.NewTimer(s.First)
	defer stall.Stop()
	var lastSeq uint64
	first := true
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-failed:
			return err
		case <-stall.C:
			if first {
				return errors.New("no frame within " + s.First.String() + " of opening; check that the camera is connected and not used by another program")
			}
			return errors.New("no frame for " + s.Stall.String() + " (camera stalled); restarting it")
		case f := <-frames:
			if !first && f.Seq > lastSeq+1 {
				s.dropped.Add(float64(f.Seq - lastSeq - 1))
			}
			lastSeq = f.Seq
			s.frame(f, first)
			first = false
			s.sink.WriteFrame(f)
			free <- f
			stall.Reset(s.Stall)
		}
	}
}

// frame records a delivered frame, and logs the change to running once.
func (s *Supervisor) frame(f *Frame, first bool) {
	s.captured.Inc()
	s.mu.Lock()
	s.times[s.nTimes%len(s.times)] = time.Now()
	s.nTimes++
	s.status.Width, s.status.Height = f.Width, f.Height
	s.mu.Unlock()
	if first {
		s.setState("running", "")
	}
}

// setState records the state and logs it only when it changes.
func (s *Supervisor) setState(state, reason string) {
	s.mu.Lock()
	old := s.status
	s.status.State, s.status.Reason = state, reason
	if state == "retrying" {
		s.status.Restarts++
	}
	s.mu.Unlock()
	if old.State == state {
		return
	}
	switch state {
	case "running":
		s.log.Info("camera running", "source", s.name, "width", s.status.Width, "height", s.status.Height)
	case "retrying":
		s.log.Warn("camera failed; retrying with backoff until it works", "source", s.name, "reason", reason)
	case "stopped":
		s.log.Info("camera stopped", "source", s.name)
	}
}
