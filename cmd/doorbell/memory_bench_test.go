package main

import (
	be "encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"filippo.io/age"

	"doorbell/crypto/clip"
	"doorbell/crypto/keys"
)

// BenchmarkClipsOpenSingleBox measures the peak RSS of doorbell clips open
// -no-verify on a 250 MB clip that is one MP4 box, sealed to a member by
// anyone who knows the member's public key (issue 13, item 9):
//
//	go test -run '^$' -bench ClipsOpenSingleBox -benchtime 1x ./cmd/doorbell
func BenchmarkClipsOpenSingleBox(b *testing.B) {
	dir := b.TempDir()
	cli := filepath.Join(dir, "doorbell")
	build := exec.Command("go", "build", "-o", cli, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	id, err := keys.Generate(keys.Hybrid)
	if err != nil {
		b.Fatal(err)
	}
	idFile := filepath.Join(dir, "me.key")
	if err := os.WriteFile(idFile, id.File(time.Now()), 0o600); err != nil {
		b.Fatal(err)
	}
	rcp, _, err := keys.ParseRecipient(id.Recipient)
	if err != nil {
		b.Fatal(err)
	}
	clipPath := filepath.Join(dir, clip.NewID()+clip.ClipSuffix)
	f, err := os.Create(clipPath)
	if err != nil {
		b.Fatal(err)
	}
	w, err := age.Encrypt(f, rcp)
	if err != nil {
		b.Fatal(err)
	}
	const size = 250_000_000
	hdr := make([]byte, 8, 1<<20)
	be.BigEndian.PutUint32(hdr, size)
	copy(hdr[4:], "mdat")
	w.Write(hdr)
	block := make([]byte, 1<<20)
	for n := 8; n < size; n += len(block) {
		w.Write(block[:min(len(block), size-n)])
	}
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
	f.Close()
	b.ResetTimer()
	var peak int64
	for i := range b.N {
		out := filepath.Join(dir, "out", string(rune('a'+i%26)))
		os.MkdirAll(out, 0o700)
		cmd := exec.Command(cli, "clips", "open", "-no-verify", "-i", idFile, "-o", filepath.Join(out, "clip.mp4"), clipPath)
		cmd.Env = append(os.Environ(), "DOORBELL_CONFIG_DIR="+dir)
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("clips open: %v\n%s", err, out)
		}
		peak = max(peak, cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss) // KiB
		os.RemoveAll(out)
	}
	b.ReportMetric(float64(peak)/1024, "peak-RSS-MiB")
	b.ReportMetric(0, "ns/op")
}
