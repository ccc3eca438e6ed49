package config

import (
	"regexp"
)

// GPIO wires the doorbell's button, chime relay, status LED and optional
// motion sensor (PIR) to the board's GPIO lines. Pins are line names as
// gpioinfo lists them, e.g. "GPIO17"; an empty pin means nothing is wired
// there. Times are in seconds.
type GPIO struct {
	Enabled bool       `toml:"enabled"`
	Button  GPIOButton `toml:"button"`
	Chime   GPIOChime  `toml:"chime"`
	LED     GPIOLED    `toml:"led"`
	PIR     GPIOPIR    `toml:"pir"`
}

// GPIOButton is the door's push button.
type GPIOButton struct {
	Pin string `toml:"pin"`
	// Active is the level a pressed button gives: "low" (wired to ground)
	// or "high" (wired to 3.3 V).
	Active string `toml:"active"`
	// Pull is the line's bias: "up", "down" or "none" (an external resistor).
	Pull string `toml:"pull"`
	// Debounce is how long the contact must stay still to count.
	Debounce float64 `toml:"debounce"`
	// Cooldown: a press this soon after the last ring chimes and shows,
	// but starts no second clip.
	Cooldown float64 `toml:"cooldown"`
}

// GPIOChime is the relay that sounds the chime.
type GPIOChime struct {
	Pin string `toml:"pin"`
	// Active is the level that closes the relay: "high" or "low".
	Active string `toml:"active"`
	// Pulse is how long the relay stays closed per ring.
	Pulse float64 `toml:"pulse"`
}

// GPIOLED is the status LED.
type GPIOLED struct {
	Pin    string `toml:"pin"`
	Active string `toml:"active"` // the level that lights it: "high" or "low"
}

// GPIOPIR is an optional passive-infrared motion sensor.
type GPIOPIR struct {
	Pin    string `toml:"pin"`
	Active string `toml:"active"` // the level that means motion: "high" or "low"
	Pull   string `toml:"pull"`   // "up", "down" or "none"
}

func defaultGPIO() GPIO {
	return GPIO{
		Enabled: true,
		Button:  GPIOButton{Pin: "GPIO17", Active: "low", Pull: "up", Debounce: 0.03, Cooldown: 30},
		Chime:   GPIOChime{Active: "high", Pulse: 0.3},
		LED:     GPIOLED{Active: "high"},
		PIR:     GPIOPIR{Active: "high", Pull: "down"},
	}
}

// lineName is what a GPIO line name may look like: "GPIO17", "PA7", "gpiochip0-12".
var lineName = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,31}$`)

func (g *GPIO) validate(v *validator) {
	if !g.Enabled {
		return
	}
	b := g.Button
	if b.Pin == "" {
		v.errorf("gpio.button.pin", "gpio.button.pin is empty; set it to the line the button is wired to, e.g. \"GPIO17\", or set gpio.enabled = false")
	}
	pins := map[string]string{}
	for _, p := range []struct{ key, pin string }{
		{"gpio.button.pin", b.Pin}, {"gpio.chime.pin", g.Chime.Pin}, {"gpio.led.pin", g.LED.Pin}, {"gpio.pir.pin", g.PIR.Pin},
	} {
		if p.pin == "" {
			continue
		}
		if !lineName.MatchString(p.pin) {
			v.errorf(p.key, "%s is %q, which is not a GPIO line name; use the name gpioinfo lists, e.g. \"GPIO17\"", p.key, p.pin)
			continue
		}
		if other, ok := pins[p.pin]; ok {
			v.errorf(p.key, "%s is %q, which %s already uses; give each part its own pin", p.key, p.pin, other)
			continue
		}
		pins[p.pin] = p.key
	}
	checkLevel(v, "gpio.button.active", b.Active)
	checkPull(v, "gpio.button.pull", b.Pull)
	if !(b.Debounce >= 0.001 && b.Debounce <= 0.5) {
		v.errorf("gpio.button.debounce", "gpio.button.debounce is %g; use 0.001 to 0.5 seconds, e.g. 0.03", b.Debounce)
	}
	if !(b.Cooldown >= 0 && b.Cooldown <= 3600) {
		v.errorf("gpio.button.cooldown", "gpio.button.cooldown is %g; use 0 (every press starts a clip) to 3600 seconds, e.g. 30", b.Cooldown)
	}
	checkLevel(v, "gpio.chime.active", g.Chime.Active)
	if !(g.Chime.Pulse >= 0.01 && g.Chime.Pulse <= 5) {
		v.errorf("gpio.chime.pulse", "gpio.chime.pulse is %g; use 0.01 to 5 seconds, e.g. 0.3", g.Chime.Pulse)
	}
	checkLevel(v, "gpio.led.active", g.LED.Active)
	checkLevel(v, "gpio.pir.active", g.PIR.Active)
	checkPull(v, "gpio.pir.pull", g.PIR.Pull)
}

func checkLevel(v *validator, key, s string) {
	if s != "low" && s != "high" {
		v.errorf(key, "%s is %q; use \"low\" or \"high\"", key, s)
	}
}

func checkPull(v *validator, key, s string) {
	switch s {
	case "up", "down", "none":
	default:
		v.errorf(key, "%s is %q; use \"up\", \"down\" or \"none\" (an external resistor)", key, s)
	}
}
