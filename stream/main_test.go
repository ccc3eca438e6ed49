package stream

import (
	"testing"

	"go.uber.org/goleak"

	"doorbell/internal/testkit"
)

// Every goroutine a test starts (pion's included) must be gone when the
// tests end. The encoder tests run doorbell-encoder, built for them.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(testkit.OnPath(m, testkit.Encoder))
}
