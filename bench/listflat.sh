#!/usr/bin/env bash
# List latency against the user's task count: one user with BIG tasks (100,000),
# one with SMALL (10) and one with MID (100: a full first page, like the big
# user's, so that page size and task count can be told apart), seeded through
# the API on a fresh database among OTHERS users of 10 tasks each. The others
# matter: with only three users, PostgreSQL's generic plans for the cached
# prepared statements assume a third of the table per user and choose
# sequential scans for every user (BENCHMARKS.md). Then, per user: (1) loadgen's list operation
# alone (-mix list=100: 70% plain lists, 10% each status=pending,
# status=completed, sort=title) in open loop at RATE lists/s for DURATION, and
# (2) each list query on its own, SAMPLES sequential requests on one keep-alive
# connection (unloaded latency). The target: p50 for the big user at most 2x
# the small user's.
#
#   bench/listflat.sh                 # PostgreSQL
#   ENGINE=sqlite bench/listflat.sh
#
# Env: ENGINE (postgres) BIG (100000) SMALL (10) MID (100) OTHERS (2000) RATE (300) DURATION (15s)
#      SAMPLES (300) PORT (8000) TODOD PG_ADMIN_URL DB_NAME (todod_listflat) BENCH_OUT
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
export PATH="$PATH:/usr/local/go/bin"
ENGINE="${ENGINE:-postgres}" BIG="${BIG:-100000}" SMALL="${SMALL:-10}" MID="${MID:-100}"
OTHERS="${OTHERS:-2000}" RATE="${RATE:-300}" DURATION="${DURATION:-15s}" SAMPLES="${SAMPLES:-300}" PORT="${PORT:-8000}"
SECRET="bench-secret-please-change-0123456789abcdef"
PG_ADMIN_URL="${PG_ADMIN_URL:-postgresql://postgres@127.0.0.1:5432/postgres}" DB_NAME="${DB_NAME:-todod_listflat}"
OUTDIR="${BENCH_OUT:-/tmp/todod-bench}"
mkdir -p "$OUTDIR/bin" "$OUTDIR/results" "$OUTDIR/logs"
BASE="http://127.0.0.1:$PORT"
BIG_SEED=101 SMALL_SEED=102 MID_SEED=103 OTHERS_SEED=104

(cd "$HERE/loadgen" && GOFLAGS=-mod=vendor go build -trimpath -o "$OUTDIR/bin/loadgen" .)
if [ -z "${TODOD:-}" ]; then
  (cd "$ROOT" && go build -trimpath -o "$OUTDIR/bin/todod" ./cmd/todod)
  TODOD="$OUTDIR/bin/todod"
fi

if [ "$ENGINE" = postgres ]; then
  DATABASE_URL="${PG_ADMIN_URL%/*}/$DB_NAME"
  PGOPTIONS='-c client_min_messages=warning' psql "$PG_ADMIN_URL" -w -qX -v ON_ERROR_STOP=1 \
    -c "drop database if exists $DB_NAME with (force)" -c "create database $DB_NAME" >/dev/null
else
  db="$OUTDIR/todod-listflat.db"
  rm -f "$db" "$db-wal" "$db-shm"
  DATABASE_URL="file:$db"
fi

SERVER_PID=""
trap '[ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null; wait 2>/dev/null || true' EXIT
DATABASE_URL="$DATABASE_URL" BETTER_AUTH_SECRET="$SECRET" ADDR="127.0.0.1:$PORT" RATE_LIMIT=0 LOG_LEVEL=warn \
  "$TODOD" serve >"$OUTDIR/logs/listflat-server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 300); do curl -sf -o /dev/null "$BASE/readyz" && break; sleep 0.1; done

lg() { "$OUTDIR/bin/loadgen" -base "$BASE" -secret "$SECRET" -users 1 "$@"; }
echo "== seeding: one user with $BIG tasks, one with $SMALL, one with $MID" >&2
lg -concurrency 1 -prefill "$BIG" -prefill-only -user-seed "$BIG_SEED" -prefill-conc 32 >/dev/null
lg -concurrency 1 -prefill "$SMALL" -prefill-only -user-seed "$SMALL_SEED" -prefill-conc 1 >/dev/null
lg -concurrency 1 -prefill "$MID" -prefill-only -user-seed "$MID_SEED" -prefill-conc 4 >/dev/null
if [ "$OTHERS" -gt 0 ]; then
  echo "== seeding $OTHERS other users with 10 tasks each" >&2
  "$OUTDIR/bin/loadgen" -base "$BASE" -secret "$SECRET" -users "$OTHERS" -concurrency 64 -prefill 10 \
    -prefill-only -user-seed "$OTHERS_SEED" -prefill-conc 64 >/dev/null
