package pairing

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"doorbell/crypto/members"
)

// CleanDevice turns the device name a phone sent into one fit to store and
// show: invisible characters removed, spaces collapsed, cut to members.MaxNameLen,
// and "phone" if nothing is left.
func CleanDevice(name string) string {
	name = strings.ToValidUTF8(name, "")
	name = strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) {
			return ' '
		}
		if !unicode.IsPrint(r) {
			return -1
		}
		return r
	}, name)
	name = strings.Join(strings.Fields(name), " ")
	if utf8.RuneCountInString(name) > members.MaxNameLen {
		name = strings.TrimSpace(string([]rune(name)[:members.MaxNameLen]))
	}
	if name == "" {
		name = "phone"
	}
	return name
}
