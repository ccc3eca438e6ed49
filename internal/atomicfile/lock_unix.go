//go:build unix

package atomicfile

import (
	"os"
	"syscall"
)

// Lock takes an exclusive advisory lock on the file at path, creating it
// (empty, mode 0600) if needed, and waits for other holders. Processes that
// change the same file take its lock first. Call unlock when done.
func Lock(path string) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := MatchOwner(path, dirOf(path)); err != nil {
		f.Close()
		return nil, err
	}
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}
