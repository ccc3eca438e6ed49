package stream

import (
	"fmt"
	"os"
	"testing"

	"go.uber.org/goleak"

	"doorbell/internal/testkit"
)

// Every goroutine a test starts (pion's included) must be gone when the
// tests end. The encoder tests run doorbell-encoder, built for them.
func TestMain(m *testing.M) {
	if dir := os.Getenv(benchPhoneEnv); dir != "" { // BenchmarkAudioCPU's phone
		if err := runBenchPhone(dir); err != nil {
			fmt.Fprintln(os.Stderr, "the benchmark's phone:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	goleak.VerifyTestMain(testkit.OnPath(m, testkit.Encoder))
}
