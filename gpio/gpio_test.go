package gpio

import (
	"context"
	"doorbell/internal/syncbuf"
	"log/slog"
	"math/rand/v2"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	pgpio "periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"
)

// recorder is a gpiotest output pin that also keeps every level written to
// it, with the time, so that tests can check pulses and blink patterns.
type recorder struct {
	*gpiotest.Pin
	mu   sync.Mutex
	outs []out
	ch   chan out
}

type out struct {
	l  pgpio.Level
	at time.Time
}

func newRecorder(p *gpiotest.Pin) *recorder {
	return &recorder{Pin: p, ch: make(chan out, 4096)}
}

func (r *recorder) Out(l pgpio.Level) error {
	err := r.Pin.Out(l)
	o := out{l, time.Now()}
	r.mu.Lock()
	r.outs = append(r.outs, o)
	r.mu.Unlock()
	select {
	case r.ch <- o:
	default:
	}
	return err
}

func (r *recorder) history() []out {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]out(nil), r.outs...)
}

// bell is a running Doorbell on fake pins.
type bell struct {
	*Doorbell
	fake  *Fake
	chime *recorder
	rings chan Ring
	moves chan Change
	log   *syncbuf.Buffer
	stop  func()
}

func startBell(t testing.TB, edit func(*Config)) *bell {
	t.Helper()
	f := NewFake(true)
	b := &bell{fake: f, chime: newRecorder(f.Chime), rings: make(chan Ring, 100), moves: make(chan Change, 100), log: &syncbuf.Buffer{}}
	c := Config{
		Button: f.Button, ButtonActiveLow: true, ButtonPull: pgpio.PullUp,
		Debounce: 30 * time.Millisecond, Cooldown: 30 * time.Second,
		Chime: b.chime, ChimePulse: 300 * time.Millisecond,
		Log: slog.New(slog.NewTextHandler(b.log, nil)),
	}
	if edit != nil {
		edit(&c)
	}
	d, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	b.Doorbell = d
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		d.Run(ctx, Handlers{
			Ring:   func(r Ring) { b.rings <- r },
			Motion: func(c Change) { b.moves <- c },
		})
	}()
	b.stop = func() {
		cancel()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("Run did not return within 5 s of its context ending")
		}
	}
	t.Cleanup(b.stop)
	return b
}

// settle waits long enough for any press in the making to have rung.
func settle() { time.Sleep(250 * time.Millisecond) }

func (b *bell) expectRings(t *testing.T, n int) []Ring {
	t.Helper()
	var got []Ring
	for len(got) < n {
		select {
		case r := <-b.rings:
			got = append(got, r)
		case <-time.After(5 * time.Second):
			t.Fatalf("%d ring(s) after 5 s, want %d", len(got), n)
		}
	}
	settle()
	select {
	case r := <-b.rings:
		t.Fatalf("an extra ring: %+v (want %d)", r, n)
	default:
	}
	return got
}

// burst toggles the button n times with random gaps below max, starting
// from released, and leaves it at the level end.
func (b *bell) burst(rng *rand.Rand, n int, maxGap time.Duration, end bool) {
	level := false
	for i := 0; i < n; i++ {
		level = !level
		b.fake.Edge(level)
		time.Sleep(time.Duration(rng.Int64N(int64(maxGap))))
	}
	if level != end {
		b.fake.Edge(end)
	}
}

func TestBounceRingsOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := startBell(t, nil)
		// A typical contact: a few bounces within 3 ms on the way down and up.
		for _, l := range []bool{true, false, true, false, true} {
			b.fake.Edge(l)
			time.Sleep(500 * time.Microsecond)
		}
		time.Sleep(200 * time.Millisecond)
		for _, l := range []bool{false, true, false, true, false} {
			b.fake.Edge(l)
			time.Sleep(500 * time.Microsecond)
		}
		r := b.expectRings(t, 1)[0]
		if r.Repeat {
			t.Error("the first ring is marked Repeat")
		}
		if r.At.Before(r.Edge) {
			t.Errorf("settled at %v, before its first edge at %v", r.At, r.Edge)
		}
		if n := b.Chime().Pulses(); n != 1 {
			t.Errorf("the chime pulsed %d times, want 1", n)
		}
		if b.Status().Pressed {
			t.Error("the button still shows pressed after its release")
		}
	})
}

func TestChatterRingsOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// A debounce well above the gaps, so that a busy machine's late sleeps
		// do not turn the chatter into separate presses.
		b := startBell(t, func(c *Config) { c.Debounce = 100 * time.Millisecond })
		rng := rand.New(rand.NewPCG(1, 2))
		// A worn contact chatters for 200 ms on the way down, flickers while
		// held, and chatters again on release: one press.
		b.burst(rng, 40, 10*time.Millisecond, true)
		time.Sleep(250 * time.Millisecond)
		b.burst(rng, 6, 5*time.Millisecond, true)
		time.Sleep(250 * time.Millisecond)
		b.burst(rng, 40, 10*time.Millisecond, false)
		b.expectRings(t, 1)

		// Chatter that never settles pressed (interference on a long wire) does not ring at all.
		b.burst(rng, 60, 15*time.Millisecond, false)
		b.expectRings(t, 0)
	})
}

func TestSpikeShorterThanDebounceDoesNotRing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := startBell(t, nil)
		b.fake.Edge(true) // a spike: down and straight back up
		b.fake.Edge(false)
		b.expectRings(t, 0)
		b.fake.Press(100 * time.Millisecond)
		b.expectRings(t, 1)
	})
}

func TestStuckButtonRingsOnceWarnsOnceAndRecovers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := startBell(t, func(c *Config) { c.StuckAfter = 400 * time.Millisecond; c.Cooldown = 0 })
		b.fake.Edge(true)
		b.expectRings(t, 1)
		time.Sleep(time.Second) // over twice the stuck time: still one warning
		if n := strings.Count(b.log.String(), "held down"); n != 1 {
			t.Fatalf("%d warnings about the held button, want 1:\n%s", n, b.log.String())
		}
		if s := b.Status(); s.State != "stuck" || s.Shows != "error" {
			t.Errorf("while stuck, status is %+v; want state stuck, LED showing error", s)
		}
		b.fake.Edge(false)
		settle()
		if s := b.Status(); s.State != "running" || s.Shows != "idle" {
			t.Errorf("after release, status is %+v; want running, LED idle", s)
		}
		if strings.Count(b.log.String(), "works again") != 1 {
			t.Errorf("the recovery was not logged:\n%s", b.log.String())
		}
		b.fake.Press(100 * time.Millisecond)
		b.expectRings(t, 1)
		if n := strings.Count(b.log.String(), "held down"); n != 1 {
			t.Errorf("%d warnings after a normal press, want still 1", n)
		}
	})
}

func TestButtonHeldAtStartDoesNotRing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := NewFake(true)
		f.Button.L = pgpio.Low // pressed, and no pull to change it
		b := startBell(t, func(c *Config) {
			c.Button, c.ButtonPull, c.StuckAfter = f.Button, pgpio.PullNoChange, 300*time.Millisecond
		})
		b.fake = f
		time.Sleep(600 * time.Millisecond)
		b.expectRings(t, 0)
		if strings.Count(b.log.String(), "pressed as the daemon starts") != 1 || strings.Count(b.log.String(), "held down") != 1 {
			t.Errorf("log does not tell of the button held at start and then stuck:\n%s", b.log.String())
		}
		f.Edge(false)
		settle()
		f.Press(100 * time.Millisecond)
		b.expectRings(t, 1)
	})
}

