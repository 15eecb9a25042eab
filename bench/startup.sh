#!/usr/bin/env bash
# Start-to-ready time of todod: from exec to the first 200 from /readyz, polled
# every millisecond, on a fresh SQLite file (first start: the file is created
# and migrated) and on the same file again (a restart), RUNS times each.
#
#   bench/startup.sh                 # SQLite, 10 runs
#   ENGINE=postgres bench/startup.sh # a fresh PostgreSQL database, then restarts
#
# Env: RUNS (10) ENGINE (sqlite) PORT (8000) TODOD (binary; unset: built from this
#      checkout) PG_ADMIN_URL DB_NAME (todod_startup) BENCH_OUT (/tmp/todod-bench)
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
export PATH="$PATH:/usr/local/go/bin"
OUTDIR="${BENCH_OUT:-/tmp/todod-bench}"
mkdir -p "$OUTDIR/bin"
if [ -z "${TODOD:-}" ]; then
  (cd "$ROOT" && go build -trimpath -o "$OUTDIR/bin/todod" ./cmd/todod)
  TODOD="$OUTDIR/bin/todod"
fi
export TODOD RUNS="${RUNS:-10}" ENGINE="${ENGINE:-sqlite}" PORT="${PORT:-8000}" OUTDIR
export PG_ADMIN_URL="${PG_ADMIN_URL:-postgresql://postgres@127.0.0.1:5432/postgres}" DB_NAME="${DB_NAME:-todod_startup}"

python3 - <<'PY'
import http.client, os, statistics, subprocess, time

runs, engine, port, outdir = int(os.environ["RUNS"]), os.environ["ENGINE"], int(os.environ["PORT"]), os.environ["OUTDIR"]
db_file = os.path.join(outdir, "todod-startup.db")
admin = os.environ["PG_ADMIN_URL"]
db_url = admin.rsplit("/", 1)[0] + "/" + os.environ["DB_NAME"] if engine == "postgres" else "file:" + db_file

def fresh():
    if engine == "postgres":
        subprocess.run(["psql", admin, "-w", "-qX", "-v", "ON_ERROR_STOP=1",
                        "-c", f"drop database if exists {os.environ['DB_NAME']} with (force)",
                        "-c", f"create database {os.environ['DB_NAME']}"],
                       check=True, stdout=subprocess.DEVNULL, env={**os.environ, "PGOPTIONS": "-c client_min_messages=warning"})
    else:
        for suffix in ("", "-wal", "-shm"):
            try:
                os.remove(db_file + suffix)
            except FileNotFoundError:
                pass

def ready():
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
        c.request("GET", "/readyz")
        ok = c.getresponse().status == 200
        c.close()
        return ok
    except OSError:
        return False

def start_to_ready():
    env = {**os.environ, "DATABASE_URL": db_url, "ADDR": f"127.0.0.1:{port}", "LOG_LEVEL": "warn",
           "BETTER_AUTH_SECRET": "bench-secret-please-change-0123456789abcdef"}
    t0 = time.monotonic()
    p = subprocess.Popen([os.environ["TODOD"], "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while not ready():
            if p.poll() is not None:
                raise SystemExit(f"todod exited with {p.returncode}")
            if time.monotonic() - t0 > 30:
                raise SystemExit("todod not ready after 30 s")
            time.sleep(0.001)
        return (time.monotonic() - t0) * 1000
    finally:
        p.terminate()
        p.wait(timeout=30)

first, again = [], []
for _ in range(runs):
    fresh()
    first.append(start_to_ready())
    again.append(start_to_ready())
for name, xs in (("fresh database (create + migrate)", first), ("restart on the same database", again)):
    print(f"{engine} {name}: median {statistics.median(xs):.1f} ms, min {min(xs):.1f}, max {max(xs):.1f} "
          f"({len(xs)} runs: {', '.join(f'{x:.0f}' for x in xs)})")
PY
