package config

import (
	"slices"
	"strings"
	"testing"
)

func TestPushIsOffByDefault(t *testing.T) {
	d := Defaults().Push
	if d.Enabled {
		t.Fatal("push is on by default; nothing may leave the device unless the owner asks")
	}
	if !slices.Contains(d.AllowHosts, "web.push.apple.com") || !slices.Contains(d.AllowHosts, "fcm.googleapis.com") {
		t.Errorf("default allow_hosts %v lack the major push services", d.AllowHosts)
	}
	if _, err := Parse("test.toml", []byte("[push]\ncontact = \"nonsense\"\n")); err != nil {
		t.Fatalf("a disabled push section was checked: %v", err)
	}
}

func TestPushConfig(t *testing.T) {
	cfg, err := Parse("t.toml", []byte("[push]\nenabled = true\ncontact = \"mailto:me@example.org\"\nallow_hosts = [\"127.0.0.1\", \"*.push.example\"]\n"))
	if err != nil || !cfg.Push.Enabled || cfg.Push.Contact != "mailto:me@example.org" || len(cfg.Push.AllowHosts) != 2 {
		t.Fatalf("%v %+v", err, cfg.Push)
	}
	if _, err := Parse("t.toml", []byte("[push]\nenabled = true\ncontact = \"https://example.org/doorbell\"\n")); err != nil {
		t.Fatal(err)
	}
}

func TestPushErrors(t *testing.T) {
	const on = "[push]\nenabled = true\n"
	for name, c := range map[string]struct {
		src  string
		line int
		want string
	}{
		"no contact":     {on, 1, "push.contact is empty"},
		"bare address":   {on + "contact = \"me@example.org\"\n", 3, "neither mailto: nor https:"},
		"http":           {on + "contact = \"http://example.org\"\n", 3, "neither mailto: nor https:"},
		"localhost mail": {on + "contact = \"mailto:root@localhost\"\n", 3, "local host"},
		"mdns":           {on + "contact = \"https://doorbell.local/\"\n", 3, "local host"},
		"ip":             {on + "contact = \"mailto:me@192.168.1.2\"\n", 3, "local host"},
		"bad mailto":     {on + "contact = \"mailto:not an address\"\n", 3, "not a mailto: URL"},
		"empty hosts":    {on + "contact = \"mailto:me@example.org\"\nallow_hosts = []\n", 4, "no phone could be notified"},
		"url host":       {on + "contact = \"mailto:me@example.org\"\nallow_hosts = [\"https://fcm.googleapis.com\"]\n", 4, "bare host names"},
	} {
		e := parseErr(t, c.src)[0]
		if e.Line != c.line || !strings.Contains(e.Msg, c.want) {
			t.Errorf("%s: line %d %q, want line %d and %q", name, e.Line, e.Msg, c.line, c.want)
		}
	}
}

func TestACMEConfig(t *testing.T) {
	if Defaults().HTTP.ACME.Enabled {
		t.Fatal("ACME is on by default")
	}
	const on = "[http.acme]\nenabled = true\n"
	ok := on + "domain = \"doorbell.example.org\"\nprovider = \"cloudflare\"\ncredentials_file = \"/etc/doorbell/dns.env\"\n"
	if cfg, err := Parse("t.toml", []byte(ok)); err != nil || cfg.HTTP.ACME.Domain != "doorbell.example.org" {
		t.Fatalf("%v", err)
	}
	for name, c := range map[string]struct {
		src  string
		want string
	}{
		"no domain":     {on + "provider = \"cloudflare\"\ncredentials_file = \"x\"\n", "http.acme.domain is empty"},
		"local domain":  {strings.Replace(ok, "doorbell.example.org", "doorbell.local", 1), "not a public DNS name"},
		"provider":      {strings.Replace(ok, "cloudflare", "route99", 1), "use one of cloudflare, httpreq"},
		"no creds":      {strings.Replace(ok, "credentials_file = \"/etc/doorbell/dns.env\"\n", "", 1), "credentials_file is empty"},
		"with own cert": {"[http]\ncert_file = \"a\"\nkey_file = \"b\"\n" + ok, "not both"},
		"plain dir":     {ok + "directory = \"http://ca\"\n", "not an https:// URL"},
		"resolver":      {ok + "resolvers = [\"1.1.1.1\"]\n", "has no port"},
	} {
		es := parseErr(t, c.src)
		found := false
		for _, e := range es {
			found = found || strings.Contains(e.Msg, c.want)
		}
		if !found {
			t.Errorf("%s: %v, want %q", name, es, c.want)
		}
	}
}
