#!/usr/bin/env bash
# Benchmark todod: start it on a fresh PostgreSQL database (or SQLite file),
# seed users and tasks through the API, run the checked mixed workload of
# bench/loadgen (list 40, get 20, create 15, update 10, toggle 10, delete 5) at
# a concurrency (closed loop) or a rate (open loop), print throughput,
# p50/p95/p99/max and errors, and stop todod. Works from a fresh clone: it
# needs bash, curl, python3 (standard library), Go, and for PostgreSQL psql.
#
#   bench/run.sh                                  # PostgreSQL, 200 users, 200 clients, 5 s warm-up, 20 s window
#   ENGINE=sqlite bench/run.sh                    # the embedded default
#   REPEAT=3 bench/run.sh                         # three runs, each on a fresh database, then the medians
#   USERS=1000 CONCURRENCY=1000 RATE=1000 bench/run.sh       # open loop: 1000 req/s from 1000 users
#   USERS=10000 PREFILL=20 bench/run.sh -prefill-only -user-seed 7 -prefill-conc 256   # seed once...
#   USERS=10000 CONCURRENCY=1000 bench/run.sh -skip-prefill -user-seed 7 -prefill-conc 256   # ...reuse
#
# Extra arguments go to loadgen unchanged (bench/loadgen: go run . -h). With
# -skip-prefill the database is kept (RESET=0), so seed it first with the same
# -users and -user-seed; every measured run changes the data, so seed again
# after a few runs.
#
# Env: ENGINE (postgres | sqlite)  USERS (200)  CONCURRENCY (200)  DURATION (20s)
#      WARMUP (5s)  PREFILL (10)  RATE (open loop, req/s; unset: closed loop)
#      THINK (closed loop with a mean think time)  TIMEOUT (30s)  SEED (operation seed)
#      REPEAT (1)  RESET (1; 0 keeps the data)  PORT (8000)  LOG_LEVEL (warn: no access log)
#      TODOD (a todod binary; unset: built from this checkout)
#      PG_ADMIN_URL (postgresql://postgres@127.0.0.1:5432/postgres)  DB_NAME (todod_bench)
#      PG_PARAMS (query string for todod's URL, e.g. sslmode=disable or pool_max_conns=16)
#      SQLITE_PATH ($BENCH_OUT/todod-bench.db)  SERVER_ENV (more VAR=value for todod)
#      QUIET_WAIT (120 s) QUIET_MAX_BUSY (15 %): wait for the machine to be quiet first
#      BENCH_OUT (/tmp/todod-bench): results/*.json, logs/*.log, bin/
# todod runs with RATE_LIMIT=0 (the per-user limit is for humans; loadgen's
# users are far faster) and BETTER_AUTH_SECRET=$SECRET, with which loadgen signs
# its HS256 tokens.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
export PATH="$PATH:/usr/local/go/bin"
ulimit -n 65536 2>/dev/null || true

ENGINE="${ENGINE:-postgres}"
USERS="${USERS:-200}"
CONCURRENCY="${CONCURRENCY:-200}"
DURATION="${DURATION:-20s}"
WARMUP="${WARMUP:-5s}"
PREFILL="${PREFILL:-10}"
TIMEOUT="${TIMEOUT:-30s}"
REPEAT="${REPEAT:-1}"
RESET="${RESET:-1}"
PORT="${PORT:-8000}"
SERVER_LOG_LEVEL="${LOG_LEVEL:-warn}"
SECRET="${SECRET:-bench-secret-please-change-0123456789abcdef}"
SEED="${SEED:-$(date +%s)}"
PG_ADMIN_URL="${PG_ADMIN_URL:-postgresql://postgres@127.0.0.1:5432/postgres}"
DB_NAME="${DB_NAME:-todod_bench}"
OUTDIR="${BENCH_OUT:-/tmp/todod-bench}"
mkdir -p "$OUTDIR/results" "$OUTDIR/logs" "$OUTDIR/bin"
OUTDIR="$(cd "$OUTDIR" && pwd)"
SQLITE_PATH="${SQLITE_PATH:-$OUTDIR/todod-bench.db}"
BASE="http://127.0.0.1:$PORT"

case "$ENGINE" in
  postgres) STATS_URL="${PG_ADMIN_URL%/*}/$DB_NAME" DATABASE_URL="$STATS_URL${PG_PARAMS:+?$PG_PARAMS}" ;;
  sqlite) DATABASE_URL="file:$SQLITE_PATH" ;;
  *) echo "ENGINE must be postgres or sqlite" >&2; exit 2 ;;
