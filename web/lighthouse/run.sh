#!/bin/sh
# Lighthouse (mobile) on the app's unpaired and live screens, against a test
# doorbell whose certificate a fresh Chromium trusts (daemon/lighthouse_test.go).
# Reports: web/lighthouse/reports/{unpaired,live}.json.
set -e
cd "$(dirname "$0")"
[ -x node_modules/.bin/lighthouse ] || npm ci --no-audit --no-fund
cd ../..
DOORBELL_LIGHTHOUSE=1 go test -count=1 -run '^TestLighthouse$' -v ./daemon
