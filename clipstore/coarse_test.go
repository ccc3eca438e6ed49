package clipstore

import (
	"bytes"
	"os"
	"testing"
	"time"

	"doorbell/crypto/clip"
)

// A finished clip's times, its record's and the directory's tell the hour,
// not the second; clips keep their order (issue 13, item 7).
func TestFileTimesAreCoarse(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var made []string
	for range 3 {
		id := clip.NewID()
		cf, err := s.Create(id)
		if err != nil {
			t.Fatal(err)
		}
		cf.Write(bytes.Repeat([]byte{1}, 100))
		if err := s.WriteRecord(id, []byte("sealed record")); err != nil {
			t.Fatal(err)
		}
		if err := cf.Commit(); err != nil {
			t.Fatal(err)
		}
		made = append(made, id)
	}
	hour := time.Now().UTC().Truncate(time.Hour)
	for _, p := range []string{s.ClipPath(made[0]), s.ClipPath(made[2]), s.RecordPath(made[1]), s.Dir()} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		// The test may straddle an hour: then the earlier one.
		if m := fi.ModTime().UTC(); m.Sub(m.Truncate(time.Hour)) > time.Microsecond || m.After(hour.Add(time.Hour)) {
			t.Errorf("%s: modified %v, not an hour", p, m)
		}
	}
	list, _ := s.List()
	if got := ids(list); len(got) != 3 || got[0] != made[0] || got[1] != made[1] || got[2] != made[2] {
		t.Errorf("order %v, want %v", got, made)
	}
}
