// Package clip seals a doorbell clip to the household and opens it again.
//
// A clip is one age file (age-encryption.org/v1) holding a fragmented MP4.
// The device writes it through age's streaming writer while it records, so no
// plaintext ever reaches the disk, and after every fragment it adds a signed
// checkpoint box: a top-level MP4 'uuid' box (players skip it) holding the
// SHA-256 of all plaintext before it and the video time so far, signed with
// the device's Ed25519 key. If recording is cut off, the prefix up to the
// last checkpoint still plays and still verifies.
//
// Beside each clip is its event record, also sealed: a signed JSON envelope
// with the event's kind, times, zones, boxes, a small JPEG thumbnail and the
// SHA-256 of the whole plaintext. The device writes one when the clip starts
// (status "recording") and replaces it when the clip is complete.
//
//	w, _ := clip.NewWriter(file, id, recipients, signer)
//	w.Write(initSegment)
//	w.Write(fragment); w.Checkpoint(videoSoFar) // for each fragment
//	sum, _ := w.Close()
//
// Members open clips with Open, which writes only verified plaintext.
package clip

import (
	"crypto/rand"
	"encoding/base32"
	"strings"
)

// File name suffixes in a clips directory.
const (
	ClipSuffix   = ".mp4.age"   // the sealed fragmented MP4
	RecordSuffix = ".event.age" // the sealed event record
)

var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// IDLen is the length of a clip id.
const IDLen = 26

// NewID returns a random clip id: 128 bits, lower-case base32. Ids carry no
// time and no order.
func NewID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return idEncoding.EncodeToString(b[:])
}

// ValidID reports whether s looks like a clip id, and so is safe in a path.
func ValidID(s string) bool {
	if len(s) != IDLen {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= '2' && c <= '7') {
			return false
		}
	}
	return true
}

// SplitName splits a file name such as "<id>.mp4.age" into the id and the
// suffix (ClipSuffix or RecordSuffix). ok is false for any other name.
func SplitName(name string) (id, suffix string, ok bool) {
	for _, suf := range []string{ClipSuffix, RecordSuffix} {
		if id, found := strings.CutSuffix(name, suf); found && ValidID(id) {
			return id, suf, true
		}
	}
	return "", "", false
}
