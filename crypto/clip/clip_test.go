package clip

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"io"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"

	"filippo.io/age"

	"doorbell/devicekey"
	"doorbell/internal/testkit"
)

type household struct {
	ids  []age.Identity
	recs []age.Recipient
}

func newHousehold(t testing.TB, n int) household {
	var h household
	for range n {
		id, err := age.GenerateX25519Identity()
		if err != nil {
			t.Fatal(err)
		}
		h.ids = append(h.ids, id)
		h.recs = append(h.recs, id.Recipient())
	}
	return h
}

func box(typ string, payload []byte) []byte {
	b := make([]byte, 8, 8+len(payload))
	binary.BigEndian.PutUint32(b, uint32(8+len(payload)))
	copy(b[4:], typ)
	return append(b, payload...)
}

type sealed struct {
	id        string
	clip      []byte
	record    []byte // sealed final record
	start     []byte // sealed "recording" record
	plain     []byte
	cpEnds    []int // plaintext offsets just after each checkpoint
	cpVideo   []time.Duration
	summary   Summary
	startTime time.Time
}

// sealClip makes a clip of fragments fragments of about fragSize bytes each.
func sealClip(t testing.TB, h household, key ed25519.PrivateKey, fragments, fragSize int, seed uint64) *sealed {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 1))
	s := &sealed{id: NewID(), startTime: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)}
	var out bytes.Buffer
	w, err := NewWriter(&out, s.id, h.recs, key)
	if err != nil {
		t.Fatal(err)
	}
	write := func(b []byte) {
		s.plain = append(s.plain, b...)
		if _, err := w.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	write(box("ftyp", []byte("isomiso6")))
	write(box("moov", make([]byte, 300)))
	for i := range fragments {
		write(box("moof", make([]byte, 100)))
		data := make([]byte, fragSize/2+rng.IntN(fragSize))
		for j := range data {
			data[j] = byte(rng.Uint32())
		}
		write(box("mdat", data))
		video := time.Duration(i+1) * 500 * time.Millisecond
		if err := w.Checkpoint(video); err != nil {
			t.Fatal(err)
		}
		s.plain = append(s.plain, make([]byte, CheckpointSize)...) // filled in below
		s.cpEnds = append(s.cpEnds, len(s.plain))
		s.cpVideo = append(s.cpVideo, video)
	}
	sum, err := w.Close()
	if err != nil {
		t.Fatal(err)
	}
	s.summary = sum
	s.clip = out.Bytes()
	pr, err := age.Decrypt(bytes.NewReader(s.clip), h.ids[0])
	if err != nil {
		t.Fatal(err)
	}
	if s.plain, err = io.ReadAll(pr); err != nil {
		t.Fatal(err)
	}
	if sum.Bytes != int64(len(s.plain)) || sum.Checkpoints != fragments {
		t.Fatalf("summary %+v, plaintext %d", sum, len(s.plain))
	}
	rec := &Record{ID: s.id, Device: devicekey.Fingerprint(key.Public().(ed25519.PublicKey)), Status: StatusRecording,
		Kind: "motion", Trigger: s.startTime.Add(3 * time.Second), Start: s.startTime, Zones: []string{"porch"}, SealedTo: []string{"a"}}
	var rb bytes.Buffer
	if err := rec.Seal(&rb, h.recs, key); err != nil {
		t.Fatal(err)
	}
	s.start = bytes.Clone(rb.Bytes())
	rec.Boxes = [][4]float64{{0.1, 0.2, 0.3, 0.4}}
	rec.Thumbnail = []byte{0xff, 0xd8, 0xff, 0xd9}
	rec.Complete(sum, int64(len(s.clip)), time.Duration(fragments)*500*time.Millisecond)
	rb.Reset()
	if err := rec.Seal(&rb, h.recs, key); err != nil {
		t.Fatal(err)
	}
	s.record = rb.Bytes()
	return s
}

func newKey(t testing.TB) (ed25519.PublicKey, ed25519.PrivateKey) {
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return pub, priv
}

