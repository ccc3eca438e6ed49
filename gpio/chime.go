package gpio

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	pgpio "periph.io/x/conn/v3/gpio"
)

// Chime pulses the relay that sounds the chime.
type Chime struct {
	pin     pgpio.PinOut
	on, off pgpio.Level
	pulse   time.Duration

	mu     sync.Mutex
	gen    uint64 // which Ring the pending release belongs to
	timer  *time.Timer
	closed bool
	pulses atomic.Uint64
}

// NewChime sets pin up as the relay output, released.
func NewChime(pin pgpio.PinOut, activeLow bool, pulse time.Duration) (*Chime, error) {
	if pulse <= 0 {
		return nil, fmt.Errorf("chime %s: pulse is %v; use a positive time, e.g. 300ms", pin.Name(), pulse)
	}
	c := &Chime{pin: pin, on: pgpio.High, off: pgpio.Low, pulse: pulse}
	if activeLow {
		c.on, c.off = pgpio.Low, pgpio.High
	}
	if err := pin.Out(c.off); err != nil {
		return nil, fmt.Errorf("cannot use %s as the chime output: %w; check that no other program holds the line (gpioinfo shows its user)", pin.Name(), err)
	}
	return c, nil
}

// Ring closes the relay now and opens it after the pulse. A Ring during a
// pulse makes the pulse last until pulse after the later Ring.
func (c *Chime) Ring() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	c.gen++
	g := c.gen
	err := c.pin.Out(c.on)
	c.pulses.Add(1)
	if c.timer != nil {
		c.timer.Stop()
	}
	c.timer = time.AfterFunc(c.pulse, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.gen == g && !c.closed {
			_ = c.pin.Out(c.off)
		}
	})
	return err
}

// Pulses counts Ring calls.
func (c *Chime) Pulses() uint64 { return c.pulses.Load() }

// Close releases the relay for good.
func (c *Chime) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	if c.timer != nil {
		c.timer.Stop()
	}
	return c.pin.Out(c.off)
}
