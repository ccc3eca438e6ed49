// Package testkit is what the doorbell's tests share: the programs they
// build, the logger they give the code under test, and a disk that fills up.
// Only tests import it.
package testkit

import (
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// LogEnv names the environment variable that shows the logs of the code
// under test: set, they go to stderr at debug level (go test -v).
const LogEnv = "DOORBELL_TEST_LOG"

// Log is a logger for the code under test: silent unless LogEnv is set.
func Log(tb testing.TB) *slog.Logger {
	if os.Getenv(LogEnv) != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// A Binary is a program the tests run, built once by Main.
type Binary struct {
	Name    string   // the file's name
	Package string   // what go build builds: an import path, or "." for the package under test
	Flags   []string // more go build flags, such as -race
	Env     []string // more environment, such as CGO_ENABLED=0

	path string
}

// Path is where Main built the binary.
func (b *Binary) Path() string {
	if b.path == "" {
		panic("testkit: " + b.Name + " was not built: pass it to testkit.Main in TestMain")
	}
	return b.path
}

// Main builds the binaries into a temporary directory, runs the tests,
// removes the directory and exits with the tests' status. If a build fails,
// it prints go build's output and exits 1 without running any test.
func Main(m *testing.M, bins ...*Binary) {
	os.Exit(run(m, bins))
}

func run(m interface{ Run() int }, bins []*Binary) int {
	dir, err := os.MkdirTemp("", "doorbell-test-bin-")
	if err != nil {
		fmt.Fprintf(os.Stderr, "testkit: cannot make a directory for the test binaries: %v; set TMPDIR\n", err)
		return 1
	}
	defer os.RemoveAll(dir)
	for _, b := range bins {
		b.path = filepath.Join(dir, b.Name)
		args := append(append([]string{"build"}, b.Flags...), "-o", b.path, b.Package)
		cmd := exec.Command("go", args...)
		cmd.Env = append(os.Environ(), b.Env...)
		if out, err := cmd.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "testkit: go %v: %v\n%s", args, err, out)
			return 1
		}
	}
	return m.Run()
}
