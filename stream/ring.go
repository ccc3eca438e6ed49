package stream

import (
	"sync"
	"time"
)

// AccessUnitSink receives access units in decoding order. WriteAccessUnit
// must return quickly and must not change au.
type AccessUnitSink interface {
	WriteAccessUnit(au *AccessUnit)
}

// Ring keeps the latest access units, bounded by bytes, always starting at a
// keyframe, and passes every new one on to its subscribers. Viewers use it
// for an instant start (the current GOP), a clip recorder for pre-roll.
//
// It is an AccessUnitSink: the encoder writes to it.
type Ring struct {
	maxBytes int

	mu    sync.Mutex
	aus   []*AccessUnit // oldest first; aus[0] is a keyframe
	bytes int
	subs  map[*subscription]struct{}
}

type subscription struct {
	fn      func(*AccessUnit)
	started bool // has had a keyframe, in its backlog or since
}

// NewRing keeps at most maxBytes of access units. Make it hold at least two
// keyframe intervals at the encoder's bit rate, plus the pre-roll wanted.
func NewRing(maxBytes int) *Ring {
	return &Ring{maxBytes: maxBytes, subs: map[*subscription]struct{}{}}
}

// WriteAccessUnit adds au and passes it to every subscriber.
func (r *Ring) WriteAccessUnit(au *AccessUnit) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.aus) > 0 || au.Keyframe {
		r.aus = append(r.aus, au)
		r.bytes += au.Size()
	}
	r.trimLocked()
	for s := range r.subs {
		if !s.started {
			if !au.Keyframe {
				continue
			}
			s.started = true
		}
		s.fn(au)
	}
}

// trimLocked drops the oldest access units until the ring fits in maxBytes,
// then any that no longer follow a keyframe: they cannot be decoded.
func (r *Ring) trimLocked() {
	drop := 0
	for r.bytes > r.maxBytes && drop < len(r.aus) {
		r.bytes -= r.aus[drop].Size()
		drop++
	}
	for drop < len(r.aus) && !r.aus[drop].Keyframe {
		r.bytes -= r.aus[drop].Size()
		drop++
	}
	if drop > 0 {
		clear(r.aus[:drop])
		r.aus = r.aus[drop:]
		if cap(r.aus) > 4*len(r.aus)+64 { // let the backing array shrink now and then
			r.aus = append([]*AccessUnit(nil), r.aus...)
		}
	}
}

// Snapshot returns the access units from the last keyframe captured at or
// before since up to the newest, so that the first is decodable. If every
// keyframe held is newer than since, it starts at the oldest keyframe. Use
// time.Now() for just the current GOP, or now minus the pre-roll for a clip.
// It returns nil when the ring holds no keyframe.
func (r *Ring) Snapshot(since time.Time) []*AccessUnit {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.snapshotLocked(since)
}

func (r *Ring) snapshotLocked(since time.Time) []*AccessUnit {
	start := -1
	for i, au := range r.aus {
		if !au.Keyframe {
			continue
		}
		if start >= 0 && au.Captured.After(since) {
			break
		}
		start = i
	}
	if start < 0 {
		return nil
	}
	return append([]*AccessUnit(nil), r.aus[start:]...)
}

// Subscribe returns Snapshot(since) and then calls fn with every new access
// unit, with nothing missed or repeated in between, until cancel is called.
// When the backlog is empty, fn is first called with the next keyframe, so
// what a subscriber gets can always be decoded.
// fn runs on the encoder's goroutine with the ring locked: it must not block
// and must not call the ring. Queue and drop instead.
func (r *Ring) Subscribe(since time.Time, fn func(*AccessUnit)) (backlog []*AccessUnit, cancel func()) {
	s := &subscription{fn: fn}
	r.mu.Lock()
	defer r.mu.Unlock()
	backlog = r.snapshotLocked(since)
	s.started = len(backlog) > 0
	r.subs[s] = struct{}{}
	return backlog, func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		delete(r.subs, s)
	}
}

// RingStatus describes what the ring holds.
type RingStatus struct {
	Bytes     int     `json:"bytes"`
	MaxBytes  int     `json:"max_bytes"`
	Seconds   float64 `json:"seconds"` // from the oldest to the newest access unit held
	Keyframes int     `json:"keyframes"`
}

// Status says how much the ring holds.
func (r *Ring) Status() RingStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	st := RingStatus{Bytes: r.bytes, MaxBytes: r.maxBytes}
	if n := len(r.aus); n > 1 {
		st.Seconds = r.aus[n-1].Captured.Sub(r.aus[0].Captured).Seconds()
	}
	for _, au := range r.aus {
		if au.Keyframe {
			st.Keyframes++
		}
	}
	return st
}
