package replica_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/minio/minio-go/v7"

	"doorbell/crypto/clip"
	"doorbell/internal/s3test"
	"doorbell/replica"
)

// putOnlyPolicy is the README's bucket policy, for versitygw's user
// "doorbell-device" (on AWS the principal is the device user's ARN).
const putOnlyPolicy = `{
  "Version": "2012-10-17",
  "Statement": [{
    "Sid": "DoorbellDeviceMayOnlyAdd",
    "Effect": "Allow",
    "Principal": {"AWS": ["doorbell-device"]},
    "Action": ["s3:PutObject"],
    "Resource": ["arn:aws:s3:::house/doorbell/*"]
  }]
}`

// With the put-only policy, the device's credentials add objects and can
// do nothing else: not delete, not read, not list.
func TestPutOnlyPolicy(t *testing.T) {
	srv := s3test.Start(t)
	srv.CreateBucket(t, "house")
	srv.Admin(t, "create-user", "--access", "doorbell-device", "--secret", "device-secret", "--role", "user")
	ctx := context.Background()
	if err := srv.Root(t).SetBucketPolicy(ctx, "house", putOnlyPolicy); err != nil {
		t.Fatalf("setting the policy: %v", err)
	}
	dev, err := replica.NewClient(replica.Target{Endpoint: srv.Endpoint, Bucket: "house", Prefix: "doorbell"},
		replica.Credentials{AccessKey: "doorbell-device", SecretKey: "device-secret"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	id := clip.NewID()
	key := replica.PartKey("doorbell", id, 0, 5)
	if err := dev.Put(ctx, key, strings.NewReader("hello"), 5); err != nil {
		t.Fatalf("the device cannot add an object: %v", err)
	}
	if err := dev.Put(ctx, key, strings.NewReader("HELLO"), 5); !errors.Is(err, replica.ErrExists) {
		t.Fatalf("the device's second put of a key: %v, want ErrExists", err)
	}
	if err := dev.Put(ctx, "elsewhere/x", strings.NewReader("x"), 1); err == nil || !strings.Contains(err.Error(), "refused") {
		t.Errorf("a put outside the prefix: %v, want refused", err)
	}

	// What a thief holding the device's credentials would try.
	thief, err := minio.New(strings.TrimPrefix(srv.Endpoint, "http://"), &minio.Options{
		Creds: staticCreds("doorbell-device", "device-secret"), Region: "us-east-1", BucketLookup: minio.BucketLookupPath})
	if err != nil {
		t.Fatal(err)
	}
	if err := thief.RemoveObject(ctx, "house", key, minio.RemoveObjectOptions{}); err == nil {
		t.Error("the device's credentials deleted an object")
	} else if minio.ToErrorResponse(err).Code != "AccessDenied" {
		t.Errorf("delete: %v, want AccessDenied", err)
	}
	if _, err := thief.StatObject(ctx, "house", key, minio.StatObjectOptions{}); err == nil {
		t.Error("the device's credentials read an object")
	}
	lctx, stopList := context.WithCancel(ctx)
	if o, ok := <-thief.ListObjects(lctx, "house", minio.ListObjectsOptions{Recursive: true}); ok && o.Err == nil {
		t.Errorf("the device's credentials listed %s", o.Key)
	}
	stopList()
	// What is there is what the device first put.
	var got bytes.Buffer
	root, _ := replica.NewClient(replica.Target{Endpoint: srv.Endpoint, Bucket: "house", Prefix: "doorbell"},
		replica.Credentials{AccessKey: srv.Access, SecretKey: srv.Secret}, nil)
	if err := root.Get(ctx, key, 0, 5, &got); err != nil || got.String() != "hello" {
		t.Fatalf("after the attempts: %q, %v", got.String(), err)
	}
}
