#!/bin/sh
# Turns the example config (stdin) into the device's (stdout): the Raspberry
# Pi camera, and the chime relay and status LED on the pins of the README's
# wiring diagram (GPIO27, header pin 13; GPIO22, header pin 15). Fails if the
# example no longer has the lines it changes.
awk '
  /^\[/ { section = $0 }
  section == "[camera]" && $0 == "source = \"synthetic\"" { $0 = "source = \"rpicam\""; n++ }
  section == "[gpio.chime]" && $0 == "pin = \"\"" { $0 = "pin = \"GPIO27\""; n++ }
  section == "[gpio.led]" && $0 == "pin = \"\"" { $0 = "pin = \"GPIO22\""; n++ }
  { print }
  END { if (n != 3) { print "device-config: the example config changed: made " n " of 3 changes; update deploy/deb/device-config.sh" > "/dev/stderr"; exit 1 } }
'
