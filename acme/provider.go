package acme

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/go-acme/lego/v5/challenge"
	"github.com/go-acme/lego/v5/providers/dns/cloudflare"
	"github.com/go-acme/lego/v5/providers/dns/httpreq"
)

// Providers are the DNS providers the doorbell can make challenge records
// with, and the keys each takes in the credentials file (lego's names).
var Providers = map[string][]string{
	"cloudflare": {"CF_DNS_API_TOKEN", "CF_ZONE_API_TOKEN"},
	"httpreq":    {"HTTPREQ_ENDPOINT", "HTTPREQ_MODE", "HTTPREQ_USERNAME", "HTTPREQ_PASSWORD"},
}

// ReadCredentials reads a credentials file: KEY=VALUE lines, # comments.
// It must be readable by its owner alone (chmod 600): it holds the keys to
// the owner's DNS. Values never appear in errors.
func ReadCredentials(path string) (map[string]string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read the DNS credentials file: %w; check http.acme.credentials_file", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("the DNS credentials file %s can be read by others (mode %04o); make it private with chmod 600 %s", path, fi.Mode().Perm(), path)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read the DNS credentials file: %w", err)
	}
	out := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("%s:%d: not KEY=VALUE; write one setting a line, e.g. CF_DNS_API_TOKEN=…", path, n)
		}
		out[strings.TrimSpace(k)] = strings.Trim(strings.TrimSpace(v), `"'`)
	}
	return out, nil
}

// NewProvider makes the DNS provider name from its credentials.
func NewProvider(name string, creds map[string]string) (challenge.Provider, error) {
	keys, ok := Providers[name]
	if !ok {
		names := make([]string, 0, len(Providers))
		for n := range Providers {
			names = append(names, n)
		}
		slices.Sort(names)
		return nil, fmt.Errorf("the DNS provider %q is not supported; use one of %s", name, strings.Join(names, ", "))
	}
	for k := range creds {
		if !slices.Contains(keys, k) {
			return nil, fmt.Errorf("the credentials file has %s, which the %s provider does not take; it takes %s", k, name, strings.Join(keys, ", "))
		}
	}
	switch name {
	case "cloudflare":
		if creds["CF_DNS_API_TOKEN"] == "" {
			return nil, errors.New("the credentials file lacks CF_DNS_API_TOKEN: make an API token with Zone:DNS:Edit for the domain's zone")
		}
		c := cloudflare.NewDefaultConfig()
		c.AuthToken, c.ZoneToken = creds["CF_DNS_API_TOKEN"], creds["CF_ZONE_API_TOKEN"]
		return cloudflare.NewDNSProviderConfig(c)
	case "httpreq":
		u, err := url.Parse(creds["HTTPREQ_ENDPOINT"])
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return nil, errors.New("HTTPREQ_ENDPOINT in the credentials file is not an http(s) URL")
		}
		c := httpreq.NewDefaultConfig()
		c.Endpoint, c.Mode, c.Username, c.Password = u, creds["HTTPREQ_MODE"], creds["HTTPREQ_USERNAME"], creds["HTTPREQ_PASSWORD"]
		c.PropagationTimeout, c.PollingInterval = 2*time.Minute, 2*time.Second
		return httpreq.NewDNSProviderConfig(c)
	}
	panic("unreachable")
}
