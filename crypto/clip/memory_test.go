package clip

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"io"
	"testing"
)

// hugeBoxHeader starts an MP4 box that claims size bytes.
func hugeBoxHeader(size uint32) []byte {
	b := make([]byte, 8)
	binary.BigEndian.PutUint32(b, size)
	copy(b[4:], "mdat")
	return b
}

// With -no-verify a single box of 250 MB passes through: the verifier
// never holds more than a chunk and maxHeldBox of it (issue 13, item 9: it
// held the whole box, and the buffer doubled past 1 GB).
func TestNoVerifyHoldsNoLargeBox(t *testing.T) {
	const size = 250 << 20
	var out countingDiscard
	v := &verifier{id: NewID(), dst: &out, h: sha256.New(), noVerify: true}
	chunk := make([]byte, chunkSize)
	if err := v.feed(append(hugeBoxHeader(size), chunk[:chunkSize-8]...)); err != nil {
		t.Fatal(err)
	}
	peak := 0
	for fed := chunkSize; fed < size; fed += chunkSize {
		if err := v.feed(chunk[:min(chunkSize, size-fed)]); err != nil {
			t.Fatal(err)
		}
		peak = max(peak, cap(v.buf))
	}
	if peak > maxHeldBox+chunkSize {
		t.Errorf("held up to %d bytes of one box", peak)
	}
	if out.n != size {
		t.Errorf("passed on %d of %d bytes", out.n, size)
	}
}

// Verified opening refuses a box larger than maxPending at its header, and
// never lets its buffer grow past maxPending.
func TestVerifyRefusesAHugeBoxAtOnce(t *testing.T) {
	v := &verifier{id: NewID(), dst: io.Discard, h: sha256.New()}
	err := v.feed(append(hugeBoxHeader(250<<20), make([]byte, chunkSize-8)...))
	if !errors.Is(err, ErrCorrupted) {
		t.Fatalf("a 250 MB box: %v", err)
	}
	// A box of exactly maxPending is held whole; one byte more is refused.
	v = &verifier{id: NewID(), dst: io.Discard, h: sha256.New()}
	chunk := make([]byte, chunkSize)
	if err := v.feed(append(hugeBoxHeader(uint32(maxPending)), chunk[:chunkSize-8]...)); err != nil {
		t.Fatal(err)
	}
	for fed := chunkSize; fed < maxPending; fed += chunkSize {
		if err := v.feed(chunk); err != nil {
			t.Fatalf("within maxPending, at %d: %v", fed, err)
		}
	}
	if err := v.feed([]byte{0}); !errors.Is(err, ErrMismatch) {
		t.Fatalf("past maxPending: %v", err)
	}
	if cap(v.buf) > 2*maxPending {
		t.Errorf("buffer grew to %d", cap(v.buf))
	}
}

type countingDiscard struct{ n int }

func (c *countingDiscard) Write(p []byte) (int, error) { c.n += len(p); return len(p), nil }
