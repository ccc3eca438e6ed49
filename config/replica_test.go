package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReplicaRefusesInlineCredentials(t *testing.T) {
	es := parseErr(t, "[replica]\nenabled = false\naws_secret_access_key = \"wJalrXUtnFEMI\"\n")
	if !strings.Contains(es.Error(), "credentials do not go in the configuration") || !strings.Contains(es.Error(), "test.toml:3") {
		t.Errorf("%v", es)
	}
	if strings.Contains(es.Error(), "wJalrXUtnFEMI") {
		t.Errorf("the error shows the secret: %v", es)
	}
}

func TestReplicaChecks(t *testing.T) {
	dir := t.TempDir()
	private := filepath.Join(dir, "creds")
	os.WriteFile(private, []byte("[default]\n"), 0o600)
	open := filepath.Join(dir, "open")
	os.WriteFile(open, []byte("[default]\n"), 0o644)
	os.Chmod(open, 0o644)
	base := "[replica]\nenabled = true\nbucket = \"house\"\n"
	for _, tc := range []struct{ src, want string }{
		{base + "endpoint = \"http://nas.example:9000\"\ncredentials_file = \"" + private + "\"\n", "plain http to another machine"},
		{base + "endpoint = \"https://s3.example\"\ncredentials_file = \"" + open + "\"\n", "chmod 600"},
		{base + "endpoint = \"https://s3.example\"\n", "replica.credentials_file is missing"},
		{base + "endpoint = \"https://s3.example\"\ncredentials_file = \"creds\"\n", "not an absolute path"},
		{"[replica]\nenabled = true\nendpoint = \"https://s3.example\"\nbucket = \"ab\"\ncredentials_file = \"" + private + "\"\n", "3 to 63 characters"},
	} {
		if es := parseErr(t, tc.src); !strings.Contains(es.Error(), tc.want) {
			t.Errorf("%q: %v, want %q", tc.src, es, tc.want)
		}
	}
	if _, err := Parse("ok.toml", []byte(base+"endpoint = \"http://127.0.0.1:7070\"\ncredentials_file = \""+private+"\"\n")); err != nil {
		t.Errorf("a loopback http endpoint: %v", err)
	}
}
