#!/usr/bin/env bash
# Profile todod under the mixed workload: bench/run.sh with PPROF_ADDR set, a
# CPU profile and an allocation profile taken inside the measured window, and
# the top consumers of each printed.
#
#   bench/profile.sh                       # PostgreSQL, 200 users/200 clients, 20 s profile
#   ENGINE=sqlite PROFILE_SECONDS=10 bench/profile.sh
#
# Env: everything bench/run.sh reads, plus PROFILE_SECONDS (20), PPROF_PORT (6060),
#      TOP (25). Profiles go to $BENCH_OUT/profiles/<time>-{cpu,allocs}.pprof;
#      open them with `go tool pprof -http=127.0.0.1:8080 <binary> <profile>`.
# The profile starts after the warm-up and seeding, so it sees the steady state.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
export PATH="$PATH:/usr/local/go/bin"
SECS="${PROFILE_SECONDS:-20}"
PPROF_PORT="${PPROF_PORT:-6060}"
TOP="${TOP:-25}"
OUTDIR="${BENCH_OUT:-/tmp/todod-bench}"
mkdir -p "$OUTDIR/profiles"
stamp="$(date +%Y%m%d-%H%M%S)"
cpu="$OUTDIR/profiles/$stamp-cpu.pprof"
allocs="$OUTDIR/profiles/$stamp-allocs.pprof"
pp="http://127.0.0.1:$PPROF_PORT/debug/pprof"

export DURATION="${DURATION:-$(( SECS + 10 ))s}"
export SERVER_ENV="${SERVER_ENV:-} PPROF_ADDR=127.0.0.1:$PPROF_PORT"
"$HERE/run.sh" "$@" &
RUN_PID=$!
trap 'kill "$RUN_PID" 2>/dev/null || true' EXIT

# Wait for the measured phase: loadgen logs "warm-up … then measuring" once
# seeding is over; the warm-up itself is skipped by waiting WARMUP_S more.
log_dir="$OUTDIR/logs"
for _ in $(seq 1 1200); do
  kill -0 "$RUN_PID" 2>/dev/null || { echo "bench/run.sh ended before the profile could start" >&2; exit 1; }
  curl -sf -o /dev/null "$pp/" 2>/dev/null && break
  sleep 0.1
done
# loadgen's stdout goes nowhere; its seeding ends within the warm-up window for
# the default sizes, so wait for the warm-up plus a margin.
sleep "${PROFILE_DELAY:-8}"
echo "== CPU profile for $SECS s -> $cpu" >&2
curl -sf -o "$allocs.before" "$pp/allocs"
curl -sf -o "$cpu" "$pp/profile?seconds=$SECS"
curl -sf -o "$allocs" "$pp/allocs"
wait "$RUN_PID" || true
trap - EXIT

bin="${TODOD:-$OUTDIR/bin/todod}"
echo
echo "== CPU: top $TOP by cumulative time"
go tool pprof -top -cum -nodecount="$TOP" "$bin" "$cpu" 2>/dev/null | tail -n +4 | head -$(( TOP + 3 ))
echo
echo "== CPU: top $TOP by own time"
go tool pprof -top -nodecount="$TOP" "$bin" "$cpu" 2>/dev/null | tail -n +6 | head -$(( TOP + 1 ))
echo
echo "== allocations during the profile: top $TOP by bytes (alloc_space)"
go tool pprof -top -sample_index=alloc_space -base "$allocs.before" -nodecount="$TOP" "$bin" "$allocs" 2>/dev/null | tail -n +5 | head -$(( TOP + 2 ))
echo
echo "== allocations during the profile: top $TOP by count (alloc_objects)"
go tool pprof -top -sample_index=alloc_objects -base "$allocs.before" -nodecount="$TOP" "$bin" "$allocs" 2>/dev/null | tail -n +5 | head -$(( TOP + 2 ))
echo
echo "profiles: $cpu $allocs (base $allocs.before)"
