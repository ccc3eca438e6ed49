package gpio_test

import (
	"context"
	"fmt"
	"time"

	pgpio "periph.io/x/conn/v3/gpio"

	"doorbell/gpio"
)

// A button to ground with a pull-up, and a chime relay: a press pulses the
// chime, then reports the ring. On a Raspberry Pi the pins come from
// gpio.Open("GPIO17") and friends; here they are periph's fakes.
func Example() {
	f := gpio.NewFake(true)
	bell, err := gpio.New(gpio.Config{
		Button: f.Button, ButtonActiveLow: true, ButtonPull: pgpio.PullUp,
		Debounce: 30 * time.Millisecond, Cooldown: 30 * time.Second,
		Chime: f.Chime, ChimePulse: 300 * time.Millisecond,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	rings := make(chan gpio.Ring, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		bell.Run(ctx, gpio.Handlers{Ring: func(r gpio.Ring) { rings <- r }})
		close(done)
	}()

	f.Press(100 * time.Millisecond)
	r := <-rings
	fmt.Println("ring; repeat:", r.Repeat, "; chime relay:", f.Chime.Read())

	cancel()
	<-done
	fmt.Println("stopped; chime relay:", f.Chime.Read())
	// Output:
	// ring; repeat: false ; chime relay: High
	// stopped; chime relay: Low
}
