package gpio

import (
	"context"
	"sync"
	"time"

	pgpio "periph.io/x/conn/v3/gpio"
)

// State is what the status LED shows. When several hold at once, the
// highest wins: Error over Listening over Recording over Watching over Idle.
type State int

// The LED's states, lowest priority first.
const (
	Idle      State = iota // a short blink every two seconds: alive
	Watching               // slow blink: someone is watching live
	Recording              // steady on: a clip is being recorded
	Listening              // double blink: the doorbell's microphone is live, for the visitor to see
	Error                  // fast flashing: a fault, such as a stuck button
	numStates
)

func (s State) String() string {
	switch s {
	case Idle:
		return "idle"
	case Watching:
		return "watching"
	case Recording:
		return "recording"
	case Listening:
		return "listening"
	case Error:
		return "error"
	}
	return "unknown"
}

// Step is one part of a blink pattern: the LED on or off for a time. A step
// of no time lasts until the state changes.
type Step struct {
	On  bool
	For time.Duration
}

// Pattern is the blink pattern the LED repeats in state s.
func (s State) Pattern() []Step {
	switch s {
	case Watching:
		return []Step{{true, 500 * time.Millisecond}, {false, 500 * time.Millisecond}}
	case Recording:
		return []Step{{true, 0}}
	case Listening:
		return []Step{{true, 150 * time.Millisecond}, {false, 150 * time.Millisecond}, {true, 150 * time.Millisecond}, {false, 550 * time.Millisecond}}
	case Error:
		return []Step{{true, 100 * time.Millisecond}, {false, 100 * time.Millisecond}}
	default:
		return []Step{{true, 100 * time.Millisecond}, {false, 1900 * time.Millisecond}}
	}
}

// LED drives the status LED. Its methods are safe for concurrent use, and
// it keeps track of its state even with no pin.
type LED struct {
	pin     pgpio.PinOut // nil: no LED wired; the state is still kept
	on, off pgpio.Level

	mu     sync.Mutex
	active [numStates]bool
	wake   chan struct{}
}

// NewLED makes an LED on pin (nil for none), showing Idle.
func NewLED(pin pgpio.PinOut, activeLow bool) *LED {
	l := &LED{pin: pin, on: pgpio.High, off: pgpio.Low, wake: make(chan struct{}, 1)}
	if activeLow {
		l.on, l.off = pgpio.Low, pgpio.High
	}
	return l
}

// SetState makes s the only state held: SetState(Idle) clears all.
func (l *LED) SetState(s State) {
	l.update(func() {
		l.active = [numStates]bool{}
		if s > Idle && s < numStates {
			l.active[s] = true
		}
	})
}

// Set turns one state on or off, leaving the others: for parts that each
// own one state (the recorder Recording, the live view Watching).
func (l *LED) Set(s State, on bool) {
	if s <= Idle || s >= numStates {
		return
	}
	l.update(func() { l.active[s] = on })
}

// State is the state the LED shows.
func (l *LED) State() State {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.shown()
}

func (l *LED) shown() State {
	for s := numStates - 1; s > Idle; s-- {
		if l.active[s] {
			return s
		}
	}
	return Idle
}

func (l *LED) update(f func()) {
	l.mu.Lock()
	before := l.shown()
	f()
	changed := l.shown() != before
	l.mu.Unlock()
	if changed {
		select {
		case l.wake <- struct{}{}:
		default:
		}
	}
}

// Run blinks the LED until ctx ends, then turns it off.
func (l *LED) Run(ctx context.Context) {
	if l.pin == nil {
		return
	}
	defer func() { _ = l.pin.Out(l.off) }()
	// The pattern is read from the state below: a change made before Run
	// needs no wake-up.
	select {
	case <-l.wake:
	default:
	}
	t := time.NewTimer(time.Hour)
	t.Stop()
	for {
		steps := l.State().Pattern()
	pattern:
		for i := 0; ; i = (i + 1) % len(steps) {
			lv := l.off
			if steps[i].On {
				lv = l.on
			}
			_ = l.pin.Out(lv)
			var tick <-chan time.Time
			if steps[i].For > 0 {
				t.Reset(steps[i].For)
				tick = t.C
			}
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-l.wake:
				t.Stop()
				break pattern
			case <-tick:
			}
		}
	}
}