func open(s *sealed, clip, record []byte, opt Options) ([]byte, *Result, error) {
	var out bytes.Buffer
	if opt.ID == "" {
		opt.ID = s.id
	}
	var rr *bytes.Reader
	if record != nil {
		rr = bytes.NewReader(record)
	}
	var res *Result
	var err error
	if rr == nil {
		res, err = Open(&out, bytes.NewReader(clip), int64(len(clip)), nil, opt)
	} else {
		res, err = Open(&out, bytes.NewReader(clip), int64(len(clip)), rr, opt)
	}
	return out.Bytes(), res, err
}

func TestSealAndOpen(t *testing.T) {
	h := newHousehold(t, 3)
	pub, key := newKey(t)
	s := sealClip(t, h, key, 6, 100_000, 1)
	for i, id := range h.ids {
		// Each member can open it, and it is verified.
		out, res, err := open(s, s.clip, s.record, Options{Identities: []age.Identity{id}, Trusted: []ed25519.PublicKey{pub}})
		if err != nil {
			t.Fatalf("member %d: %v", i, err)
		}
		if !res.Verified || !res.Complete || res.Truncated || res.Checkpoints != 6 || res.Video != 3*time.Second {
			t.Errorf("result %+v", res)
		}
		if len(out) != len(s.plain) || sha256.Sum256(out) != s.summary.SHA256 {
			t.Fatalf("plaintext differs: %d bytes, want %d", len(out), len(s.plain))
		}
		r := res.Record
		if r.Kind != "motion" || r.Duration != 3 || r.Zones[0] != "porch" || r.Boxes[0][3] != 0.4 || len(r.Thumbnail) != 4 || r.Status != StatusComplete {
			t.Errorf("record %+v", r)
		}
	}
	// Without a record the checkpoints still verify it.
	_, res, err := open(s, s.clip, nil, Options{Identities: h.ids[:1], Trusted: []ed25519.PublicKey{pub}})
	if err != nil || !res.Verified || !res.Complete {
		t.Fatalf("no record: %+v %v", res, err)
	}
	// Nor does a ciphertext ever hold plaintext.
	if bytes.Contains(s.clip, []byte("ftyp")) || bytes.Contains(s.record, []byte("motion")) || testkit.HoldsJPEG(s.record) {
		t.Error("plaintext visible in the ciphertext")
	}
}

func TestWrongIdentity(t *testing.T) {
	h, other := newHousehold(t, 2), newHousehold(t, 1)
	pub, key := newKey(t)
	s := sealClip(t, h, key, 2, 10_000, 2)
	for _, rec := range [][]byte{s.record, nil} {
		_, _, err := open(s, s.clip, rec, Options{Identities: other.ids, Trusted: []ed25519.PublicKey{pub}})
		if !errors.Is(err, ErrNoIdentity) || !strings.Contains(err.Error(), "no identity matched: this clip was sealed to other keys") {
			t.Fatalf("got %v", err)
		}
	}
}

