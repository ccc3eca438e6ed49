package config

import (
	"regexp"
	"slices"
	"strings"
)

// ACME gets the doorbell a certificate for the owner's own domain from an
// ACME CA (Let's Encrypt by default), proving control of the domain with a
// DNS record (DNS-01): no port is opened to the internet. Off by default:
// it connects to the CA and to the DNS provider's API.
type ACME struct {
	Enabled bool   `toml:"enabled"`
	Domain  string `toml:"domain"` // e.g. "doorbell.example.org"; its DNS points at the doorbell's LAN address
	Email   string `toml:"email"`  // optional: where the CA writes about expiry
	// Provider is the DNS provider that makes the challenge record.
	Provider string `toml:"provider"`
	// CredentialsFile holds the provider's credentials as KEY=VALUE lines
	// (lego's names, e.g. CF_DNS_API_TOKEN=…), mode 0600. Never logged.
	CredentialsFile string `toml:"credentials_file"`
	// Directory is the CA's ACME directory URL.
	Directory string `toml:"directory"`
	// Resolvers, if set, are the DNS servers ("HOST:PORT") asked whether
	// the record is visible before the CA looks; empty: the system's.
	Resolvers []string `toml:"resolvers"`
	// RenewBeforeDays: renewal starts this long before expiry; 0: a third
	// of the certificate's lifetime (30 days for Let's Encrypt's 90).
	RenewBeforeDays float64 `toml:"renew_before_days"`
}

// ACMEProviders are the DNS providers doorbelld supports (acme.Providers).
var ACMEProviders = []string{"cloudflare", "httpreq"}

func defaultACME() ACME {
	return ACME{Directory: "https://acme-v02.api.letsencrypt.org/directory", Resolvers: []string{}}
}

var dnsName = regexp.MustCompile(`^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$`)

func (a *ACME) validate(v *validator, h *HTTP) {
	if !a.Enabled {
		return
	}
	d := strings.ToLower(a.Domain)
	switch {
	case a.Domain == "":
		v.errorf("http.acme.domain", "http.acme.enabled is true but http.acme.domain is empty; set your domain for the doorbell, e.g. \"doorbell.example.org\"")
	case !dnsName.MatchString(d) || strings.HasSuffix(d, ".local") || strings.HasSuffix(d, ".localhost"):
		v.errorf("http.acme.domain", "http.acme.domain %q is not a public DNS name; give one in a domain you own, e.g. \"doorbell.example.org\"", a.Domain)
	}
	if !slices.Contains(ACMEProviders, a.Provider) {
		v.errorf("http.acme.provider", "http.acme.provider is %q; use one of %s", a.Provider, strings.Join(ACMEProviders, ", "))
	}
	if a.CredentialsFile == "" {
		v.errorf("http.acme.credentials_file", "http.acme.credentials_file is empty; give the file (mode 0600) that holds the DNS provider's credentials as KEY=VALUE lines")
	}
	if !strings.HasPrefix(a.Directory, "https://") {
		v.errorf("http.acme.directory", "http.acme.directory %q is not an https:// URL; remove it for Let's Encrypt", a.Directory)
	}
	if h.CertFile != "" {
		v.errorf("http.acme.enabled", "http.acme and http.cert_file are both set; use your own files or ACME, not both")
	}
	if !(a.RenewBeforeDays >= 0 && a.RenewBeforeDays <= 60) {
		v.errorf("http.acme.renew_before_days", "http.acme.renew_before_days is %g; use 0 (a third of the lifetime) to 60", a.RenewBeforeDays)
	}
	for _, r := range a.Resolvers {
		checkHostPort(v, "http.acme.resolvers", r, false)
	}
}
