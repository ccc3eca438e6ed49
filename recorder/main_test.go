package recorder

import (
	"os"
	"testing"

	"doorbell/internal/testkit"
)

// The tests record what doorbell-encoder, built for them, encodes.
func TestMain(m *testing.M) { os.Exit(testkit.OnPath(m, testkit.Encoder).Run()) }
