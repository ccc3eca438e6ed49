package main

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// terminalSafe escapes what a terminal would act on rather than show, in a
// string that came from a clip, its record or a doorbell: control
// characters (C0, DEL, C1: escape sequences that retitle the window, clear
// the screen or fake lines), invisible reordering marks (bidirectional
// overrides), and invalid UTF-8. Anyone with a member's public key can
// make a record, so its kind and zones are the stranger's words.
func terminalSafe(s string) string { return escapeFor(s, false) }

// terminalSafeLines is terminalSafe but keeps line breaks, for messages of
// several lines that may quote such strings.
func terminalSafeLines(s string) string { return escapeFor(s, true) }

func escapeFor(s string, keepNewlines bool) string {
	clean := true
	for _, r := range s {
		if unsafeRune(r) && !(keepNewlines && r == '\n') {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case keepNewlines && r == '\n':
			b.WriteRune(r)
		case unsafeRune(r):
			q := strconv.QuoteRuneToASCII(r)
			b.WriteString(q[1 : len(q)-1])
		default:
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

func unsafeRune(r rune) bool {
	return r == utf8.RuneError || unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) ||
		r == '\u2028' || r == '\u2029'
}

// strconvQuote quotes an argument for an error message.
func strconvQuote(s string) string { return strconv.Quote(s) }
