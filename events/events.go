// Package events is the in-process bus that carries what happened at the door
// (motion, rings, sealed clips) from the parts that notice it to the parts that act.
package events

import (
	"sync"
	"sync/atomic"
	"time"
)

// Kind names what happened.
type Kind string

// The kinds of event. New kinds are added here, once, for every subscriber.
const (
	MotionStart Kind = "motion_start"
	MotionEnd   Kind = "motion_end"
	Ring        Kind = "ring"
	ClipSealed  Kind = "clip_sealed"
)

// Box is a rectangle in coordinates normalised to 0..1: X0,Y0 top left, X1,Y1 bottom right.
type Box [4]float64

// Event is one thing that happened. Only the fields that fit its Kind are set.
type Event struct {
	Kind  Kind
	Time  time.Time // when it happened (capture time of the frame that showed it)
	ID    uint64    // groups a start with its end: a motion_end has its motion_start's ID
	Zones []string  // zones that saw motion
	Boxes []Box     // regions that changed
	Peak  float64   // the largest changed fraction of the zones during the event
	Clip  string    // clip id, for ClipSealed
	// Repeat marks a Ring within the button's cooldown of the ring before:
	// it chimes and shows, but must not start a second clip.
	Repeat bool
}

// Bus fans events out to subscribers. Publish never blocks: a subscriber
// whose buffer is full loses the event, and Dropped counts it under the
// subscriber's name.
type Bus struct {
	mu      sync.Mutex
	subs    map[*subscription]struct{}
	dropped map[string]*atomic.Uint64 // by subscriber name; kept after they leave
}

type subscription struct {
	ch      chan Event
	closed  bool
	dropped *atomic.Uint64
}

// NewBus returns an empty bus.
func NewBus() *Bus {
	return &Bus{subs: map[*subscription]struct{}{}, dropped: map[string]*atomic.Uint64{}}
}

// Subscribe returns a channel that receives every event published from now
// on, buffered to buf events, and a function that ends the subscription and
// closes the channel. name says who subscribes ("recorder", "mqtt", …), for
// the count of what it lost; subscribers may share a name.
func (b *Bus) Subscribe(name string, buf int) (<-chan Event, func()) {
	b.mu.Lock()
	n := b.dropped[name]
	if n == nil {
		n = new(atomic.Uint64)
		b.dropped[name] = n
	}
	s := &subscription{ch: make(chan Event, buf), dropped: n}
	b.subs[s] = struct{}{}
	b.mu.Unlock()
	return s.ch, func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		if !s.closed {
			s.closed = true
			delete(b.subs, s)
			close(s.ch)
		}
	}
}

// Publish sends e to every subscriber.
func (b *Bus) Publish(e Event) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for s := range b.subs {
		select {
		case s.ch <- e:
		default:
			s.dropped.Add(1)
		}
	}
}

// Dropped counts the events that subscribers named name lost to full
// buffers, since the bus was made.
func (b *Bus) Dropped(name string) uint64 {
	b.mu.Lock()
	n := b.dropped[name]
	b.mu.Unlock()
	if n == nil {
		return 0
	}
	return n.Load()
}

// DroppedBySubscriber is Dropped for every name that ever subscribed.
func (b *Bus) DroppedBySubscriber() map[string]uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make(map[string]uint64, len(b.dropped))
	for name, n := range b.dropped {
		out[name] = n.Load()
	}
	return out
}
