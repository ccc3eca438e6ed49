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
	Auth         bearer.Authorizer
	Subscribe    func(buf int) (<-chan events.Event, func()) // events.Bus.Subscribe
	Heartbeat    time.Duration                               // 0: 15 s
	Recheck      time.Duration                               // how often the token is checked again; 0: 500 ms
	MaxStreams   int                                         // streams at once; 0: 32
	MaxPerToken  int                                         // streams at once on one token; 0: 4
	WriteTimeout time.Duration                               // a write that takes longer ends the stream; 0: 10 s

	open    atomic.Int32
	mu      sync.Mutex
	byToken map[string]int                  // open streams by paired device id
	streams map[string]map[*stream]struct{} // by device id, for End
}

// claim reserves a stream for the device id, or says why it cannot.
func (e *Events) claim(id string) (release func(), refused string) {
	max, perToken := e.MaxStreams, e.MaxPerToken
	if max <= 0 {
		max = 32
	}
	if perToken <= 0 {
		perToken = 4
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.byToken == nil {
		e.byToken = map[string]int{}
	}
	if e.byToken[id] >= perToken {
		return nil, fmt.Sprintf("this device already has %d event streams open; close another page of the doorbell on it", perToken)
	}
	if int(e.open.Load()) >= max {
		return nil, "too many event streams are open; close another phone page"
	}
	e.byToken[id]++
	e.open.Add(1)
	return func() {
		e.mu.Lock()
		defer e.mu.Unlock()
		if e.byToken[id]--; e.byToken[id] <= 0 {
			delete(e.byToken, id)
		}
		e.open.Add(-1)
	}, ""
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
	release, refused := e.claim(id)
	if refused != "" {
		h.Set("Retry-After", "30")
		http.Error(w, refused, http.StatusServiceUnavailable)
		return
	}
	defer release()

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
	writeTimeout := e.WriteTimeout
	if writeTimeout <= 0 {
		writeTimeout = 10 * time.Second
	}
	rc := http.NewResponseController(w)
	// The request is read: the server's read timeout must not end the stream.
	_ = rc.SetReadDeadline(time.Time{})
	h.Set("Content-Type", "text/event-stream")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	// A client that stops reading blocks a write until the deadline, or
	// until revoke (below) cuts it short.
	var revoked atomic.Bool
	revokedCh := make(chan struct{})
	var writeMu sync.Mutex // the deadline is set by send and by revoke
	send := func(s string) bool {
		writeMu.Lock()
		if revoked.Load() {
			writeMu.Unlock()
			return false
		}
		_ = rc.SetWriteDeadline(time.Now().Add(writeTimeout))
		writeMu.Unlock()
		if _, err := fmt.Fprint(w, s); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	stop := make(chan struct{})
	// The token is checked on its own goroutine, so that a write stuck on a
	// client that stopped reading cannot delay the end of a revoked stream.
	// It must be gone before ServeHTTP returns: the server then reuses w.
	var checker sync.WaitGroup
	defer checker.Wait()
	defer close(stop)
	checker.Add(1)
	go func() {
		defer checker.Done()
		t := time.NewTicker(recheck)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-st.end: // End: revoked just now
			case <-t.C:
				if still() {
					continue
				}
			}
			writeMu.Lock()
			revoked.Store(true)
			_ = rc.SetWriteDeadline(time.Now()) // unblocks a pending write
			writeMu.Unlock()
			close(revokedCh)
			return
		}
	}()
	if !send(": the doorbell's events\n\n") {
		return
	}
	beat := time.NewTicker(heartbeat)
	defer beat.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
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
		case <-revokedCh:
			return // revoked: the page finds out when it reconnects
		}
	}
}
