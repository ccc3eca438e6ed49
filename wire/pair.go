package wire

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// DefaultPort is the doorbell's HTTPS port unless configured otherwise.
const DefaultPort = "8443"

// PairRequest is the body of POST /api/pair.
type PairRequest struct {
	Code   string `json:"code"`
	Device string `json:"device"` // what the phone calls itself; optional
	// Recipients are the phone's own age public keys, made on the phone:
	// one of each kind, since the phone cannot know the household's. The
	// doorbell keeps the one of the household's kind and seals every clip
	// to it from then on. Optional: a computer pairs without.
	Recipients []string `json:"recipients,omitempty"`
}

// PairResponse is the answer to a successful POST /api/pair.
type PairResponse struct {
	Token     string `json:"token"`                // the secret the phone keeps and sends as a bearer token
	ID        string `json:"id"`                   // the paired device's id
	Member    string `json:"member"`               // whom the code was made for
	Device    string `json:"device"`               // the device's name as stored
	DeviceKey string `json:"device_key,omitempty"` // the doorbell's signing key, to pin
	Recipient string `json:"recipient,omitempty"`  // which of PairRequest.Recipients the doorbell kept
}

// PairLink is the pairing link for code at hostport: https://HOST:PORT/pair#CODE.
// The code rides in the fragment, which browsers never send to a server.
func PairLink(hostport, code string) string {
	u := url.URL{Scheme: "https", Host: hostport, Path: "/pair", Fragment: code}
	return u.String()
}

// ParseDoorbellURL turns what a member typed (a pairing link, a URL or a
// bare HOST[:PORT]) into the doorbell's base URL "https://HOST:PORT" and the
// link's code, if it had one.
func ParseDoorbellURL(raw string) (base, code string, err error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return "", "", errors.New("the doorbell's address is empty; give it as https://HOST:PORT, or the whole pairing link")
	}
	if !strings.Contains(raw, "://") {
		raw = "https://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "", "", fmt.Errorf("%q is not the doorbell's address; give it as https://HOST:PORT, or the whole pairing link", raw)
	}
	if u.Scheme != "https" {
		return "", "", fmt.Errorf("%q does not use https; the doorbell talks only HTTPS: give https://HOST:PORT", raw)
	}
	host := u.Host
	if u.Port() == "" {
		host += ":" + DefaultPort
	}
	return "https://" + host, u.Fragment, nil
}
