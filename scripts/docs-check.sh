#!/bin/sh
# docs-check.sh: prove that /docs works in a real browser with no network.
#
# Runs the headless-Chromium tests of internal/httpapi: Swagger UI must render
# the operations of the spec, break none of its Content-Security-Policy, and
# request nothing outside the server; a cross-origin call must pass CORS.
# Chromium is required here (the tests fail instead of skipping without it).
# This script installs nothing. On Debian or Ubuntu:
#
#     apt-get install -y chromium
#
# Usage: scripts/docs-check.sh [extra go test flags]
set -eu

cd "$(dirname "$0")/.."

if ! command -v chromium >/dev/null 2>&1; then
	echo "docs-check: chromium not found; install it with: apt-get install -y chromium" >&2
	exit 1
fi

TEST_REQUIRE_CHROMIUM=1 exec go test -count=1 -run 'Browser' "$@" ./internal/httpapi
