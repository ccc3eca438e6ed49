package main

import (
	"fmt"
	"io"
)

// runMotionScan is the owner's tuning tool. (Owned by the motion work: replace this stub.)
func runMotionScan(args []string, stdout, stderr io.Writer) int {
	fmt.Fprintln(stderr, "doorbelld motion-scan: not built yet")
	return 2
}
