package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"doorbell/crypto/clip"
	"doorbell/internal/s3test"
	"doorbell/replica"
)

func TestClipsFromS3Mistakes(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	t.Setenv("AWS_ENDPOINT_URL", "")
	dir := t.TempDir()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"clips", "pull", "-from", "s3://house/door", dir}, "-endpoint https://HOST"},
		{[]string{"clips", "pull", "-from", "s3://house/door", "-endpoint", "https://s3.example", dir}, "no credentials"},
		{[]string{"clips", "pull", "-from", "s3://ab/door", "-endpoint", "https://s3.example", dir}, "3 to 63 characters"},
		{[]string{"clips", "pull", "-from", "s3://house", "-endpoint", "http://s3.example", "-credentials", "/nonexistent", dir}, "cannot read the credentials file"},
	} {
		var out, errOut strings.Builder
		if code := run(tc.args, &out, &errOut); code == 0 || !strings.Contains(errOut.String(), tc.want) {
			t.Errorf("%v: exit %d, %q, want %q", tc.args, code, errOut.String(), tc.want)
		}
	}
}

func TestPullFromS3ResumesAndReassembles(t *testing.T) {
	srv := s3test.Start(t)
	srv.CreateBucket(t, "house")
	cl, err := replica.NewClient(replica.Target{Endpoint: srv.Endpoint, Bucket: "house", Prefix: "door"},
		replica.Credentials{AccessKey: srv.Access, SecretKey: srv.Secret}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	id, file := putClip(t, cl, 3000, 1000)
	dir := t.TempDir()
	st, _, err := pullS3(ctx, cl, dir, 4, nil)
	if err != nil || st.New != 1 {
		t.Fatalf("%+v %v", st, err)
	}
	got, _ := os.ReadFile(filepath.Join(dir, id+clip.ClipSuffix))
	if !bytes.Equal(got, file) {
		t.Fatalf("pulled %d bytes that differ from the %d put", len(got), len(file))
	}
	if st, _, err := pullS3(ctx, cl, dir, 4, nil); err != nil || st.New != 0 || st.Present != 1 {
		t.Fatalf("a second pull: %+v %v", st, err)
	}
	// The recording went on: more pieces arrive, and pull fetches the clip again.
	more := make([]byte, 500)
	rand.Read(more)
	if err := cl.Put(ctx, replica.PartKey("door", id, 3000, 3500), bytes.NewReader(more), 500); err != nil {
		t.Fatal(err)
	}
	if st, _, err := pullS3(ctx, cl, dir, 4, nil); err != nil || st.New != 1 {
		t.Fatalf("after more pieces: %+v %v", st, err)
	}
	got, _ = os.ReadFile(filepath.Join(dir, id+clip.ClipSuffix))
	if !bytes.Equal(got, append(file, more...)) {
		t.Fatalf("pulled %d bytes", len(got))
	}
}

// putClip stores a clip of size random bytes in pieces of piece bytes, and
// a record.
func putClip(tb testing.TB, cl *replica.Client, size, piece int) (string, []byte) {
	tb.Helper()
	ctx := context.Background()
	id := clip.NewID()
	file := make([]byte, size)
	rand.Read(file)
	for at := 0; at < size; at += piece {
		end := min(at+piece, size)
		if err := cl.Put(ctx, replica.PartKey("door", id, int64(at), int64(end)), bytes.NewReader(file[at:end]), int64(end-at)); err != nil {
			tb.Fatal(err)
		}
	}
	rec := make([]byte, 3000)
	rand.Read(rec)
	if err := cl.Put(ctx, replica.RecordKey("door", id, rec), bytes.NewReader(rec), int64(len(rec))); err != nil {
		tb.Fatal(err)
	}
	return id, file
}

// BenchmarkPullFromS3 pulls 100 clips from versitygw on loopback into an
// empty directory: each 8 s at 2 Mbit/s (2 MB, in 31 pieces of one sealed
// 64 KiB chunk, as the doorbell stores them) with its record.
//
//	go test ./cmd/doorbell -run '^$' -bench PullFromS3 -benchtime 3x
func BenchmarkPullFromS3(b *testing.B) {
	srv := s3test.Start(b)
	srv.CreateBucket(b, "house")
	cl, err := replica.NewClient(replica.Target{Endpoint: srv.Endpoint, Bucket: "house", Prefix: "door"},
		replica.Credentials{AccessKey: srv.Access, SecretKey: srv.Secret}, nil)
	if err != nil {
		b.Fatal(err)
	}
	for range 100 {
		putClip(b, cl, 2_000_000, 64<<10+16)
	}
	for _, workers := range []int{1, 8} {
		b.Run(fmt.Sprintf("parallel-%d", workers), func(b *testing.B) {
			for range b.N {
				b.StopTimer()
				dir := b.TempDir()
				b.StartTimer()
				st, _, err := pullS3(context.Background(), cl, dir, workers, nil)
				if err != nil || st.New != 100 {
					b.Fatalf("%+v %v", st, err)
				}
				b.SetBytes(st.Bytes)
			}
		})
	}
}

// Reading a replica links only its layout and client: nothing device-side.
func TestReplicaReadingLinksNothingDeviceSide(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	deps := strings.Fields(string(out))
	if !slices.Contains(deps, "doorbell/replica") {
		t.Fatal("doorbell does not link doorbell/replica")
	}
	for _, pkg := range []string{"doorbell/replica/uploader", "doorbell/recorder", "doorbell/stream", "doorbell/daemon"} {
		if slices.Contains(deps, pkg) {
			t.Errorf("doorbell links %s, which belongs on the device", pkg)
		}
	}
}
