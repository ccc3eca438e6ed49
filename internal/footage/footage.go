// Package footage finds the real video clips that tests run on.
package footage

import (
	"os"
	"testing"
)

// VTestPath is real footage of people walking, shipped by Debian's opencv-doc.
const VTestPath = "/usr/share/doc/opencv-doc/examples/data/vtest.avi"

// VTest returns the path of vtest.avi, failing the test if it is missing.
func VTest(t testing.TB) string {
	t.Helper()
	if _, err := os.Stat(VTestPath); err != nil {
		t.Fatalf("test footage is missing: %v; run make setup (it installs Debian's opencv-doc)", err)
	}
	return VTestPath
}
