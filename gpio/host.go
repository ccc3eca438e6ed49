package gpio

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"periph.io/x/conn/v3/driver/driverreg"
	pgpio "periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpioreg"
	"periph.io/x/host/v3/gpioioctl"
)

// chipGlob finds the kernel's GPIO character devices. Only the character
// device driver (gpioioctl) is loaded, not periph's memory-mapped ones: it
// works the same on every Raspberry Pi, the Pi 5 (RP1) included.
const chipGlob = "/dev/gpiochip*"

// Open returns the GPIO line with the given name, e.g. "GPIO17". The error
// says why GPIO cannot be used (no chip, no permission, no such line) and
// what to do about it.
func Open(name string) (pgpio.PinIO, error) {
	if err := loadDriver(); err != nil {
		return nil, err
	}
	p := gpioreg.ByName(name)
	if p == nil {
		return nil, fmt.Errorf("there is no GPIO line named %q; use a name that gpioinfo lists, e.g. \"GPIO17\"", name)
	}
	return p, nil
}

// loadDriver loads periph's GPIO character-device driver, once.
var loadDriver = sync.OnceValue(func() error {
	if err := checkChips(chipGlob); err != nil {
		return err
	}
	st, err := driverreg.Init()
	if err != nil {
		return fmt.Errorf("cannot load the GPIO driver: %w; check the GPIO chips with gpiodetect, or set gpio.enabled = false", err)
	}
	for _, f := range append(st.Failed, st.Skipped...) {
		if f.D.String() == "ioctl-gpio" {
			return fmt.Errorf("the GPIO driver did not load: %w; check the GPIO chips with gpiodetect, or set gpio.enabled = false", f.Err)
		}
	}
	if len(gpioioctl.Chips) == 0 {
		return errors.New("no GPIO chip could be opened; check the GPIO chips with gpiodetect, or set gpio.enabled = false")
	}
	return nil
})

// checkChips explains, before the driver tries, why no chip can be used:
// the driver itself only says "no GPIO chips found".
func checkChips(glob string) error {
	chips, _ := filepath.Glob(glob)
	if len(chips) == 0 {
		return fmt.Errorf("no GPIO chip found (nothing matches %s); run on a Raspberry Pi or another board with GPIO, or set gpio.enabled = false", glob)
	}
	var first error
	for _, c := range chips {
		f, err := os.Open(c)
		if err == nil {
			f.Close()
			return nil
		}
		if first == nil {
			first = err
		}
	}
	if errors.Is(first, fs.ErrPermission) {
		return fmt.Errorf("no permission to open the GPIO chips (%w); run the daemon as a member of the gpio group (deploy/doorbell.service does), or set gpio.enabled = false", first)
	}
	return fmt.Errorf("cannot open the GPIO chips (%w); check them with gpiodetect, or set gpio.enabled = false", first)
}