func TestRepeatWithinCooldownChimesButIsMarked(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := startBell(t, func(c *Config) { c.Cooldown = 2 * time.Second })
		b.fake.Press(80 * time.Millisecond)
		first := b.expectRings(t, 1)[0]
		b.fake.Press(80 * time.Millisecond)
		second := b.expectRings(t, 1)[0]
		if first.Repeat || !second.Repeat {
			t.Fatalf("Repeat flags %v, %v; want false, true", first.Repeat, second.Repeat)
		}
		if n := b.Chime().Pulses(); n != 2 {
			t.Errorf("the chime pulsed %d times, want 2: a repeat press chimes too", n)
		}
		time.Sleep(time.Until(first.At.Add(2*time.Second + 50*time.Millisecond)))
		b.fake.Press(80 * time.Millisecond)
		if third := b.expectRings(t, 1)[0]; third.Repeat {
			t.Error("a press after the cooldown is marked Repeat")
		}
		if s := b.Status(); s.Rings != 3 {
			t.Errorf("status counts %d rings, want 3", s.Rings)
		}
	})
}

func TestChimePulse(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := startBell(t, func(c *Config) { c.ChimeActiveLow = true; c.ChimePulse = 150 * time.Millisecond })
		if got := b.chime.Read(); got != pgpio.High {
			t.Fatalf("an active-low chime starts at %v, want High (released)", got)
		}
		b.fake.Press(50 * time.Millisecond)
		b.expectRings(t, 1)
		h := b.chime.history()
		if len(h) != 3 || h[0].l != pgpio.High || h[1].l != pgpio.Low || h[2].l != pgpio.High {
			t.Fatalf("chime outputs %v; want High (released), Low (pulse), High", h)
		}
		if d := h[2].at.Sub(h[1].at); d < 150*time.Millisecond {
			t.Errorf("the pulse lasted %v, less than the 150ms configured", d)
		}

		// A second ring during a pulse stretches it: one pulse, not two.
		c, err := NewChime(newRecorder(&gpiotest.Pin{N: "c"}), false, 200*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		rec := c.pin.(*recorder)
		_ = c.Ring()
		time.Sleep(100 * time.Millisecond)
		_ = c.Ring()
		time.Sleep(400 * time.Millisecond)
		h = rec.history()
		var levels []pgpio.Level
		for _, o := range h {
			levels = append(levels, o.l)
		}
		if len(h) != 4 || h[3].l != pgpio.Low || h[1].l != pgpio.High || h[2].l != pgpio.High {
			t.Fatalf("outputs %v; want Low, High, High, Low", levels)
		}
		if d := h[3].at.Sub(h[2].at); d < 200*time.Millisecond {
			t.Errorf("the stretched pulse ended %v after the second ring, want at least 200ms", d)
		}
		if err := c.Close(); err != nil || rec.Read() != pgpio.Low {
			t.Errorf("Close left the relay at %v (%v)", rec.Read(), err)
		}
	})
}

func TestPIRIsMotion(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := NewFake(true)
		b := startBell(t, func(c *Config) { c.PIR, c.PIRPull = f.PIR, pgpio.PullDown })
		SendEdge(f.PIR, true)
		SendEdge(f.PIR, false) // a glitch on the way up
		SendEdge(f.PIR, true)
		for _, want := range []bool{true, false} {
			select {
			case c := <-b.moves:
				if c.Active != want {
					t.Fatalf("PIR change Active=%v, want %v", c.Active, want)
				}
			case <-time.After(3 * time.Second):
				t.Fatalf("no PIR change to Active=%v", want)
			}
			SendEdge(f.PIR, false)
		}
		settle()
		if len(b.moves) != 0 {
			t.Errorf("%d extra PIR changes", len(b.moves))
		}
		if b.Status().PIR == "" {
			t.Error("status does not name the PIR pin")
		}
		b.expectRings(t, 0)
	})
}

