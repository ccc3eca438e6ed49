package gpio

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	pgpio "periph.io/x/conn/v3/gpio"
)

// DefaultStuckAfter is how long the button may be held before it counts as stuck.
const DefaultStuckAfter = 10 * time.Second

// pirDebounce filters the PIR output, which is clean but may glitch on a long wire.
const pirDebounce = 50 * time.Millisecond

// Config is the doorbell's hardware. A nil pin is not wired.
type Config struct {
	Button          pgpio.PinIn
	ButtonActiveLow bool
	ButtonPull      pgpio.Pull
	Debounce        time.Duration
	// Cooldown: a press this soon after the last clip-starting ring is a Repeat.
	Cooldown time.Duration
	// StuckAfter is how long a press may last before the button counts as
	// stuck; 0 means DefaultStuckAfter.
	StuckAfter time.Duration

	Chime          pgpio.PinOut
	ChimeActiveLow bool
	ChimePulse     time.Duration

	LED          pgpio.PinOut
	LEDActiveLow bool

	PIR          pgpio.PinIn
	PIRActiveLow bool
	PIRPull      pgpio.Pull

	Log *slog.Logger
}

// Ring is one press of the button.
type Ring struct {
	At     time.Time // the debounced press
	Edge   time.Time // the first raw edge of the press
	Repeat bool      // within the cooldown of the last ring that started a clip
}

// Handlers receive what the doorbell notices. They run on the input's
// goroutine and must not block; nil handlers are skipped.
type Handlers struct {
	Ring   func(Ring)
	Motion func(Change) // the PIR: Active true is motion starting, false ending
}

// Doorbell ties the button to the chime and the status LED: a press pulses
// the chime first, then reports the ring.
type Doorbell struct {
	cfg    Config
	log    *slog.Logger
	button *Input
	pir    *Input
	chime  *Chime
	led    *LED

	mu       sync.Mutex
	lastRing time.Time // the last ring that was not a Repeat
	rings    atomic.Uint64
	stuck    atomic.Bool
}

// New sets the pins up. The error names the pin that failed and why.
func New(c Config) (*Doorbell, error) {
	if c.StuckAfter <= 0 {
		c.StuckAfter = DefaultStuckAfter
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	d := &Doorbell{cfg: c, log: c.Log, led: NewLED(c.LED, c.LEDActiveLow)}
	var err error
	if d.button, err = NewInput(c.Button, InputConfig{
		ActiveLow: c.ButtonActiveLow, Pull: c.ButtonPull, Debounce: c.Debounce, Hold: c.StuckAfter,
	}); err != nil {
		return nil, err
	}
	if c.Chime != nil {
		if d.chime, err = NewChime(c.Chime, c.ChimeActiveLow, c.ChimePulse); err != nil {
			return nil, err
		}
	}
	if c.LED != nil {
		if err := c.LED.Out(d.led.off); err != nil {
			return nil, fmt.Errorf("cannot use %s as the LED output: %w; check that no other program holds the line (gpioinfo shows its user)", c.LED.Name(), err)
		}
	}
	if c.PIR != nil {
		if d.pir, err = NewInput(c.PIR, InputConfig{ActiveLow: c.PIRActiveLow, Pull: c.PIRPull, Debounce: pirDebounce}); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// LED is the status LED, for the parts that show recording or live viewing.
func (d *Doorbell) LED() *LED { return d.led }

// Chime is the chime relay, or nil if none is wired.
func (d *Doorbell) Chime() *Chime { return d.chime }

// Run watches the inputs and drives the outputs until ctx ends, then
// releases the chime and turns the LED off.
func (d *Doorbell) Run(ctx context.Context, h Handlers) {
	var wg sync.WaitGroup
	wg.Go(func() { d.led.Run(ctx) })
	if d.pir != nil {
		wg.Go(func() {
			d.pir.Run(ctx, func(c Change) {
				if h.Motion != nil && !c.Held {
					h.Motion(c)
				}
			})
		})
	}
	if d.button.Active() {
		d.log.Warn("the doorbell button is pressed as the daemon starts; it will ring once released and pressed again", "pin", d.cfg.Button.Name())
	}
	d.button.Run(ctx, func(c Change) { d.onButton(c, h) })
	wg.Wait()
	if d.chime != nil {
		_ = d.chime.Close()
	}
}

func (d *Doorbell) onButton(c Change, h Handlers) {
	switch {
	case c.Held:
		// It rang once when pressed; say so once, and show the fault.
		d.stuck.Store(true)
		d.led.Set(Error, true)
		d.log.Warn("the doorbell button has been held down for over "+d.cfg.StuckAfter.String()+"; ignoring it until it is released: check the button and its wiring",
			"pin", d.cfg.Button.Name())
	case c.Active:
		d.press(c, h)
	case d.stuck.Load():
		d.stuck.Store(false)
		d.led.Set(Error, false)
		d.log.Info("the stuck doorbell button was released; it works again", "pin", d.cfg.Button.Name())
	}
}

func (d *Doorbell) press(c Change, h Handlers) {
	// The chime first: it must sound at once, whatever comes after.
	if d.chime != nil {
		if err := d.chime.Ring(); err != nil {
			d.log.Error("cannot pulse the chime", "pin", d.cfg.Chime.Name(), "err", err)
		}
	}
	d.mu.Lock()
	repeat := !d.lastRing.IsZero() && c.At.Sub(d.lastRing) < d.cfg.Cooldown
	if !repeat {
		d.lastRing = c.At
	}
	d.mu.Unlock()
	d.rings.Add(1)
	if h.Ring != nil {
		h.Ring(Ring{At: c.At, Edge: c.Edge, Repeat: repeat})
	}
}

// Status is the doorbell's part of /healthz.
type Status struct {
	State   string `json:"state"` // "running", or "stuck" while the button is held down too long
	Button  string `json:"button"`
	Chime   string `json:"chime,omitempty"`
	LED     string `json:"led,omitempty"`
	PIR     string `json:"pir,omitempty"`
	Pressed bool   `json:"pressed"`
	Rings   uint64 `json:"rings"`
	Shows   string `json:"led_state"` // what the LED shows
}

// Status reports the doorbell's state now.
func (d *Doorbell) Status() Status {
	s := Status{State: "running", Button: d.cfg.Button.Name(), Pressed: d.button.Active(), Rings: d.rings.Load(), Shows: d.led.State().String()}
	if d.stuck.Load() {
		s.State = "stuck"
	}
	if d.cfg.Chime != nil {
		s.Chime = d.cfg.Chime.Name()
	}
	if d.cfg.LED != nil {
		s.LED = d.cfg.LED.Name()
	}
	if d.cfg.PIR != nil {
		s.PIR = d.cfg.PIR.Name()
	}
	return s
}
