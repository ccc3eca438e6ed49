package clip

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io"
	"time"

	"filippo.io/age"
)

// CheckpointUUID marks a checkpoint box: an MP4 'uuid' box at the top level,
// between fragments, which players skip.
var CheckpointUUID = [16]byte{0xd0, 0x0b, 0xe1, 0x1c, 0x5e, 0xa1, 0x4c, 0x1b, 0x9a, 0x0e, 0x5c, 0x1e, 0x7d, 0x6f, 0x11, 0x01}

// Checkpoint box layout, all integers big-endian:
//
//	size (4) "uuid" (4) CheckpointUUID (16)
//	version (1) = 1, reserved (3)
//	seq (4)           checkpoints before this one
//	video (8)         nanoseconds of video before this box
//	offset (8)        plaintext bytes before this box
//	sha256 (32)       of those bytes
//	signature (64)    Ed25519 over checkpointContext || id || 0 || the 56 bytes from version to sha256
const (
	checkpointSigned = 1 + 3 + 4 + 8 + 8 + 32
	CheckpointSize   = 8 + 16 + checkpointSigned + ed25519.SignatureSize
)

const checkpointContext = "doorbell clip checkpoint v1\x00"

func checkpointMessage(id string, signed []byte) []byte {
	m := make([]byte, 0, len(checkpointContext)+len(id)+1+len(signed))
	m = append(m, checkpointContext...)
	m = append(m, id...)
	m = append(m, 0)
	return append(m, signed...)
}

// Checkpoint is a decoded checkpoint box.
type Checkpoint struct {
	Seq    uint32
	Video  time.Duration
	Offset int64
	SHA256 [32]byte
	Sig    []byte
	signed []byte
}

// parseCheckpoint decodes a whole box; ok is false if it is not a checkpoint.
func parseCheckpoint(box []byte) (cp Checkpoint, ok bool, err error) {
	if len(box) < 24 || string(box[4:8]) != "uuid" || !bytes.Equal(box[8:24], CheckpointUUID[:]) {
		return cp, false, nil
	}
	if len(box) != CheckpointSize || box[24] != 1 {
		return cp, true, errors.New("a checkpoint box has an unknown version or size")
	}
	p := box[24:]
	cp.Seq = binary.BigEndian.Uint32(p[4:8])
	cp.Video = time.Duration(binary.BigEndian.Uint64(p[8:16]))
	cp.Offset = int64(binary.BigEndian.Uint64(p[16:24]))
	copy(cp.SHA256[:], p[24:56])
	cp.signed = p[:checkpointSigned]
	cp.Sig = p[checkpointSigned:]
	return cp, true, nil
}

// Writer seals a clip as it is written: plaintext goes through SHA-256 and
// age's streaming encryption to dst. Nothing is kept but the current
// 64 KiB chunk.
type Writer struct {
	id  string
	key ed25519.PrivateKey
	enc io.WriteCloser
	out countingWriter // dst: what of the stream reached it
	h   hash.Hash
	n   int64
	seq uint32
	err error

	base    int64        // bytes of dst before the first chunk: header and nonce
	closed  bool         // every chunk reached dst
	held    []Checkpoint // checkpoints not yet wholly in chunks that reached dst
	sealed  Checkpoint   // the last checkpoint that is
	sealedN int
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// Summary describes a sealed clip's plaintext.
type Summary struct {
	SHA256      [32]byte
	Bytes       int64
	Checkpoints int
}

// NewWriter starts sealing clip id to recipients, writing the age header to
// dst at once. key signs the checkpoints.
func NewWriter(dst io.Writer, id string, recipients []age.Recipient, key ed25519.PrivateKey) (*Writer, error) {
	if !ValidID(id) {
		return nil, fmt.Errorf("clip id %q is not valid", id)
	}
	if len(recipients) == 0 {
		return nil, errors.New("no recipients: add a household member first (doorbell member add)")
	}
	if len(key) != ed25519.PrivateKeySize {
		return nil, errors.New("no device signing key")
	}
	w := &Writer{id: id, key: key, out: countingWriter{w: dst}, h: sha256.New()}
	enc, err := age.Encrypt(&w.out, recipients...)
	if err != nil {
		return nil, err
	}
	w.enc, w.base = enc, w.out.n
	return w, nil
}

// Write seals plaintext.
func (w *Writer) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	w.h.Write(p)
	n, err := w.enc.Write(p)
	w.n += int64(n)
	if err != nil {
		w.err = err
	}
	return n, err
}

// Checkpoint writes a signed checkpoint box covering everything written so
// far, which is video seconds of video. Call it after each whole fragment.
func (w *Writer) Checkpoint(video time.Duration) error {
	if w.err != nil {
		return w.err
	}
	var box [CheckpointSize]byte
	binary.BigEndian.PutUint32(box[0:4], CheckpointSize)
	copy(box[4:8], "uuid")
	copy(box[8:24], CheckpointUUID[:])
	p := box[24:]
	p[0] = 1
	binary.BigEndian.PutUint32(p[4:8], w.seq)
	binary.BigEndian.PutUint64(p[8:16], uint64(video))
	binary.BigEndian.PutUint64(p[16:24], uint64(w.n))
	w.h.Sum(p[24:24])
	copy(p[checkpointSigned:], ed25519.Sign(w.key, checkpointMessage(w.id, p[:checkpointSigned])))
	cp := Checkpoint{Seq: w.seq, Video: video, Offset: w.n}
	copy(cp.SHA256[:], p[24:56])
	w.seq++
	if _, err := w.Write(box[:]); err != nil {
		return err
	}
	w.held = append(w.held, cp)
	w.release()
	return nil
}

// Sealed returns the last checkpoint whose box is wholly in the chunks that
// reached dst so far, and how many checkpoints are. age seals in 64 KiB
// chunks and holds the current one back, so this lags what was written
// until Close. Once dst is synced, a power cut leaves the clip opening to
// at least this checkpoint (ok is false if no checkpoint reached dst yet).
func (w *Writer) Sealed() (last Checkpoint, n int, ok bool) {
	w.release()
	return w.sealed, w.sealedN, w.sealedN > 0
}

// release moves the checkpoints that reached dst out of held.
func (w *Writer) release() {
	reached := w.n
	if !w.closed {
		// Only whole chunks leave age's writer before Close.
		reached = (w.out.n - w.base) / encChunkSize * chunkSize
	}
	i := 0
	for ; i < len(w.held) && w.held[i].Offset+CheckpointSize <= reached; i++ {
		w.sealed = w.held[i]
		w.sealedN++
	}
	w.held = append(w.held[:0], w.held[i:]...)
}

// Close seals the last chunk. The clip is complete once dst is synced.
func (w *Writer) Close() (Summary, error) {
	if w.err != nil {
		return Summary{}, w.err
	}
	if err := w.enc.Close(); err != nil {
		w.err = err
		return Summary{}, err
	}
	w.err = errors.New("clip writer is closed")
	w.closed = true
	s := Summary{Bytes: w.n, Checkpoints: int(w.seq)}
	w.h.Sum(s.SHA256[:0])
	return s, nil
}
