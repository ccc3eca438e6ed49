//go:build unix

package atomicfile

import (
	"errors"
	"os"
	"syscall"
)

// MatchOwner gives path to the owner of dir when this process runs as root
// and dir belongs to someone else. Otherwise it does nothing.
func MatchOwner(path, dir string) error {
	if os.Geteuid() != 0 {
		return nil
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || st.Uid == 0 {
		return nil
	}
	return os.Lchown(path, int(st.Uid), int(st.Gid))
}

func syncUnsupported(err error) bool {
	return errors.Is(err, syscall.EINVAL) || errors.Is(err, syscall.ENOTSUP)
}