esac
for a in "$@"; do
  case "$a" in -skip-prefill|--skip-prefill|-skip-prefill=true|--skip-prefill=true) RESET=0 ;; esac
done
LOOP_ARGS=()
[ -n "${RATE:-}" ] && LOOP_ARGS+=(-rate "$RATE")
[ -n "${THINK:-}" ] && LOOP_ARGS+=(-think "$THINK")

log() { echo "== $*" >&2; }

build() {
  local cache
  cache="${GOCACHE:-$(go env GOCACHE 2>/dev/null || true)}"
  if [ -z "$cache" ] || ! mkdir -p "$cache" 2>/dev/null || [ ! -w "$cache" ]; then cache="$OUTDIR/go-cache"; fi
  log "building loadgen -> $OUTDIR/bin/loadgen"
  (cd "$HERE/loadgen" && GOCACHE="$cache" GOFLAGS=-mod=vendor go build -trimpath -o "$OUTDIR/bin/loadgen" .)
  if [ -z "${TODOD:-}" ]; then
    log "building todod -> $OUTDIR/bin/todod"
    (cd "$ROOT" && GOCACHE="$cache" go build -trimpath -o "$OUTDIR/bin/todod" ./cmd/todod)
    TODOD="$OUTDIR/bin/todod"
  fi
}

reset_db() {
  if [ "$ENGINE" = postgres ]; then
    log "fresh database $DB_NAME"
    PGOPTIONS='-c client_min_messages=warning' psql "$PG_ADMIN_URL" -w -qX -v ON_ERROR_STOP=1 \
      -c "drop database if exists $DB_NAME with (force)" -c "create database $DB_NAME" >/dev/null
  else
    log "fresh SQLite file $SQLITE_PATH"
    rm -f "$SQLITE_PATH" "$SQLITE_PATH-wal" "$SQLITE_PATH-shm"
  fi
}

SERVER_PID=""
stop_server() {
  [ -n "$SERVER_PID" ] || return 0
  if kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 1 150); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.2; done
    kill -0 "$SERVER_PID" 2>/dev/null && { echo "todod $SERVER_PID ignored TERM; killing it" >&2; kill -KILL "$SERVER_PID" 2>/dev/null || true; }
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  SERVER_PID=""
}
SAMPLER_PID=""
stop_sampler() {
  [ -n "$SAMPLER_PID" ] || return 0
  kill "$SAMPLER_PID" 2>/dev/null || true
  wait "$SAMPLER_PID" 2>/dev/null || true
  SAMPLER_PID=""
}
cleanup() { stop_sampler; stop_server; }
trap cleanup EXIT
trap 'exit 130' INT TERM

now_ms() { date +%s%3N; }
# CPU clock ticks of a process and its direct children, including the children
# it reaped: for the postmaster, its live backends and those that came and went.
ticks() {
  local total=0 p
  for p in "$1" $(pgrep -P "$1" 2>/dev/null || true); do
    [ -r "/proc/$p/stat" ] || continue
    total=$(( total + $(awk '{print $14 + $15 + $16 + $17}' "/proc/$p/stat" 2>/dev/null || echo 0) ))
  done
  echo "$total"
}
cpu_busy_idle() { awk '/^cpu /{print $2+$3+$4+$7+$8+$9, $5+$6}' /proc/stat; }
pg_pid() {
  [ "$ENGINE" = postgres ] || return 0
  local p pp
  for p in $(psql "$STATS_URL" -w -AtqXc "select pid from pg_stat_activity where pid <> pg_backend_pid()" 2>/dev/null); do
    pp="$(awk '{print $4}' "/proc/$p/stat" 2>/dev/null || true)"
    if [ -n "$pp" ] && [ "$(cat "/proc/$pp/comm" 2>/dev/null)" = postgres ]; then echo "$pp"; return; fi
  done
}

# start_server starts todod and waits until /readyz answers 200; it sets
# READY_MS, the time from exec to the first 200.
start_server() {
  local log_file="$1" t0 code
  t0="$(now_ms)"
  # shellcheck disable=SC2086
  env DATABASE_URL="$DATABASE_URL" BETTER_AUTH_SECRET="$SECRET" ADDR="127.0.0.1:$PORT" RATE_LIMIT=0 \
    LOG_LEVEL="$SERVER_LOG_LEVEL" LOG_FORMAT=json ${SERVER_ENV:-} "$TODOD" serve >"$log_file" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 1 3000); do
    code="$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$BASE/readyz" || true)"
    [ "$code" = 200 ] && { READY_MS=$(( $(now_ms) - t0 )); return 0; }
    kill -0 "$SERVER_PID" 2>/dev/null || { echo "todod exited; log $log_file:" >&2; tail -20 "$log_file" >&2; exit 1; }
    sleep 0.02
  done
  echo "todod not ready after 60 s" >&2
  exit 1
}

