package recorder

import "doorbell/crypto/clip"

// SyncPoint is what of a recording clip an fsync made durable: a power cut
// after it leaves the clip opening to at least its last checkpoint.
type SyncPoint struct {
	Bytes       int64           // of the sealed file
	Checkpoints int             // signed checkpoints wholly in those bytes
	Last        clip.Checkpoint // the last of them (Seq, Video, Offset); zero if none
}

// synced tells Config.Synced what the fsync that just returned made durable.
func (s *session) synced() {
	if s.r.cfg.Synced == nil {
		return
	}
	last, n, _ := s.w.Sealed()
	s.r.cfg.Synced(s.id, SyncPoint{Bytes: s.file.Size(), Checkpoints: n, Last: last})
}
