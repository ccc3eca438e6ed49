package gpio

import (
	"time"

	pgpio "periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"
)

// Fake is a doorbell's worth of periph gpiotest pins, for -demo and tests:
// nothing touches hardware. Pass its pins to New like real ones.
type Fake struct {
	Button, Chime, LED, PIR *gpiotest.Pin
	activeLow               bool
}

// NewFake makes fake pins; buttonActiveLow must match Config.ButtonActiveLow.
func NewFake(buttonActiveLow bool) *Fake {
	pin := func(name string, n int) *gpiotest.Pin {
		return &gpiotest.Pin{N: name, Num: n, EdgesChan: make(chan pgpio.Level, 64)}
	}
	return &Fake{
		Button: pin("GPIO17 (fake)", 17), Chime: pin("GPIO27 (fake)", 27),
		LED: pin("GPIO22 (fake)", 22), PIR: pin("GPIO23 (fake)", 23),
		activeLow: buttonActiveLow,
	}
}

// Press pushes the fake button as a finger would: the pressing edge now and
// the releasing edge after hold. It does not wait.
func (f *Fake) Press(hold time.Duration) {
	f.Edge(true)
	time.AfterFunc(hold, func() { f.Edge(false) })
}

// Edge makes the button's line go to the pressed (true) or released level.
// An edge that does not fit in the pin's buffer is lost, as on a busy line.
func (f *Fake) Edge(pressed bool) {
	SendEdge(f.Button, pressed != f.activeLow)
}

// SendEdge makes a fake input line go to level high (true) or low.
func SendEdge(p *gpiotest.Pin, high bool) {
	select {
	case p.EdgesChan <- pgpio.Level(high):
	default:
	}
}
