package replica

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// Target is a bucket and prefix on an S3-compatible endpoint.
type Target struct {
	Endpoint string // https://HOST[:PORT]; http:// only to a loopback address
	Bucket   string
	Prefix   string
	Region   string // "" means us-east-1
}

func (t Target) String() string {
	return "s3://" + t.Bucket + "/" + cleanPrefix(t.Prefix) + " at " + t.Endpoint
}

// Credentials are an access key pair. String never shows the secret.
type Credentials struct {
	AccessKey, SecretKey, SessionToken string
}

func (c Credentials) String() string { return "access key " + c.AccessKey }

// CheckEndpoint checks that u is an https:// URL, or http:// to a loopback
// address, with nothing but a host and port, and returns the host:port
// and whether it uses TLS.
func CheckEndpoint(u string) (host string, secure bool, err error) {
	p, err := url.Parse(u)
	if err != nil || p.Host == "" {
		return "", false, fmt.Errorf("the endpoint %q is not a URL; give it as https://HOST[:PORT], e.g. https://s3.eu-central-1.amazonaws.com", u)
	}
	if p.User != nil {
		return "", false, errors.New("the endpoint URL holds credentials; remove them from the URL and put them in the credentials file")
	}
	if (p.Path != "" && p.Path != "/") || p.RawQuery != "" || p.Fragment != "" {
		return "", false, fmt.Errorf("the endpoint %q has a path; give only https://HOST[:PORT] and put the folder in the prefix", u)
	}
	switch p.Scheme {
	case "https":
		return p.Host, true, nil
	case "http":
		h := p.Hostname()
		if ip := net.ParseIP(h); (ip != nil && ip.IsLoopback()) || h == "localhost" {
			return p.Host, false, nil
		}
		return "", false, fmt.Errorf("the endpoint %q is plain http to another machine: anyone on the way could read the credentials' requests and block uploads; use https:// (http:// is allowed only to this machine, 127.0.0.1)", u)
	}
	return "", false, fmt.Errorf("the endpoint %q is not https://; give it as https://HOST[:PORT]", u)
}

// LoadCredentialsFile reads profile ("" means default) from a file in
// the AWS shared credentials format:
//
//	[default]
//	aws_access_key_id = AKIA…
//	aws_secret_access_key = …
//
// The file must be readable by its owner only (0600). Errors name the file
// and the line, never a value from it.
func LoadCredentialsFile(path, profile string) (Credentials, error) {
	if profile == "" {
		profile = "default"
	}
	f, err := os.Open(path)
	if err != nil {
		return Credentials{}, fmt.Errorf("cannot read the credentials file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return Credentials{}, fmt.Errorf("cannot read the credentials file: %w", err)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return Credentials{}, fmt.Errorf("the credentials file %s can be read by others (mode %04o); make it private with chmod 600 %s", path, perm, path)
	}
	var c Credentials
	section := ""
	found := false
	sc := bufio.NewScanner(io.LimitReader(f, 1<<20))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || line[0] == '#' || line[0] == ';':
			continue
		case line[0] == '[':
			if !strings.HasSuffix(line, "]") {
				return Credentials{}, fmt.Errorf("%s:%d: a section header lacks its closing ]; write it as [default]", path, n)
			}
			section = strings.TrimPrefix(strings.TrimSpace(line[1:len(line)-1]), "profile ")
			if section == profile {
				found = true
			}
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return Credentials{}, fmt.Errorf("%s:%d: the line is not KEY = VALUE; write it as aws_access_key_id = YOUR_KEY_ID", path, n)
		}
		if section != profile {
			continue
		}
		v = strings.TrimSpace(v)
		switch strings.ToLower(strings.TrimSpace(k)) {
		case "aws_access_key_id":
			c.AccessKey = v
		case "aws_secret_access_key":
			c.SecretKey = v
		case "aws_session_token":
			c.SessionToken = v
		}
	}
	if err := sc.Err(); err != nil {
		return Credentials{}, fmt.Errorf("cannot read the credentials file %s: %w", path, err)
	}
	switch {
	case !found:
		return Credentials{}, fmt.Errorf("the credentials file %s has no [%s] section; add one with aws_access_key_id and aws_secret_access_key", path, profile)
	case c.AccessKey == "" || c.SecretKey == "":
		return Credentials{}, fmt.Errorf("the [%s] section of %s needs both aws_access_key_id and aws_secret_access_key", profile, path)
	}
	return c, nil
}

// EnvCredentials reads the standard AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY
// and AWS_SESSION_TOKEN; ok is false if the first two are not both set.
func EnvCredentials() (Credentials, bool) {
	c := Credentials{AccessKey: os.Getenv("AWS_ACCESS_KEY_ID"), SecretKey: os.Getenv("AWS_SECRET_ACCESS_KEY"), SessionToken: os.Getenv("AWS_SESSION_TOKEN")}
	return c, c.AccessKey != "" && c.SecretKey != ""
}

// Client talks to one target.
type Client struct {
	t  Target
	mc *minio.Client
}

