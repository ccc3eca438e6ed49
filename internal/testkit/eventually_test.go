package testkit

import (
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// recorder is a testing.TB that keeps a fatal failure instead of ending the
// process's test, so Eventually's own failures can be checked.
type recorder struct {
	testing.TB
	msg string
}

func (r *recorder) Helper() {}
func (r *recorder) Fatalf(format string, args ...any) {
	r.msg = strings.TrimSpace(fmt.Sprintf(format, args...))
	panic(r)
}

func failureOf(tb testing.TB, f func(tb testing.TB)) (msg string) {
	r := &recorder{TB: tb}
	defer func() {
		if p := recover(); p != nil && p != any(r) {
			panic(p)
		}
		msg = r.msg
	}()
	f(r)
	return ""
}

func TestEventuallyReturnsOnceTheConditionHolds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var calls atomic.Int32
		start := time.Now()
		msg := failureOf(t, func(tb testing.TB) {
			Eventually(tb, time.Minute, "the third call", func() bool { return calls.Add(1) == 3 })
		})
		if msg != "" || calls.Load() != 3 {
			t.Fatalf("failed with %q after %d calls", msg, calls.Load())
		}
		if waited := time.Since(start); waited != 2*PollInterval {
			t.Errorf("waited %v for a condition true on the third poll, want %v", waited, 2*PollInterval)
		}
	})
}

func TestEventuallyFailsAtTheDeadlineSayingWhat(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		msg := failureOf(t, func(tb testing.TB) {
			Eventually(tb, 30*time.Second, "the door to open", func() bool { return false })
		})
		if msg != "waited 30s for the door to open, in vain" {
			t.Errorf("message %q", msg)
		}
		if waited := time.Since(start); waited < 30*time.Second || waited > 30*time.Second+PollInterval {
			t.Errorf("gave up after %v, want 30 s", waited)
		}
		msg = failureOf(t, func(tb testing.TB) {
			EventuallyNil(tb, time.Second, "the door to open", func() error { return errors.New("door is locked") })
		})
		if msg != "waited 1s for the door to open, in vain: door is locked" {
			t.Errorf("message %q", msg)
		}
	})
}