wait_quiet() {
  local b0 i0 b1 i1
  BUSY_BEFORE=0
  for _ in $(seq 1 $(( ${QUIET_WAIT:-120} / 2 + 1 ))); do
    read -r b0 i0 < <(cpu_busy_idle); sleep 2; read -r b1 i1 < <(cpu_busy_idle)
    BUSY_BEFORE="$(awk -v b=$(( b1 - b0 )) -v i=$(( i1 - i0 )) 'BEGIN{printf "%.0f", (b+i>0)?100*b/(b+i):0}')"
    [ "$BUSY_BEFORE" -le "${QUIET_MAX_BUSY:-15}" ] && return 0
    log "machine ${BUSY_BEFORE}% busy; waiting for it to be quiet"
  done
}

# sample records todod's peak RSS and the peak number of established
# connections to it, every 0.5 s, into $1.
sample() {
  local out="$1" pid="$2" rss conns max_rss=0 max_conns=0
  while kill -0 "$pid" 2>/dev/null; do
    rss="$(awk '/^VmRSS:/{print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)"
    conns="$(ss -Htn state established "( sport = :$PORT )" 2>/dev/null | wc -l)"
    [ "${rss:-0}" -gt "$max_rss" ] && max_rss="$rss"
    [ "$conns" -gt "$max_conns" ] && max_conns="$conns"
    echo "$max_rss $max_conns" >"$out.tmp" && mv "$out.tmp" "$out"
    sleep 0.5
  done
}

run_one() {
  local n="$1"; shift
  local label stamp out server_log rc pgp t0=0 p0=0 b0 i0 b1 i1 hz
  label="todod-$ENGINE-u$USERS-c$CONCURRENCY${RATE:+-r$RATE}${THINK:+-t$THINK}"
  stamp="$(date +%Y%m%d-%H%M%S)"
  out="$OUTDIR/results/$stamp-$label.json"
  server_log="$OUTDIR/logs/$stamp-$label.log"
  [ "$RESET" = 1 ] && reset_db
  start_server "$server_log"
  log "todod ready in ${READY_MS} ms (pid $SERVER_PID, $ENGINE)"
  wait_quiet
  log "machine ${BUSY_BEFORE}% busy before run $n"
  pgp="$(pg_pid || true)"
  t0="$(ticks "$SERVER_PID")"
  [ -n "$pgp" ] && p0="$(ticks "$pgp")"
  read -r b0 i0 < <(cpu_busy_idle)
  sample "$OUTDIR/logs/$stamp-$label.peak" "$SERVER_PID" & SAMPLER_PID=$!
  set +e
  "$OUTDIR/bin/loadgen" -base "$BASE" -secret "$SECRET" -users "$USERS" -concurrency "$CONCURRENCY" \
    -duration "$DURATION" -warmup "$WARMUP" -prefill "$PREFILL" -timeout "$TIMEOUT" -seed "$SEED" \
    -label "$label" -out "$out" "${LOOP_ARGS[@]}" "$@" >/dev/null
  rc=$?
  set -e
  read -r b1 i1 < <(cpu_busy_idle)
  hz="$(getconf CLK_TCK)"
  local server_cpu pg_cpu=None machine_cpu machine_busy peak_rss peak_conns hwm
  server_cpu="$(awk -v d=$(( $(ticks "$SERVER_PID") - t0 )) -v hz="$hz" 'BEGIN{printf "%.1f", d/hz}')"
  [ -n "$pgp" ] && pg_cpu="$(awk -v d=$(( $(ticks "$pgp") - p0 )) -v hz="$hz" 'BEGIN{printf "%.1f", d/hz}')"
  machine_cpu="$(awk -v b=$(( b1 - b0 )) -v hz="$hz" 'BEGIN{printf "%.1f", b/hz}')"
  machine_busy="$(awk -v b=$(( b1 - b0 )) -v i=$(( i1 - i0 )) 'BEGIN{printf "%.0f", (b+i>0)?100*b/(b+i):0}')"
  hwm="$(awk '/^VmHWM:/{print $2}' "/proc/$SERVER_PID/status" 2>/dev/null || echo 0)"
  stop_sampler
  read -r peak_rss peak_conns <"$OUTDIR/logs/$stamp-$label.peak" 2>/dev/null || { peak_rss=0; peak_conns=0; }
  stop_server
  [ -s "$out" ] || { echo "loadgen wrote no summary (exit $rc)" >&2; exit 1; }
  python3 - "$out" <<PY
import json, sys
p = sys.argv[1]
d = json.load(open(p))
d.update({"engine": "$ENGINE", "ready_ms": $READY_MS, "server_cpu_s_whole_run": $server_cpu,
          "postgres_cpu_s_whole_run": $pg_cpu, "machine_cpu_s_whole_run": $machine_cpu,
          "machine_cpu_busy_pct_whole_run": $machine_busy, "machine_busy_pct_before_run": $BUSY_BEFORE,
          "todod_rss_peak_mib": round($peak_rss / 1024, 1), "todod_vmhwm_mib": round($hwm / 1024, 1),
          "established_conns_peak": $peak_conns, "cpus": $(nproc), "loadgen_exit": $rc,
          "server_log_level": "$SERVER_LOG_LEVEL"})
# CPU that neither todod, PostgreSQL nor loadgen used: the kernel's network
# work, and any other process that disturbed the run.
d["other_cpu_s_whole_run"] = round(d["machine_cpu_s_whole_run"] - d["server_cpu_s_whole_run"]
                                   - (d["postgres_cpu_s_whole_run"] or 0) - d.get("loadgen_cpu_s", 0), 1)
json.dump(d, open(p, "w"), indent=2)
PY
  RESULTS+=("$out")
  RCS+=("$rc")
  echo "summary: $out  server log: $server_log" >&2
}

