# tests/lib.sh -- shared helpers for srvgate's shell tests (sourced).
# Each test script: . "$(dirname "$0")/../lib.sh"; ...; finish
# Prints "PASS: name" / "FAIL: name", then "N passed, N failed".

SRVGATE=${SRVGATE_BIN:-$(cd "$(dirname "$0")/../.." && pwd)/build/srvgate}
PASSED=0
FAILED=0
TMP=$(mktemp -d /tmp/srvgate-test.XXXXXX)
PIDS=""
CLEANUPS=""

pass() { PASSED=$((PASSED + 1)); echo "PASS: $*"; }
fail() { FAILED=$((FAILED + 1)); echo "FAIL: $*"; }

# check NAME CMD...: passes when CMD exits 0.
check() {
	name=$1; shift
	if "$@" >"$TMP/check.out" 2>&1; then pass "$name"; else
		fail "$name"; sed 's/^/    /' "$TMP/check.out" | head -20; fi
}

# expect_eq NAME WANT GOT
expect_eq() {
	if [ "$2" = "$3" ]; then pass "$1"; else fail "$1 (want '$2', got '$3')"; fi
}

# expect_match NAME REGEX TEXT
expect_match() {
	if printf '%s' "$3" | grep -Eq -- "$2"; then pass "$1"; else
		fail "$1 (no match for /$2/ in: $(printf '%s' "$3" | head -c 400))"; fi
}

# free_port: a TCP and UDP port nobody listens on, from a high random range.
free_port() {
	for _ in $(seq 1 50); do
		p=$(( (RANDOM % 20000) + 30000 ))
		if ! ss -Htanu 2>/dev/null | awk '{print $5}' | grep -q ":$p\$"; then
			echo "$p"; return 0; fi
	done
	return 1
}

# wait_for CMD...: retries CMD until it succeeds, for at most WAIT_SECS
# (default 10) seconds of wall-clock time, however long each try takes.
wait_for() {
	wf_end=$(( $(date +%s) + ${WAIT_SECS:-10} ))
	while :; do
		"$@" >/dev/null 2>&1 && return 0
		[ "$(date +%s)" -lt "$wf_end" ] || return 1
		sleep 0.1
	done
}

# start_srvgate NAME [flags...]: starts srvgate on free ports; sets
# SG_HTTP (base URL), SG_DNS_PORT, SG_PID, SG_DATA (data dir).
# SG_HTTP_PORT, SG_DNS_PORT and SG_DATA stay set, so calling it again
# restarts on the same ports and data; unset them for a second, separate
# srvgate.
start_srvgate() {
	sg_name=$1; shift
	SG_HTTP_PORT=${SG_HTTP_PORT:-$(free_port)}
	SG_DNS_PORT=${SG_DNS_PORT:-$(free_port)}
	SG_DATA=${SG_DATA:-$TMP/$sg_name.data}
	SG_HTTP=http://127.0.0.1:$SG_HTTP_PORT
	"$SRVGATE" serve --http-listen 127.0.0.1:$SG_HTTP_PORT \
		--dns-listen 127.0.0.1:$SG_DNS_PORT --data-dir "$SG_DATA" \
		--zones-dir "${SG_ZONES:-$TMP/zones-none}" "$@" \
		>>"$TMP/$sg_name.log" 2>&1 &
	SG_PID=$!
	PIDS="$PIDS $SG_PID"
	wait_for curl -sf -m 1 "$SG_HTTP/health"
}

# stop_pid PID [SIGNAL]: signals and waits (bounded) for the process.
stop_pid() {
	kill -"${2:-TERM}" "$1" 2>/dev/null || return 0
	for _ in $(seq 1 100); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
	kill -KILL "$1" 2>/dev/null
	wait "$1" 2>/dev/null
}

# on_exit CMD: runs CMD at exit (network namespaces, etc.).
on_exit() { CLEANUPS="$CLEANUPS
$*"; }

cleanup() {
	for p in $PIDS; do kill -KILL "$p" 2>/dev/null; done
	printf '%s\n' "$CLEANUPS" | while read -r c; do [ -n "$c" ] && eval "$c" >/dev/null 2>&1; done
	[ -n "${KEEP_TMP:-}" ] || rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

finish() {
	echo "$PASSED passed, $FAILED failed"
	[ "$FAILED" -eq 0 ]
}
