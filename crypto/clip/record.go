package clip

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"filippo.io/age"

	"doorbell/devicekey"
)

// Record statuses.
const (
	StatusRecording = "recording" // written when the clip starts; left as is if recording was cut off
	StatusComplete  = "complete"  // written when the clip is sealed
)

// Record is an event record: what happened, and what the clip holds. It
// travels sealed, in a signed envelope, beside its clip.
type Record struct {
	ID      string    `json:"id"`
	Device  string    `json:"device"` // the signing key's fingerprint (devicekey.Fingerprint)
	Status  string    `json:"status"`
	Kind    string    `json:"kind"`    // "motion" or "ring"
	Trigger time.Time `json:"trigger"` // when the event began
	Start   time.Time `json:"start"`   // capture time of the clip's first frame (pre-roll included)
	// Duration is the video's length in seconds; 0 while recording.
	Duration float64      `json:"duration"`
	Zones    []string     `json:"zones"`
	Boxes    [][4]float64 `json:"boxes"` // regions that changed, normalised 0..1: x0, y0, x1, y1
	Peak     float64      `json:"peak"`  // largest changed fraction of the zones
	// Thumbnail is a small JPEG from the event.
	Thumbnail []byte `json:"thumbnail,omitempty"`
	// MediaSHA256 is the SHA-256 of the whole plaintext MP4, hex; set when complete.
	MediaSHA256 string   `json:"media_sha256,omitempty"`
	MediaBytes  int64    `json:"media_bytes,omitempty"`
	SealedBytes int64    `json:"sealed_bytes,omitempty"` // size of <id>.mp4.age
	Checkpoints int      `json:"checkpoints,omitempty"`
	SealedTo    []string `json:"sealed_to"` // member names
}

// envelope is what a sealed record file holds: the record's exact JSON bytes
// and an Ed25519 signature over them.
type envelope struct {
	Record json.RawMessage `json:"record"`
	Sig    []byte          `json:"sig"`
}

const recordContext = "doorbell event record v1\x00"

// Complete fills in the clip's summary and marks the record complete.
func (r *Record) Complete(s Summary, sealedBytes int64, duration time.Duration) {
	r.Status = StatusComplete
	r.MediaSHA256 = hex.EncodeToString(s.SHA256[:])
	r.MediaBytes = s.Bytes
	r.Checkpoints = s.Checkpoints
	r.SealedBytes = sealedBytes
	r.Duration = duration.Seconds()
}

// Sign returns the record's signed envelope (plaintext JSON).
func (r *Record) Sign(key ed25519.PrivateKey) ([]byte, error) {
	raw, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	sig := ed25519.Sign(key, append([]byte(recordContext), raw...))
	return json.Marshal(envelope{Record: raw, Sig: sig})
}

// Seal signs the record and seals it to recipients, writing the age file to dst.
func (r *Record) Seal(dst io.Writer, recipients []age.Recipient, key ed25519.PrivateKey) error {
	env, err := r.Sign(key)
	if err != nil {
		return err
	}
	w, err := age.Encrypt(dst, recipients...)
	if err != nil {
		return err
	}
	if _, err := w.Write(env); err != nil {
		return err
	}
	return w.Close()
}

// Signed is a record as read, with its signature not yet checked.
type Signed struct {
	Record
	raw []byte
	sig []byte
}

// Errors that Verify and Open wrap; the messages around them say what to do.
var (
	ErrNoIdentity   = errors.New("no identity matched: this clip was sealed to other keys")
	ErrUnknownKey   = errors.New("signed by a device key this computer has not pinned")
	ErrBadSignature = errors.New("signature does not verify")
	ErrMismatch     = errors.New("clip and event record do not match")
	ErrTruncated    = errors.New("clip is truncated")
	ErrCorrupted    = errors.New("clip is corrupted")
)

// maxRecord bounds a record's plaintext (the thumbnail is the bulk).
const maxRecord = 4 << 20

// ReadRecord decrypts and parses a sealed record. It does not check the signature.
func ReadRecord(src io.Reader, ids ...age.Identity) (*Signed, error) {
	r, err := age.Decrypt(src, ids...)
	if err != nil {
		return nil, decryptError("event record", err)
	}
	data, err := io.ReadAll(io.LimitReader(r, maxRecord+1))
	if err != nil {
		return nil, fmt.Errorf("%w: the event record is damaged or cut short (%w); pull it again", ErrCorrupted, err)
	}
	if len(data) > maxRecord {
		return nil, errors.New("the event record is too large to be one; pull it again")
	}
	return ParseSigned(data)
}

// ParseSigned parses a record's signed envelope.
func ParseSigned(data []byte) (*Signed, error) {
	var env envelope
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&env); err != nil || len(env.Record) == 0 {
		return nil, fmt.Errorf("the event record is not in a format this doorbell knows; update doorbell")
	}
	s := &Signed{raw: env.Record, sig: env.Sig}
	if err := json.Unmarshal(env.Record, &s.Record); err != nil {
		return nil, fmt.Errorf("the event record is not in a format this doorbell knows (%w); update doorbell", err)
	}
	return s, nil
}

// Verify checks the signature against the pinned device keys.
func (s *Signed) Verify(trusted []ed25519.PublicKey) error {
	for _, k := range trusted {
		if devicekey.Fingerprint(k) != s.Device {
			continue
		}
		if len(s.sig) != ed25519.SignatureSize || !ed25519.Verify(k, append([]byte(recordContext), s.raw...), s.sig) {
			return fmt.Errorf("%w: the event record of clip %s was changed after the device signed it; do not trust it", ErrBadSignature, s.ID)
		}
		return nil
	}
	return fmt.Errorf("%w (%s): pair this computer with that doorbell (doorbell device add URL CODE), or pass -no-verify to open it without checking", ErrUnknownKey, s.Device)
}

// trustedKey returns the pinned key the record names, or nil.
func (s *Signed) trustedKey(trusted []ed25519.PublicKey) ed25519.PublicKey {
	for _, k := range trusted {
		if devicekey.Fingerprint(k) == s.Device {
			return k
		}
	}
	return nil
}

// decryptError explains an age decryption failure.
func decryptError(what string, err error) error {
	var nomatch *age.NoIdentityMatchError
	if errors.As(err, &nomatch) {
		return fmt.Errorf("%w (the %s is sealed to %d key(s), none of them yours); use the identity file of a member who was in the household when it was recorded", ErrNoIdentity, what, len(nomatch.StanzaTypes))
	}
	msg := err.Error()
	switch {
	case bytes.Contains([]byte(msg), []byte("failed to read header")):
		return fmt.Errorf("%w: the %s's age header is damaged or it is not an age file (%w); pull it again", ErrCorrupted, what, err)
	case bytes.Contains([]byte(msg), []byte("header MAC")):
		return fmt.Errorf("%w: the %s's age header was changed after sealing; pull it again", ErrCorrupted, what)
	case bytes.Contains([]byte(msg), []byte("failed to read nonce")):
		return fmt.Errorf("%w: the %s ends right after its age header; download it again with doorbell clips pull", ErrTruncated, what)
	}
	return fmt.Errorf("cannot decrypt the %s: %w", what, err)
}
