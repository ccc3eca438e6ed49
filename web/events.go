package web

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"doorbell/events"
	"doorbell/internal/bearer"
)

// Events serves GET /api/events: Server-Sent Events of what happens at the
// door, to paired phones only ("Authorization: Bearer TOKEN"). Each event
// carries its kind and time, nothing else:
//
//	event: ring
//	data: {"kind":"ring","time":"2026-11-28T09:00:00.123Z"}
//
// A comment line is sent every Heartbeat so that idle connections stay
// open. The stream ends when the token is revoked: each event is sent only
// after the token is checked again, so a revoked phone gets no event after
// its revocation; End closes a device's streams at once, and a recheck
// every Recheck catches the rest.
//
// EventSource cannot send headers, so the phone page reads the stream with
// fetch and a ReadableStream; the token never goes in a URL.
type Events struct {
	Auth       bearer.Authorizer
	Subscribe  func(buf int) (<-chan events.Event, func()) // events.Bus.Subscribe
	Heartbeat  time.Duration                               // 0: 15 s
	Recheck    time.Duration                               // how often the token is checked again; 0: 500 ms
	MaxStreams int                                         // streams at once; 0: 32

	open atomic.Int32

	mu      sync.Mutex
	streams map[string]map[*stream]struct{} // by device id, for End
}

type stream struct{ end chan struct{} }

// End closes the open streams of the paired device id at once: the daemon
// calls it when the device is revoked.
func (e *Events) End(id string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for s := range e.streams[id] {
		close(s.end)
	}
	delete(e.streams, id)
}

// track registers a stream of device id; untrack forgets it.
func (e *Events) track(id string) (s *stream, untrack func()) {
	s = &stream{end: make(chan struct{})}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.streams == nil {
		e.streams = map[string]map[*stream]struct{}{}
	}
	if e.streams[id] == nil {
		e.streams[id] = map[*stream]struct{}{}
	}
	e.streams[id][s] = struct{}{}
	return s, func() {
		e.mu.Lock()
		defer e.mu.Unlock()
		delete(e.streams[id], s)
		if len(e.streams[id]) == 0 {
			delete(e.streams, id)
		}
	}
}

// Open returns the number of open event streams.
func (e *Events) Open() int { return int(e.open.Load()) }

type wireEvent struct {
	Kind events.Kind `json:"kind"`
	Time time.Time   `json:"time"`
}

func (e *Events) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	token, ok := bearer.Token(r)
	if !ok {
		h.Set("WWW-Authenticate", bearer.Challenge)
		http.Error(w, "no token: send Authorization: Bearer TOKEN, with the token this phone got when it was paired", http.StatusUnauthorized)
		return
	}
	id, ok := "", false
	if e.Auth != nil {
		id, ok = e.Auth.Authorize(token)
	}
	if !ok {
		h.Set("WWW-Authenticate", bearer.ChallengeInvalid)
		http.Error(w, "the token is not valid: it is unknown or was revoked; pair this phone again (doorbell member pair)", http.StatusUnauthorized)
		return
	}
	max := e.MaxStreams
	if max <= 0 {
		max = 32
	}
	if int(e.open.Add(1)) > max {
		e.open.Add(-1)
		h.Set("Retry-After", "30")
		http.Error(w, "too many event streams are open; close another phone page", http.StatusServiceUnavailable)
		return
	}
	defer e.open.Add(-1)

	ch, cancel := e.Subscribe(16)
	defer cancel()
	st, untrack := e.track(id)
	defer untrack()
	// still reports whether the token is still this device's.
	still := func() bool {
		now, ok := e.Auth.Authorize(token)
		return ok && now == id
	}
	if !still() { // revoked between the first check and now: End missed it
		return
	}
	heartbeat, recheck := e.Heartbeat, e.Recheck
	if heartbeat <= 0 {
		heartbeat = 15 * time.Second
	}
	if recheck <= 0 {
		recheck = 500 * time.Millisecond
	}
	rc := http.NewResponseController(w)
	h.Set("Content-Type", "text/event-stream")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	send := func(s string) bool {
		if _, err := fmt.Fprint(w, s); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	if !send(": the doorbell's events\n\n") {
		return
	}
	beat := time.NewTicker(heartbeat)
	defer beat.Stop()
	check := time.NewTicker(recheck)
	defer check.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-st.end:
			return // revoked: the page finds out when it reconnects
		case ev, ok := <-ch:
			if !ok || !still() {
				return
			}
			data, _ := json.Marshal(wireEvent{Kind: ev.Kind, Time: ev.Time.UTC()})
			if !send("event: " + string(ev.Kind) + "\ndata: " + string(data) + "\n\n") {
				return
			}
		case <-beat.C:
			if !send(": ping\n\n") {
				return
			}
		case <-check.C:
			if !still() {
				return
			}
		}
	}
}
