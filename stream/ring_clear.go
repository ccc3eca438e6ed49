package stream

// Clear forgets every access unit held, so that no new viewer or clip is
// given a picture from before: the no-recording privacy profile clears the
// ring when live view switches off. Subscribers go on receiving new ones.
func (r *Ring) Clear() {
	r.mu.Lock()
	defer r.mu.Unlock()
	clear(r.aus)
	r.aus = r.aus[:0]
	r.bytes = 0
}