// NewClient makes a client for t. It does not connect yet.
func NewClient(t Target, c Credentials, transport http.RoundTripper) (*Client, error) {
	host, secure, err := CheckEndpoint(t.Endpoint)
	if err != nil {
		return nil, err
	}
	if err := CheckBucket(t.Bucket); err != nil {
		return nil, err
	}
	if t.Region == "" {
		// Never ask the bucket's location: put-only credentials may not.
		t.Region = "us-east-1"
	}
	mc, err := minio.New(host, &minio.Options{
		Creds:        credentials.NewStaticV4(c.AccessKey, c.SecretKey, c.SessionToken),
		Secure:       secure,
		Region:       t.Region,
		BucketLookup: minio.BucketLookupPath,
		Transport:    transport,
		MaxRetries:   1, // the device's queue retries, and the CLI's user can
	})
	if err != nil {
		return nil, fmt.Errorf("cannot use the endpoint %s: %w", t.Endpoint, err)
	}
	return &Client{t: t, mc: mc}, nil
}

// Target is what the client talks to.
func (c *Client) Target() Target { return c.t }

// CheckBucket checks an S3 bucket name's form.
func CheckBucket(b string) error {
	if len(b) < 3 || len(b) > 63 {
		return fmt.Errorf("the bucket name %q must be 3 to 63 characters long", b)
	}
	for _, r := range b {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '.') {
			return fmt.Errorf("the bucket name %q may hold only lower-case letters, digits, dots and hyphens", b)
		}
	}
	return nil
}

// ParseURL splits s3://BUCKET/PREFIX.
func ParseURL(s string) (bucket, prefix string, err error) {
	rest, ok := strings.CutPrefix(s, "s3://")
	if !ok {
		return "", "", fmt.Errorf("%q is not an s3:// URL; give it as s3://BUCKET/PREFIX", s)
	}
	bucket, prefix, _ = strings.Cut(rest, "/")
	if err := CheckBucket(bucket); err != nil {
		return "", "", err
	}
	return bucket, prefix, nil
}

// ErrExists means the key is already stored (the upload was a repeat).
var ErrExists = errors.New("the object already exists")

// Put stores data under key unless the key exists (If-None-Match: *):
// then it returns ErrExists and leaves what is there.
func (c *Client) Put(ctx context.Context, key string, data io.Reader, size int64) error {
	opts := minio.PutObjectOptions{ContentType: "application/octet-stream", DisableMultipart: true}
	opts.SetMatchETagExcept("*")
	_, err := c.mc.PutObject(ctx, c.t.Bucket, key, data, size, opts)
	if err != nil {
		if r := minio.ToErrorResponse(err); r.Code == "PreconditionFailed" || r.StatusCode == http.StatusPreconditionFailed {
			return ErrExists
		}
		return c.explain(err)
	}
	return nil
}

// List returns every clip under the target's prefix.
func (c *Client) List(ctx context.Context) ([]*Clip, error) {
	var objs []Object
	for o := range c.mc.ListObjects(ctx, c.t.Bucket, minio.ListObjectsOptions{Prefix: ClipPrefix(c.t.Prefix, ""), Recursive: true}) {
		if o.Err != nil {
			return nil, c.explain(o.Err)
		}
		objs = append(objs, Object{Key: o.Key, Size: o.Size, Modified: o.LastModified})
	}
	return Group(c.t.Prefix, objs), nil
}

// Get copies length bytes of key, from offset, to w.
func (c *Client) Get(ctx context.Context, key string, offset, length int64, w io.Writer) error {
	opts := minio.GetObjectOptions{}
	if offset > 0 || length > 0 {
		if err := opts.SetRange(offset, offset+length-1); err != nil {
			return err
		}
	}
	obj, err := c.mc.GetObject(ctx, c.t.Bucket, key, opts)
	if err != nil {
		return c.explain(err)
	}
	defer obj.Close()
	n, err := io.Copy(w, obj)
	if err != nil {
		return c.explain(err)
	}
	if n != length {
		return fmt.Errorf("%s: got %d bytes of %d; the object changed or the download was cut short, run the command again", key, n, length)
	}
	return nil
}

// explain turns an S3 error into what to do about it, without the
// credentials.
func (c *Client) explain(err error) error {
	r := minio.ToErrorResponse(err)
	where := c.t.String()
	switch r.Code {
	case "InvalidAccessKeyId":
		return fmt.Errorf("the storage at %s does not know the access key: check aws_access_key_id in the credentials file (%w)", c.t.Endpoint, err)
	case "SignatureDoesNotMatch":
		return fmt.Errorf("the storage at %s refused the secret key: check aws_secret_access_key in the credentials file (%w)", c.t.Endpoint, err)
	case "NoSuchBucket":
		return fmt.Errorf("the bucket %q does not exist at %s: create it, or fix the bucket name (%w)", c.t.Bucket, c.t.Endpoint, err)
	case "AccessDenied":
		return fmt.Errorf("%s refused the request: the credentials lack the permission (the device's need s3:PutObject on the prefix, a member's s3:ListBucket and s3:GetObject) (%w)", where, err)
	}
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("cannot reach the storage at %s: %w; check the endpoint and the network", c.t.Endpoint, err)
	}
	return fmt.Errorf("%s: %w", where, err)
}
