#!/bin/bash
# fuzz_replay.sh -- every committed fuzzing input (tests/fuzz/corpus/<h>/)
# replayed through its harness built with ASan and UBSan (make
# fuzz-replay): one check per harness, which fails when the harness
# crashes, a sanitizer reports, a check of the harness fails, or it leaks.
. "$(dirname "$0")/../lib.sh"

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
harnesses=$(cd "$ROOT/tests/fuzz" && ls fuzz_*.c | sed 's/^fuzz_//; s/\.c$//')
make -C "$ROOT" --no-print-directory fuzz-replay >"$TMP/replay.out" 2>&1
rc=$?
for h in $harnesses; do
	line=$(grep -E "^(PASS|FAIL): replay fuzz_$h( |:|$)" "$TMP/replay.out")
	case "$line" in
	PASS:*) pass "fuzz_$h: corpus replays clean${line#*fuzz_$h}" ;;
	FAIL:*)
		fail "fuzz_$h: corpus replay failed${line#*fuzz_$h}"
		# the indented details that follow its line
		awk -v h="FAIL: replay fuzz_$h" 'index($0, h) == 1 { on = 1; next }
			on && /^    / { print; next } { on = 0 }' \
			"$TMP/replay.out" | head -12 ;;
	*)
		fail "fuzz_$h: not replayed (make fuzz-replay exited $rc)"
		grep -E 'error|Error' "$TMP/replay.out" | head -8 | sed 's/^/    /' ;;
	esac
done
[ "$rc" -eq 0 ] || [ "$FAILED" -gt 0 ] || fail "make fuzz-replay exited $rc"
finish
