package web

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// static/age.js is what web/typage/build.sh makes of the typage pinned in
// web/typage/package-lock.json: nobody edits the bundle by hand. The test
// installs the lockfile's packages afresh (npm ci, integrity-checked, no
// install scripts) in a copy of web/typage and bundles there, so neither a
// stale node_modules nor one of another lockfile can make it pass.
func TestTypageBundleMatches(t *testing.T) {
	if testing.Short() {
		t.Skip("runs npm ci and esbuild")
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		t.Fatal("no npm: run make test (deploy/setup.sh installs Debian's nodejs and npm), or apt-get install -y nodejs npm")
	}
	dir := t.TempDir()
	for _, name := range []string{"package.json", "package-lock.json", "entry.js", "build.sh"} {
		b, err := os.ReadFile(filepath.Join("typage", name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	ci := exec.Command(npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--prefer-offline")
	ci.Dir = dir
	if b, err := ci.CombinedOutput(); err != nil {
		t.Fatalf("npm ci in a copy of web/typage: %v\n%s", err, b)
	}
	out := filepath.Join(dir, "age.js")
	if b, err := exec.Command(filepath.Join(dir, "build.sh"), out).CombinedOutput(); err != nil {
		t.Fatalf("typage/build.sh: %v\n%s", err, b)
	}
	want, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(appFiles()["age.js"].data, want) {
		t.Error("static/age.js differs from what web/typage/build.sh makes of package-lock.json; run cd web/typage && npm ci && ./build.sh, and commit the result")
	}
}
