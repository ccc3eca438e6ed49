package clip

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"time"

	"filippo.io/age"
)

// Options say how to open a clip.
type Options struct {
	// ID is the clip's id, from its file name; "" takes the record's.
	ID         string
	Identities []age.Identity
	// Trusted are the device keys this computer pinned.
	Trusted []ed25519.PublicKey
	// NoVerify opens without checking signatures or hashes.
	NoVerify bool
}

// Result says what Open wrote.
type Result struct {
	ID     string
	Record *Record // nil if there was none
	// Verified: every byte written was covered by a valid signature.
	Verified bool
	// Complete: the whole clip as sealed; otherwise it was cut off (Truncated)
	// and Video is what was recovered.
	Complete    bool
	Truncated   bool
	Video       time.Duration
	Bytes       int64
	Checkpoints int
	Notes       []string
}

// age's STREAM payload: 64 KiB chunks, each with a 16-byte tag, after a
// 16-byte nonce that follows the header.
const (
	chunkSize    = 64 << 10
	encChunkSize = chunkSize + 16
	payloadNonce = 16
)

// maxPending bounds plaintext held back while waiting for a checkpoint,
// which is what opening a clip costs in memory. The recorder writes a
// checkpoint after every fragment, at least every second: at the highest
// bit rate (stream.bitrate_kbps 20000) that is 2.5 MB, so 16 MiB leaves
// room for bursts and a phone can open any clip the doorbell made.
const maxPending = 16 << 20

// With -no-verify nothing is held back for a checkpoint: a box larger than
// this passes on as it arrives, without being held whole.
const maxHeldBox = 1 << 20

