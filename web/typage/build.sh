#!/bin/sh
# Bundles typage (npm age-encryption, pinned in package-lock.json) into
# web/static/age.js, an ES module the app imports. The committed file must
# be what this makes: TestTypageBundleMatches checks it.
#   cd web/typage && npm ci && ./build.sh
set -eu
cd "$(dirname "$0")"
exec node_modules/.bin/esbuild entry.js --bundle --format=esm --minify --target=es2022 --legal-comments=eof \
	--outfile="${1:-../static/age.js}" --log-level=warning
