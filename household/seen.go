package household

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"doorbell/internal/atomicfile"
	"doorbell/wire"
)

// SeenFile, in a directory of pulled clips, records every clip clips pull
// has listed there and the hour the doorbell gave for it. A clip that
// appears later but claims an hour earlier than clips already seen did not
// come from the doorbell's recorder, which lists clips in the order it
// finished them: it may have been made with a copy of the doorbell's keys
// (its SD card) and slipped in by whoever poses as the doorbell.
const SeenFile = ".doorbell-seen.json"

type seenFile struct {
	Version int                  `json:"version"`
	Clips   map[string]seenEntry `json:"clips"`
}

type seenEntry struct {
	Hour    time.Time `json:"hour"`              // as the doorbell listed it
	Seen    time.Time `json:"seen"`              // when first listed, to the hour
	Flagged bool      `json:"flagged,omitempty"` // appeared after newer clips
}

// Flagged is a clip that appeared after clips newer than it claims to be.
type Flagged struct {
	ID         string
	Hour       time.Time // what the doorbell claims for it
	LatestSeen time.Time // the newest hour of the clips pulled before
}

// checkSeen compares entries with dir's record of clips seen before, adds
// the new ones to it, and returns those that claim an earlier hour than
// clips already seen.
func checkSeen(dir string, entries []wire.ClipEntry, now time.Time) ([]Flagged, error) {
	path := filepath.Join(dir, SeenFile)
	f := seenFile{Version: 1, Clips: map[string]seenEntry{}}
	data, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("cannot read the record of clips seen: %w", err)
	default:
		if err := json.Unmarshal(data, &f); err != nil || f.Version != 1 || f.Clips == nil {
			return nil, fmt.Errorf("%s is damaged; it records the clips pulled before, to catch forged ones: remove it to start the record again", path)
		}
	}
	var latest time.Time
	for _, e := range f.Clips {
		if e.Hour.After(latest) {
			latest = e.Hour
		}
	}
	var flagged []Flagged
	changed := false
	for _, e := range entries {
		if _, ok := f.Clips[e.ID]; ok {
			continue
		}
		se := seenEntry{Hour: e.Hour.UTC(), Seen: now.UTC().Truncate(time.Hour)}
		if !latest.IsZero() && e.Hour.Before(latest) {
			se.Flagged = true
			flagged = append(flagged, Flagged{ID: e.ID, Hour: e.Hour, LatestSeen: latest})
		}
		f.Clips[e.ID] = se
		changed = true
	}
	if changed {
		data, _ := json.MarshalIndent(f, "", "  ")
		if err := atomicfile.WriteFile(path, append(data, '\n'), 0o600); err != nil {
			return flagged, fmt.Errorf("cannot save the record of clips seen: %w", err)
		}
	}
	return flagged, nil
}