fi
if [ "$ENGINE" = postgres ]; then
  # What autovacuum does within a minute of such a load; done here so that
  # the measurement does not depend on when it runs.
  psql "${PG_ADMIN_URL%/*}/$DB_NAME" -w -qXc 'analyze tasks'
fi

stamp="$(date +%Y%m%d-%H%M%S)"
for who in big:$BIG_SEED mid:$MID_SEED small:$SMALL_SEED; do
  name="${who%%:*}" seed="${who#*:}"
  echo "== loadgen list-only, $name user, $RATE lists/s, $DURATION" >&2
  lg -concurrency 16 -rate "$RATE" -mix list=100 -skip-prefill -user-seed "$seed" -prefill-conc 1 \
    -duration "$DURATION" -warmup 3s -label "listflat-$ENGINE-$name" \
    -out "$OUTDIR/results/$stamp-listflat-$ENGINE-$name.json" >/dev/null
done

export BASE SECRET SAMPLES OUTDIR ENGINE BIG SMALL MID OTHERS BIG_SEED SMALL_SEED MID_SEED stamp RATE
python3 - <<'PY'
import base64, hashlib, hmac, http.client, json, os, statistics, struct, time, urllib.parse

alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
def seeded_id(seed, i):  # loadgen's seededID
    s = hashlib.sha256(struct.pack("<QQ", seed, i)).digest()
    return "".join(alphabet[b % len(alphabet)] for b in s[:32])
def b64(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()
def token(sub):
    now = int(time.time())
    h = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    p = b64(json.dumps({"sub": sub, "iat": now, "exp": now + 3600}).encode())
    sig = hmac.new(os.environ["SECRET"].encode(), f"{h}.{p}".encode(), hashlib.sha256).digest()
    return f"{h}.{p}.{b64(sig)}"

u = urllib.parse.urlparse(os.environ["BASE"])
samples = int(os.environ["SAMPLES"])
queries = ["", "?status=pending", "?status=completed", "?sort=title", "?limit=10", "?count=true"]
res = {}
users = (("big", int(os.environ["BIG_SEED"])), ("mid", int(os.environ["MID_SEED"])), ("small", int(os.environ["SMALL_SEED"])))
for name, seed in users:
    user = seeded_id(seed, 0)
    hdr = {"Authorization": "Bearer " + token(user)}
    c = http.client.HTTPConnection(u.hostname, u.port)
    for q in queries:
        lat, n = [], 0
        for i in range(samples + 20):
            t0 = time.perf_counter()
            c.request("GET", f"/api/{user}/tasks{q}", headers=hdr)
            r = c.getresponse()
            body = r.read()
            dt = (time.perf_counter() - t0) * 1000
            if r.status != 200:
                raise SystemExit(f"{q}: {r.status} {body[:200]}")
            n = len(json.loads(body))
            if i >= 20:  # the first requests warm caches
                lat.append(dt)
        lat.sort()
        res[(name, q)] = (statistics.median(lat), lat[int(0.95 * len(lat)) - 1], n)

print(f"\n{os.environ['ENGINE']}: list latency, users with {os.environ['BIG']} (big), {os.environ['MID']} (mid) and "
      f"{os.environ['SMALL']} (small) tasks among {os.environ['OTHERS']} others of 10, {samples} sequential requests each (ms)")
print(f"{'query':18} {'big p50':>8} {'big p95':>8} {'mid p50':>8} {'small p50':>9} {'small p95':>9} {'big/small':>9} {'big/mid':>8}  rows big/mid/small")
for q in queries:
    b, m, s = res[("big", q)], res[("mid", q)], res[("small", q)]
    print(f"{q or '(default)':18} {b[0]:8.2f} {b[1]:8.2f} {m[0]:8.2f} {s[0]:9.2f} {s[1]:9.2f} {b[0]/s[0]:9.2f} {b[0]/m[0]:8.2f}  {b[2]}/{m[2]}/{s[2]}")

print(f"\nloadgen list-only at {os.environ['RATE']} lists/s, open loop (70% default, 10% each pending, completed, sort=title):")
for name in ("big", "mid", "small"):
    d = json.load(open(f"{os.environ['OUTDIR']}/results/{os.environ['stamp']}-listflat-{os.environ['ENGINE']}-{name}.json"))
    l = d["ops"]["list"]
    print(f"  {name:5}: {l['rps']:8.1f} lists/s (kept up: {d['open_loop']['kept_up']})  p50 {l['latency_ms']['p50']:.2f}  p95 {l['latency_ms']['p95']:.2f}  "
          f"p99 {l['latency_ms']['p99']:.2f} ms  errors {d['errors']}")
PY
