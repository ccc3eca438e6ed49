package clipstore

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"doorbell/crypto/clip"
	"doorbell/internal/atomicfile"
)

// maxEvictions bounds how many clips one full-disk write may evict.
const maxEvictions = 1000

// ClipFile is a clip being written, under its partial name. Writes that
// find the disk full evict the oldest clips and carry on.
type ClipFile struct {
	s         *Store
	id        string
	f         *os.File
	n         int64
	unprotect func()
	done      bool
	named     bool // the partial file's name is durable
}

// syncDir makes a new name in a directory durable. Tests replace it.
var syncDir = atomicfile.SyncDir

// Create starts the clip id under its partial name, mode 0600, and keeps it
// from eviction until it is committed or aborted.
func (s *Store) Create(id string) (*ClipFile, error) {
	unprotect := s.Protect(id)
	var f *os.File
	err := s.retry(func() error {
		var err error
		f, err = os.OpenFile(s.partialPath(id), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		return err
	})
	if err != nil {
		unprotect()
		return nil, fmt.Errorf("cannot create a clip in %s: %w", s.dir, err)
	}
	return &ClipFile{s: s, id: id, f: f, unprotect: unprotect}, nil
}

// retry runs op, evicting the oldest clip and trying again while the disk is full.
func (s *Store) retry(op func() error) error {
	for range maxEvictions {
		err := op()
		if !IsNoSpace(err) {
			return err
		}
		ok, eerr := s.EvictOldest()
		if eerr != nil {
			return errors.Join(err, eerr)
		}
		if !ok {
			return fmt.Errorf("%w (and there is no older clip left to evict)", err)
		}
	}
	return errors.New("the disk stays full however many clips are evicted")
}

// Write writes p, evicting old clips when the disk is full.
func (c *ClipFile) Write(p []byte) (int, error) {
	written := 0
	err := c.s.retry(func() error {
		n, err := c.f.Write(p[written:])
		written += n
		return err
	})
	c.n += int64(written)
	return written, err
}

// Size is the bytes written so far.
func (c *ClipFile) Size() int64 { return c.n }

// ID is the clip's id.
func (c *ClipFile) ID() string { return c.id }

// Sync makes what was written so far durable. The first Sync also makes
// the partial file's name durable, so a power cut keeps what was synced.
func (c *ClipFile) Sync() error {
	if err := c.f.Sync(); err != nil {
		return err
	}
	if !c.named {
		if err := syncDir(c.s.dir); err != nil {
			return err
		}
		c.named = true
	}
	return nil
}

// Commit makes the clip durable and gives it its final name.
func (c *ClipFile) Commit() error {
	if c.done {
		return errors.New("clip already committed or aborted")
	}
	c.done = true
	defer c.unprotect()
	if err := c.f.Sync(); err != nil {
		c.f.Close()
		return err
	}
	if err := c.f.Close(); err != nil {
		return err
	}
	if err := os.Rename(c.s.partialPath(c.id), c.s.ClipPath(c.id)); err != nil {
		return err
	}
	c.s.coarsen(c.id) // coarse.go
	return atomicfile.SyncDir(c.s.dir)
}

// Abort removes the partial clip.
func (c *ClipFile) Abort() {
	if c.done {
		return
	}
	c.done = true
	c.f.Close()
	os.Remove(c.s.partialPath(c.id))
	c.unprotect()
}

// WriteRecord replaces the clip's sealed record atomically (temporary
// file, fsync, rename, fsync of the directory), evicting old clips if the
// disk is full.
func (s *Store) WriteRecord(id string, sealed []byte) error {
	return s.retry(func() error {
		if err := atomicfile.WriteFile(s.RecordPath(id), sealed, 0o600); err != nil {
			return err
		}
		s.coarsenRecord(id) // coarse.go
		return nil
	})
}

// RemoveRecord removes a record whose clip was not kept.
func (s *Store) RemoveRecord(id string) {
	os.Remove(s.RecordPath(id))
}

// OpenSealed opens clip id's sealed file for reading, whether it is still
// being recorded or finished (it may be renamed meanwhile).
func (s *Store) OpenSealed(id string) (*os.File, error) {
	if !clip.ValidID(id) {
		return nil, fmt.Errorf("clip id %q is not valid", id)
	}
	// The partial name first: once it is gone, the final name is there
	// (or the clip is gone too).
	f, err := os.Open(s.partialPath(id))
	if errors.Is(err, fs.ErrNotExist) {
		f, err = os.Open(s.ClipPath(id))
	}
	return f, err
}
