package pairing

import "testing"

// FuzzParseTokens: no token file crashes the parser.
func FuzzParseTokens(f *testing.F) {
	f.Add([]byte(`{"version":1,"tokens":[]}`))
	f.Add([]byte(`{"version":1,"tokens":[{"id":"a1b2c3d4","member":"anna","device":"Anna's phone","sha256":"` +
		"00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff" + `","paired":"2026-11-28T09:00:00Z"}]}`))
	f.Add([]byte(`{"version":2}`))
	f.Add([]byte("null"))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = ParseTokens("tokens.json", data)
	})
}
