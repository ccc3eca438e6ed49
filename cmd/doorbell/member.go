package main

import (
	"fmt"
	"io"
)

// runMember handles "doorbell member ...". (Owned by the pairing work: replace this stub.)
func runMember(args []string, stdout, stderr io.Writer) int {
	fmt.Fprintln(stderr, "doorbell member: not built yet")
	return 2
}
