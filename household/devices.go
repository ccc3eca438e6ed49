// Package household is the members' side of the doorbell, on their own
// computers: pairing with a doorbell (pinning its TLS key and its signing
// key), and listing, pulling and opening its sealed clips. It is pure Go.
package household

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"doorbell/devicekey"
	"doorbell/internal/atomicfile"
	"doorbell/wire"
)

// ConfigDirEnv overrides where this computer keeps its pairings.
const ConfigDirEnv = "DOORBELL_CONFIG_DIR"

// DevicesFile holds the pairings, in the config directory. It holds bearer
// tokens: mode 0600.
const DevicesFile = "devices.json"

// ConfigDir is $DOORBELL_CONFIG_DIR, or "doorbell" in the user's config
// directory (~/.config/doorbell on Linux).
func ConfigDir() (string, error) {
	if d := os.Getenv(ConfigDirEnv); d != "" {
		return d, nil
	}
	d, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("cannot find your configuration directory: %w; set %s", err, ConfigDirEnv)
	}
	return filepath.Join(d, "doorbell"), nil
}

// Device is a doorbell this computer is paired with.
type Device struct {
	URL     string `json:"url"` // https://HOST:PORT
	Member  string `json:"member"`
	TokenID string `json:"token_id"`
	Token   string `json:"token"` // the bearer token: a secret
	// TLSKey is the hex SHA-256 of the TLS certificate's public key
	// (SubjectPublicKeyInfo): the pin. A renewed certificate with the same
	// key still matches.
	TLSKey string `json:"tls_key_sha256"`
	// TLSCert is the certificate's fingerprint when paired, as doorbell
	// device id and browsers show it.
	TLSCert    string    `json:"tls_cert_sha256"`
	SigningKey string    `json:"signing_key"` // devicekey.PublicString
	Paired     time.Time `json:"paired"`
}

// PublicKey is the pinned signing key.
func (d *Device) PublicKey() (ed25519.PublicKey, error) {
	return ParseSigningKey(d.SigningKey)
}

// ParseSigningKey parses devicekey.PublicString's format.
func ParseSigningKey(s string) (ed25519.PublicKey, error) {
	b64, ok := strings.CutPrefix(s, "ed25519:")
	raw, err := base64.StdEncoding.DecodeString(b64)
	if !ok || err != nil || len(raw) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("%q is not an Ed25519 signing key (ed25519:BASE64)", s)
	}
	return ed25519.PublicKey(raw), nil
}

// Devices is this computer's list of paired doorbells.
type Devices struct {
	Dir     string   `json:"-"`
	Devices []Device `json:"devices"`
}

// LoadDevices reads the pairings in dir; none is an empty list.
func LoadDevices(dir string) (*Devices, error) {
	ds := &Devices{Dir: dir}
	data, err := os.ReadFile(filepath.Join(dir, DevicesFile))
	if errors.Is(err, fs.ErrNotExist) {
		return ds, nil
	}
	if err != nil {
		return nil, fmt.Errorf("cannot read your pairings: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(ds); err != nil {
		return nil, fmt.Errorf("%s is damaged (%w); remove it and pair again with doorbell device add", filepath.Join(dir, DevicesFile), err)
	}
	return ds, nil
}

// Save writes the pairings atomically, mode 0600.
func (ds *Devices) Save() error {
	if err := os.MkdirAll(ds.Dir, 0o700); err != nil {
		return fmt.Errorf("cannot create %s: %w", ds.Dir, err)
	}
	data, err := json.MarshalIndent(ds, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(ds.Dir, DevicesFile), append(data, '\n'), 0o600)
}

// Find returns the pairing for rawURL, or the only one if rawURL is "".
func (ds *Devices) Find(rawURL string) (*Device, error) {
	if rawURL == "" {
		switch len(ds.Devices) {
		case 0:
			return nil, errors.New("this computer is not paired with a doorbell; pair it with doorbell device add URL CODE (make the code on the doorbell with doorbell member pair NAME)")
		case 1:
			return &ds.Devices[0], nil
		}
		return nil, fmt.Errorf("this computer is paired with %d doorbells; choose one with -from URL (%s)", len(ds.Devices), strings.Join(ds.urls(), ", "))
	}
	u, _, err := wire.ParseDoorbellURL(rawURL)
	if err != nil {
		return nil, err
	}
	for i := range ds.Devices {
		if ds.Devices[i].URL == u {
			return &ds.Devices[i], nil
		}
	}
	return nil, fmt.Errorf("this computer is not paired with the doorbell at %s; pair it with doorbell device add %s CODE", u, u)
}

func (ds *Devices) urls() []string {
	out := make([]string, len(ds.Devices))
	for i, d := range ds.Devices {
		out[i] = d.URL
	}
	return out
}

// Remove forgets the pairing for rawURL.
func (ds *Devices) Remove(rawURL string) error {
	d, err := ds.Find(rawURL)
	if err != nil {
		return err
	}
	ds.Devices = slices.DeleteFunc(ds.Devices, func(x Device) bool { return x.URL == d.URL })
	return nil
}

// TrustedKeys are the signing keys of every paired doorbell.
func (ds *Devices) TrustedKeys() []ed25519.PublicKey {
	var out []ed25519.PublicKey
	for _, d := range ds.Devices {
		if k, err := d.PublicKey(); err == nil {
			out = append(out, k)
		}
	}
	return out
}

// DeviceFingerprint names a signing key as records do.
func DeviceFingerprint(k ed25519.PublicKey) string { return devicekey.Fingerprint(k) }
