package pairing

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxNameLen is the longest member or device name, in characters.
const MaxNameLen = 64

// CheckMember says what is wrong with a member's name, if anything.
func CheckMember(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("the member's name is empty; give the name of the household member, e.g. anna")
	case strings.HasPrefix(name, "-"):
		return fmt.Errorf("the member's name %q starts with '-'; put flags before the name, or choose a name that does not start with '-'", name)
	}
	return checkName("member's name", name)
}

func checkName(what, name string) error {
	switch {
	case !utf8.ValidString(name):
		return fmt.Errorf("the %s is not valid UTF-8 text", what)
	case utf8.RuneCountInString(name) > MaxNameLen:
		return fmt.Errorf("the %s is longer than %d characters; choose a shorter one", what, MaxNameLen)
	case strings.TrimSpace(name) != name:
		return fmt.Errorf("the %s %q starts or ends with a space; remove it", what, name)
	case strings.IndexFunc(name, func(r rune) bool { return !unicode.IsPrint(r) && r != ' ' }) >= 0:
		return fmt.Errorf("the %s %q has control or invisible characters; use letters, digits, spaces and punctuation", what, name)
	}
	return nil
}

// CleanDevice turns the device name a phone sent into one fit to store and
// show: invisible characters removed, spaces collapsed, cut to MaxNameLen,
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
	if utf8.RuneCountInString(name) > MaxNameLen {
		name = strings.TrimSpace(string([]rune(name)[:MaxNameLen]))
	}
	if name == "" {
		name = "phone"
	}
	return name
}