func TestLEDPatterns(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// Each pattern is distinct, and each LED follows its own.
		seen := map[string]State{}
		for s := Idle; s < numStates; s++ {
			key := ""
			for _, st := range s.Pattern() {
				key += st.For.String() + map[bool]string{true: "+", false: "-"}[st.On]
			}
			if o, dup := seen[key]; dup {
				t.Errorf("%v and %v blink alike", o, s)
			}
			seen[key] = s
		}

		const watch = 2500 * time.Millisecond
		var wg sync.WaitGroup
		for s := Idle; s < numStates; s++ {
			wg.Go(func() {
				rec := newRecorder(&gpiotest.Pin{N: s.String()})
				l := NewLED(rec, false)
				l.SetState(s)
				ctx, cancel := context.WithTimeout(context.Background(), watch)
				defer cancel()
				l.Run(ctx)
				checkBlinks(t, s, rec.history())
			})
		}
		wg.Wait()
	})
}

// checkBlinks compares what an LED did with its state's pattern.
func checkBlinks(t *testing.T, s State, h []out) {
	p := s.Pattern()
	last := h[len(h)-1]
	h = h[:len(h)-1]
	if last.l != pgpio.Low {
		t.Errorf("%v: the LED was left %v after Run, want off", s, last.l)
	}
	if len(p) == 1 {
		if len(h) != 1 || h[0].l != pgpio.High {
			t.Errorf("%v: outputs %v, want steady on", s, h)
		}
		return
	}
	if len(h) < 3 {
		t.Errorf("%v: only %d outputs while watched", s, len(h))
		return
	}
	for i := 0; i+1 < len(h); i++ {
		step := p[i%len(p)]
		if h[i].l != pgpio.Level(step.On) {
			t.Errorf("%v: output %d is %v, want %v", s, i, h[i].l, step.On)
		}
		// Timers are never early; a loaded machine may make them late.
		if d := h[i+1].at.Sub(h[i].at); d < step.For-time.Millisecond || d > step.For+400*time.Millisecond {
			t.Errorf("%v: step %d lasted %v, want %v", s, i, d, step.For)
		}
	}
}

func TestLEDStatePriority(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := newRecorder(&gpiotest.Pin{N: "led"})
		l := NewLED(rec, true)
		steps := []struct {
			do   func()
			want State
		}{
			{func() {}, Idle},
			{func() { l.Set(Watching, true) }, Watching},
			{func() { l.Set(Recording, true) }, Recording},
			{func() { l.Set(Watching, false) }, Recording},
			{func() { l.Set(Error, true) }, Error},
			{func() { l.Set(Error, false) }, Recording},
			{func() { l.Set(Recording, false) }, Idle},
			{func() { l.SetState(Watching) }, Watching},
			{func() { l.SetState(Idle) }, Idle},
		}
		for i, s := range steps {
			s.do()
			if got := l.State(); got != s.want {
				t.Errorf("step %d: LED shows %v, want %v", i, got, s.want)
			}
		}

		// A change shows at once, not at the end of the current blink.
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { l.Run(ctx); close(done) }()
		waitLevel(t, rec, pgpio.Low) // active low: the idle blink's on
		l.SetState(Recording)
		// The idle blink turns off (High) after 100 ms and stays off 1.9 s;
		// Recording must light it (Low) well before that ends.
		deadline := time.After(time.Second)
		for {
			select {
			case o := <-rec.ch:
				if o.l == pgpio.Low && rec.Read() == pgpio.Low && l.State() == Recording {
					cancel()
					<-done
					if rec.Read() != pgpio.High {
						t.Error("an active-low LED was not left off (High)")
					}
					return
				}
			case <-deadline:
				t.Fatal("the LED did not switch to Recording within 1 s")
			}
		}
	})
}

func waitLevel(t *testing.T, r *recorder, l pgpio.Level) {
	t.Helper()
	for {
		select {
		case o := <-r.ch:
			if o.l == l {
				return
			}
		case <-time.After(3 * time.Second):
			t.Fatalf("the pin never went %v", l)
		}
	}
}

