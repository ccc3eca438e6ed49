// Package clipstore keeps the device's clips directory: sealed clips and
// their sealed event records, written under temporary names and renamed
// when whole, recovered after a crash, evicted oldest first by bytes and by
// age, and served to members over HTTPS.
//
// Layout of DATA/clips (mode 0700):
//
//	<id>.mp4.age             a sealed clip (complete, or recovered after a crash)
//	<id>.event.age           its sealed event record
//	.<id>.mp4.age.partial    the clip being recorded
//	.<name>.tmp-*            an atomic write in progress
//
// Everything in it is ciphertext; a thief learns how many clips there are,
// their sizes and their file times.
package clipstore

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"filippo.io/age"

	"doorbell/crypto/clip"
	"doorbell/internal/atomicfile"
)

// DirName is the clips directory inside the data directory.
const DirName = "clips"

const partialSuffix = ".partial"

// Store is a clips directory.
type Store struct {
	dir string

	mu      sync.Mutex
	evicted uint64
	evBytes uint64
	onEvict func(id string, bytes int64)
	protect map[string]bool // clips being recorded: never evicted
}

// Open makes sure the clips directory in dataDir exists and is private.
func Open(dataDir string) (*Store, error) {
	dir := filepath.Join(dataDir, DirName)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("cannot create the clips directory %s: %w; check that the data directory is writable", dir, err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return nil, fmt.Errorf("cannot make the clips directory %s private: %w", dir, err)
	}
	return &Store{dir: dir, protect: map[string]bool{}}, nil
}

// Dir is the clips directory.
func (s *Store) Dir() string { return s.dir }

// ClipPath and RecordPath are where a finished clip and its record live.
func (s *Store) ClipPath(id string) string   { return filepath.Join(s.dir, id+clip.ClipSuffix) }
func (s *Store) RecordPath(id string) string { return filepath.Join(s.dir, id+clip.RecordSuffix) }
func (s *Store) partialPath(id string) string {
	return filepath.Join(s.dir, "."+id+clip.ClipSuffix+partialSuffix)
}

// OnEvict sets a function called for every clip evicted.
func (s *Store) OnEvict(f func(id string, bytes int64)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.onEvict = f
}

// Recovered is what Recover found after an unclean stop.
type Recovered struct {
	Clips   []string // interrupted clips kept under their final names
	Removed []string // temporary files removed
}

// Recover cleans up after a crash or power cut: an interrupted clip is kept
// under its final name (its prefix still decrypts and verifies, up to its
// last checkpoint), empty ones and half-written temporary files are removed,
// and so are records whose clip is gone.
func (s *Store) Recover() (Recovered, error) {
	var rec Recovered
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return rec, fmt.Errorf("cannot read the clips directory: %w", err)
	}
	clips := map[string]bool{}
	for _, e := range entries {
		name := e.Name()
		path := filepath.Join(s.dir, name)
		switch {
		case strings.HasPrefix(name, ".") && strings.HasSuffix(name, clip.ClipSuffix+partialSuffix):
			id := strings.TrimSuffix(strings.TrimPrefix(name, "."), clip.ClipSuffix+partialSuffix)
			if !clip.ValidID(id) || !hasPayload(path) {
				// Cut off before any video was sealed: nothing to keep.
				os.Remove(path)
				os.Remove(s.RecordPath(id))
				rec.Removed = append(rec.Removed, name)
				continue
			}
			if err := syncFile(path); err != nil {
				return rec, err
			}
			if err := os.Rename(path, s.ClipPath(id)); err != nil {
				return rec, fmt.Errorf("cannot keep the interrupted clip %s: %w", id, err)
			}
			s.coarsen(id)
			clips[id] = true
			rec.Clips = append(rec.Clips, id)
		case strings.HasPrefix(name, ".") && strings.Contains(name, ".tmp-"):
			os.Remove(path)
			rec.Removed = append(rec.Removed, name)
		default:
			if id, suf, ok := clip.SplitName(name); ok && suf == clip.ClipSuffix {
				clips[id] = true
			}
		}
	}
	for _, e := range entries {
		if id, suf, ok := clip.SplitName(e.Name()); ok && suf == clip.RecordSuffix && !clips[id] {
			if os.Remove(filepath.Join(s.dir, e.Name())) == nil {
				rec.Removed = append(rec.Removed, e.Name())
			}
		}
	}
	if len(rec.Clips)+len(rec.Removed) > 0 {
		if err := atomicfile.SyncDir(s.dir); err != nil {
			return rec, err
		}
	}
	return rec, nil
}

// hasPayload reports whether a sealed file holds more than its age header
// and nonce: some sealed video.
func hasPayload(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return false
	}
	hdr, err := age.ExtractHeader(f)
	if err != nil {
		return false
	}
	return fi.Size() > int64(len(hdr))+16
}

func syncFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

// Entry is one finished clip.
type Entry struct {
	ID          string
	Bytes       int64     // of the sealed clip
	RecordBytes int64     // of its sealed record; 0 if it has none
	Time        time.Time // the clip file's modification time, to the hour (coarse.go)
	Started     time.Time // when its recording started: the file's birth (birth.go)
}

// List returns the finished clips, oldest first (by file time).
func (s *Store) List() ([]Entry, error) {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("cannot read the clips directory: %w", err)
	}
	byID := map[string]*Entry{}
	var out []*Entry
	for _, e := range entries {
		id, suf, ok := clip.SplitName(e.Name())
		if !ok {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			continue // removed meanwhile
		}
		en := byID[id]
		if en == nil {
			en = &Entry{ID: id}
			byID[id] = en
			out = append(out, en)
		}
		if suf == clip.ClipSuffix {
			en.Bytes, en.Time = fi.Size(), fi.ModTime()
			en.Started = birth(filepath.Join(s.dir, e.Name()), en.Time)
		} else {
			en.RecordBytes = fi.Size()
		}
	}
	res := make([]Entry, 0, len(out))
	for _, en := range out {
		if !en.Time.IsZero() { // a record without its clip is being written or removed
			res = append(res, *en)
		}
	}
	slices.SortFunc(res, func(a, b Entry) int {
		if c := a.Time.Compare(b.Time); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return res, nil
}

// Usage is the bytes the clips directory holds, partial clips included.
func (s *Store) Usage() (int64, error) {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return 0, err
	}
	var n int64
	for _, e := range entries {
		if fi, err := e.Info(); err == nil && fi.Mode().IsRegular() {
			n += fi.Size()
		}
	}
	return n, nil
}

// Protect keeps the clip id from eviction while it records; the returned
// function lifts that.
func (s *Store) Protect(id string) func() {
	s.mu.Lock()
	s.protect[id] = true
	s.mu.Unlock()
	return func() {
		s.mu.Lock()
		delete(s.protect, id)
		s.mu.Unlock()
	}
}

// Evict removes one clip and its record.
func (s *Store) evict(e Entry) error {
	err1 := os.Remove(s.ClipPath(e.ID))
	err2 := os.Remove(s.RecordPath(e.ID))
	if err1 != nil && !errors.Is(err1, fs.ErrNotExist) {
		return err1
	}
	if err2 != nil && !errors.Is(err2, fs.ErrNotExist) {
		return err2
	}
	s.mu.Lock()
	s.evicted++
	s.evBytes += uint64(e.Bytes + e.RecordBytes)
	f := s.onEvict
	s.mu.Unlock()
	if f != nil {
		f(e.ID, e.Bytes+e.RecordBytes)
	}
	return nil
}

// Retention limits what the store keeps.
type Retention struct {
	MaxBytes int64         // all clips together; 0: no limit
	MaxAge   time.Duration // 0: no limit
}

// Enforce evicts clips, oldest first, until every clip is younger than
// MaxAge and all of them fit in MaxBytes (extra is counted: bytes about to
// be written). It returns how many clips it evicted.
func (s *Store) Enforce(r Retention, now time.Time, extra int64) (int, error) {
	list, err := s.List()
	if err != nil {
		return 0, err
	}
	var total int64
	if r.MaxBytes > 0 {
		if total, err = s.Usage(); err != nil {
			return 0, err
		}
		total += extra
	}
	n := 0
	for _, e := range list {
		old := r.MaxAge > 0 && now.Sub(e.Time) > r.MaxAge
		full := r.MaxBytes > 0 && total > r.MaxBytes
		if !old && !full {
			break
		}
		if s.protected(e.ID) {
			continue
		}
		if err := s.evict(e); err != nil {
			return n, err
		}
		total -= e.Bytes + e.RecordBytes
		n++
	}
	if n > 0 {
		return n, atomicfile.SyncDir(s.dir)
	}
	return n, nil
}

func (s *Store) protected(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.protect[id]
}

// EvictOldest removes the oldest clip not being recorded, to make room. It
// returns false if there is none.
func (s *Store) EvictOldest() (bool, error) {
	list, err := s.List()
	if err != nil {
		return false, err
	}
	for _, e := range list {
		if s.protected(e.ID) {
			continue
		}
		if err := s.evict(e); err != nil {
			return false, err
		}
		return true, atomicfile.SyncDir(s.dir)
	}
	return false, nil
}

// Evictions returns how many clips and bytes were evicted since Open.
func (s *Store) Evictions() (clips, bytes uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.evicted, s.evBytes
}

// IsNoSpace reports whether err means the disk is full.
func IsNoSpace(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}
