#!/usr/bin/env bash
# todod against the FastAPI reference of the original plan and against the
# raw-SQL limit of this machine, in one sitting. Both come from the shared
# benchmark harness (BENCH_SHARED, default /work/shared/bench), which this
# repository does not carry: run-fastapi-vs.sh with COMPARE=1 runs the
# reference, then todod, with identical loadgen settings; limit/run.sh runs the
# same statements through pgbench with prepared statements, straight at
# PostgreSQL. Each round is compare then limit; REPEAT rounds, then medians.
#
#   bench/compare.sh                         # 3 rounds, 200 users / 200 clients
#   REPEAT=1 USERS=1000 CONCURRENCY=1000 bench/compare.sh
#
# Env: BENCH_SHARED (/work/shared/bench) REPEAT (3) USERS (200) CONCURRENCY (200)
#      LIMIT_CLIENTS (8) LIMIT_SECONDS (15) TODOD (unset: built from this checkout)
#      PORT (8000) PG_ADMIN_URL DB_NAME (todod_bench) PG_PARAMS BENCH_OUT (/tmp/todod-bench)
# Extra arguments go to loadgen, for both servers. READY_PATH stays unset: the
# reference has no /readyz, and todod listens only once its database is
# migrated, so any HTTP answer means ready.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
export PATH="$PATH:/usr/local/go/bin"
SHARED="${BENCH_SHARED:-/work/shared/bench}"
[ -x "$SHARED/run-fastapi-vs.sh" ] && [ -x "$SHARED/limit/run.sh" ] || {
  echo "the shared harness is not at $SHARED (set BENCH_SHARED); bench/run.sh measures todod alone" >&2; exit 2; }
REPEAT="${REPEAT:-3}"
PORT="${PORT:-8000}"
PG_ADMIN_URL="${PG_ADMIN_URL:-postgresql://postgres@127.0.0.1:5432/postgres}"
DB_NAME="${DB_NAME:-todod_bench}"
OUTDIR="${BENCH_OUT:-/tmp/todod-bench}"
mkdir -p "$OUTDIR/bin" "$OUTDIR/results"
if [ -z "${TODOD:-}" ]; then
  (cd "$ROOT" && go build -trimpath -o "$OUTDIR/bin/todod" ./cmd/todod)
  TODOD="$OUTDIR/bin/todod"
fi
export BENCH_OUT="$OUTDIR" USERS="${USERS:-200}" CONCURRENCY="${CONCURRENCY:-200}"
log="$OUTDIR/results/$(date +%Y%m%d-%H%M%S)-compare-rounds.txt"

for n in $(seq 1 "$REPEAT"); do
  echo "== round $n of $REPEAT: FastAPI reference, then todod" >&2
  set +e
  COMPARE=1 BASE="http://127.0.0.1:$PORT" \
    SERVER_CMD="env RATE_LIMIT=0 LOG_LEVEL=warn ADDR=127.0.0.1:$PORT $TODOD serve" \
    SERVER_DATABASE_URL="${PG_ADMIN_URL%/*}/$DB_NAME${PG_PARAMS:+?$PG_PARAMS}" \
    PG_STATS_DSN="${PG_ADMIN_URL%/*}/$DB_NAME" \
    RESET_CMD="PGOPTIONS='-c client_min_messages=warning' psql '$PG_ADMIN_URL' -qXc 'drop database if exists $DB_NAME with (force)' -c 'create database $DB_NAME'" \
    "$SHARED/run-fastapi-vs.sh" "$@" >"$OUTDIR/compare-round.out"
  rc=$?
  set -e
  cat "$OUTDIR/compare-round.out"
  [ "$rc" = 0 ] || { echo "run-fastapi-vs.sh exited $rc" >&2; exit "$rc"; }
  ratio="$(awk -F= '/^ratio=/{print $2}' "$OUTDIR/compare-round.out" | tail -1)"
  echo "== round $n: raw-SQL limit (pgbench, ${LIMIT_CLIENTS:-8} clients, ${LIMIT_SECONDS:-15} s)" >&2
  tps="$("$SHARED/limit/run.sh" "${LIMIT_CLIENTS:-8}" "${LIMIT_SECONDS:-15}" | awk -F= '/^tps=/{print $2}')"
  cmp="$(ls -t "$OUTDIR"/results/*-compare-load-u"$USERS"-c"$CONCURRENCY".json | head -1)"
  echo "{\"round\": $n, \"compare\": \"$cmp\", \"limit_tps\": $tps}" >>"$log"
done

python3 - "$log" <<'PY'
import json, statistics, sys
rows = []
for line in open(sys.argv[1]):
    r = json.loads(line)
    c = json.load(open(r["compare"]))
    a, b = json.load(open(c["a"])), json.load(open(c["b"]))
    rows.append(dict(fa=a["rps"], td=b["rps"], ratio=b["rps"] / a["rps"], tps=r["limit_tps"],
                     share=b["rps"] / r["limit_tps"], fa95=a["latency_ms"]["p95"], fa99=a["latency_ms"]["p99"],
                     td95=b["latency_ms"]["p95"], td99=b["latency_ms"]["p99"], err=a["errors"] + b["errors"],
                     busy=f"{a.get('machine_busy_pct_before_run')}%/{b.get('machine_busy_pct_before_run')}%"))
print()
print(f"{'round':5} {'fastapi req/s':>13} {'todod req/s':>11} {'todod/fastapi':>13} {'limit tps':>9} {'todod/limit':>11} "
      f"{'fastapi p95/p99 ms':>18} {'todod p95/p99 ms':>16} {'errors':>6} {'busy before fa/td':>17}")
for i, r in enumerate(rows, 1):
    print(f"{i:5} {r['fa']:13.1f} {r['td']:11.1f} {r['ratio']:12.1f}x {r['tps']:9.0f} {r['share']:10.0%} "
          f"{r['fa95']:8.0f}/{r['fa99']:<9.0f} {r['td95']:7.1f}/{r['td99']:<8.1f} {r['err']:6} {r['busy']:>17}")
if len(rows) > 1:
    m = lambda k: statistics.median(r[k] for r in rows)
    print(f"{'med':5} {m('fa'):13.1f} {m('td'):11.1f} {m('ratio'):12.1f}x {m('tps'):9.0f} {m('share'):10.0%} "
          f"{m('fa95'):8.0f}/{m('fa99'):<9.0f} {m('td95'):7.1f}/{m('td99'):<8.1f}")
print(f"rounds: {sys.argv[1]}")
PY
