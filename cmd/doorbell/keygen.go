package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"golang.org/x/term"

	"doorbell/crypto/keys"
)

// promptSecret asks for a passphrase on the terminal, without echo.
// Tests replace it.
var promptSecret = func(prompt string) (string, error) {
	in, out, closeFn, err := terminal()
	if err != nil {
		return "", err
	}
	defer closeFn()
	fmt.Fprint(out, prompt)
	b, err := term.ReadPassword(int(in.Fd()))
	fmt.Fprintln(out)
	if err != nil {
		return "", fmt.Errorf("cannot read the passphrase: %w", err)
	}
	return string(b), nil
}

// terminal finds the user's terminal: standard input if it is one, else
// the controlling terminal.
func terminal() (in, out *os.File, closeFn func(), err error) {
	if term.IsTerminal(int(os.Stdin.Fd())) {
		return os.Stdin, os.Stderr, func() {}, nil
	}
	if tty, err := os.OpenFile("/dev/tty", os.O_RDWR, 0); err == nil {
		if term.IsTerminal(int(tty.Fd())) {
			return tty, tty, func() { tty.Close() }, nil
		}
		tty.Close()
	}
	return nil, nil, nil, errors.New("there is no terminal to ask for a passphrase on; run the command in a terminal")
}

// askNewPassphrase asks twice.
func askNewPassphrase() (string, error) {
	p1, err := promptSecret("Enter a passphrase for the new key: ")
	if err != nil {
		return "", err
	}
	if p1 == "" {
		return "", errors.New("the passphrase is empty; choose one, or leave out -passphrase")
	}
	p2, err := promptSecret("Enter it again: ")
	if err != nil {
		return "", err
	}
	if p1 != p2 {
		return "", errors.New("the passphrases differ; run doorbell keygen again")
	}
	return p1, nil
}

// askIdentityPassphrase returns a prompt for the passphrase of file.
func askIdentityPassphrase(file string) func() (string, error) {
	return func() (string, error) {
		return promptSecret(fmt.Sprintf("Enter the passphrase for %s: ", file))
	}
}

// runKeygen handles "doorbell keygen".
func runKeygen(args []string, stdout, stderr io.Writer) int {
	c := newCommand("keygen", "keygen [-o FILE] [-classic] [-passphrase]", stderr)
	out := c.fs.String("o", "", "write the identity to `FILE` (mode 0600, never overwritten) and print its public key; default: the identity to standard output")
	classic := c.fs.Bool("classic", false, "make a classic X25519 key (age1…) for older age tools, instead of a post-quantum hybrid one (age1pq1…)")
	protect := c.fs.Bool("passphrase", false, "protect the identity with a passphrase, as age -p does (asked on the terminal)")
	if _, code, ok := c.parse(args, 0, 0); !ok {
		return code
	}
	kind := keys.Hybrid
	if *classic {
		kind = keys.Classic
	}
	if *out != "" {
		if _, err := os.Lstat(*out); err == nil {
			return c.failf("%s already exists; doorbell never overwrites a key file: choose another name with -o", *out)
		}
	}
	id, err := keys.Generate(kind)
	if err != nil {
		return c.failf("cannot make a key: %v", err)
	}
	data := id.File(time.Now())
	if *protect {
		pass, err := askNewPassphrase()
		if err != nil {
			return c.failf("%v", err)
		}
		if data, err = keys.Protect(data, pass); err != nil {
			return c.failf("%v", err)
		}
	}
	if *out == "" {
		if _, err := stdout.Write(data); err != nil {
			return c.failf("%v", err)
		}
		fmt.Fprintf(stderr, "Public key: %s\n", id.Recipient)
		return 0
	}
	if err := keys.WriteNew(*out, data); err != nil {
		return c.failf("%v", err)
	}
	fmt.Fprintln(stdout, id.Recipient)
	return 0
}
