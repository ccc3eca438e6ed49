package replica_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/minio/minio-go/v7/pkg/credentials"

	"doorbell/crypto/clip"
	"doorbell/internal/s3test"
	"doorbell/replica"
)

func TestPutNeverOverwritesAndListReassembles(t *testing.T) {
	srv := s3test.Start(t)
	srv.CreateBucket(t, "house")
	c, err := replica.NewClient(replica.Target{Endpoint: srv.Endpoint, Bucket: "house", Prefix: "/front/"}, replica.Credentials{AccessKey: srv.Access, SecretKey: srv.Secret}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	id := clip.NewID()
	file := bytes.Repeat([]byte("0123456789"), 100)
	put := func(start, end int64) error {
		return c.Put(ctx, replica.PartKey("front", id, start, end), bytes.NewReader(file[start:end]), end-start)
	}
	for _, r := range [][2]int64{{0, 300}, {300, 700}, {0, 500}} { // the last overlaps, as after a lost note
		if err := put(r[0], r[1]); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Put(ctx, replica.PartKey("front", id, 0, 300), bytes.NewReader(make([]byte, 300)), 300); !errors.Is(err, replica.ErrExists) {
		t.Fatalf("a second put of a key: %v, want ErrExists", err)
	}
	if err := put(800, 1000); err != nil { // beyond a gap: not part of the prefix
		t.Fatal(err)
	}
	rec := []byte("sealed record")
	if err := c.Put(ctx, replica.RecordKey("front", id, rec), bytes.NewReader(rec), int64(len(rec))); err != nil {
		t.Fatal(err)
	}
	clips, err := c.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(clips) != 1 || clips[0].ID != id || clips[0].Size != 700 || !clips[0].Gap || len(clips[0].Records) != 1 {
		t.Fatalf("listed %+v", clips)
	}
	var got bytes.Buffer
	for _, p := range clips[0].Plan() {
		if err := c.Get(ctx, p.Key, p.Offset, p.Length, &got); err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(got.Bytes(), file[:700]) {
		t.Fatalf("reassembled %d bytes that differ from the file's first 700", got.Len())
	}
	if !strings.HasPrefix(clips[0].Parts[0].Key, "front/clips/"+id+"/") {
		t.Errorf("key %s", clips[0].Parts[0].Key)
	}
}

func TestCredentialsFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, data string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(data), mode); err != nil {
			t.Fatal(err)
		}
		os.Chmod(p, mode)
		return p
	}
	good := write("good", "# keys\n[other]\naws_access_key_id = X\n[default]\naws_access_key_id = AKIDEXAMPLE\naws_secret_access_key = s3cr3t/value\n", 0o600)
	c, err := replica.LoadCredentialsFile(good, "")
	if err != nil || c.AccessKey != "AKIDEXAMPLE" || c.SecretKey != "s3cr3t/value" {
		t.Fatalf("%+v %v", c, err)
	}
	if strings.Contains(c.String(), "s3cr3t") {
		t.Error("String shows the secret")
	}
	for name, tc := range map[string]struct {
		data string
		mode os.FileMode
		want string
	}{
		"readable by others": {"[default]\naws_access_key_id = A\naws_secret_access_key = s3cr3t\n", 0o644, "chmod 600"},
		"no section":         {"[work]\naws_access_key_id = A\naws_secret_access_key = s3cr3t\n", 0o600, "no [default] section"},
		"no secret":          {"[default]\naws_access_key_id = A\n", 0o600, "needs both"},
		"not key = value":    {"[default]\ns3cr3t\n", 0o600, ":2: the line is not KEY = VALUE"},
	} {
		_, err := replica.LoadCredentialsFile(write(strings.ReplaceAll(name, " ", "-"), tc.data, tc.mode), "")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", name, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "s3cr3t") {
			t.Errorf("%s: the error shows the secret: %v", name, err)
		}
	}
}

func TestCheckEndpoint(t *testing.T) {
	for u, ok := range map[string]bool{
		"https://s3.example.com": true, "https://s3.example.com:9000/": true, "http://127.0.0.1:9000": true,
		"http://localhost:9000": true, "http://[::1]:9000": true,
		"http://nas.local:9000": false, "ftp://x": false, "https://k:s@s3.example.com": false, "https://s3.example.com/bucket": false, "s3.example.com": false,
	} {
		if _, _, err := replica.CheckEndpoint(u); (err == nil) != ok {
			t.Errorf("%s: %v", u, err)
		}
	}
}

func staticCreds(access, secret string) *credentials.Credentials {
	return credentials.NewStaticV4(access, secret, "")
}
