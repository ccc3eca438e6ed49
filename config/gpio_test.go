package config

import (
	"testing"
)

func TestGPIOErrors(t *testing.T) {
	cases := []errorCase{
		{"no button pin", "[gpio.button]\npin = \"\"\n", 2, []string{"gpio.button.pin is empty", "gpio.enabled = false"}},
		{"pin with a space", "[gpio.chime]\npin = \"GPIO 27\"\n", 2, []string{`gpio.chime.pin is "GPIO 27"`, "gpioinfo"}},
		{"two parts on one pin", "[gpio.button]\npin = \"GPIO17\"\n[gpio.led]\npin = \"GPIO17\"\n", 4, []string{"gpio.button.pin already uses", "its own pin"}},
		{"active level", "[gpio.button]\nactive = \"on\"\n", 2, []string{`gpio.button.active is "on"`, `"low" or "high"`}},
		{"pull", "[gpio.pir]\npull = \"sideways\"\n", 2, []string{`gpio.pir.pull is "sideways"`, `"up", "down" or "none"`}},
		{"debounce too long", "[gpio.button]\ndebounce = 2.0\n", 2, []string{"gpio.button.debounce is 2", "0.001 to 0.5"}},
		{"negative cooldown", "[gpio.button]\ncooldown = -1.0\n", 2, []string{"gpio.button.cooldown is -1"}},
		{"chime pulse zero", "[gpio.chime]\npulse = 0.0\n", 2, []string{"gpio.chime.pulse is 0", "0.01 to 5"}},
		{"debounce as milliseconds", "[gpio.button]\ndebounce = 30\n", 2, []string{"gpio.button.debounce is 30", "seconds"}},
		{"unknown key", "[gpio.button]\ninverted = true\n", 2, []string{`unknown key "gpio.button.inverted"`}},
	}
	checkErrorCases(t, cases)
}

func TestGPIODisabledNeedsNoPins(t *testing.T) {
	cfg, err := Parse("test.toml", []byte("[gpio]\nenabled = false\n[gpio.button]\npin = \"\"\n"))
	if err != nil {
		t.Fatalf("a config with GPIO off and no button pin was refused: %v", err)
	}
	if cfg.GPIO.Enabled {
		t.Error("gpio.enabled = false was not read")
	}
}
