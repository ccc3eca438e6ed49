package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"doorbell/replica"
)

// Replica copies every sealed piece of every clip, as it is written, to
// S3-compatible storage the household chooses. Off by default: when on, it
// is the owner's own outbound connection. The storage only ever gets
// ciphertext.
type Replica struct {
	Enabled bool `toml:"enabled"`
	// Endpoint is https://HOST[:PORT]; http:// only to a loopback address.
	Endpoint string `toml:"endpoint"`
	Bucket   string `toml:"bucket"`
	Prefix   string `toml:"prefix"`
	Region   string `toml:"region"`
	// CredentialsFile is in the AWS shared credentials format (0600).
	CredentialsFile string `toml:"credentials_file"`
	// Profile is the section of CredentialsFile to use.
	Profile string `toml:"profile"`
	// QueueBytes bounds what waits on the device while the storage is
	// away; 0 means as much as the clips directory keeps.
	QueueBytes int64 `toml:"queue_bytes"`

	// Credentials written inline are refused, with the fix.
	InlineAccessKey    Secret `toml:"aws_access_key_id,omitempty"`
	InlineSecretKey    Secret `toml:"aws_secret_access_key,omitempty"`
	InlineAccessKeyAlt Secret `toml:"access_key,omitempty"`
	InlineSecretKeyAlt Secret `toml:"secret_key,omitempty"`
}

func defaultReplica() Replica {
	return Replica{Region: "us-east-1", Prefix: "doorbell", Profile: "default"}
}

func (r *Replica) validate(v *validator) {
	for key, val := range map[string]Secret{"aws_access_key_id": r.InlineAccessKey, "aws_secret_access_key": r.InlineSecretKey,
		"access_key": r.InlineAccessKeyAlt, "secret_key": r.InlineSecretKeyAlt} {
		if val != "" {
			v.errorf("replica."+key, "replica.%s: credentials do not go in the configuration (it is readable by more than the daemon, and gets copied around); remove the line and put the key pair in a file readable only by the doorbell user (chmod 600), in the AWS credentials format, named by replica.credentials_file", key)
		}
	}
	if !r.Enabled {
		return
	}
	if r.Endpoint == "" {
		v.errorf("replica.endpoint", "replica.endpoint is missing; give the storage's URL, e.g. https://s3.eu-central-1.amazonaws.com")
	} else if _, _, err := replica.CheckEndpoint(r.Endpoint); err != nil {
		v.errorf("replica.endpoint", "replica.endpoint: %v", err)
	}
	if err := replica.CheckBucket(r.Bucket); err != nil {
		v.errorf("replica.bucket", "replica.bucket: %v", err)
	}
	if strings.Contains(r.Prefix, "//") || strings.HasPrefix(r.Prefix, ".") {
		v.errorf("replica.prefix", "replica.prefix %q: use a plain folder name such as doorbell or home/front-door", r.Prefix)
	}
	if r.QueueBytes < 0 {
		v.errorf("replica.queue_bytes", "replica.queue_bytes is %d; use 0 (as much as the clips directory keeps) or a number of bytes, e.g. 1073741824 for 1 GiB", r.QueueBytes)
	}
	switch {
	case r.CredentialsFile == "":
		v.errorf("replica.credentials_file", "replica.credentials_file is missing; name a file (mode 0600) holding [default] aws_access_key_id = … and aws_secret_access_key = …")
	case !filepath.IsAbs(r.CredentialsFile):
		v.errorf("replica.credentials_file", "replica.credentials_file %q is not an absolute path; give the full path, e.g. /etc/doorbell/replica-credentials", r.CredentialsFile)
	default:
		fi, err := os.Stat(r.CredentialsFile)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			v.errorf("replica.credentials_file", "replica.credentials_file %s does not exist; create it (mode 0600) with [default] aws_access_key_id = … and aws_secret_access_key = …", r.CredentialsFile)
		case err != nil:
			v.errorf("replica.credentials_file", "replica.credentials_file: %v", err)
		case fi.Mode().Perm()&0o077 != 0:
			v.errorf("replica.credentials_file", "%s", fmt.Sprintf("replica.credentials_file %s can be read by others (mode %04o); make it private with chmod 600 %s", r.CredentialsFile, fi.Mode().Perm(), r.CredentialsFile))
		}
	}
}
