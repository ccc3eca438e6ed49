package config

import (
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

func TestMQTTIsOffByDefault(t *testing.T) {
	if Defaults().MQTT.Enabled {
		t.Fatal("MQTT is on by default; nothing may leave the device unless the owner asks")
	}
	// Off, the rest need not make sense: nothing connects.
	if _, err := Parse("test.toml", []byte("[mqtt]\nbroker = \"nonsense\"\n")); err != nil {
		t.Fatalf("a disabled MQTT section was checked: %v", err)
	}
}

func TestMQTTErrors(t *testing.T) {
	const on = "[mqtt]\nenabled = true\n"
	cases := []errorCase{
		{"no broker", on, 1, []string{"mqtt.broker is empty", "mqtt://"}},
		{"wrong scheme", on + "broker = \"http://hub:1883\"\n", 3, []string{`starts with "http://"`, "mqtts://"}},
		{"password in the URL", on + "broker = \"mqtt://me:secret@hub:1883\"\n", 3, []string{"holds a user name or password", "mqtt.password"}},
		{"password in a URL of the wrong scheme", on + "broker = \"http://me:secret@hub:1883\"\n", 3, []string{"mqtt.password"}},
		{"password in a URL that does not parse", on + "broker = \"mqtt://me:secret%zz@hub:1883\"\n", 3, []string{"mqtt.broker"}},
		{"password in a URL without a scheme", on + "broker = \"me:secret@hub:1883\"\n", 3, []string{"mqtt.broker"}},
		{"password in a URL with an empty scheme", on + "broker = \"//me:secret@hub:1883\"\n", 3, []string{"mqtt.password"}},
		{"no host", on + "broker = \"mqtt://:1883\"\n", 3, []string{"names no host"}},
		{"a path", on + "broker = \"mqtt://hub:1883/x\"\n", 3, []string{"has a path"}},
		{"bad port", on + "broker = \"mqtt://hub:0\"\n", 3, []string{`has port "0"`}},
		{"ca file without TLS", on + "broker = \"mqtt://hub\"\nca_file = \"/etc/ca.pem\"\n", 4, []string{"ca_file is set but mqtt.broker is not mqtts://"}},
		{"password without user", on + "broker = \"mqtt://hub\"\npassword = \"pw\"\n", 1, []string{"mqtt.username is empty"}},
		{"wildcard topic", on + "broker = \"mqtt://hub\"\ntopic = \"door/#\"\n", 4, []string{`mqtt.topic is "door/#"`, "without wildcards"}},
		{"empty topic level", on + "broker = \"mqtt://hub\"\ntopic = \"door//front\"\n", 4, []string{"empty levels"}},
		{"client id", on + "broker = \"mqtt://hub\"\nclient_id = \"a b\"\n", 4, []string{`mqtt.client_id is "a b"`}},
		{"queue zero", on + "broker = \"mqtt://hub\"\nqueue = 0\n", 4, []string{"mqtt.queue is 0", "1 to 10000"}},
		{"keepalive", on + "broker = \"mqtt://hub\"\nkeepalive = 1\n", 4, []string{"mqtt.keepalive is 1"}},
		{"reconnect max", on + "broker = \"mqtt://hub\"\nreconnect_max = 0.5\n", 4, []string{"mqtt.reconnect_max is 0.5"}},
	}
	checkErrorCases(t, cases, func(t *testing.T, es Errors) {
		if strings.Contains(es[0].Error(), "secret") {
			t.Errorf("error shows the password: %v", es[0])
		}
	})
}

func TestMQTTBrokerDefaultPorts(t *testing.T) {
	for in, want := range map[string]string{
		"mqtt://hub":        "mqtt://hub:1883",
		"mqtts://hub":       "mqtts://hub:8883",
		"mqtt://[::1]":      "mqtt://[::1]:1883",
		"mqtts://hub:18883": "mqtts://hub:18883",
	} {
		cfg, err := Parse("test.toml", []byte("[mqtt]\nenabled = true\nbroker = \""+in+"\"\n"))
		if err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		u, err := cfg.MQTT.BrokerURL()
		if err != nil || u.String() != want {
			t.Errorf("BrokerURL of %s = %v, %v; want %s", in, u, err, want)
		}
	}
}

func TestMQTTPasswordNeverPrints(t *testing.T) {
	cfg, err := Parse("test.toml", []byte("[mqtt]\nenabled = true\nbroker = \"mqtts://hub\"\nusername = \"bell\"\npassword = \"hunter2\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.MQTT.Password != "hunter2" {
		t.Fatalf("password read as %q", string(cfg.MQTT.Password))
	}
	var logged strings.Builder
	slog.New(slog.NewTextHandler(&logged, nil)).Info("config", "password", cfg.MQTT.Password, "mqtt", cfg.MQTT)
	for _, s := range []string{
		fmt.Sprintf("%v", cfg), fmt.Sprintf("%+v", cfg), fmt.Sprintf("%#v", cfg), fmt.Sprint(cfg.MQTT.Password), logged.String(),
	} {
		if strings.Contains(s, "hunter2") {
			t.Errorf("the password shows in %q", s)
		}
	}
}
