#!/usr/bin/env bash
# Checks todod against a real Better Auth server (the better-auth npm package
# pinned in interop/better-auth): for each leg it starts Better Auth with the
# jwt() plugin and todod built from this checkout, each on a free port, and runs
# interop/better-auth/driver.mjs, which signs two users up, takes their tokens
# the ways frontends do and calls todod with them. Prints one line per leg.
#
# Legs: the plugin's default EdDSA key and ES256, ES512, RS256, PS256 keys, with
# todod given only BETTER_AUTH_URL; HS256 tokens minted with a shared
# BETTER_AUTH_SECRET; both set-ups at once; and a key rotation, where the new
# key's first token gets 401 (unknown key) while todod's 10 s JWKS refetch
# limit holds and 201 once it has passed, or (on a slow machine, past the
# limit) 201 at once.
#
# Needs Node 20+, npm and Go. Bounded to 300 s; stops everything it started.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -z "${BETTER_AUTH_INTEROP_BOUNDED:-}" ]; then
  # timeout signals its whole process group, so Better Auth and todod go too.
  BETTER_AUTH_INTEROP_BOUNDED=1 exec timeout --kill-after=10 300 "$0" "$@"
fi

export PATH="/usr/local/go/bin:$PATH"
root=$PWD
tmp=$(mktemp -d)
pids=() # started and not yet stopped

# stop PID...: terminates and reaps them, and forgets them.
stop() {
  local pid keep=()
  for pid in "$@"; do kill "$pid" 2>/dev/null || true; done
  for pid in "$@"; do wait "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do
    case " $* " in *" $pid "*) ;; *) keep+=("$pid") ;; esac
  done
  pids=("${keep[@]}")
}
cleanup() {
  stop "${pids[@]}"
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 143' TERM INT

echo "== Better Auth interop: npm ci in interop/better-auth"
if ! (cd interop/better-auth && timeout 120 npm ci --no-audit --no-fund --loglevel=error >"$tmp/npm.log" 2>&1); then
  cat "$tmp/npm.log"; exit 1
fi
echo "== Better Auth interop: go build ./cmd/todod"
timeout 120 go build -o "$tmp/todod" ./cmd/todod

secret() { node -e 'process.stdout.write(require("node:crypto").randomBytes(32).toString("base64"))'; }

# wait_for FILE PID WHAT: waits until FILE is non-empty while PID lives.
wait_for() {
  for _ in $(seq 1 200); do
    [ -s "$1" ] && return 0
    kill -0 "$2" 2>/dev/null || break
    sleep 0.1
  done
  echo "FAIL: $3 did not start" >&2
  return 1
}

# start_better_auth ALG SECRET [VAR=VALUE...]: sets ba_url, ba_pid, ba_log.
start_better_auth() {
  local alg=$1 secret=$2; shift 2
  ba_log="$tmp/better-auth-$alg.log"
  rm -f "$tmp/ba.url"
  env -i PATH="$PATH" HOME="$tmp" NODE_ENV=production JWT_ALG="$alg" BETTER_AUTH_SECRET="$secret" URL_FILE="$tmp/ba.url" "$@" \
    node "$root/interop/better-auth/server.mjs" >"$ba_log" 2>&1 &
  ba_pid=$!
  pids+=("$ba_pid")
  wait_for "$tmp/ba.url" "$ba_pid" "Better Auth ($alg)" || { cat "$ba_log" >&2; return 1; }
  ba_url=$(cat "$tmp/ba.url")
}

# start_todod LEG VAR=VALUE...: starts todod in an empty directory (no .env)
# on a fresh SQLite file and a free port; sets api_url, todod_pid, todod_log
# and todod_started_ms (wall clock, before todod's first JWKS fetch).
start_todod() {
  local leg=$1; shift
  todod_log="$tmp/todod-$leg.log"
  todod_started_ms=$(date +%s%3N)
  mkdir -p "$tmp/$leg"
  : >"$todod_log" # exists before the background job opens it
  (cd "$tmp/$leg" && exec env -i PATH="$PATH" HOME="$tmp" DATABASE_URL="sqlite:///$tmp/$leg/todod.db" \
    ADDR=127.0.0.1:0 LOG_FORMAT=json SHUTDOWN_DELAY=0s "$@" "$tmp/todod" serve) >"$todod_log" 2>&1 &
  todod_pid=$!
  pids+=("$todod_pid")
  for _ in $(seq 1 200); do
    api_url=$(sed -n 's/.*"msg":"ready","url":"\([^"]*\)".*/\1/p' "$todod_log")
    [ -n "$api_url" ] && return 0
    kill -0 "$todod_pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "FAIL: todod ($leg) did not start" >&2; cat "$todod_log" >&2; return 1
}

# run_leg LEG: the driver against the servers started last.
run_leg() {
  if ! (cd interop/better-auth && HS_SECRET="${hs_secret:-}" ROTATION_SECONDS="$rotation" TODOD_STARTED_MS="$todod_started_ms" timeout 90 node driver.mjs "$1" "$ba_url" "$api_url"); then
    echo "--- Better Auth log ($ba_log)"; tail -n 20 "$ba_log"
    echo "--- todod log ($todod_log)"; tail -n 20 "$todod_log"
    exit 1
  fi
  stop "$todod_pid" "$ba_pid"
}

rotation=2 # seconds, jwks.rotationInterval for the key rotation leg

echo "== Better Auth interop: node $(node --version), better-auth $(node -p 'require("./interop/better-auth/node_modules/better-auth/package.json").version'), jose $(node -p 'require("./interop/better-auth/node_modules/jose/package.json").version')"

for alg in EdDSA ES256 ES512 RS256 PS256; do
  start_better_auth "$alg" "$(secret)"
  start_todod "jwks-$alg" BETTER_AUTH_URL="$ba_url"
  run_leg "jwks:$alg"
done

hs_secret=$(secret)
start_better_auth EdDSA "$hs_secret"
start_todod hs256 BETTER_AUTH_SECRET="$hs_secret"
run_leg hs256

start_better_auth EdDSA "$hs_secret"
start_todod both BETTER_AUTH_URL="$ba_url" BETTER_AUTH_SECRET="$hs_secret"
run_leg both

# Better Auth's keys expire 2 s after they are made, so the new key's first
# token usually reaches todod within 10 s of its last JWKS fetch (401 as an
# unknown key, then accepted once the limit has passed); on a slow machine it
# may arrive later (accepted at once). The driver checks that the answer matches the time it measured.
start_better_auth EdDSA "$(secret)" JWKS_ROTATION_SECONDS="$rotation"
start_todod rotation BETTER_AUTH_URL="$ba_url"
run_leg rotation

echo "== Better Auth interop passed"
