package testkit

import (
	"testing"
	"time"
)

// PollInterval is how often Eventually checks its condition: short, so a
// test waits little past the event, and long enough not to busy a loaded
// machine.
const PollInterval = 10 * time.Millisecond

// Eventually waits until cond returns true, checking it every PollInterval,
// and fails the test if it has not within timeout. what says what was
// awaited ("the camera running"), for the failure message. Inside a
// testing/synctest bubble the polls advance the bubble's fake clock.
func Eventually(tb testing.TB, timeout time.Duration, what string, cond func() bool) {
	tb.Helper()
	EventuallyNil(tb, timeout, what, func() error {
		if cond() {
			return nil
		}
		return errNotYet
	})
}

// EventuallyNil is Eventually for a condition that explains itself: it
// waits until check returns nil, and the failure message gives the last
// error check returned.
func EventuallyNil(tb testing.TB, timeout time.Duration, what string, check func() error) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			if err == errNotYet {
				tb.Fatalf("waited %v for %s, in vain", timeout, what)
			}
			tb.Fatalf("waited %v for %s, in vain: %v", timeout, what, err)
		}
		time.Sleep(PollInterval)
	}
}

type notYet struct{}

func (notYet) Error() string { return "not yet" }

var errNotYet error = notYet{}