func TestTruncatedOrCorruptedCompleteClip(t *testing.T) {
	h := newHousehold(t, 1)
	pub, key := newKey(t)
	s := sealClip(t, h, key, 8, 60_000, 3)
	opt := Options{Identities: h.ids, Trusted: []ed25519.PublicKey{pub}}
	hdr, _ := age.ExtractHeader(bytes.NewReader(s.clip))
	payload := len(hdr) + payloadNonce

	cut := s.clip[:payload+2*encChunkSize+1000]
	_, _, err := open(s, cut, s.record, opt)
	if !errors.Is(err, ErrTruncated) || !strings.Contains(err.Error(), "download it again") || !strings.Contains(err.Error(), "bytes") {
		t.Fatalf("truncated: %v", err)
	}
	atBoundary := s.clip[:payload+3*encChunkSize]
	if _, _, err := open(s, atBoundary, s.record, opt); !errors.Is(err, ErrTruncated) {
		t.Fatalf("truncated at a chunk boundary: %v", err)
	}

	bad := bytes.Clone(s.clip)
	bad[payload+encChunkSize+500] ^= 1
	_, _, err = open(s, bad, s.record, opt)
	want := "at byte " + strconv.Itoa(payload+encChunkSize) + " (chunk 1"
	if !errors.Is(err, ErrCorrupted) || !strings.Contains(err.Error(), want) {
		t.Fatalf("corrupted: %v, want %q", err, want)
	}
	last := bytes.Clone(s.clip)
	last[len(last)-3] ^= 1
	if _, _, err := open(s, last, s.record, opt); !errors.Is(err, ErrCorrupted) {
		t.Fatalf("corrupted last chunk: %v", err)
	}
	hdrBad := bytes.Clone(s.clip)
	hdrBad[len(hdr)-10] ^= 1
	if _, _, err := open(s, hdrBad, s.record, opt); !errors.Is(err, ErrCorrupted) {
		t.Fatalf("corrupted header: %v", err)
	}
	if _, _, err := open(s, []byte("hello"), s.record, opt); !errors.Is(err, ErrCorrupted) {
		t.Fatalf("not an age file: %v", err)
	}
}

func TestInterruptedClipRecoversAVerifiedPrefix(t *testing.T) {
	h := newHousehold(t, 1)
	pub, key := newKey(t)
	s := sealClip(t, h, key, 10, 50_000, 4)
	hdr, _ := age.ExtractHeader(bytes.NewReader(s.clip))
	payload := len(hdr) + payloadNonce
	opt := Options{Identities: h.ids, Trusted: []ed25519.PublicKey{pub}}
	for _, cutAt := range []int{payload + 4*encChunkSize, payload + 5*encChunkSize + 777} {
		// What a crash leaves: the chunks written so far (and maybe part of
		// the next), the "recording" record.
		out, res, err := open(s, s.clip[:cutAt], s.start, opt)
		if err != nil {
			t.Fatalf("cut at %d: %v", cutAt, err)
		}
		if !res.Truncated || res.Complete || !res.Verified {
			t.Fatalf("result %+v", res)
		}
		// The output ends exactly at a checkpoint, and holds the plaintext.
		plainAvail := (cutAt - payload) / encChunkSize * chunkSize
		want := 0
		var video time.Duration
		for i, e := range s.cpEnds {
			if e <= plainAvail {
				want, video = e, s.cpVideo[i]
			}
		}
		if len(out) != want || !bytes.Equal(out, s.plain[:want]) || res.Video != video {
			t.Fatalf("recovered %d bytes, %v; want %d bytes, %v", len(out), res.Video, want, video)
		}
	}
	// Cut before the first checkpoint: nothing to recover, and it says so.
	if _, _, err := open(s, s.clip[:payload+100], s.start, opt); !errors.Is(err, ErrTruncated) || !strings.Contains(err.Error(), "before anything could be recovered") {
		t.Fatalf("cut early: %v", err)
	}
	// The whole clip with a record left at "recording" (cut off between the
	// clip's rename and the final record) is whole and verified.
	_, res, err := open(s, s.clip, s.start, opt)
	if err != nil || !res.Complete || !res.Verified || len(res.Notes) == 0 {
		t.Fatalf("complete clip with a start record: %+v %v", res, err)
	}
}

