package clip

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"io"
	"math/rand/v2"
	"testing"
	"time"

	"filippo.io/age"
)

// What Sealed says reached the file is exactly what opening the file as it
// is at that moment recovers: the same checkpoints, video and bytes.
func TestSealedIsWhatTheFileSoFarOpensTo(t *testing.T) {
	h := newHousehold(t, 1)
	pub, key, _ := ed25519.GenerateKey(nil)
	id := NewID()
	var out bytes.Buffer
	w, err := NewWriter(&out, id, h.recs, key)
	if err != nil {
		t.Fatal(err)
	}
	opt := Options{ID: id, Identities: []age.Identity{h.ids[0]}, Trusted: []ed25519.PublicKey{pub}}
	check := func(when string) {
		t.Helper()
		last, n, ok := w.Sealed()
		res, err := Open(io.Discard, bytes.NewReader(out.Bytes()), int64(out.Len()), nil, opt)
		if !ok {
			if n != 0 || !errors.Is(err, ErrTruncated) {
				t.Fatalf("%s: Sealed says no checkpoint (%d), and the file so far opens to %+v, %v", when, n, res, err)
			}
			return
		}
		if err != nil {
			t.Fatalf("%s: Sealed says checkpoint %d, and the file so far (%d bytes) does not open: %v", when, last.Seq, out.Len(), err)
		}
		if res.Checkpoints != n || int(last.Seq)+1 != n || res.Video != last.Video || res.Bytes != last.Offset+CheckpointSize {
			t.Fatalf("%s: Sealed says %d checkpoints, the last %+v; the file so far opens to %d checkpoints, %v, %d bytes",
				when, n, last, res.Checkpoints, res.Video, res.Bytes)
		}
	}
	check("after the header")
	if _, err := w.Write(box("ftyp", []byte("isomiso6"))); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(7, 7))
	// Fragments smaller and larger than a chunk: checkpoints come many to a
	// chunk, or one every few chunks.
	for i := range 60 {
		size := 200 + rng.IntN(20<<10)
		if i%7 == 3 {
			size = 70<<10 + rng.IntN(150<<10)
		}
		if _, err := w.Write(box("mdat", make([]byte, size))); err != nil {
			t.Fatal(err)
		}
		check("after a fragment")
		if err := w.Checkpoint(time.Duration(i+1) * 400 * time.Millisecond); err != nil {
			t.Fatal(err)
		}
		check("after a checkpoint")
	}
	_, before, _ := w.Sealed()
	sum, err := w.Close()
	if err != nil {
		t.Fatal(err)
	}
	last, n, _ := w.Sealed()
	if n != sum.Checkpoints || n != 60 || before >= n || last.Video != 24*time.Second {
		t.Errorf("after Close Sealed says %d checkpoints (before it %d), the last at %v; want all %d", n, before, last.Video, sum.Checkpoints)
	}
	check("after Close")
	if len(w.held) != 0 {
		t.Errorf("%d checkpoints still held after Close", len(w.held))
	}
}
