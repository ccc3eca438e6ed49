// Package version says which build this is.
package version

import (
	"fmt"
	"runtime"
)

// Set at build time with -ldflags "-X doorbell/internal/version.Version=… -X doorbell/internal/version.Commit=…".
var (
	Version = "dev"
	Commit  = "unknown"
)

// String is the one-line version report of a program named prog.
func String(prog string) string {
	return fmt.Sprintf("%s %s (commit %s, %s, %s/%s)", prog, Version, Commit, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}
