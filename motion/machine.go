package motion

import (
	"time"

	"doorbell/events"
)

// State is where the event state machine is.
type State int

// The states: idle, counting motion frames, in an event, cooling down.
const (
	Idle State = iota
	Rising
	Active
	Cooldown
)

func (s State) String() string {
	switch s {
	case Idle:
		return "idle"
	case Rising:
		return "rising"
	case Active:
		return "active"
	case Cooldown:
		return "cooldown"
	}
	return "unknown"
}

// Machine turns per-frame results into motion events: an event starts after
// StartFrames consecutive motion frames, ends after Quiet without motion or
// at MaxEvent, and no event starts within Cooldown of the last one's end.
// It goes by the frames' capture times, so a video file scans faster than
// real time with the same outcome. It allocates only when an event starts or
// ends. A Machine is used by one goroutine at a time.
type Machine struct {
	startFrames int
	quiet       time.Duration
	maxEvent    time.Duration
	cooldown    time.Duration
	zones       []string
	publish     func(events.Event)

	state      State
	since      time.Time // when the state was entered
	run        int       // consecutive motion frames while Rising
	runStart   time.Time
	nextID     uint64
	id         uint64
	start      time.Time
	lastMotion time.Time
	coolUntil  time.Time
	peak       float64
	peakBoxes  [MaxBoxes]events.Box
	nPeak      int
	hit        []bool
}

// NewMachine makes a state machine for results over the named zones (in the
// detector's order). publish receives each event; it must not block.
func NewMachine(cfg Config, zones []string, publish func(events.Event)) *Machine {
	return &Machine{
		startFrames: max(cfg.StartFrames, 1),
		quiet:       cfg.Quiet,
		maxEvent:    cfg.MaxEvent,
		cooldown:    cfg.Cooldown,
		zones:       zones,
		publish:     publish,
		nextID:      1,
		hit:         make([]bool, len(zones)),
	}
}

// State returns the current state and the time it was entered.
func (m *Machine) State() (State, time.Time) { return m.state, m.since }

// EventID is the current event's ID, or 0 outside an event.
func (m *Machine) EventID() uint64 {
	if m.state == Active {
		return m.id
	}
	return 0
}

// Update takes the result for the frame captured at time at. A nil result
// is a frame without motion, as when time passes without frames.
func (m *Machine) Update(at time.Time, r *Result) {
	motion := r != nil && r.Motion
	if m.since.IsZero() {
		m.since = at
	}
	if m.state == Cooldown && !at.Before(m.coolUntil) {
		m.enter(Idle, at)
	}
	switch m.state {
	case Idle, Rising:
		if !motion {
			if m.state == Rising {
				m.enter(Idle, at)
			}
			m.run = 0
			return
		}
		if m.run == 0 {
			m.runStart = at
			m.peak, m.nPeak = 0, 0
			clear(m.hit)
			m.enter(Rising, at)
		}
		m.run++
		m.note(r)
		if m.run >= m.startFrames {
			m.begin(at)
		}
	case Active:
		if motion {
			m.lastMotion = at
			m.note(r)
		}
		switch {
		case at.Sub(m.start) >= m.maxEvent:
			m.end(at)
		case !motion && at.Sub(m.lastMotion) >= m.quiet:
			m.end(at)
		}
	case Cooldown:
		// Motion now does not count towards a new event.
	}
}

// Flush ends an open event at time at, as when the video ends or the daemon
// stops, so that every start has its end.
func (m *Machine) Flush(at time.Time) {
	if m.state == Active {
		m.end(at)
	}
	m.run = 0
	if m.state == Rising {
		m.enter(Idle, at)
	}
}

func (m *Machine) enter(s State, at time.Time) { m.state, m.since = s, at }

// note keeps the largest fraction, its boxes, and the zones hit.
func (m *Machine) note(r *Result) {
	for i, h := range r.Hit {
		if h && i < len(m.hit) {
			m.hit[i] = true
		}
	}
	if r.Fraction <= m.peak && m.nPeak > 0 {
		return // the boxes are not needed, and so not found
	}
	if b := r.Boxes(); r.Fraction > m.peak || len(b) > 0 {
		m.peak = max(m.peak, r.Fraction)
		m.nPeak = copy(m.peakBoxes[:], b)
	}
}

// begin starts an event, dated at the first of its motion frames.
func (m *Machine) begin(at time.Time) {
	m.id = m.nextID
	m.nextID++
	m.start = m.runStart
	m.lastMotion = at
	m.run = 0
	m.enter(Active, at)
	m.emit(events.MotionStart, m.start)
}

// end ends the event, leaving Active before it says so.
func (m *Machine) end(at time.Time) {
	m.coolUntil = at.Add(m.cooldown)
	m.enter(Cooldown, at)
	if m.cooldown <= 0 {
		m.enter(Idle, at)
	}
	m.emit(events.MotionEnd, at)
}

func (m *Machine) emit(kind events.Kind, at time.Time) {
	if m.publish == nil {
		return
	}
	e := events.Event{Kind: kind, Time: at, ID: m.id, Peak: m.peak}
	for i, h := range m.hit {
		if h {
			e.Zones = append(e.Zones, m.zones[i])
		}
	}
	if m.nPeak > 0 {
		e.Boxes = append([]events.Box(nil), m.peakBoxes[:m.nPeak]...)
	}
	m.publish(e)
}
