package setupcard

import (
	"testing"
	"time"
)

// FuzzParse: no setup card crashes the parser (the card is a file anyone
// with the SD card in hand can write).
func FuzzParse(f *testing.F) {
	c := &Card{}
	c.Owner.Name = "alice"
	c.Owner.Recipient = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"
	c.Pairing.Code = NewCode()
	c.Pairing.Expires = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	f.Add(c.Marshal())
	f.Add([]byte("[owner]\nname = 1\n"))
	f.Add([]byte("[[wifi.0]]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = Parse("doorbell-setup.toml", data)
	})
}
