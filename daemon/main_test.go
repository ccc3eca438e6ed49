package daemon

import (
	"os"
	"testing"

	"doorbell/internal/testkit"
)

// The daemon under test runs doorbell-encoder, built for the tests.
func TestMain(m *testing.M) { os.Exit(testkit.OnPath(m, testkit.Encoder).Run()) }
