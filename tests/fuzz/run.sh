#!/bin/sh
# run.sh BINDIR SECS HARNESS... -- runs each libFuzzer harness
# BINDIR/fuzz_<h> for SECS seconds on tests/fuzz/corpus/<h>/ (`make fuzz`).
# New inputs go to build-fuzz/corpus/<h>/ and crashes to
# build-fuzz/crashes/<h>/, never into the tree; copy a reproducer to
# tests/fuzz/crashes/<h>/ to keep it. Prints, per harness, executions,
# coverage (cov, ft) and corpus size; exits 1 when any harness crashed.
cd "$(dirname "$0")/../.." || exit 1
bindir=$1
secs=$2
shift 2
crashed=""
for h in "$@"; do
	work=build-fuzz/corpus/$h
	arts=build-fuzz/crashes/$h
	log=build-fuzz/fuzz_$h.log
	dict=""
	[ -f "tests/fuzz/$h.dict" ] && dict="-dict=tests/fuzz/$h.dict"
	mkdir -p "$work" "$arts"
	echo "=== fuzz_$h: ${secs}s (log: $log)"
	timeout -k 10 $((secs + 120)) "$bindir/fuzz_$h" \
		-max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
		-print_final_stats=1 -artifact_prefix="$arts/" $dict \
		"$work" "tests/fuzz/corpus/$h" >"$log" 2>&1
	rc=$?
	last=$(grep -E '^#[0-9]+' "$log" | tail -1)
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
	echo "fuzz_$h: ${execs:-?} execs; $(printf '%s' "$last" |
		grep -Eo 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+/[^ ]+')"
	if [ "$rc" -ne 0 ]; then
		crashed="$crashed fuzz_$h"
		echo "fuzz_$h: exit $rc"
		grep -E 'ERROR: |SUMMARY: |runtime error|fuzz check failed|Test unit written' \
			"$log" | head -8 | sed 's/^/    /'
	fi
done
if [ -n "$crashed" ]; then
	echo "crashed:$crashed (reproducers in build-fuzz/crashes/)"
	exit 1
fi
