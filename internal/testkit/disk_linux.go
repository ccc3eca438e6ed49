package testkit

import (
	"fmt"
	"os"
	"syscall"
	"testing"
)

// SmallDisk mounts a file system of size bytes (a tmpfs; rounded up to whole
// pages) on a new directory and returns it: writes past its size fail with
// ENOSPC, as on a full SD card. It is unmounted when the test ends. Mounting
// needs root (CAP_SYS_ADMIN), as make test runs.
func SmallDisk(tb testing.TB, size int64) string {
	tb.Helper()
	dir := tb.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", syscall.MS_NOSUID|syscall.MS_NODEV, fmt.Sprintf("size=%d,mode=0700", size)); err != nil {
		tb.Fatalf("cannot mount a %d-byte tmpfs for a full-disk test: %v; run the tests as root (make test does), uid is %d", size, err, os.Getuid())
	}
	tb.Cleanup(func() { _ = syscall.Unmount(dir, syscall.MNT_DETACH) })
	return dir
}

// ResizeDisk gives a SmallDisk a new size; it cannot shrink below what its
// files use.
func ResizeDisk(tb testing.TB, dir string, size int64) {
	tb.Helper()
	if err := syscall.Mount("tmpfs", dir, "", syscall.MS_REMOUNT|syscall.MS_NOSUID|syscall.MS_NODEV, fmt.Sprintf("size=%d", size)); err != nil {
		tb.Fatalf("cannot resize the tmpfs at %s to %d bytes: %v", dir, size, err)
	}
}
