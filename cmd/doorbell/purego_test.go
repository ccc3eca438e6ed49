package main

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// Household members run doorbell on their own computers: it must build
// without cgo everywhere, and never pull in OpenCV.
func TestImportGraphHasNoOpenCV(t *testing.T) {
	cmd := exec.Command("go", "list", "-deps", ".")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, pkg := range strings.Fields(string(out)) {
		if strings.HasPrefix(pkg, "gocv.io/") || pkg == "doorbell/camera/cvsource" || pkg == "doorbell/motion" {
			t.Errorf("doorbell imports %s, which needs cgo and OpenCV; keep it out of the household CLI", pkg)
		}
	}
}

// One build per operating system, and linux/arm64 for the Raspberry Pi: a
// build constraint follows GOOS far more often than GOARCH, and each target
// compiles the standard library afresh (half a minute on a cold cache).
func TestBuildsWithoutCgoEverywhere(t *testing.T) {
	for _, target := range []string{"linux/amd64", "linux/arm64", "darwin/arm64", "windows/amd64"} {
		t.Run(strings.ReplaceAll(target, "/", "-"), func(t *testing.T) {
			goos, goarch, _ := strings.Cut(target, "/")
			cmd := exec.Command("go", "build", "-o", os.DevNull, ".")
			cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+goos, "GOARCH="+goarch)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("CGO_ENABLED=0 GOOS=%s GOARCH=%s go build failed: %v\n%s", goos, goarch, err, out)
			}
		})
	}
}

func TestVersion(t *testing.T) {
	var out, errOut strings.Builder
	if code := run([]string{"--version"}, &out, &errOut); code != 0 || !strings.HasPrefix(out.String(), "doorbell ") {
		t.Fatalf("exit %d: %q %q", code, out.String(), errOut.String())
	}
	if code := run([]string{"frobnicate"}, &out, &errOut); code != 2 || !strings.Contains(errOut.String(), "unknown command") {
		t.Fatalf("unknown command: exit %d, %q", code, errOut.String())
	}
}

// Every command the CLI runs is in its usage text.
func TestUsageNamesEveryCommand(t *testing.T) {
	for _, cmd := range []string{"member pair", "member tokens", "member revoke", "member add", "member list", "member remove",
		"device id", "device add", "device remove", "keygen", "clips list", "clips pull", "clips open", "setup-card"} {
		if !strings.Contains(usage, "doorbell "+cmd+" ") {
			t.Errorf("the usage text lacks doorbell %s", cmd)
		}
	}
}

// Each command group answers help, nothing and an unknown command alike.
func TestCommandGroups(t *testing.T) {
	for _, group := range []string{"member", "device", "clips"} {
		var out, errOut strings.Builder
		if code := run([]string{group, "--help"}, &out, &errOut); code != 0 || !strings.Contains(out.String(), "doorbell "+group) {
			t.Errorf("%s --help: exit %d, %q", group, code, out.String())
		}
		if code := run([]string{group}, &out, &errOut); code != 2 {
			t.Errorf("%s alone: exit %d", group, code)
		}
		errOut.Reset()
		if code := run([]string{group, "frob"}, &out, &errOut); code != 2 || !strings.Contains(errOut.String(), `unknown command "`+group+` frob"`) {
			t.Errorf("%s frob: exit %d, %q", group, code, errOut.String())
		}
	}
}
