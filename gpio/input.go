// Package gpio drives the doorbell's hardware through periph.io: the button
// (debounced, with stuck-button detection), the chime relay, the status LED
// and an optional PIR motion sensor. Pins are periph's gpio.PinIn and
// gpio.PinOut: real lines from the GPIO character device (Open), or
// gpiotest fakes in tests and -demo (NewFake).
package gpio

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	pgpio "periph.io/x/conn/v3/gpio"
)

// Change is a settled change of an input.
type Change struct {
	Active bool // the input is now active: pressed, or motion
	// Held is set on the extra Change sent when the input has stayed active
	// for the hold time (a stuck button); Active stays true.
	Held bool
	At   time.Time // when the change settled: the debounced edge
	Edge time.Time // the first raw edge of the change
}

// InputConfig says how to read an input line.
type InputConfig struct {
	ActiveLow bool       // low means active (a button to ground)
	Pull      pgpio.Pull // the line's bias
	Debounce  time.Duration
	Hold      time.Duration // send a Held change after this long active; 0: never
}

// Input turns a bouncing line into clean changes. A new level counts only
// once the line has stayed at it for the debounce time, so bounce and
// chatter give one change and a spike shorter than that gives none.
type Input struct {
	pin    pgpio.PinIn
	cfg    InputConfig
	active atomic.Bool
}

// NewInput sets pin up as an input with edge detection.
func NewInput(pin pgpio.PinIn, c InputConfig) (*Input, error) {
	if c.Debounce <= 0 {
		return nil, fmt.Errorf("input %s: debounce is %v; use a positive time, e.g. 30ms", pin.Name(), c.Debounce)
	}
	if err := pin.In(c.Pull, pgpio.BothEdges); err != nil {
		return nil, fmt.Errorf("cannot use %s as an input: %w; check that no other program holds the line (gpioinfo shows its user)", pin.Name(), err)
	}
	in := &Input{pin: pin, cfg: c}
	in.active.Store(in.read())
	return in, nil
}

// Active reports the settled state.
func (in *Input) Active() bool { return in.active.Load() }

func (in *Input) read() bool { return (in.pin.Read() == pgpio.Low) == in.cfg.ActiveLow }

// poll bounds every wait, so that Run notices ctx even on pins whose Halt
// does nothing, and catches a level change whose edge the kernel dropped.
const poll = 200 * time.Millisecond

// Run calls f, on Run's goroutine, for every settled change until ctx ends.
// An input already active when Run starts is not a change: a button stuck
// at boot does not ring, but is reported Held after the hold time.
func (in *Input) Run(ctx context.Context, f func(Change)) {
	stop := context.AfterFunc(ctx, func() { _ = in.pin.Halt() })
	defer stop()
	state := in.read()
	in.active.Store(state)
	since := time.Now() // when state began
	held := false
	settling := false
	var settleAt, firstEdge time.Time
	for ctx.Err() == nil {
		now := time.Now()
		wait := poll
		if settling {
			wait = settleAt.Sub(now)
		} else if state && in.cfg.Hold > 0 && !held {
			wait = min(wait, since.Add(in.cfg.Hold).Sub(now))
		}
		// A zero timeout waits forever on a character-device line.
		wait = max(wait, time.Microsecond)
		edge := in.pin.WaitForEdge(wait)
		now = time.Now()
		if ctx.Err() != nil {
			return
		}
		if edge {
			// Every edge restarts the wait for the line to settle.
			if !settling {
				firstEdge = now
			}
			settling, settleAt = true, now.Add(in.cfg.Debounce)
			continue
		}
		level := in.read()
		switch {
		case settling && now.Before(settleAt):
			// Woken early (Halt); keep waiting.
		case settling:
			settling = false
			if level != state {
				state, since, held = level, now, false
				in.active.Store(state)
				f(Change{Active: state, At: now, Edge: firstEdge})
			}
		case level != state:
			// A change without an edge: the kernel's event queue overflowed,
			// or the line cannot report edges. Settle it all the same.
			settling, firstEdge, settleAt = true, now, now.Add(in.cfg.Debounce)
		case state && in.cfg.Hold > 0 && !held && now.Sub(since) >= in.cfg.Hold:
			held = true
			f(Change{Active: true, Held: true, At: now, Edge: since})
		}
	}
}
