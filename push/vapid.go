package push

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
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

// KeyFileName is the VAPID key's file in the data directory (mode 0600).
// It is made once: phones' subscriptions are bound to its public half, so
// a new key would silence every phone until it subscribes again.
const KeyFileName = "push-vapid-key.pem"

// Key is the doorbell's VAPID key (RFC 8292), which signs every push request.
type Key struct{ *ecdsa.PrivateKey }

// LoadOrCreateKey reads the VAPID key from dataDir, making it on first use.
func LoadOrCreateKey(dataDir string) (Key, error) {
	path := filepath.Join(dataDir, KeyFileName)
	k, err := readKey(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return k, err
	}
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return Key{}, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return Key{}, err
	}
	err = atomicfile.CreateExclusive(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600)
	if errors.Is(err, fs.ErrExist) {
		return readKey(path)
	}
	if err != nil {
		return Key{}, fmt.Errorf("cannot save the push key in %s: %w; check that the data directory is writable", dataDir, err)
	}
	return Key{priv}, nil
}

func readKey(path string) (Key, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return Key{}, err
	}
	if err != nil {
		return Key{}, fmt.Errorf("cannot read the push key: %w; run the daemon as the user that owns the data directory", err)
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "PRIVATE KEY" {
		return Key{}, fmt.Errorf("%s is not a PEM private key: the push key is damaged; remove it to make a new one (every phone must then turn notifications on again)", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	priv, ok := k.(*ecdsa.PrivateKey)
	if err != nil || !ok || priv.Curve != elliptic.P256() {
		return Key{}, fmt.Errorf("%s is not an ECDSA P-256 key: remove it to make a new one (every phone must then turn notifications on again)", path)
	}
	return Key{priv}, nil
}

// PublicString is the public key as browsers take it for
// pushManager.subscribe's applicationServerKey: the uncompressed point,
// base64url without padding.
func (k Key) PublicString() string {
	pub, err := k.PublicKey.ECDH()
	if err != nil {
		panic(err) // a P-256 key always converts
	}
	return base64.RawURLEncoding.EncodeToString(pub.Bytes())
}

// privateString is the private scalar, base64url, as webpush-go takes it.
func (k Key) privateString() string {
	priv, err := k.ECDH()
	if err != nil {
		panic(err)
	}
	return base64.RawURLEncoding.EncodeToString(priv.Bytes())
}
