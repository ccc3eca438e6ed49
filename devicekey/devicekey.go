// Package devicekey keeps the doorbell's Ed25519 signing key: made on first
// start in the data directory, it signs what the device produces, and members
// pin its public key when they pair.
package devicekey

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"doorbell/internal/atomicfile"
)

// FileName is the key's file in the data directory: a PKCS #8 "PRIVATE
// KEY" in PEM, mode 0600.
const FileName = "device-key.pem"

// Path returns where the key of the data directory dataDir is kept.
func Path(dataDir string) string { return filepath.Join(dataDir, FileName) }

// LoadOrCreate returns the device's signing key, making it first if the data
// directory has none.
func LoadOrCreate(dataDir string) (ed25519.PrivateKey, error) {
	key, err := Load(dataDir)
	if !errors.Is(err, fs.ErrNotExist) {
		return key, err
	}
	_, key, err = ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	data := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	err = atomicfile.CreateExclusive(Path(dataDir), data, 0o600)
	if errors.Is(err, fs.ErrExist) { // made meanwhile by another process: use that one
		return Load(dataDir)
	}
	if err != nil {
		return nil, fmt.Errorf("cannot save the device signing key in %s: %w; check that the data directory is writable", Path(dataDir), err)
	}
	return key, nil
}

// Load reads the device's signing key. The error satisfies
// errors.Is(err, fs.ErrNotExist) if there is none yet.
func Load(dataDir string) (ed25519.PrivateKey, error) {
	path := Path(dataDir)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("no device signing key in %s yet (%w): the daemon makes it on first start; start doorbelld with this data directory", dataDir, fs.ErrNotExist)
	}
	if err != nil {
		return nil, fmt.Errorf("cannot read the device signing key: %w; run as the user that owns %s", err, dataDir)
	}
	return parse(path, data)
}

func parse(path string, data []byte) (ed25519.PrivateKey, error) {
	block, rest := pem.Decode(data)
	if block == nil || block.Type != "PRIVATE KEY" || len(bytesTrim(rest)) != 0 {
		return nil, fmt.Errorf("%s is not a PEM \"PRIVATE KEY\": the device signing key is damaged; restore it from a backup (members pinned it), or remove it to make a new one that members must pin again", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w: the device signing key is damaged; restore it from a backup, or remove it to make a new one that members must pin again", path, err)
	}
	key, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%s holds a %T, not an Ed25519 key; remove it to make a new device signing key", path, k)
	}
	return key, nil
}

func bytesTrim(b []byte) []byte {
	for len(b) > 0 && (b[0] == '\n' || b[0] == '\r' || b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	return b
}

// PublicString formats a public key for people and for pinning:
// "ed25519:" and the 32 bytes in standard base64.
func PublicString(pub ed25519.PublicKey) string {
	return "ed25519:" + base64.StdEncoding.EncodeToString(pub)
}

// Fingerprint is the SHA-256 of the public key's 32 bytes, as OpenSSH shows
// key fingerprints: "SHA256:" and unpadded base64.
func Fingerprint(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return "SHA256:" + base64.RawStdEncoding.EncodeToString(sum[:])
}
