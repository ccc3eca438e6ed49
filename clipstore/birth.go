package clipstore

import (
	"time"

	"golang.org/x/sys/unix"
)

// birth is when the file at path was created: for a clip, when its
// recording started (the partial file is renamed, not copied). Unlike the
// modification time, which is coarsened to the hour (coarse.go), it tells
// which keys a clip was sealed to: those of when it started. Where the file
// system keeps no birth time, it is the modification time.
func birth(path string, mtime time.Time) time.Time {
	var st unix.Statx_t
	if err := unix.Statx(unix.AT_FDCWD, path, 0, unix.STATX_BTIME, &st); err != nil || st.Mask&unix.STATX_BTIME == 0 {
		return mtime
	}
	return time.Unix(st.Btime.Sec, int64(st.Btime.Nsec))
}
