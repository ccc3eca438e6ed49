package events

import (
	"sync"
	"testing"
	"time"
)

func TestEverySubscriberGetsEveryEventInOrder(t *testing.T) {
	b := NewBus()
	a, cancelA := b.Subscribe("test", 10)
	c, cancelC := b.Subscribe("test", 10)
	defer cancelA()
	defer cancelC()
	for i := uint64(1); i <= 3; i++ {
		b.Publish(Event{Kind: MotionStart, ID: i, Time: time.Unix(int64(i), 0)})
	}
	for _, ch := range []<-chan Event{a, c} {
		for i := uint64(1); i <= 3; i++ {
			if e := <-ch; e.ID != i || e.Kind != MotionStart {
				t.Fatalf("got %+v, want event %d", e, i)
			}
		}
	}
}

func TestSlowSubscriberLosesEventsButNeverBlocks(t *testing.T) {
	b := NewBus()
	slow, cancel := b.Subscribe("slow", 1)
	defer cancel()
	fast, cancelFast := b.Subscribe("fast", 100)
	defer cancelFast()
	for i := 0; i < 10; i++ {
		b.Publish(Event{Kind: Ring, ID: uint64(i)})
	}
	if b.Dropped("slow") != 9 || b.Dropped("fast") != 0 {
		t.Errorf("dropped %d by the slow subscriber and %d by the fast one, want 9 and 0", b.Dropped("slow"), b.Dropped("fast"))
	}
	cancel()
	if got := b.DroppedBySubscriber(); got["slow"] != 9 || got["fast"] != 0 || len(got) != 2 {
		t.Errorf("DroppedBySubscriber after the slow one left = %v, want slow 9 and fast 0", got)
	}
	if e := <-slow; e.ID != 0 {
		t.Errorf("slow subscriber got %d first", e.ID)
	}
	if len(fast) != 10 {
		t.Errorf("fast subscriber has %d events, want 10", len(fast))
	}
}

func TestCancelClosesOnceAndConcurrentUseIsSafe(t *testing.T) {
	b := NewBus()
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ch, cancel := b.Subscribe("test", 4)
			b.Publish(Event{Kind: MotionEnd})
			<-ch
			cancel()
			cancel()
			// Others' events may still be buffered (at most 4); then it is closed.
			for range 5 {
				if _, ok := <-ch; !ok {
					return
				}
			}
			t.Error("channel still open after cancel")
		}()
	}
	wg.Wait()
	b.Publish(Event{Kind: Ring}) // no subscribers: nothing to do, nothing to panic about
}