func TestTamperingIsCaught(t *testing.T) {
	h := newHousehold(t, 2)
	pub, key := newKey(t)
	a := sealClip(t, h, key, 3, 20_000, 5)
	b := sealClip(t, h, key, 3, 20_000, 6)
	opt := Options{Identities: h.ids[:1], Trusted: []ed25519.PublicKey{pub}}

	// b's record beside a's clip.
	if _, _, err := open(a, a.clip, b.record, opt); !errors.Is(err, ErrMismatch) || !strings.Contains(err.Error(), "swapped") {
		t.Fatalf("swapped record: %v", err)
	}
	// a's clip renamed to b's id, with b's record.
	if _, _, err := open(b, a.clip, b.record, opt); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("renamed clip: %v", err)
	}
	// A forger knows the members' public keys, not the device key.
	_, forgerKey := newKey(t)
	forged := sealClip(t, h, forgerKey, 3, 20_000, 7)
	if _, _, err := open(forged, forged.clip, forged.record, opt); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("forged clip and record: %v", err)
	}
	if _, _, err := open(forged, forged.clip, nil, opt); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("forged clip alone: %v", err)
	}
	// A record re-signed by the forger but claiming the device's id.
	sr, err := ReadRecord(bytes.NewReader(a.record), h.ids[0])
	if err != nil {
		t.Fatal(err)
	}
	sr.Record.Kind = "ring"
	var fr bytes.Buffer
	env, _ := sr.Record.Sign(forgerKey)
	w, _ := age.Encrypt(&fr, h.recs...)
	w.Write(env)
	w.Close()
	if _, _, err := open(a, a.clip, fr.Bytes(), opt); !errors.Is(err, ErrBadSignature) || !strings.Contains(err.Error(), "changed after the device signed it") {
		t.Fatalf("re-signed record: %v", err)
	}
	// A record whose signed bytes were edited.
	good, _ := sr.Record.Sign(key)
	edited := bytes.Replace(good, []byte("porch"), []byte("gate!"), 1)
	fr.Reset()
	w, _ = age.Encrypt(&fr, h.recs...)
	w.Write(edited)
	w.Close()
	if _, _, err := open(a, a.clip, fr.Bytes(), opt); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("edited record: %v", err)
	}
	// A flipped bit in the sealed record.
	rb := bytes.Clone(a.record)
	rb[len(rb)-5] ^= 1
	if _, _, err := open(a, a.clip, rb, opt); !errors.Is(err, ErrCorrupted) {
		t.Fatalf("corrupted record: %v", err)
	}
	// No pinned key at all.
	if _, _, err := open(a, a.clip, a.record, Options{Identities: h.ids}); !errors.Is(err, ErrUnknownKey) || !strings.Contains(err.Error(), "doorbell device add") {
		t.Fatalf("nothing pinned: %v", err)
	}
	// -no-verify opens the forgery, and says nothing is verified.
	out, res, err := open(forged, forged.clip, forged.record, Options{Identities: h.ids, NoVerify: true})
	if err != nil || res.Verified || len(out) != len(forged.plain) {
		t.Fatalf("no-verify: %+v %v", res, err)
	}
}

// TestCheckpointVector pins the checkpoint format: a fixed key, id and
// plaintext give these exact bytes (Ed25519 signatures are deterministic).
func TestCheckpointVector(t *testing.T) {
	key := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, 32))
	w := &Writer{id: "aaaaaaaaaaaaaaaaaaaaaaaaaa", key: key, enc: nopCloser{}, h: sha256.New()}
	w.Write([]byte("hello"))
	var out bytes.Buffer
	w.enc = writeCloser{&out}
	if err := w.Checkpoint(1500 * time.Millisecond); err != nil {
		t.Fatal(err)
	}
	got := hex.EncodeToString(out.Bytes())
	want := "00000090" + "75756964" + hex.EncodeToString(CheckpointUUID[:]) +
		"01000000" + "00000000" + "0000000059682f00" + "0000000000000005" +
		"2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
	want += "98c6a6fbbf3b30a1511943b7f6b97f341dc8c4f7e492dca1ad27b021ae026e1f13d155014e6f38b0fe61ccd1e9678b7dbd86a13a0b60dd43bffa4ed60e68ca0b"
	if got != want || len(out.Bytes()) != CheckpointSize {
		t.Fatalf("checkpoint box:\n got %s\nwant %s…", got, want)
	}
	cp, ok, err := parseCheckpoint(out.Bytes())
	if !ok || err != nil || cp.Video != 1500*time.Millisecond || cp.Offset != 5 {
		t.Fatalf("parse: %+v %v %v", cp, ok, err)
	}
	if !ed25519.Verify(key.Public().(ed25519.PublicKey), checkpointMessage(w.id, cp.signed), cp.Sig) {
		t.Error("signature does not verify")
	}
}