// Open decrypts the clip (size bytes read from clip) and writes its MP4 to
// dst. record is the sealed event record, or nil if there is none.
//
// Unless opt.NoVerify is set, only plaintext covered by a valid signed
// checkpoint reaches dst, and a complete clip must match its record. A clip
// whose recording was cut off (its record still says "recording") is
// recovered up to its last checkpoint and reported as Truncated. A
// complete clip that is cut short or changed is an error; dst may then have
// been given a verified prefix, which the caller should discard.
func Open(dst io.Writer, clip io.ReaderAt, size int64, record io.Reader, opt Options) (*Result, error) {
	res := &Result{ID: opt.ID}
	var rec *Signed
	if record != nil {
		var err error
		rec, err = ReadRecord(record, opt.Identities...)
		if err != nil && !(opt.NoVerify && !errors.Is(err, ErrNoIdentity)) {
			return res, err
		}
		if err != nil {
			res.Notes = append(res.Notes, "the event record could not be read: "+err.Error())
			rec = nil
		}
	}
	var key ed25519.PublicKey
	if rec != nil {
		res.Record = &rec.Record
		if res.ID == "" {
			res.ID = rec.ID
		}
		if !opt.NoVerify {
			if err := rec.Verify(opt.Trusted); err != nil {
				return res, err
			}
			key = rec.trustedKey(opt.Trusted)
			if rec.ID != res.ID {
				return res, fmt.Errorf("%w: the event record belongs to clip %s, not %s: the files were swapped or renamed; pull both again", ErrMismatch, rec.ID, res.ID)
			}
		}
	} else if !opt.NoVerify {
		if len(opt.Trusted) == 0 {
			return res, fmt.Errorf("%w: no device key is pinned on this computer; pair it with doorbell device add URL CODE, or pass -no-verify", ErrUnknownKey)
		}
		res.Notes = append(res.Notes, "no event record: verified by the clip's own signed checkpoints")
	}
	if !ValidID(res.ID) {
		return res, fmt.Errorf("cannot tell the clip's id: name the file <id>.mp4.age as the doorbell did")
	}

	hdr, err := age.ExtractHeader(io.NewSectionReader(clip, 0, size))
	if err != nil {
		return res, decryptError("clip", err)
	}
	plain, err := age.Decrypt(io.NewSectionReader(clip, 0, size), opt.Identities...)
	if err != nil {
		return res, decryptError("clip", err)
	}

	v := &verifier{id: res.ID, key: key, candidates: opt.Trusted, noVerify: opt.NoVerify, dst: dst, h: sha256.New()}
	buf := make([]byte, chunkSize)
	var read int64
	var readErr error
	for {
		n, err := plain.Read(buf)
		read += int64(n)
		if n > 0 {
			if ferr := v.feed(buf[:n]); ferr != nil {
				res.fill(v)
				return res, ferr
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			readErr = err
			break
		}
	}
	res.fill(v)

	if readErr == nil {
		return res, v.finish(res, rec)
	}

	// The ciphertext ends early or fails authentication: say where.
	chunk := read / chunkSize
	at := int64(len(hdr)) + payloadNonce + chunk*encChunkSize
	atEnd := errors.Is(readErr, io.ErrUnexpectedEOF) || at+encChunkSize >= size
	complete := rec != nil && rec.Status == StatusComplete
	switch {
	case complete && rec.SealedBytes > size:
		return res, fmt.Errorf("%w: it has %d of its %d bytes (cut off at byte %d); download it again with doorbell clips pull", ErrTruncated, size, rec.SealedBytes, size)
	case !atEnd || (complete && rec.SealedBytes == size):
		return res, fmt.Errorf("%w at byte %d (chunk %d of the payload): it was changed after sealing, or the disk or the download damaged it; pull it again", ErrCorrupted, at, chunk)
	case complete:
		return res, fmt.Errorf("%w: it ends at byte %d; download it again with doorbell clips pull", ErrTruncated, size)
	}
	// Recording was cut off: keep what the checkpoints cover.
	res.Truncated = true
	if res.Bytes == 0 {
		return res, fmt.Errorf("%w: recording was cut off at byte %d before anything could be recovered", ErrTruncated, size)
	}
	res.Verified = !opt.NoVerify
	return res, nil
}

func (res *Result) fill(v *verifier) {
	res.Bytes = v.written
	res.Video = v.video
	res.Checkpoints = v.checkpoints
}

// verifier scans the plaintext's top-level MP4 boxes, checks each checkpoint
// and passes on only what a checkpoint covers.
type verifier struct {
	id         string
	key        ed25519.PublicKey // nil: choose from candidates at the first checkpoint
	candidates []ed25519.PublicKey
	noVerify   bool
	dst        io.Writer
	h          hash.Hash
	raw        bool   // -no-verify found no MP4: pass everything on as it is
	through    uint64 // -no-verify: bytes of a large box still to pass on as they come

	buf         []byte // plaintext not yet passed on
	scan        int    // where in buf the next box starts
	total       int64  // plaintext bytes scanned (in whole boxes)
	written     int64
	seq         uint32
	video       time.Duration
	checkpoints int
}

func (v *verifier) feed(p []byte) error {
	if v.noVerify && v.through > 0 {
		n := min(v.through, uint64(len(p)))
		v.through -= n
		v.total += int64(n)
		if err := v.pass(p[:n]); err != nil {
			return err
		}
		p = p[n:]
	}
	if !v.noVerify && len(v.buf)+len(p) > maxPending {
		return fmt.Errorf("%w: more than %d MiB without a signed checkpoint", ErrMismatch, maxPending>>20)
	}
	v.buf = append(v.buf, p...)
	if v.raw {
		v.scan = len(v.buf)
		return v.flush(len(v.buf))
	}
	for {
		rest := v.buf[v.scan:]
		if len(rest) < 8 {
			break
		}
		size, hdr := uint64(binary.BigEndian.Uint32(rest)), uint64(8)
		if size == 1 {
			if len(rest) < 16 {
				break
			}
			size, hdr = binary.BigEndian.Uint64(rest[8:]), 16
		}
		if size < hdr || size > uint64(maxPending) {
			if v.noVerify {
				// Not an MP4 the doorbell wrote; pass it on as it is.
				v.raw = true
				v.scan = len(v.buf)
				return v.flush(len(v.buf))
			}
			return fmt.Errorf("%w: the plaintext is not an MP4 at byte %d", ErrCorrupted, v.total)
		}
		if uint64(len(rest)) < size {
			if v.noVerify && size > maxHeldBox {
				// Pass what there is of it on, and the rest as it comes.
				v.through = size - uint64(len(rest))
				v.total += int64(len(rest))
				v.scan = len(v.buf)
				return v.flush(len(v.buf))
			}
			break
		}
		box := rest[:size]
		cp, isCP, err := parseCheckpoint(box)
		if err != nil && !v.noVerify {
			return fmt.Errorf("%w: %w at byte %d", ErrCorrupted, err, v.total)
		}
		if isCP && err == nil && !v.noVerify {
			if err := v.check(cp); err != nil {
				return err
			}
		}
		v.h.Write(box)
		v.total += int64(size)
		v.scan += int(size)
		if isCP && err == nil {
			v.seq++
			v.checkpoints++
			v.video = cp.Video
		}
		if (isCP && err == nil) || v.noVerify {
			if err := v.flush(v.scan); err != nil {
				return err
			}
		}
	}
	return nil
}

// pass writes p on directly (-no-verify, a large box).
func (v *verifier) pass(p []byte) error {
	if _, err := v.dst.Write(p); err != nil {
		return fmt.Errorf("cannot write the video: %w", err)
	}
	v.written += int64(len(p))
	return nil
}

func (v *verifier) check(cp Checkpoint) error {
	var sum [32]byte
	v.h.Sum(sum[:0])
	if cp.Offset != v.total || cp.Seq != v.seq || sum != cp.SHA256 {
		return fmt.Errorf("%w: checkpoint %d at byte %d does not match the video before it: the clip was changed", ErrMismatch, v.seq, v.total)
	}
	msg := checkpointMessage(v.id, cp.signed)
	if v.key == nil {
		for _, k := range v.candidates {
			if ed25519.Verify(k, msg, cp.Sig) {
				v.key = k
				return nil
			}
		}
		return fmt.Errorf("%w: clip %s is not signed by any device key pinned on this computer, or it was renamed; pass -no-verify to open it anyway", ErrBadSignature, v.id)
	}
	if !ed25519.Verify(v.key, msg, cp.Sig) {
		return fmt.Errorf("%w: checkpoint %d of clip %s (at byte %d) is not signed by the device: the clip was changed, swapped with another, or renamed", ErrBadSignature, v.seq, v.id, v.total)
	}
	return nil
}

// flush passes buf[:n] on.
func (v *verifier) flush(n int) error {
	if n == 0 {
		return nil
	}
	if _, err := v.dst.Write(v.buf[:n]); err != nil {
		return fmt.Errorf("cannot write the video: %w", err)
	}
	v.written += int64(n)
	v.buf = append(v.buf[:0], v.buf[n:]...)
	v.scan -= n
	return nil
}

// finish checks a clip that decrypted to its end.
func (v *verifier) finish(res *Result, rec *Signed) error {
	res.Complete = true
	if v.noVerify {
		if err := v.flush(len(v.buf)); err != nil {
			return err
		}
		res.fill(v)
		return nil
	}
	if v.scan != len(v.buf) {
		return fmt.Errorf("%w: the video ends inside an MP4 box", ErrCorrupted)
	}
	if rec != nil && rec.Status == StatusComplete {
		var sum [32]byte
		v.h.Sum(sum[:0])
		if hex.EncodeToString(sum[:]) != rec.MediaSHA256 || v.total != rec.MediaBytes {
			return fmt.Errorf("%w: the clip's SHA-256 is not the one its event record holds: the clip was swapped with another or changed; pull both files again", ErrMismatch)
		}
		if err := v.flush(len(v.buf)); err != nil {
			return err
		}
		res.fill(v)
		res.Verified = true
		return nil
	}
	if len(v.buf) > 0 {
		return fmt.Errorf("%w: %d bytes at the end are not covered by a signed checkpoint", ErrMismatch, len(v.buf))
	}
	if v.checkpoints == 0 {
		return fmt.Errorf("%w: the clip has no signed checkpoint", ErrMismatch)
	}
	if rec != nil {
		res.Notes = append(res.Notes, "the event record was never completed (recording stopped before it was written); the video itself is whole and verified")
	}
	res.Verified = true
	return nil
}

// IsCheckpointBox reports whether an MP4 box is a checkpoint.
func IsCheckpointBox(box []byte) bool {
	return len(box) >= 24 && string(box[4:8]) == "uuid" && bytes.Equal(box[8:24], CheckpointUUID[:])
}