summarize() {
  python3 - "$@" <<'PY'
import json, statistics, sys
runs = [json.load(open(p)) for p in sys.argv[1:]]
def row(d):
    if d.get("prefill_only"):
        pre = d.get("prefill_result", {})
        return (f"{d['engine']:8} seeded {pre.get('created', 0)} tasks of {d['users']} users in {pre.get('seconds')} s "
                f"({pre.get('create_rps')} creates/s), errors {pre.get('errors_by_status')}, retries {pre.get('retries')}")
    lat = d.get("latency_ms", {})
    ol = d.get("open_loop")
    s = (f"{d['engine']:8} u{d['users']}/c{d['concurrency']} {d.get('loop','-'):6} "
         f"{d.get('rps', 0):9.1f} req/s  p50 {lat.get('p50', 0):7.2f}  p95 {lat.get('p95', 0):7.2f}  "
         f"p99 {lat.get('p99', 0):7.2f}  max {lat.get('max', 0):8.2f} ms  errors {d.get('errors', 0)}  "
         f"violations {d.get('isolation_violations', 0)}  busy_before {d['machine_busy_pct_before_run']}%  "
         f"cpu todod/pg/loadgen/other {d['server_cpu_s_whole_run']}/{d['postgres_cpu_s_whole_run']}/{d.get('loadgen_cpu_s')}/{d['other_cpu_s_whole_run']} s  "
         f"rss_peak {d['todod_rss_peak_mib']} MiB  conns {d['established_conns_peak']}  ready {d['ready_ms']} ms")
    if ol:
        s += f"  open: achieved {ol['achieved_rps']} of {ol['target_rps']}, kept_up {ol['kept_up']}, backlog_max {ol['backlog_max']}"
    return s
for i, d in enumerate(runs, 1):
    print(f"run {i}: {row(d)}")
    if d.get("errors"):
        print(f"        errors by status: {d.get('errors_by_status')}")
measured = [d for d in runs if not d.get("prefill_only")]
if len(measured) > 1:
    med = lambda f: statistics.median(f(d) for d in measured)
    print(f"median of {len(measured)}: {med(lambda d: d['rps']):.1f} req/s  p50 {med(lambda d: d['latency_ms']['p50']):.2f}  "
          f"p95 {med(lambda d: d['latency_ms']['p95']):.2f}  p99 {med(lambda d: d['latency_ms']['p99']):.2f}  "
          f"max {med(lambda d: d['latency_ms']['max']):.2f} ms  errors {sum(d['errors'] for d in measured)} in all")
PY
}

command -v python3 >/dev/null || { echo "python3 is needed for the summary" >&2; exit 1; }
command -v go >/dev/null || [ -n "${TODOD:-}" ] || { echo "Go is needed to build todod and loadgen" >&2; exit 1; }
if [ "$ENGINE" = postgres ]; then
  psql "$PG_ADMIN_URL" -w -AtqXc 'select 1' >/dev/null || { echo "cannot connect to PG_ADMIN_URL ($PG_ADMIN_URL)" >&2; exit 1; }
fi
build
RESULTS=() RCS=()
for n in $(seq 1 "$REPEAT"); do run_one "$n" "$@"; done
echo
summarize "${RESULTS[@]}"
for rc in "${RCS[@]}"; do [ "$rc" = 0 ] || exit "$rc"; done
