package clip

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/json"
	"io"
	"testing"
)

// fuzzSeedClip is a small clip and its record, sealed for the fuzzers.
func fuzzSeedClip(f *testing.F) (household, ed25519.PublicKey, *sealed) {
	h := newHousehold(f, 1)
	pub, key := newKey(f)
	return h, pub, sealClip(f, h, key, 3, 2000, 1)
}

// FuzzOpenCiphertext: no clip file or record file crashes Open, and
// nothing it calls verified came from outside the seed.
func FuzzOpenCiphertext(f *testing.F) {
	h, pub, s := fuzzSeedClip(f)
	f.Add(s.clip, s.record)
	f.Add(s.clip[:len(s.clip)/2], s.start)
	f.Add([]byte("age-encryption.org/v1\n-> X25519 x\n--- x\n"), []byte{})
	f.Fuzz(func(t *testing.T, ciphertext, record []byte) {
		for _, noVerify := range []bool{false, true} {
			var rec io.Reader
			if len(record) > 0 {
				rec = bytes.NewReader(record)
			}
			res, err := Open(io.Discard, bytes.NewReader(ciphertext), int64(len(ciphertext)), rec,
				Options{ID: s.id, Identities: h.ids, Trusted: []ed25519.PublicKey{pub}, NoVerify: noVerify})
			if err == nil && res.Verified && !bytes.Equal(ciphertext, s.clip) && !bytes.HasPrefix(s.clip, ciphertext) {
				// A different ciphertext that verifies must decrypt to the
				// same plaintext prefix; age's STREAM does not allow that.
				t.Fatalf("a changed clip verified (%d bytes)", len(ciphertext))
			}
		}
	})
}

// FuzzPlaintext: no plaintext crashes the MP4 box scanner and checkpoint
// checks, in either mode, and unsigned plaintext never passes verification.
func FuzzPlaintext(f *testing.F) {
	_, pub, s := fuzzSeedClip(f)
	f.Add(s.plain)
	f.Add(box("mdat", []byte("x")))
	f.Add([]byte{0, 0, 0, 1, 'm', 'd', 'a', 't', 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, plain []byte) {
		for _, noVerify := range []bool{false, true} {
			var out bytes.Buffer
			v := &verifier{id: s.id, candidates: []ed25519.PublicKey{pub}, noVerify: noVerify, dst: &out, h: sha256.New()}
			var err error
			for p := plain; len(p) > 0 && err == nil; {
				n := min(len(p), 1000)
				err = v.feed(p[:n])
				p = p[n:]
			}
			if err == nil {
				err = v.finish(&Result{}, nil)
			}
			if !noVerify && err == nil && out.Len() > 0 && !bytes.HasPrefix(s.plain, out.Bytes()) {
				t.Fatalf("unsigned plaintext passed verification: %d bytes", out.Len())
			}
		}
	})
}

// FuzzParseSigned: no record plaintext crashes the parser.
func FuzzParseSigned(f *testing.F) {
	h, _, s := fuzzSeedClip(f)
	sig, err := ReadRecord(bytes.NewReader(s.record), h.ids...)
	if err != nil {
		f.Fatal(err)
	}
	data, err := json.Marshal(envelope{Record: sig.raw, Sig: sig.sig})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(data)
	f.Add([]byte(`{"record":{},"sig":""}`))
	f.Add([]byte(`{"record":null}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = ParseSigned(data)
	})
}
