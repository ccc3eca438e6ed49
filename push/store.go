package push

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"doorbell/internal/atomicfile"
)

// StoreFileName holds the subscriptions in the data directory (mode 0600).
// It is no footage, but an endpoint is a capability to wake that phone and
// names its push service, and the list tells which paired devices want to
// know of rings; so it is kept like the token file.
const StoreFileName = "push-subscriptions.json"

// MaxSubscriptions bounds the file; one per paired device is the norm.
const MaxSubscriptions = 200

// Subscription is one phone's push subscription, bound to its paired token.
type Subscription struct {
	Device   string    `json:"device"`   // the paired device's id (pairing.Token.ID)
	Endpoint string    `json:"endpoint"` // the push service's URL for this phone
	P256dh   string    `json:"p256dh"`   // the phone's ECDH public key, base64url
	Auth     string    `json:"auth"`     // the phone's 16-byte auth secret, base64url
	Motion   bool      `json:"motion"`   // also notify of motion, not only rings
	Snapshot bool      `json:"snapshot"` // include a small picture in the (encrypted) payload
	Added    time.Time `json:"added"`
}

// ID names a subscription in logs without showing its endpoint, which is a
// capability.
func (s Subscription) ID() string {
	sum := sha256.Sum256([]byte(s.Endpoint))
	return hex.EncodeToString(sum[:6])
}

// Check reports what is wrong with s's keys, or nil. The endpoint is
// checked against the allow-list by the Sender.
func (s Subscription) Check() error {
	if _, err := url.Parse(s.Endpoint); err != nil || s.Endpoint == "" {
		return errors.New("the subscription has no endpoint URL; send PushSubscription.toJSON()")
	}
	p, err := decodeKey(s.P256dh)
	if err != nil || len(p) != 65 || p[0] != 4 {
		return errors.New("keys.p256dh is not an uncompressed P-256 point in base64url; send PushSubscription.toJSON()")
	}
	a, err := decodeKey(s.Auth)
	if err != nil || len(a) != 16 {
		return errors.New("keys.auth is not a 16-byte secret in base64url; send PushSubscription.toJSON()")
	}
	return nil
}

func decodeKey(s string) ([]byte, error) {
	if b, err := base64.RawURLEncoding.DecodeString(s); err == nil {
		return b, nil
	}
	return base64.URLEncoding.DecodeString(s)
}

// Store keeps the subscriptions on disk. Every change is written before it
// is reported done, so a revoked device's subscription never outlives a crash.
type Store struct {
	path string
	mu   sync.Mutex
	subs []Subscription
}

type storeFile struct {
	Version       int            `json:"version"`
	Subscriptions []Subscription `json:"subscriptions"`
}

// OpenStore reads the subscriptions in dataDir; none if there is no file yet.
func OpenStore(dataDir string) (*Store, error) {
	s := &Store{path: filepath.Join(dataDir, StoreFileName)}
	data, err := os.ReadFile(s.path)
	if errors.Is(err, fs.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return nil, fmt.Errorf("cannot read the push subscriptions: %w; run the daemon as the user that owns the data directory", err)
	}
	var f storeFile
	if err := json.Unmarshal(data, &f); err != nil || f.Version != 1 {
		return nil, fmt.Errorf("%s is damaged (%v): remove it, and phones turn notifications on again", s.path, err)
	}
	s.subs = f.Subscriptions
	return s, nil
}

// Put adds sub, replacing any subscription of the same device or endpoint:
// a phone has one subscription, and an endpoint belongs to one phone.
func (s *Store) Put(sub Subscription) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	next := slices.DeleteFunc(slices.Clone(s.subs), func(o Subscription) bool {
		return o.Device == sub.Device || o.Endpoint == sub.Endpoint
	})
	if len(next) >= MaxSubscriptions {
		return fmt.Errorf("the doorbell already keeps %d push subscriptions; revoke devices no longer used (doorbell device list)", MaxSubscriptions)
	}
	return s.save(append(next, sub))
}

// RemoveDevice deletes the subscription of the paired device id, and
// reports whether there was one.
func (s *Store) RemoveDevice(id string) (bool, error) {
	return s.remove(func(o Subscription) bool { return o.Device == id })
}

// RemoveEndpoint deletes the subscription with this endpoint (one the push
// service called gone).
func (s *Store) RemoveEndpoint(endpoint string) (bool, error) {
	return s.remove(func(o Subscription) bool { return o.Endpoint == endpoint })
}

// Keep deletes every subscription whose device keep rejects: those of
// devices revoked while the daemon was not running.
func (s *Store) Keep(keep func(device string) bool) (int, error) {
	s.mu.Lock()
	n := len(s.subs)
	s.mu.Unlock()
	removed, err := s.remove(func(o Subscription) bool { return !keep(o.Device) })
	if !removed {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return n - len(s.subs), err
}

func (s *Store) remove(match func(Subscription) bool) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	next := slices.DeleteFunc(slices.Clone(s.subs), match)
	if len(next) == len(s.subs) {
		return false, nil
	}
	return true, s.save(next)
}

// Device returns the subscription of the paired device id.
func (s *Store) Device(id string) (Subscription, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := slices.IndexFunc(s.subs, func(o Subscription) bool { return o.Device == id })
	if i < 0 {
		return Subscription{}, false
	}
	return s.subs[i], true
}

// All returns every subscription.
func (s *Store) All() []Subscription {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.subs)
}

// save writes subs and, once they are on disk, makes them current. A
// failed write changes nothing.
func (s *Store) save(subs []Subscription) error {
	if subs == nil {
		subs = []Subscription{}
	}
	data, err := json.MarshalIndent(storeFile{Version: 1, Subscriptions: subs}, "", "  ")
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(s.path, append(data, '\n'), 0o600); err != nil {
		return fmt.Errorf("cannot save the push subscriptions: %w; check that the data directory is writable", err)
	}
	s.subs = subs
	return nil
}
