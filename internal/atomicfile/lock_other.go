//go:build !unix

package atomicfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"
)

// Lock takes an exclusive lock by creating path+".held", waiting up to 10 s
// for another holder to remove it. Call unlock when done.
func Lock(path string) (unlock func(), err error) {
	held := path + ".held"
	deadline := time.Now().Add(10 * time.Second)
	for {
		f, err := os.OpenFile(held, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
		if err == nil {
			f.Close()
			return func() { os.Remove(held) }, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return nil, err
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("%s is held by another process; if none is running, remove %s", path, held)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
