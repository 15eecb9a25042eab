#!/bin/sh
# fuzz-ci.sh: run every fuzz target of the module briefly, one per go test
# invocation (go test -fuzz accepts only one target at a time).
#
# Targets are found by their declaration (func FuzzX(f *testing.F)) in the
# _test.go files, so a new target is fuzzed without editing this script. Each
# runs for FUZZTIME (default 20000x: 20,000 inputs, a few seconds) on top of its seed corpus (testdata/fuzz/ and
# f.Add seeds). FUZZTIME is an execution count (Nx) by default, not a
# duration: with a duration, Go's fuzz coordinator can report a spurious
# "context deadline exceeded" failure when the deadline fires while a worker is
# mid-call (go.dev/issue/75804, fixed in Go 1.27), which a count cannot do.
# A failure leaves the failing input in
# <package>/testdata/fuzz/<target>/: commit it with the fix, so that plain
# go test replays it for ever after.
#
# Usage: scripts/fuzz-ci.sh [package-dir...]   (default: every package)
set -eu

cd "$(dirname "$0")/.."
fuzztime="${FUZZTIME:-20000x}"

if [ "$#" -gt 0 ]; then
	dirs="$*"
else
	dirs=$(grep -rl --include='*_test.go' '^func Fuzz[A-Za-z0-9_]*(f \*testing\.F)' . | xargs -n1 dirname | sort -u)
fi

failed=0
count=0
for dir in $dirs; do
	targets=$(grep -h '^func Fuzz[A-Za-z0-9_]*(f \*testing\.F)' "$dir"/*_test.go | sed 's/^func \(Fuzz[A-Za-z0-9_]*\).*/\1/' | sort -u)
	for target in $targets; do
		count=$((count + 1))
		echo "== $dir $target ($fuzztime)"
		if ! go test -run='^$' -fuzz="^${target}\$" -fuzztime="$fuzztime" "./${dir#./}"; then
			echo "FAIL: $dir $target" >&2
			failed=1
		fi
	done
done

if [ "$count" -eq 0 ]; then
	echo "fuzz-ci: no fuzz targets found" >&2
	exit 1
fi
if [ "$failed" -ne 0 ]; then
	echo "fuzz-ci: a target failed; the failing input is under testdata/fuzz/" >&2
	exit 1
fi
echo "fuzz-ci: $count targets passed"
