package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"doorbell/internal/testkit"
)

var encoderBin = &testkit.Binary{Name: "doorbell-encoder", Package: "."}

func TestMain(m *testing.M) { testkit.Main(m, encoderBin) }

// The encoder exists to be small: it may NEED libx264 and the C library,
// nothing else (no libav*, no OpenCV), and links no Go package of the
// daemon's beyond its own.
func TestLinksOnlyLibx264(t *testing.T) {
	out, err := exec.Command("readelf", "-d", encoderBin.Path()).CombinedOutput()
	if err != nil {
		t.Fatalf("readelf: %v\n%s", err, out)
	}
	var needed []string
	for _, m := range regexp.MustCompile(`\(NEEDED\)\s+Shared library: \[([^\]]+)\]`).FindAllStringSubmatch(string(out), -1) {
		needed = append(needed, m[1])
	}
	ok := regexp.MustCompile(`^(libx264\.so\.\d+|libc\.so\.6)$`)
	for _, lib := range needed {
		if !ok.MatchString(lib) {
			t.Errorf("doorbell-encoder NEEDs %s; only libx264 and libc are allowed (all NEEDED: %v)", lib, needed)
		}
	}
	if !slices.ContainsFunc(needed, func(l string) bool { return strings.HasPrefix(l, "libx264.so.") }) {
		t.Errorf("doorbell-encoder does not NEED libx264 (%v): the check reads the wrong file", needed)
	}
	deps, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, deps)
	}
	for _, pkg := range strings.Fields(string(deps)) {
		if strings.HasPrefix(pkg, "doorbell/") && pkg != "doorbell/cmd/doorbell-encoder" && pkg != "doorbell/internal/x264" ||
			strings.Contains(pkg, "gocv") || strings.Contains(pkg, "prometheus") {
			t.Errorf("doorbell-encoder links %s", pkg)
		}
	}
}

// Misuse gets an error in words and exit status 1.
func TestErrors(t *testing.T) {
	frame := filepath.Join(t.TempDir(), "short.yuv")
	if err := os.WriteFile(frame, make([]byte, 1000), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name  string
		args  []string
		stdin string
		want  string
	}{
		{"no size", nil, "", `-size "" is not WIDTHxHEIGHT`},
		{"odd size", []string{"-size", "321x240"}, "", "must be positive and even"},
		{"cut-off picture", []string{"-size", "320x240"}, frame, "the input ended inside picture 0"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cmd := exec.Command(encoderBin.Path(), c.args...)
			out, err := os.Create(filepath.Join(t.TempDir(), "rtp"))
			if err != nil {
				t.Fatal(err)
			}
			defer out.Close()
			cmd.ExtraFiles = []*os.File{out}
			if c.stdin != "" {
				in, err := os.Open(c.stdin)
				if err != nil {
					t.Fatal(err)
				}
				defer in.Close()
				cmd.Stdin = in
			}
			msg, err := cmd.CombinedOutput()
			if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || !strings.Contains(string(msg), c.want) {
				t.Errorf("%v: %v, %q; want exit status 1 saying %q", c.args, err, msg, c.want)
			}
		})
	}
}
