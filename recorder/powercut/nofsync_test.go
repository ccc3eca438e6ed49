//go:build linux && amd64

package powercut

import (
	"fmt"
	"os"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// turnFsyncOff makes every fsync, fdatasync, sync_file_range, sync and
// syncfs of this process return success without doing anything: a seccomp
// filter on all its threads, as if every fsync were removed from the
// recorder, the clip store and what they call. It lives in the test binary
// only (the guest program), never in the shipped one. It returns what
// /proc/self/status says of seccomp, to show on the console.
func turnFsyncOff() (string, error) {
	const (
		ldW  = unix.BPF_LD | unix.BPF_W | unix.BPF_ABS
		jeq  = unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K
		ret  = unix.BPF_RET | unix.BPF_K
		arch = 4 // offsetof(struct seccomp_data, arch)
		nr   = 0 // offsetof(struct seccomp_data, nr)
	)
	syncs := []uint32{unix.SYS_FSYNC, unix.SYS_FDATASYNC, unix.SYS_SYNC_FILE_RANGE, unix.SYS_SYNC, unix.SYS_SYNCFS}
	prog := []unix.SockFilter{
		{Code: ldW, K: arch},
		{Code: jeq, K: unix.AUDIT_ARCH_X86_64, Jt: 0, Jf: uint8(len(syncs) + 1)}, // another ABI: allow
		{Code: ldW, K: nr},
	}
	for i, n := range syncs {
		// To the last instruction (errno 0) if it is one of them.
		prog = append(prog, unix.SockFilter{Code: jeq, K: n, Jt: uint8(len(syncs) - i), Jf: 0})
	}
	prog = append(prog,
		unix.SockFilter{Code: ret, K: unix.SECCOMP_RET_ALLOW},
		unix.SockFilter{Code: ret, K: unix.SECCOMP_RET_ERRNO}, // errno 0: skipped, returns 0
	)
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return "", fmt.Errorf("prctl(PR_SET_NO_NEW_PRIVS): %w", err)
	}
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	if _, _, errno := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, unix.SECCOMP_FILTER_FLAG_TSYNC, uintptr(unsafe.Pointer(&fprog))); errno != 0 {
		return "", fmt.Errorf("seccomp(SECCOMP_SET_MODE_FILTER): %w", errno)
	}
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return "", err
	}
	var said []string
	for _, l := range strings.Split(string(status), "\n") {
		if strings.HasPrefix(l, "Seccomp") {
			said = append(said, strings.Join(strings.Fields(l), ""))
		}
	}
	return strings.Join(said, " "), nil
}
