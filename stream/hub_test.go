package stream

import (
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestViewersComeAndGo(t *testing.T) {
	if testing.Short() {
		t.Skip("connects 40 viewers")
	}
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	p := startPipeline(t, pipelineConfig{maxViewers: 25, perViewer: 25}) // one token watches 20 times
	defer p.stop()
	url := p.srv.URL + "/whep"
	steady, err := watch(url, "good-token", false)
	if err != nil {
		t.Fatal(err)
	}
	defer steady.close()
	if !waitFor(5*time.Second, func() bool { return steady.frames.Load() > 15 }) {
		t.Fatal("the steady viewer gets no pictures")
	}
	framesBefore, ausBefore := steady.frames.Load(), p.aus.Load()
	const rounds, crowd = 2, 20
	for round := range rounds {
		viewers := make([]*viewer, crowd)
		errs := make([]error, crowd)
		var wg sync.WaitGroup
		for i := range viewers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				viewers[i], errs[i] = watch(url, "other-token", false)
			}()
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("round %d, viewer %d: %v", round, i, err)
			}
		}
		for i, v := range viewers {
			if !waitFor(5*time.Second, func() bool { return v.frames.Load() > 0 }) {
				t.Errorf("round %d: viewer %d got no picture within 5 s", round, i)
			}
		}
		if st := p.hub.Status(); st.Viewers != crowd+1 {
			t.Errorf("round %d: hub has %d viewers, want %d", round, st.Viewers, crowd+1)
		}
		for _, v := range viewers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := v.hangUp(); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		if !waitFor(2*time.Second, func() bool { return p.hub.Status().Viewers == 1 }) {
			t.Errorf("round %d: %d sessions open after all but one hung up", round, p.hub.Status().Viewers)
		}
	}
	// The steady viewer got every picture the encoder made meanwhile.
	got, made := steady.frames.Load()-framesBefore, p.aus.Load()-ausBefore
	t.Logf("steady viewer: %d of %d pictures while %d viewers came and went; %d broken", got, made, rounds*crowd, steady.broken.Load())
	if s := p.session(steady.location); s == nil || s.skipped.Load() > 0 {
		t.Errorf("the steady viewer's session skipped pictures (or ended): %+v", s)
	}
	if float64(got) < 0.95*float64(made)-2 {
		t.Errorf("the steady viewer got %d of %d pictures", got, made)
	}
	if err := steady.hangUp(); err != nil {
		t.Error(err)
	}
	p.stop()
}

// fakeSession makes a session with no connection, to test its queue.
func fakeSession(t *testing.T, queue int) *session {
	h, err := NewHub(NewRing(1<<20), HubConfig{Queue: queue})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	return &session{hub: h, queue: make(chan *AccessUnit, queue), done: make(chan struct{})}
}

func TestSlowViewerSkipsToNextKeyframe(t *testing.T) {
	s := fakeSession(t, 4)
	// Keyframes at 0 and 8; nothing reads the queue.
	aus := testGOPs(2, 8, time.Now())
	for _, au := range aus[:5] {
		s.offer(au) // 4 fit, the 5th overflows: all dropped, wait for a keyframe
	}
	if len(s.queue) != 0 || s.skipped.Load() != 5 {
		t.Fatalf("after overflowing: %d queued, %d skipped; want 0 and 5", len(s.queue), s.skipped.Load())
	}
	for _, au := range aus[5:12] {
		s.offer(au) // 3 skipped, then the keyframe and 3 more fit
	}
	if len(s.queue) != 4 || s.skipped.Load() != 8 {
		t.Fatalf("after the next keyframe: %d queued, %d skipped; want 4 and 8", len(s.queue), s.skipped.Load())
	}
	if first := <-s.queue; first != aus[8] {
		t.Errorf("the viewer resumes at seq %d, want the keyframe at 8", first.Seq)
	}
}

func TestStuckViewerDelaysNoOne(t *testing.T) {
	ring := NewRing(1 << 20)
	stuck, live := fakeSession(t, 3), fakeSession(t, 100)
	_, cancel1 := ring.Subscribe(time.Now(), stuck.offer)
	defer cancel1()
	_, cancel2 := ring.Subscribe(time.Now(), live.offer)
	defer cancel2()
	start := time.Now()
	for _, au := range testGOPs(10, 10, time.Now()) {
		ring.WriteAccessUnit(au)
	}
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Errorf("100 access units took %v to pass a stuck viewer", d)
	}
	if len(live.queue) != 100 || live.skipped.Load() != 0 {
		t.Errorf("the other viewer has %d queued, %d skipped; want 100 and 0", len(live.queue), live.skipped.Load())
	}
	if stuck.skipped.Load() < 90 {
		t.Errorf("the stuck viewer skipped only %d", stuck.skipped.Load())
	}
}

// The first live picture's timestamp is the session's random base, whatever
// its value, and the next ones follow the capture times; before the fix, a
// base of 2^31 or more made every timestamp the last one plus 1.
func TestLiveTimestampsFollowCaptureTimes(t *testing.T) {
	for _, base := range []uint32{0x10000000, 0x90000000, 0xffffff00} {
		s := fakeSession(t, 4)
		s.tsBase = base
		t0 := time.Now()
		want := []uint32{base, base + 3600, base + 7200}
		for i, w := range want {
			au := &AccessUnit{Captured: t0.Add(time.Duration(i) * 40 * time.Millisecond)}
			ts := s.liveTS(au)
			if ts != w {
				t.Fatalf("base %#x: picture %d has timestamp %#x, want %#x", base, i, ts, w)
			}
			s.lastTS = ts
			s.sent.Add(1)
		}
		// A picture captured no later than the last one still goes after it.
		if ts := s.liveTS(&AccessUnit{Captured: t0}); ts != s.lastTS+1 {
			t.Errorf("base %#x: a late picture has timestamp %#x, want %#x", base, ts, s.lastTS+1)
		}
	}
}
