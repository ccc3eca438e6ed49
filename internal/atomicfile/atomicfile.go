// Package atomicfile replaces files so that a reader, or a power cut, sees
// either the old contents or the new, never a mixture: write a temporary file
// in the same directory, fsync it, rename it over the old one, fsync the
// directory.
package atomicfile

import (
	"fmt"
	"os"
	"path/filepath"
)

// WriteFile replaces the file at path with data, with permissions perm. If
// the process runs as root in a directory owned by another user (the CLI
// run with sudo on the device), the file is given to the directory's owner,
// so that the daemon, which runs as that user, can still read it.
func WriteFile(path string, data []byte, perm os.FileMode) error {
	dir, tmp, err := writeTemp(path, data, perm)
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return SyncDir(dir)
}

// CreateExclusive writes data to a new file at path, failing with an error
// satisfying errors.Is(err, fs.ErrExist) if it exists. The file is complete
// when it appears: it is written under a temporary name and linked into
// place.
func CreateExclusive(path string, data []byte, perm os.FileMode) error {
	dir, tmp, err := writeTemp(path, data, perm)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	if err := os.Link(tmp, path); err != nil {
		return err
	}
	return SyncDir(dir)
}

// writeTemp writes data, synced and owned like its directory, to a new
// temporary file beside path, and returns the directory and the file's name.
func writeTemp(path string, data []byte, perm os.FileMode) (dir, tmp string, err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp-")
	if err != nil {
		return "", "", err
	}
	tmp = f.Name()
	err = f.Chmod(perm)
	if err == nil {
		_, err = f.Write(data)
	}
	if err == nil {
		err = f.Sync()
	}
	if err == nil {
		err = MatchOwner(tmp, dir)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return "", "", err
	}
	return dir, tmp, nil
}

// SyncDir makes a rename or removal in dir durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !syncUnsupported(err) {
		return fmt.Errorf("cannot sync directory %s: %w", dir, err)
	}
	return nil
}

func dirOf(path string) string {
	dir := filepath.Dir(path)
	if dir == "" {
		return "."
	}
	return dir
}
