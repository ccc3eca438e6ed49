//go:build unix

package setupcard

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"doorbell/crypto/members"
	"doorbell/pairing"
)

// Member is a household member as the setup needs to see one.
type Member struct {
	Name      string
	Recipient string
}

// Household is what the import changes: the members registry and the
// pairing codes. The daemon adapts its real ones to it.
type Household interface {
	// Members lists the household's members.
	Members() ([]Member, error)
	// AddOwner makes name, sealing to recipient, the first member.
	AddOwner(name, recipient string) error
	// AcceptPairingCode lets one phone pair as member with code, once,
	// until expires (zero: no time limit).
	AcceptPairingCode(code, member string, expires time.Time) error
}

// Outcome is what Import did.
type Outcome int

const (
	// NoCard: there was nothing to import.
	NoCard Outcome = iota
	// Imported: the owner is the first member and the code is accepted.
	Imported
	// Ignored: the device already had members; the card changed nothing.
	Ignored
	// Rejected: the card was malformed; the device stays unpaired.
	Rejected
)

// FailedName is the file, next to the staged card, that keeps the reason the
// last card was rejected, so that the device keeps showing it (LED, journal)
// after a restart until a good card arrives or a member exists.
const FailedName = "setup-failed.txt"

// Import is step 2, run by the daemon: it imports the staged card at path
// into h, then securely deletes it. It returns what happened and, for
// Rejected, why (the error names the file and line and says what to do).
//
// A device that already has members ignores cards: a card can only set up a
// new device, never take one over. The exception is a card for the owner who
// is already the only member (an import cut short by a power cut), which is
// finished.
func Import(path string, h Household, now time.Time) (Outcome, error) {
	failed := filepath.Join(filepath.Dir(path), FailedName)
	data, err := readCard(path)
	if errors.Is(err, fs.ErrNotExist) {
		return pending(failed, h)
	}
	if err != nil {
		return reject(path, failed, err)
	}
	card, err := Parse(path, data)
	if err != nil {
		return reject(path, failed, err)
	}
	if card.Expired(now) {
		return reject(path, failed, fmt.Errorf("%s: the pairing code expired at %s; make a new card with doorbell setup-card", path, card.Pairing.Expires.Format(time.RFC3339)))
	}
	ms, err := h.Members()
	if err != nil {
		return NoCard, fmt.Errorf("setup card: cannot read the members registry: %w; the card is kept for the next start", err)
	}
	resume := len(ms) == 1 && ms[0].Name == card.Owner.Name && strings.EqualFold(ms[0].Recipient, strings.TrimSpace(card.Owner.Recipient))
	if len(ms) > 0 && !resume {
		if err := SecureRemove(path); err != nil {
			return Ignored, err
		}
		_ = os.Remove(failed)
		return Ignored, nil
	}
	if !resume {
		if err := h.AddOwner(card.Owner.Name, card.Owner.Recipient); err != nil {
			return reject(path, failed, fmt.Errorf("%s: cannot make %s a member: %v", path, card.Owner.Name, err))
		}
	}
	if err := h.AcceptPairingCode(card.Pairing.Code, card.Owner.Name, card.Pairing.Expires); err != nil {
		// The card stays: the next start finishes the import.
		return NoCard, fmt.Errorf("setup card: cannot accept the pairing code: %w; the card is kept for the next start", err)
	}
	_ = os.Remove(failed)
	if err := SecureRemove(path); err != nil {
		return Imported, err
	}
	return Imported, nil
}

// reject erases the card (it may hold a pairing code) and keeps the reason.
func reject(path, failed string, reason error) (Outcome, error) {
	// A card the staging step could not read holds only its reason.
	if data, err := readCard(path); err == nil && strings.HasPrefix(string(data), "# unreadable setup card: ") {
		reason = errors.New(strings.TrimSpace(strings.TrimPrefix(string(data), "# unreadable setup card: ")))
	}
	_ = writePrivate(failed, []byte(reason.Error()+"\n"), -1, -1)
	if err := SecureRemove(path); err != nil {
		return Rejected, fmt.Errorf("%v (and erasing the card failed: %v)", reason, err)
	}
	return Rejected, reason
}

// pending reports a card rejected on an earlier start, while the device is
// still unpaired.
func pending(failed string, h Household) (Outcome, error) {
	reason, err := os.ReadFile(failed)
	if err != nil {
		return NoCard, nil
	}
	if ms, err := h.Members(); err == nil && len(ms) > 0 {
		_ = os.Remove(failed)
		return NoCard, nil
	}
	return Rejected, fmt.Errorf("%s (from an earlier start; put a new card on the boot partition)", strings.TrimSpace(string(reason)))
}

// DataDir is the household kept in a data directory: the members registry
// (crypto/members) and the pairing codes (pairing).
type DataDir string

// Members lists the registry's members.
func (d DataDir) Members() ([]Member, error) {
	r, err := members.Load(string(d))
	if err != nil {
		return nil, err
	}
	var out []Member
	for _, m := range r.Members() {
		out = append(out, Member{Name: m.Name, Recipient: m.Recipient})
	}
	return out, nil
}

// AddOwner adds the first member.
func (d DataDir) AddOwner(name, recipient string) error {
	_, err := members.Add(string(d), name, recipient, time.Now())
	return err
}

// AcceptPairingCode makes code pair one device for member, once.
func (d DataDir) AcceptPairingCode(code, member string, expires time.Time) error {
	return pairing.AcceptCode(string(d), code, member, expires)
}
