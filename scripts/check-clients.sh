#!/usr/bin/env bash
# Checks that the TypeScript client in clients/typescript is up to date with
# the API: it regenerates openapi.json (from `todod openapi`) and schema.d.ts
# (with the pinned openapi-typescript) into a temporary directory, fails with
# a diff when the committed files differ, and typechecks example.ts.
# With --update it rewrites the committed files instead of failing.
# Needs Go and `npm ci` run once in clients/typescript.
set -euo pipefail
cd "$(dirname "$0")/.."

client=clients/typescript
update=0
case "${1:-}" in
  --update) update=1 ;;
  "") ;;
  *) echo "usage: $0 [--update]" >&2; exit 2 ;;
esac

if [ ! -x "$client/node_modules/.bin/openapi-typescript" ]; then
  echo "$client/node_modules is missing: run (cd $client && npm ci)" >&2
  exit 1
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# -buildvcs=false: the document's info.version stays "dev" whatever the commit.
go run -buildvcs=false ./cmd/todod openapi >"$tmp/openapi.json"
"$client/node_modules/.bin/openapi-typescript" "$tmp/openapi.json" --output "$tmp/schema.d.ts" >/dev/null

stale=0
for f in openapi.json schema.d.ts; do
  if [ "$update" = 1 ]; then
    cp "$tmp/$f" "$client/$f"
  elif ! diff -u "$client/$f" "$tmp/$f" >"$tmp/$f.diff"; then
    echo "$client/$f is stale; first lines of the difference:" >&2
    head -n 40 "$tmp/$f.diff" >&2
    stale=1
  fi
done
if [ "$stale" = 1 ]; then
  echo "regenerate with: scripts/check-clients.sh --update (and commit the result)" >&2
  exit 1
fi

(cd "$client" && ./node_modules/.bin/tsc --noEmit -p .)
if [ "$update" = 1 ]; then
  echo "clients: regenerated $client/openapi.json and $client/schema.d.ts"
else
  echo "clients: $client is up to date and example.ts typechecks"
fi
