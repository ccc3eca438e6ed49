package daemon

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	pgpio "periph.io/x/conn/v3/gpio"

	"doorbell/events"
	"doorbell/gpio"
)

// LED is the status LED, for the parts that show a clip recording
// (gpio.Recording) or someone watching live (gpio.Watching) with Set. It is
// never nil: without GPIO it only keeps the state.
func (d *Daemon) LED() *gpio.LED { return d.led }

// demoInput is where Enter presses the demo button: the terminal. Tests
// replace it before starting a daemon.
var demoInput io.Reader = os.Stdin

// demoHold is how long a demo press holds the fake button down.
const demoHold = 150 * time.Millisecond

// pirIDs start high, apart from the camera detector's motion event IDs.
const pirIDBase = 1 << 62

// startGPIO runs the button, chime, LED and PIR: a press pulses the chime
// and publishes a ring on the bus. Without GPIO hardware (no chip, no
// permission, no such line) the daemon runs on, and /healthz says why.
func (d *Daemon) startGPIO(ctx context.Context) error {
	rings := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "doorbell_rings_total",
		Help: "Presses of the doorbell button, each of which chimes and shows on the open pages.",
	})
	repeats := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "doorbell_ring_repeats_total",
		Help: "Rings within the cooldown of the ring before, which start no second clip.",
	})
	for _, c := range []prometheus.Collector{rings, repeats} {
		if err := d.Metrics.Register(c); err != nil {
			return fmt.Errorf("gpio metrics: %v", err)
		}
	}
	if !d.Cfg.GPIO.Enabled {
		d.AddHealth("gpio", func() any { return gpioHealth{Status: gpio.Status{State: "off"}} })
		return nil
	}
	cfg, fake, err := d.gpioConfig()
	var bell *gpio.Doorbell
	if err == nil {
		bell, err = gpio.New(cfg)
	}
	if err != nil {
		d.Log.Warn("running without the doorbell button, chime and LED", "reason", err.Error())
		reason := err.Error()
		d.AddHealth("gpio", func() any { return gpioHealth{Status: gpio.Status{State: "unavailable"}, Reason: reason} })
		return nil
	}
	d.led = bell.LED()
	d.AddHealth("gpio", func() any { return gpioHealth{Status: bell.Status(), Demo: fake != nil} })

	var ringID, pirCount atomic.Uint64
	var pirID uint64 // the PIR event going on; touched only on the PIR's goroutine
	handlers := gpio.Handlers{
		Ring: func(r gpio.Ring) {
			rings.Inc()
			if r.Repeat {
				repeats.Inc()
			}
			d.Log.Info("ring: someone is at the door", "repeat", r.Repeat)
			d.Bus.Publish(events.Event{Kind: events.Ring, Time: r.At, ID: ringID.Add(1), Repeat: r.Repeat})
		},
		Motion: func(c gpio.Change) {
			kind := events.MotionEnd
			if c.Active {
				kind = events.MotionStart
				pirID = pirIDBase + pirCount.Add(1)
			}
			d.Log.Info("motion sensor", "kind", kind, "event", pirID)
			d.Bus.Publish(events.Event{Kind: kind, Time: c.At, ID: pirID, Zones: []string{"pir"}})
		},
	}
	d.goBackground(func() { bell.Run(ctx, handlers) })
	if fake != nil {
		d.startDemoButton(ctx, fake)
	}
	return nil
}

// gpioHealth is the "gpio" section of /healthz.
type gpioHealth struct {
	gpio.Status
	Reason string `json:"reason,omitempty"` // why GPIO is unavailable, and what to do
	Demo   bool   `json:"demo,omitempty"`   // fake pins: the demo button
}

// gpioConfig opens the configured lines, or fakes them in demo mode.
func (d *Daemon) gpioConfig() (gpio.Config, *gpio.Fake, error) {
	c := d.Cfg.GPIO
	cfg := gpio.Config{
		ButtonActiveLow: c.Button.Active == "low", ButtonPull: pull(c.Button.Pull),
		Debounce: seconds(c.Button.Debounce), Cooldown: seconds(c.Button.Cooldown),
		ChimeActiveLow: c.Chime.Active == "low", ChimePulse: seconds(c.Chime.Pulse),
		LEDActiveLow: c.LED.Active == "low",
		PIRActiveLow: c.PIR.Active == "low", PIRPull: pull(c.PIR.Pull),
		Log: d.Log.With("part", "gpio"),
	}
	if d.Demo {
		f := gpio.NewFake(cfg.ButtonActiveLow)
		cfg.Button, cfg.Chime, cfg.LED = f.Button, f.Chime, f.LED
		return cfg, f, nil
	}
	open := func(key, name string) (pgpio.PinIO, error) {
		if name == "" {
			return nil, nil
		}
		p, err := gpio.Open(name)
		if err != nil {
			return nil, fmt.Errorf("%s: %v", key, err)
		}
		return p, nil
	}
	var err error
	var p pgpio.PinIO
	if p, err = open("gpio.button.pin", c.Button.Pin); err != nil {
		return cfg, nil, err
	}
	cfg.Button = p
	if p, err = open("gpio.chime.pin", c.Chime.Pin); err != nil {
		return cfg, nil, err
	} else if p != nil {
		cfg.Chime = p
	}
	if p, err = open("gpio.led.pin", c.LED.Pin); err != nil {
		return cfg, nil, err
	} else if p != nil {
		cfg.LED = p
	}
	if p, err = open("gpio.pir.pin", c.PIR.Pin); err != nil {
		return cfg, nil, err
	} else if p != nil {
		cfg.PIR = p
	}
	return cfg, nil, nil
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

// startDemoButton lets the demo's fake button be pressed with Enter on the
// terminal, or with POST /api/demo/press from this machine.
func (d *Daemon) startDemoButton(ctx context.Context, f *gpio.Fake) {
	d.Mux.HandleFunc("POST /api/demo/press", func(w http.ResponseWriter, r *http.Request) {
		if !fromLoopback(r) {
			http.Error(w, "the demo button answers only requests from this machine (loopback)", http.StatusForbidden)
			return
		}
		// A page from another site must not ring it through the browser.
		if s := r.Header.Get("Sec-Fetch-Site"); s != "" && s != "same-origin" && s != "none" {
			http.Error(w, "the demo button answers only its own pages", http.StatusForbidden)
			return
		}
		f.Press(demoHold)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusAccepted)
		_, _ = io.WriteString(w, `{"pressed":true}`+"\n")
	})
	var stdin atomic.Value
	stdin.Store("listening")
	d.AddHealth("demo_button", func() any {
		return map[string]string{"enter_key": stdin.Load().(string), "http": "POST /api/demo/press (loopback only)"}
	})
	in := demoInput
	go func() {
		// Ends at end of input: a daemon with no terminal (stdin closed or
		// /dev/null) neither rings nor spins.
		sc := bufio.NewScanner(in)
		for sc.Scan() && ctx.Err() == nil {
			f.Press(demoHold)
		}
		stdin.Store("closed")
		if ctx.Err() == nil {
			d.Log.Info("demo: standard input is closed; press the demo button with POST /api/demo/press")
		}
	}()
	d.Log.Info("demo: press Enter here, or POST /api/demo/press from this machine, to ring the doorbell")
}
