package web

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// static/age.js is what web/typage/build.sh makes of the typage pinned in
// web/typage/package-lock.json: nobody edits the bundle by hand.
func TestTypageBundleMatches(t *testing.T) {
	if testing.Short() {
		t.Skip("runs esbuild")
	}
	if _, err := os.Stat("typage/node_modules/.bin/esbuild"); err != nil {
		t.Skip("web/typage has no node_modules; run: cd web/typage && npm ci")
	}
	out := filepath.Join(t.TempDir(), "age.js")
	if b, err := exec.Command("typage/build.sh", out).CombinedOutput(); err != nil {
		t.Fatalf("typage/build.sh: %v\n%s", err, b)
	}
	want, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(files["age.js"].data, want) {
		t.Error("static/age.js differs from what web/typage/build.sh makes; run it and commit the result")
	}
}
