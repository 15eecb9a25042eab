#!/usr/bin/env bash
# todod's memory with 1000 open connections: 1000 users on 1000 keep-alive
# connections, each sending about one request per second (closed loop with a
# mean think time of 1 s), for DURATION. bench/run.sh samples todod's RSS and
# the established connections every 0.5 s and prints the peaks (rss_peak,
# conns); the JSON summary also has VmHWM (todod_vmhwm_mib).
#
#   bench/rss.sh                 # SQLite
#   ENGINE=postgres bench/rss.sh
#
# Env: as bench/run.sh; ENGINE defaults to sqlite, USERS and CONCURRENCY to 1000,
#      THINK to 1s, DURATION to 30s.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ENGINE="${ENGINE:-sqlite}" USERS="${USERS:-1000}" CONCURRENCY="${CONCURRENCY:-1000}" \
  THINK="${THINK:-1s}" DURATION="${DURATION:-30s}" exec "$HERE/run.sh" "$@"
