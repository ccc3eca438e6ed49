package main

import (
	"fmt"
	"io"
)

// runDevice handles "doorbell device ...". (Owned by the pairing work: replace this stub.)
func runDevice(args []string, stdout, stderr io.Writer) int {
	fmt.Fprintln(stderr, "doorbell device: not built yet")
	return 2
}