func TestNoChimeNoLED(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := startBell(t, func(c *Config) { c.Chime = nil })
		b.fake.Press(80 * time.Millisecond)
		b.expectRings(t, 1)
		if b.Chime() != nil || b.Status().Chime != "" || b.Status().LED != "" {
			t.Errorf("status names parts that are not wired: %+v", b.Status())
		}
		b.LED().Set(Recording, true) // keeps state with no pin
		if b.Status().Shows != "recording" {
			t.Errorf("status shows LED %q", b.Status().Shows)
		}
	})
}

func TestStopsPromptly(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := startBell(t, func(c *Config) { c.LED = newRecorder(&gpiotest.Pin{N: "led"}); c.ChimePulse = 5 * time.Second })
		b.fake.Press(50 * time.Millisecond)
		b.expectRings(t, 1)
		start := time.Now()
		b.stop()
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("Run took %v to return", d)
		}
		if b.chime.Read() != pgpio.Low {
			t.Error("the chime relay was left closed after Run returned")
		}
		if b.cfg.LED.(*recorder).Read() != pgpio.Low {
			t.Error("the LED was left on after Run returned")
		}
	})
}

func TestBadConfig(t *testing.T) {
	f := NewFake(true)
	if _, err := New(Config{Button: f.Button}); err == nil || !strings.Contains(err.Error(), "debounce") {
		t.Errorf("no debounce: %v", err)
	}
	// gpiotest refuses edge detection without an edge channel, as a real
	// line held by another program refuses to be requested.
	_, err := New(Config{Button: &gpiotest.Pin{N: "GPIO5"}, Debounce: time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "cannot use GPIO5 as an input") || !strings.Contains(err.Error(), "gpioinfo") {
		t.Errorf("an input that cannot be set up: %v", err)
	}
	if _, err := New(Config{Button: f.Button, Debounce: time.Millisecond, Chime: f.Chime}); err == nil || !strings.Contains(err.Error(), "pulse") {
		t.Errorf("a chime without a pulse: %v", err)
	}
}

func TestNoChipSaysWhy(t *testing.T) {
	err := checkChips(filepath.Join(t.TempDir(), "gpiochip*"))
	if err == nil || !strings.Contains(err.Error(), "no GPIO chip found") || !strings.Contains(err.Error(), "gpio.enabled = false") {
		t.Errorf("with no chip: %v", err)
	}
	// On this machine: either no chip, or no such line; never a pin.
	p, err := Open("NO_SUCH_LINE_99")
	if err == nil {
		t.Fatalf("Open found a line named NO_SUCH_LINE_99: %v", p)
	}
	if !strings.Contains(err.Error(), "; ") {
		t.Errorf("error does not say what to do: %v", err)
	}
}

// BenchmarkDebouncedEdgeToChime measures, on fake pins, the time from the
// moment a press is debounced to the chime output switching on, and from
// the first raw edge (so including the 30 ms debounce).
func BenchmarkDebouncedEdgeToChime(b *testing.B) {
	bl := startBell(b, func(c *Config) { c.ChimePulse = 10 * time.Millisecond; c.Cooldown = 0 })
	var fromSettled, fromEdge []time.Duration
	for b.Loop() {
		for len(bl.chime.ch) > 0 {
			<-bl.chime.ch
		}
		sent := time.Now()
		bl.fake.Edge(true)
		var on time.Time
		for on.IsZero() {
			if o := <-bl.chime.ch; o.l == pgpio.High {
				on = o.at
			}
		}
		r := <-bl.rings
		fromSettled = append(fromSettled, on.Sub(r.At))
		fromEdge = append(fromEdge, on.Sub(sent))
		bl.fake.Edge(false)
		for bl.Status().Pressed {
			time.Sleep(time.Millisecond)
		}
	}
	b.ReportMetric(ms(percentile(fromSettled, 0.50)), "settled-to-chime-p50-ms")
	b.ReportMetric(ms(percentile(fromSettled, 0.99)), "settled-to-chime-p99-ms")
	b.ReportMetric(ms(percentile(fromEdge, 0.50)), "raw-edge-to-chime-p50-ms")
}

func percentile(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[min(len(s)-1, int(p*float64(len(s))))]
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }
