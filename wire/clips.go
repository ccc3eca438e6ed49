package wire

import "time"

// ClipList is the body of GET /api/clips.
type ClipList struct {
	DeviceKey string      `json:"device_key"` // the doorbell's signing key, to compare with the pinned one
	Clips     []ClipEntry `json:"clips"`
}

// ClipEntry is one clip in GET /api/clips. Times are rounded down to the
// hour: the list says no more than the files themselves would.
type ClipEntry struct {
	ID          string    `json:"id"`
	Bytes       int64     `json:"bytes"`
	RecordBytes int64     `json:"record_bytes"`
	Hour        time.Time `json:"hour"`
	// SealedBefore says the clip was finished before the asking device's
	// key was in the household, so it is not sealed to that key:
	// SealedBeforeMember (the member's own key, as a computer uses) or
	// SealedBeforePhone (the key the asking phone made at pairing).
	SealedBefore string `json:"sealed_before,omitempty"`
}

// Values of ClipEntry.SealedBefore.
const (
	SealedBeforeMember = "member"
	SealedBeforePhone  = "phone"
)
