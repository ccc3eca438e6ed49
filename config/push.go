package config

import (
	"net"
	"net/mail"
	"net/url"
	"strconv"
	"strings"
)

// Push sends Web Push notifications of rings (and, for phones that ask,
// motion) to subscribed phones. Off by default: sending a push means
// connecting to the phone's push service (Google's, Apple's, Mozilla's or
// Microsoft's), which learns that a push was sent, when, and to which
// phone; never what happened (payloads are encrypted to the phone and
// padded to one size).
type Push struct {
	Enabled bool `toml:"enabled"`
	// Contact is the VAPID "sub": a mailto: or https: URL where a push
	// service can reach the owner. Apple refuses localhost and .local.
	Contact string `toml:"contact"`
	// AllowHosts are the push services' host names the doorbell may send
	// to ("*.example.com" for subdomains). A phone's subscription to any
	// other host is refused, so a paired device cannot make the doorbell
	// POST anywhere.
	AllowHosts []string `toml:"allow_hosts"`
}

// DefaultPushHosts are the push services of Chrome and Android, Safari,
// Firefox and Edge. push.DefaultAllowHosts is the same list.
var DefaultPushHosts = []string{
	"fcm.googleapis.com",
	"android.googleapis.com",
	"web.push.apple.com",
	"updates.push.services.mozilla.com",
	"*.notify.windows.com",
}

func defaultPush() Push {
	return Push{AllowHosts: append([]string(nil), DefaultPushHosts...)}
}

func (p *Push) validate(v *validator) {
	if !p.Enabled {
		return
	}
	if msg := checkContact(p.Contact); msg != "" {
		v.errorf("push.contact", "%s", msg)
	}
	if len(p.AllowHosts) == 0 {
		v.errorf("push.allow_hosts", "push.allow_hosts is empty, so no phone could be notified; remove the key for the major push services, or list the hosts")
	}
	for _, h := range p.AllowHosts {
		name := strings.TrimPrefix(h, "*.")
		if name == "" || strings.ContainsAny(name, "/:@*? ") || strings.HasSuffix(name, ".") {
			v.errorf("push.allow_hosts", "push.allow_hosts has %q; list bare host names such as \"fcm.googleapis.com\", or \"*.notify.windows.com\" for its subdomains", h)
		}
	}
}

// checkContact says what is wrong with a VAPID contact, or "".
func checkContact(c string) string {
	const eg = `e.g. "mailto:you@example.org" or "https://example.org/contact"`
	if c == "" {
		return "push.enabled is true but push.contact is empty; set where a push service can reach you, " + eg
	}
	var host string
	switch {
	case strings.HasPrefix(c, "mailto:"):
		addr, err := mail.ParseAddress(strings.TrimPrefix(c, "mailto:"))
		at := strings.LastIndexByte(c, '@')
		if err != nil || at < 0 || addr.Name != "" {
			return "push.contact " + strconv.Quote(c) + " is not a mailto: URL with one e-mail address; write it as " + eg
		}
		host = c[at+1:]
	case strings.HasPrefix(c, "https://"):
		u, err := url.Parse(c)
		if err != nil || u.Hostname() == "" || u.User != nil {
			return "push.contact " + strconv.Quote(c) + " is not an https: URL; write it as " + eg
		}
		host = u.Hostname()
	default:
		return "push.contact " + strconv.Quote(c) + " is neither mailto: nor https:; push services accept only those, " + eg
	}
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	if host == "localhost" || strings.HasSuffix(host, ".localhost") || strings.HasSuffix(host, ".local") || net.ParseIP(host) != nil || !strings.Contains(host, ".") {
		return "push.contact " + strconv.Quote(c) + " names a local host; Apple's push service refuses those, so give a public address, " + eg
	}
	return ""
}
