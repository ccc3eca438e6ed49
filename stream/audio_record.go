package stream

import (
	"slices"
	"sync"
	"time"
)

// OpusPacket is OpusFrame of the doorbell's microphone as Opus, with the time
// it reached the doorbell (a clip places it by that time).
type OpusPacket struct {
	Data     []byte
	Captured time.Time
}

// recordTap is a clip that records the microphone: its function gets
// every packet while the clip records.
type recordTap struct{ f func(OpusPacket) }

// Record runs the microphone for a clip until stop, whether or not anyone
// listens or the listen window is open, and gives f every Opus packet it
// makes, muted ones too (the clip keeps what the microphone heard). f must
// not block. While it runs the microphone is live, and the status LED
// shows it as for a listener. After stop returns, f is not called again.
func (a *Audio) Record(f func(OpusPacket)) (stop func()) {
	t := &recordTap{f: f}
	a.tapMu.Lock()
	a.recorders = append(a.recorders, t)
	a.tapMu.Unlock()
	a.mu.Lock()
	a.recording++
	a.updateLocked()
	a.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			a.tapMu.Lock() // waits for a packet being handed over
			a.recorders = slices.DeleteFunc(a.recorders, func(r *recordTap) bool { return r == t })
			a.tapMu.Unlock()
			a.mu.Lock()
			a.recording--
			a.updateLocked()
			a.mu.Unlock()
		})
	}
}

// toRecorders gives the packet to the clips recording the microphone.
func (a *Audio) toRecorders(payload []byte, at time.Time) {
	a.tapMu.Lock()
	defer a.tapMu.Unlock()
	if len(a.recorders) == 0 {
		return
	}
	p := OpusPacket{Data: append([]byte(nil), payload...), Captured: at}
	for _, t := range a.recorders {
		t.f(p)
	}
}
