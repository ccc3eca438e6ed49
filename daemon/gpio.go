package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	pgpio "periph.io/x/conn/v3/gpio"

	"doorbell/config"
	"doorbell/events"
	"doorbell/gpio"
)

// pirIDs start high, apart from the camera detector's motion event IDs.
const pirIDBase = 1 << 62

// gpioPart runs the button, chime, LED and PIR: a press pulses the chime
// and publishes a ring on the bus. Without GPIO hardware (no chip, no
// permission, no such line) the daemon runs on, and /healthz says why.
type gpioPart struct {
	led    *gpio.LED      // the status LED; without GPIO it only keeps the state
	bell   *gpio.Doorbell // nil without GPIO
	health func() any     // the "gpio" section of /healthz
	bus    *events.Bus
	log    *slog.Logger
}

// newGPIO opens the configured lines, or uses the demo's fake pins if
// pins is not nil.
func newGPIO(c config.GPIO, pins *gpio.Fake, bus *events.Bus, log *slog.Logger) (*gpioPart, error) {
	p := &gpioPart{led: gpio.NewLED(nil, false), bus: bus, log: log}
	if !c.Enabled {
		p.health = func() any { return gpioHealth{Status: gpio.Status{State: "off"}} }
		return p, nil
	}
	cfg, err := gpioConfig(c, pins, log)
	var bell *gpio.Doorbell
	if err == nil {
		bell, err = gpio.New(cfg)
	}
	if err != nil {
		log.Warn("running without the doorbell button, chime and LED", "reason", err.Error())
		reason := err.Error()
		p.health = func() any { return gpioHealth{Status: gpio.Status{State: "unavailable"}, Reason: reason} }
		return p, nil
	}
	p.bell, p.led = bell, bell.LED()
	p.health = func() any { return gpioHealth{Status: bell.Status(), Demo: pins != nil} }
	return p, nil
}

func (p *gpioPart) start(ctx context.Context, h *host) error {
	rings := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "doorbell_rings_total",
		Help: "Presses of the doorbell button, each of which chimes and shows on the open pages.",
	})
	repeats := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "doorbell_ring_repeats_total",
		Help: "Rings within the cooldown of the ring before, which start no second clip.",
	})
	if err := registerAll(h.metrics, "gpio", rings, repeats); err != nil {
		return err
	}
	h.AddHealth("gpio", p.health)
	if p.bell == nil {
		return nil
	}
	var ringID, pirCount atomic.Uint64
	var pirID uint64 // the PIR event going on; touched only on the PIR's goroutine
	handlers := gpio.Handlers{
		Ring: func(r gpio.Ring) {
			rings.Inc()
			if r.Repeat {
				repeats.Inc()
			}
			p.log.Info("ring: someone is at the door", "repeat", r.Repeat)
			p.bus.Publish(events.Event{Kind: events.Ring, Time: r.At, ID: ringID.Add(1), Repeat: r.Repeat})
		},
		Motion: func(c gpio.Change) {
			kind := events.MotionEnd
			if c.Active {
				kind = events.MotionStart
				pirID = pirIDBase + pirCount.Add(1)
			}
			p.log.Info("motion sensor", "kind", kind, "event", pirID)
			p.bus.Publish(events.Event{Kind: kind, Time: c.At, ID: pirID, Zones: []string{"pir"}})
		},
	}
	h.goBackground(func() { p.bell.Run(ctx, handlers) })
	return nil
}

// gpioHealth is the "gpio" section of /healthz.
type gpioHealth struct {
	gpio.Status
	Reason string `json:"reason,omitempty"` // why GPIO is unavailable, and what to do
	Demo   bool   `json:"demo,omitempty"`   // fake pins: the demo button
}

// gpioConfig opens the configured lines, or takes the fake pins.
func gpioConfig(c config.GPIO, pins *gpio.Fake, log *slog.Logger) (gpio.Config, error) {
	cfg := gpio.Config{
		ButtonActiveLow: c.Button.Active == "low", ButtonPull: pull(c.Button.Pull),
		Debounce: seconds(c.Button.Debounce), Cooldown: seconds(c.Button.Cooldown),
		ChimeActiveLow: c.Chime.Active == "low", ChimePulse: seconds(c.Chime.Pulse),
		LEDActiveLow: c.LED.Active == "low",
		PIRActiveLow: c.PIR.Active == "low", PIRPull: pull(c.PIR.Pull),
		Log: log.With("part", "gpio"),
	}
	if pins != nil {
		cfg.Button, cfg.Chime, cfg.LED = pins.Button, pins.Chime, pins.LED
		return cfg, nil
	}
	open := func(key, name string) (pgpio.PinIO, error) {
		if name == "" {
			return nil, nil
		}
		p, err := gpio.Open(name)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", key, err)
		}
		return p, nil
	}
	var err error
	var p pgpio.PinIO
	if p, err = open("gpio.button.pin", c.Button.Pin); err != nil {
		return cfg, err
	}
	cfg.Button = p
	if p, err = open("gpio.chime.pin", c.Chime.Pin); err != nil {
		return cfg, err
	} else if p != nil {
		cfg.Chime = p
	}
	if p, err = open("gpio.led.pin", c.LED.Pin); err != nil {
		return cfg, err
	} else if p != nil {
		cfg.LED = p
	}
	if p, err = open("gpio.pir.pin", c.PIR.Pin); err != nil {
		return cfg, err
	} else if p != nil {
		cfg.PIR = p
	}
	return cfg, nil
}

func pull(s string) pgpio.Pull {
	switch s {
	case "up":
		return pgpio.PullUp
	case "down":
		return pgpio.PullDown
	}
	return pgpio.Float
}
