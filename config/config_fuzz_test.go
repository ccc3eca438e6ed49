package config

import (
	"os"
	"testing"
	"time"
)

// FuzzParse: no config file crashes the parser; every refusal names the file.
func FuzzParse(f *testing.F) {
	if example, err := os.ReadFile("../deploy/doorbell.example.toml"); err == nil {
		f.Add(example)
	}
	for _, s := range []string{"[[privacy_mask.0]]\n", "[[motion.zone.0]]\n", "[camera]\nwidth = 640\n",
		"[[privacy_mask]]\npolygon = [[0.1, 0.1], [0.5, 0.1], [0.5, 0.5]]\n", "privacy_mask.x=1\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var err error
		done := make(chan struct{})
		go func() { _, err = Parse("fuzz.toml", data); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatalf("Parse still runs after 5 s on %q", data)
		}
		if err != nil {
			es, ok := err.(Errors)
			if !ok || len(es) == 0 {
				t.Fatalf("error of type %T: %v", err, err)
			}
			for _, e := range es {
				if e.File != "fuzz.toml" || e.Msg == "" {
					t.Fatalf("error without the file or a message: %#v", e)
				}
			}
		}
	})
}
