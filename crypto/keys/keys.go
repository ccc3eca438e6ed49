// Package keys makes, reads and checks the household's age keys: identity
// files as age-keygen writes them (optionally passphrase-protected the way
// age protects files), and recipients with errors that say what is wrong.
package keys

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"filippo.io/age"
	"filippo.io/age/armor"

	"doorbell/internal/atomicfile"
)

// Kind is the kind of an age key. age refuses to seal one file to both kinds.
type Kind int

// The kinds of key.
const (
	Hybrid  Kind = iota + 1 // ML-KEM-768 + X25519, "age1pq1…": safe against quantum computers; the default
	Classic                 // X25519, "age1…": for older age tools
)

func (k Kind) String() string {
	switch k {
	case Hybrid:
		return "post-quantum hybrid (age1pq1…)"
	case Classic:
		return "classic X25519 (age1…)"
	}
	return "unknown"
}

// Identity is a freshly made key pair.
type Identity struct {
	Kind      Kind
	Identity  age.Identity
	Recipient string // the public key, to give to the device
	Secret    string // AGE-SECRET-KEY-…; never log it
}

// Generate makes a new identity of kind k.
func Generate(k Kind) (*Identity, error) {
	switch k {
	case Hybrid:
		id, err := age.GenerateHybridIdentity()
		if err != nil {
			return nil, err
		}
		return &Identity{Kind: k, Identity: id, Recipient: id.Recipient().String(), Secret: id.String()}, nil
	case Classic:
		id, err := age.GenerateX25519Identity()
		if err != nil {
			return nil, err
		}
		return &Identity{Kind: k, Identity: id, Recipient: id.Recipient().String(), Secret: id.String()}, nil
	}
	return nil, fmt.Errorf("unknown key kind %d", k)
}

// File returns the identity file's contents, as age-keygen writes them:
// "# created" and "# public key" comments, then the secret key.
func (id *Identity) File(now time.Time) []byte {
	return fmt.Appendf(nil, "# created: %s\n# public key: %s\n%s\n", now.Format(time.RFC3339), id.Recipient, id.Secret)
}

// ScryptWorkFactor is the scrypt work factor (log2 N) for passphrase-protected
// identity files; age's own default. Tests lower it.
var ScryptWorkFactor = 18

