package daemon

import (
	"fmt"
	"os"
	"path/filepath"
)

// PrepareDataDir makes sure dir exists, is private to this user, and is writable.
func PrepareDataDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("cannot create data directory %s: %w; create it (mode 0700) for the user running doorbelld, or choose another with -data", dir, err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("cannot use data directory %s: %w", dir, err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("data directory %s is not a directory; remove it or choose another with -data", dir)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		if err := os.Chmod(dir, 0o700); err != nil {
			return fmt.Errorf("data directory %s is readable by others and cannot be made private: %w; run chmod 700 %s", dir, err, dir)
		}
	}
	probe, err := os.CreateTemp(dir, ".write-test-")
	if err != nil {
		return fmt.Errorf("data directory %s is not writable: %w; fix its owner or permissions, or choose another with -data", dir, err)
	}
	probe.Close()
	return os.Remove(filepath.Clean(probe.Name()))
}
