package camera

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"doorbell/internal/testkit"
)

// scriptedSource delivers frames, then behaves as told: fail, stall politely
// (honouring ctx), or hang in a way that ignores ctx, like a stuck driver.
type scriptedSource struct {
	frames int
	then   string // "fail", "stall", "hang"
	seq    uint64
	hang   chan struct{}
	closed *atomic.Int32
}

func (s *scriptedSource) Read(ctx context.Context, f *Frame) error {
	if s.frames > 0 {
		s.frames--
		f.Resize(16, 16)
		f.Seq = s.seq
		s.seq++
		return nil
	}
	switch s.then {
	case "fail":
		return errors.New("sensor unplugged")
	case "hang":
		<-s.hang
		return errors.New("released")
	default:
		<-ctx.Done()
		return ctx.Err()
	}
}

func (s *scriptedSource) Close() error { s.closed.Add(1); return nil }

type recorder struct {
	mu sync.Mutex
	n  int
}

func (r *recorder) WriteFrame(*Frame) { r.mu.Lock(); r.n++; r.mu.Unlock() }
func (r *recorder) frames() int       { r.mu.Lock(); defer r.mu.Unlock(); return r.n }

func fastSupervisor(open Opener, sink Sink, log *slog.Logger) *Supervisor {
	s := NewSupervisor("test", open, sink, log)
	s.Stall, s.First, s.MinBackoff, s.MaxBackoff = 100*time.Millisecond, 200*time.Millisecond, 10*time.Millisecond, 80*time.Millisecond
	return s
}

// waitFor polls cond for up to 30 s: a bound for a hung test, not a speed target.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testkit.Eventually(t, 30*time.Second, what, cond)
}

func TestSupervisorBacksOffAndLogsOnce(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	var mu sync.Mutex
	var opens []time.Time
	open := func(ctx context.Context) (Source, error) {
		mu.Lock()
		opens = append(opens, time.Now())
		mu.Unlock()
		return nil, errors.New("/dev/video0 does not exist")
	}
	s := fastSupervisor(open, &recorder{}, log)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	waitFor(t, "7 attempts", func() bool { mu.Lock(); defer mu.Unlock(); return len(opens) >= 7 })
	st := s.Status()
	cancel()
	<-done

	if st.State != "retrying" || !strings.Contains(st.Reason, "does not exist") {
		t.Errorf("status while the camera is missing: %+v", st)
	}
	mu.Lock()
	defer mu.Unlock()
	for i := 1; i < 7; i++ {
		want := min(s.MinBackoff<<(i-1), s.MaxBackoff)
		if gap := opens[i].Sub(opens[i-1]); gap < want {
			t.Errorf("attempt %d came %v after the one before, want at least %v (exponential backoff)", i+1, gap, want)
		}
	}
	if n := strings.Count(logs.String(), "camera failed"); n != 1 {
		t.Errorf("the failure was logged %d times, want once:\n%s", n, logs.String())
	}
	if got := testutil.ToFloat64(s.restarts); got < 6 {
		t.Errorf("restarts counter is %v, want at least 6", got)
	}
	if s.Status().State != "stopped" {
		t.Errorf("state after Run returned is %q", s.Status().State)
	}
}

func TestSupervisorRestartsFailingAndStallingSources(t *testing.T) {
	for _, then := range []string{"fail", "stall", "hang"} {
		t.Run(then, func(t *testing.T) {
			var opened, closed atomic.Int32
			hang := make(chan struct{})
			defer close(hang)
			open := func(ctx context.Context) (Source, error) {
				opened.Add(1)
				return &scriptedSource{frames: 3, then: then, hang: hang, closed: &closed}, nil
			}
			rec := &recorder{}
			s := fastSupervisor(open, rec, slog.New(slog.DiscardHandler))
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { s.Run(ctx); close(done) }()
			waitFor(t, "three restarts", func() bool { return opened.Load() >= 4 })
			cancel()
			<-done
			if rec.frames() < 9 {
				t.Errorf("sink got %d frames from 3 runs of 3 frames", rec.frames())
			}
			if then != "hang" && closed.Load() < opened.Load()-1 {
				t.Errorf("opened %d sources but closed only %d", opened.Load(), closed.Load())
			}
		})
	}
}

func TestSupervisorReportsRunningAndFPS(t *testing.T) {
	open := func(ctx context.Context) (Source, error) {
		return NewSynthetic(SyntheticConfig{Width: 64, Height: 48, FPS: 50, Realtime: true})
	}
	s := fastSupervisor(open, &recorder{}, slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go s.Run(ctx)
	waitFor(t, "running at about 50 fps", func() bool {
		st := s.Status()
		return st.State == "running" && st.FPS > 40 && st.FPS < 60 && st.Width == 64
	})
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}
