package recorder

import (
	"bytes"
	"crypto/ed25519"
	"io"
	"testing"
	"time"

	"filippo.io/age"

	"doorbell/crypto/clip"
	"doorbell/events"
)

// snapshot is a clip's file as it was when Synced was told of p.
type snapshot struct {
	id   string
	p    SyncPoint
	file []byte
}

// Each SyncPoint the recorder reports is what its file at that moment
// opens to: no more (the power-cut test relies on it as a lower bound),
// and no less (else that bound would be weak).
func TestSyncedReportsWhatTheFileOpensTo(t *testing.T) {
	snaps := make(chan snapshot, 256)
	var r *rig
	cfg := defaultTestConfig()
	cfg.SyncInterval = 200 * time.Millisecond
	cfg.Synced = func(id string, p SyncPoint) {
		f, err := r.store.OpenSealed(id)
		if err != nil {
			t.Errorf("clip %s, just synced, does not open: %v", id, err)
			return
		}
		defer f.Close()
		b := make([]byte, p.Bytes)
		if _, err := f.ReadAt(b, 0); err != nil {
			t.Errorf("clip %s: reading its %d synced bytes: %v", id, p.Bytes, err)
		}
		snaps <- snapshot{id, p, b}
	}
	r = newRig(t, cfg, "alice")
	r.bus.Publish(events.Event{Kind: events.MotionStart, Time: time.Now(), ID: 1})
	var got []snapshot
	deadline := time.After(30 * time.Second)
	for len(got) == 0 || got[len(got)-1].p.Checkpoints < 3 {
		select {
		case s := <-snaps:
			got = append(got, s)
		case <-deadline:
			t.Fatalf("no sync with 3 checkpoints within 30 s (%d syncs)", len(got))
		}
	}
	r.bus.Publish(events.Event{Kind: events.MotionEnd, Time: time.Now(), ID: 1})
	id := r.waitSealed()
	for len(snaps) > 0 {
		got = append(got, <-snaps)
	}

	opt := clip.Options{ID: id, Identities: []age.Identity{r.ids["alice"]}, Trusted: []ed25519.PublicKey{r.pub}}
	prev := SyncPoint{}
	for i, s := range got {
		if s.id != id {
			t.Fatalf("sync %d is of clip %s, not %s", i, s.id, id)
		}
		p := s.p
		if p.Bytes < prev.Bytes || p.Checkpoints < prev.Checkpoints {
			t.Errorf("sync %d went back: %+v after %+v", i, p, prev)
		}
		prev = p
		res, err := clip.Open(io.Discard, bytes.NewReader(s.file), p.Bytes, nil, opt)
		if p.Checkpoints == 0 {
			if err == nil {
				t.Errorf("sync %d says no checkpoint is durable, and its %d bytes open to %+v", i, p.Bytes, res)
			}
			continue
		}
		if err != nil {
			t.Fatalf("sync %d (%+v): its %d bytes do not open: %v", i, p, p.Bytes, err)
		}
		if !res.Verified || res.Checkpoints != p.Checkpoints || int(p.Last.Seq)+1 != p.Checkpoints ||
			res.Video != p.Last.Video || res.Bytes != p.Last.Offset+clip.CheckpointSize {
			t.Errorf("sync %d says %d checkpoints, the last %+v; its %d bytes open to %d checkpoints, %v, %d bytes (verified %v)",
				i, p.Checkpoints, p.Last, p.Bytes, res.Checkpoints, res.Video, res.Bytes, res.Verified)
		}
	}
	if len(got) < 5 {
		t.Errorf("only %d syncs reported", len(got))
	}
	// The last sync is of the whole clip, before it is renamed.
	_, res, err := r.open(id, "alice")
	if err != nil || !res.Complete {
		t.Fatalf("the sealed clip: %+v, %v", res, err)
	}
	if last := got[len(got)-1].p; last.Checkpoints != res.Checkpoints || last.Last.Video != res.Video {
		t.Errorf("the last sync says %d checkpoints to %v; the sealed clip has %d to %v", last.Checkpoints, last.Last.Video, res.Checkpoints, res.Video)
	}
}