type nopCloser struct{}

func (nopCloser) Write(p []byte) (int, error) { return len(p), nil }
func (nopCloser) Close() error                { return nil }

type writeCloser struct{ *bytes.Buffer }

func (writeCloser) Close() error { return nil }

func TestIDs(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		id := NewID()
		if !ValidID(id) || seen[id] {
			t.Fatalf("bad or repeated id %q", id)
		}
		seen[id] = true
	}
	for _, bad := range []string{"", "../../etc/passwd", strings.Repeat("A", IDLen), strings.Repeat("a", IDLen-1), strings.Repeat("1", IDLen)} {
		if ValidID(bad) {
			t.Errorf("ValidID(%q)", bad)
		}
	}
	id := NewID()
	if got, suf, ok := SplitName(id + ClipSuffix); !ok || got != id || suf != ClipSuffix {
		t.Error("SplitName clip")
	}
	if _, _, ok := SplitName("." + id + ClipSuffix + ".tmp"); ok {
		t.Error("SplitName accepted a temp name")
	}
}

func BenchmarkSeal(b *testing.B) {
	h := newHousehold(b, 3)
	_, key := newKey(b)
	buf := make([]byte, 1<<20)
	b.SetBytes(int64(len(buf)))
	w, err := NewWriter(discard{}, NewID(), h.recs, key)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		w.Write(buf)
	}
	w.Close()
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// With -no-verify, a file that is not an MP4 (anyone with a member's public
// key can make one) is passed on as it is, however long: it must not panic
// or lose bytes.
func TestNoVerifyPassesOnWhatIsNotAnMP4(t *testing.T) {
	h := newHousehold(t, 1)
	plain := bytes.Repeat([]byte{0xff}, 3*chunkSize+123)
	var c bytes.Buffer
	w, err := age.Encrypt(&c, h.recs...)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(plain)
	w.Close()
	var out bytes.Buffer
	res, err := Open(&out, bytes.NewReader(c.Bytes()), int64(c.Len()), nil, Options{ID: NewID(), Identities: h.ids, NoVerify: true})
	if err != nil || res.Verified || !bytes.Equal(out.Bytes(), plain) {
		t.Fatalf("no-verify of a non-MP4: %v, %d of %d bytes", err, out.Len(), len(plain))
	}
}

// Plaintext held back waiting for a checkpoint is bounded, also when it
// is many small whole boxes.
func TestPendingPlaintextIsBounded(t *testing.T) {
	v := &verifier{id: NewID(), dst: io.Discard, h: sha256.New()}
	chunk := bytes.Repeat(box("free", nil), chunkSize/8)
	for i := 0; i < 2*maxPending/chunkSize+1; i++ {
		if err := v.feed(chunk); err != nil {
			if !errors.Is(err, ErrMismatch) {
				t.Fatalf("err %v", err)
			}
			return
		}
	}
	t.Fatalf("held %d bytes back without a checkpoint, more than %d", len(v.buf), maxPending)
}

// A clip cut off within its payload nonce, right after the header, gets
// an error that says what happened and what to do.
func TestClipCutOffAfterItsHeader(t *testing.T) {
	h := newHousehold(t, 1)
	pub, key := newKey(t)
	s := sealClip(t, h, key, 2, 10_000, 8)
	hdr, _ := age.ExtractHeader(bytes.NewReader(s.clip))
	for _, n := range []int{len(hdr), len(hdr) + 5} {
		_, _, err := open(s, s.clip[:n], s.record, Options{Identities: h.ids, Trusted: []ed25519.PublicKey{pub}})
		if !errors.Is(err, ErrTruncated) || !strings.Contains(err.Error(), "again") {
			t.Errorf("cut at %d: %v", n, err)
		}
	}
}
