package clipstore

import (
	"os"
	"path/filepath"
	"time"
)

// What the file system tells a thief of the SD card about when clips were
// made is coarsened to the hour (issue 13, item 7): a finished clip's
// modification and access times are the start of the hour it was finished
// in, plus a nanosecond per clip finished before it in that hour (which
// keeps List's order, oldest first, and so retention's); its record's are
// the hour; and so are the directory's. The birth time that ext4 keeps for
// each file (statx) cannot be set by a program: a clip's is when its
// recording started, and its record's when the record was last written
// (the clip's end). The README's threat model says so.
func (s *Store) coarsen(id string) {
	hour := time.Now().UTC().Truncate(time.Hour)
	t := hour
	if entries, err := s.List(); err == nil {
		for _, e := range entries {
			if e.ID != id && !e.Time.Before(hour) && e.Time.Before(hour.Add(time.Hour)) && !e.Time.Before(t) {
				t = e.Time.Add(time.Nanosecond)
			}
		}
	}
	_ = os.Chtimes(s.ClipPath(id), t, t)
	s.coarsenRecord(id)
}

// coarsenRecord sets the record's times, and the directory's, to the hour.
func (s *Store) coarsenRecord(id string) {
	hour := time.Now().UTC().Truncate(time.Hour)
	_ = os.Chtimes(s.RecordPath(id), hour, hour)
	_ = os.Chtimes(filepath.Clean(s.dir), hour, hour)
}
