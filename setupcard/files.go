//go:build unix

package setupcard

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// readCard reads the file at path, refusing symbolic links, anything but a
// regular file, and files larger than MaxSize. A missing file gives an
// error that matches fs.ErrNotExist.
func readCard(path string) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		if errors.Is(err, syscall.ELOOP) {
			return nil, fmt.Errorf("%s is a symbolic link; a setup card must be a plain file", path)
		}
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file; a setup card must be a plain file", path)
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxSize+1))
	if err != nil {
		return nil, fmt.Errorf("cannot read %s: %v", path, err)
	}
	return data, nil
}

// SecureRemove overwrites the regular file at path with random bytes, syncs
// it to the disk, empties it and removes it, then syncs its directory. On a
// FAT boot partition the overwrite lands on the same clusters; an SD card's
// own wear levelling may still keep an old copy of a block, which no program
// can reach. A missing file is not an error.
func SecureRemove(path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		if errors.Is(err, syscall.ELOOP) {
			// A link is removed, never followed.
			return syncRemove(path)
		}
		return fmt.Errorf("cannot open %s to erase it: %v", path, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return err
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return fmt.Errorf("%s is not a regular file; not erasing it", path)
	}
	_, werr := io.CopyN(f, rand.Reader, fi.Size())
	if werr == nil {
		werr = f.Sync()
	}
	if werr == nil {
		werr = f.Truncate(0)
	}
	if werr == nil {
		werr = f.Sync()
	}
	if err := f.Close(); werr == nil {
		werr = err
	}
	if err := syncRemove(path); err != nil {
		return err
	}
	if werr != nil {
		return fmt.Errorf("removed %s, but overwriting it first failed: %v", path, werr)
	}
	return nil
}

func syncRemove(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("cannot remove %s: %v", path, err)
	}
	return syncDir(filepath.Dir(path))
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, syscall.EINVAL) {
		return fmt.Errorf("cannot sync %s: %v", dir, err)
	}
	return nil
}

// writePrivate writes data to path atomically (a temporary file, synced,
// then renamed), mode 0600, owned by uid:gid when they are not -1. Its
// directory is made mode 0700 with the same owner if missing.
func writePrivate(path string, data []byte, uid, gid int) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if err := os.Lchown(dir, uid, gid); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, ".setup-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chown(uid, gid); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	return syncDir(dir)
}
