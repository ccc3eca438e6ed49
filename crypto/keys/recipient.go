package keys

import (
	"fmt"
	"strings"
	"unicode"

	"filippo.io/age"
)

// Lengths of well-formed public keys, in characters.
const (
	HybridRecipientLen  = 1959
	ClassicRecipientLen = 62
)

// bech32Chars are the characters a Bech32 string may hold after its "1".
const bech32Chars = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"

// KindOf says which kind of key a recipient string claims to be, from its
// prefix alone, or 0.
func KindOf(s string) Kind {
	s = strings.ToLower(s)
	switch {
	case strings.HasPrefix(s, "age1pq1"):
		return Hybrid
	case strings.HasPrefix(s, "age1"):
		return Classic
	}
	return 0
}

// ParseRecipient parses a member's public key. The error says what is wrong
// with it and what to do, and never repeats a secret key.
func ParseRecipient(s string) (age.Recipient, Kind, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, 0, fmt.Errorf("the public key is empty; give the member's public key (age1pq1… or age1…), which doorbell keygen prints")
	}
	upper := strings.ToUpper(s)
	switch {
	case strings.HasPrefix(upper, "AGE-SECRET-KEY-"):
		return nil, 0, fmt.Errorf("that is a secret key, not a public key: keep it private (and make a new one if it was shared); give the \"# public key:\" line of the key file instead")
	case strings.HasPrefix(upper, "AGE-PLUGIN-"):
		return nil, 0, fmt.Errorf("that is a plugin identity, not a public key; give the member's public key (age1pq1… or age1…), which doorbell keygen prints")
	case strings.HasPrefix(s, "ssh-") || strings.HasPrefix(s, "ecdsa-sha2-"):
		return nil, 0, fmt.Errorf("SSH keys cannot be household keys; make an age key with doorbell keygen and give its public key")
	}
	kind := KindOf(s)
	if kind == 0 {
		return nil, 0, fmt.Errorf("%q is not an age public key: it must start with age1pq1 (post-quantum, the default) or age1 (classic); doorbell keygen prints one", abbreviate(s))
	}
	if i := strings.IndexFunc(s, unicode.IsSpace); i >= 0 {
		return nil, 0, fmt.Errorf("the public key has a space or line break at character %d; give it as one unbroken line", i+1)
	}
	if s != strings.ToLower(s) && s != strings.ToUpper(s) {
		return nil, 0, fmt.Errorf("the public key mixes upper and lower case; copy it again exactly as doorbell keygen printed it")
	}
	s = strings.ToLower(s)
	prefix, want := "age1pq1", HybridRecipientLen
	if kind == Classic {
		prefix, want = "age1", ClassicRecipientLen
	}
	for i, c := range s[len(prefix):] {
		if !strings.ContainsRune(bech32Chars, c) {
			return nil, 0, fmt.Errorf("the public key has %q at character %d, which no age key contains (they never hold 1, b, i or o after the prefix); check for a typo", c, len(prefix)+i+1)
		}
	}
	if len(s) != want {
		if kind == Classic && len(s) > want {
			return nil, 0, fmt.Errorf("the public key has %d characters, but classic keys have %d and post-quantum ones (age1pq1…) %d; it is not a complete age key, so copy it again", len(s), ClassicRecipientLen, HybridRecipientLen)
		}
		return nil, 0, fmt.Errorf("the public key has %d characters, but %s keys have %d: it was cut short or has extra characters; copy it again", len(s), kindWord(kind), want)
	}
	var r age.Recipient
	var err error
	if kind == Hybrid {
		r, err = age.ParseHybridRecipient(s)
	} else {
		r, err = age.ParseX25519Recipient(s)
	}
	if err != nil {
		if strings.Contains(err.Error(), "checksum") {
			return nil, 0, fmt.Errorf("the public key's checksum does not match: a character was mistyped or changed; copy it again exactly as doorbell keygen printed it")
		}
		return nil, 0, fmt.Errorf("the public key is not valid: %s; copy it again exactly as doorbell keygen printed it", strings.TrimPrefix(err.Error(), "malformed recipient "+fmt.Sprintf("%q", s)+": "))
	}
	return r, kind, nil
}

func kindWord(k Kind) string {
	if k == Hybrid {
		return "post-quantum (age1pq1…)"
	}
	return "classic (age1…)"
}

// abbreviate shortens a long string for a message.
func abbreviate(s string) string {
	if len(s) > 24 {
		return s[:20] + "…"
	}
	return s
}

// MixError explains why one household cannot hold both kinds of key.
func MixError(have, adding Kind) error {
	if adding == Classic {
		return fmt.Errorf("the household uses post-quantum keys (age1pq1…) and this is a classic key (age1…): age refuses to mix them in one file, because the classic key would let a future quantum computer open clips the others protect; make this member a post-quantum key with doorbell keygen (without -classic)")
	}
	return fmt.Errorf("the household uses classic keys (age1…) and this is a post-quantum key (age1pq1…): age refuses to mix them in one file, because the classic keys would undo the post-quantum protection; make this member a classic key with doorbell keygen -classic, or move the whole household to post-quantum keys (remove the classic members and add them again with new keys)")
}
