#!/bin/sh
# replay.sh BINDIR HARNESS... -- runs every file of tests/fuzz/corpus/<h>/
# through BINDIR/fuzz_<h> (built by `make fuzz-replay`: ASan, UBSan and the
# standalone driver), one check per harness, and ends with
# "N passed, N failed". A harness fails when it crashes, a sanitizer
# reports, LeakSanitizer finds a leak at exit, or it has no corpus.
# Extra inputs (say, tests/fuzz/crashes/<h>/) can be added with
# FUZZ_REPLAY_EXTRA=DIR: DIR/<h>/ is replayed too when it exists.
cd "$(dirname "$0")/../.." || exit 1
bindir=$1
shift
passed=0
failed=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
for h in "$@"; do
	bin=$bindir/fuzz_$h
	corpus=tests/fuzz/corpus/$h
	extra=""
	if [ -n "${FUZZ_REPLAY_EXTRA:-}" ] && [ -d "$FUZZ_REPLAY_EXTRA/$h" ]; then
		extra=$FUZZ_REPLAY_EXTRA/$h
	fi
	n=$(find "$corpus" $extra -type f ! -name '.*' 2>/dev/null | wc -l)
	if [ ! -x "$bin" ]; then
		echo "FAIL: replay fuzz_$h: $bin was not built"
		failed=$((failed + 1))
	elif [ "$n" -eq 0 ]; then
		echo "FAIL: replay fuzz_$h: no inputs in $corpus"
		failed=$((failed + 1))
	elif timeout -k 5 300 "$bin" "$corpus" $extra >"$log" 2>&1; then
		echo "PASS: replay fuzz_$h ($n inputs)"
		passed=$((passed + 1))
	else
		echo "FAIL: replay fuzz_$h (exit $?, $n inputs)"
		grep -E 'replay: died|ERROR: |SUMMARY: |runtime error|fuzz check failed' \
			"$log" | head -8 | sed 's/^/    /'
		echo "    (full output: $bin $corpus $extra)"
		failed=$((failed + 1))
	fi
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