// Protect encrypts an identity file with a passphrase the way `age -p -a`
// does: an armored age file with a single scrypt recipient. age, rage and
// doorbell all read such a file as an identity file, asking for the
// passphrase.
func Protect(plain []byte, passphrase string) ([]byte, error) {
	if passphrase == "" {
		return nil, errors.New("the passphrase is empty; choose one, or leave out -passphrase to write an unprotected file")
	}
	r, err := age.NewScryptRecipient(passphrase)
	if err != nil {
		return nil, err
	}
	r.SetWorkFactor(ScryptWorkFactor)
	var buf bytes.Buffer
	aw := armor.NewWriter(&buf)
	w, err := age.Encrypt(aw, r)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(plain); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	if err := aw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// WriteNew writes data to a new file at path with mode 0600, complete or not
// at all. It never replaces an existing file.
func WriteNew(path string, data []byte) error {
	if _, err := os.Lstat(path); err == nil {
		return fmt.Errorf("%s already exists; doorbell never overwrites a key file: choose another name with -o, or remove the old file first if you are sure no clip needs it", path)
	}
	err := atomicfile.CreateExclusive(path, data, 0o600)
	if errors.Is(err, os.ErrExist) {
		return fmt.Errorf("%s already exists; doorbell never overwrites a key file: choose another name with -o", path)
	}
	if err != nil {
		return fmt.Errorf("cannot write %s: %w; check the directory exists and is writable", path, err)
	}
	return nil
}

// ErrWrongPassphrase is returned (wrapped) when a passphrase does not open an identity file.
var ErrWrongPassphrase = errors.New("incorrect passphrase")

// IsProtected reports whether an identity file's contents are
// passphrase-protected (an age file, armored or binary).
func IsProtected(data []byte) bool {
	t := bytes.TrimSpace(data)
	return bytes.HasPrefix(data, []byte("age-encryption.org/")) || bytes.HasPrefix(t, []byte(armor.Header))
}

// maxIdentityFile bounds what is read as an identity file.
const maxIdentityFile = 1 << 20

// ReadIdentities reads the identity file at path. If it is
// passphrase-protected, passphrase is called to ask for the passphrase (and
// may be nil if no prompt is possible).
func ReadIdentities(path string, passphrase func() (string, error)) ([]age.Identity, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read identity file: %w; give the file doorbell keygen wrote with -i", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxIdentityFile+1))
	if err != nil {
		return nil, fmt.Errorf("cannot read identity file %s: %w", path, err)
	}
	if len(data) > maxIdentityFile {
		return nil, fmt.Errorf("%s is too large to be an identity file; give the file doorbell keygen wrote with -i", path)
	}
	return ParseIdentities(path, data, passphrase)
}

// ParseIdentities parses an identity file's contents; name is for messages.
func ParseIdentities(name string, data []byte, passphrase func() (string, error)) ([]age.Identity, error) {
	if IsProtected(data) {
		if passphrase == nil {
			return nil, fmt.Errorf("%s is protected by a passphrase, and there is no terminal to ask for it; run the command in a terminal", name)
		}
		pass, err := passphrase()
		if err != nil {
			return nil, fmt.Errorf("cannot read the passphrase for %s: %w", name, err)
		}
		plain, err := Unprotect(data, pass)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		data = plain
	}
	ids, err := parseIdentityLines(data)
	if err != nil {
		return nil, fmt.Errorf("%s is not an age identity file: %w; give the file doorbell keygen (or age-keygen) wrote", name, err)
	}
	return ids, nil
}

// Unprotect decrypts a passphrase-protected identity file.
func Unprotect(data []byte, passphrase string) ([]byte, error) {
	var r io.Reader = bytes.NewReader(data)
	if bytes.HasPrefix(bytes.TrimSpace(data), []byte(armor.Header)) {
		r = armor.NewReader(r)
	}
	id, err := age.NewScryptIdentity(passphrase)
	if err != nil {
		return nil, err
	}
	d, err := age.Decrypt(r, id)
	var nomatch *age.NoIdentityMatchError
	if errors.As(err, &nomatch) {
		for _, t := range nomatch.StanzaTypes {
			if t != "scrypt" {
				return nil, errors.New("it is encrypted to keys, not protected by a passphrase; decrypt it with age first")
			}
		}
		return nil, fmt.Errorf("%w: the passphrase does not open this identity file; try again (it is the one given to doorbell keygen -passphrase)", ErrWrongPassphrase)
	}
	if err != nil {
		return nil, fmt.Errorf("the protected identity file is damaged: %w; restore it from a backup", err)
	}
	plain, err := io.ReadAll(io.LimitReader(d, maxIdentityFile))
	if err != nil {
		return nil, fmt.Errorf("the protected identity file is damaged: %w; restore it from a backup", err)
	}
	return plain, nil
}

// parseIdentityLines is age.ParseIdentities without ever putting a line of
// the file (a secret key) into an error.
func parseIdentityLines(data []byte) ([]age.Identity, error) {
	var ids []age.Identity
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, maxIdentityFile)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		var id age.Identity
		var err error
		switch {
		case strings.HasPrefix(line, "AGE-SECRET-KEY-PQ-1"):
			id, err = age.ParseHybridIdentity(line)
		case strings.HasPrefix(line, "AGE-SECRET-KEY-1"):
			id, err = age.ParseX25519Identity(line)
		case strings.HasPrefix(line, "age1"):
			return nil, fmt.Errorf("line %d is a public key (recipient), not a secret key", n)
		default:
			return nil, fmt.Errorf("line %d is not an age secret key", n)
		}
		if err != nil {
			return nil, fmt.Errorf("line %d is a damaged secret key", n)
		}
		ids = append(ids, id)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(ids) == 0 {
		return nil, errors.New("it holds no secret key")
	}
	return ids, nil
}

// PublicKeys returns the recipients of identities made by this package or by age.
func PublicKeys(ids []age.Identity) []string {
	var out []string
	for _, id := range ids {
		switch id := id.(type) {
		case *age.HybridIdentity:
			out = append(out, id.Recipient().String())
		case *age.X25519Identity:
			out = append(out, id.Recipient().String())
		}
	}
	return out
}
