# tests/lib.sh -- shared helpers for srvgate's shell tests (sourced).
# Each test script: . "$(dirname "$0")/../lib.sh"; ...; finish
# Prints "PASS: name" / "FAIL: name" ("SKIP: name" for a check that cannot
# run here, counted neither way), then "N passed, N failed".

SRVGATE=${SRVGATE_BIN:-$(cd "$(dirname "$0")/../.." && pwd)/build/srvgate}
PASSED=0
FAILED=0
SKIPPED=0
TMP=$(mktemp -d /tmp/srvgate-test.XXXXXX)
PIDS=""
CLEANUPS=""

pass() { PASSED=$((PASSED + 1)); echo "PASS: $*"; }
fail() { FAILED=$((FAILED + 1)); echo "FAIL: $*"; }
# skip NAME: a check that has nothing to check here; never a pass.
skip() { SKIPPED=$((SKIPPED + 1)); echo "SKIP: $*"; }

# check NAME CMD...: passes when CMD exits 0.
check() {
	name=$1; shift
	if "$@" >"$TMP/check.out" 2>&1; then pass "$name"; else
		fail "$name"; sed 's/^/    /' "$TMP/check.out" | head -20; fi
}

# expect_eq NAME WANT GOT: WANT = GOT, and not both empty (two empty
# strings are what a dead server or a missing file give on both sides).
expect_eq() {
	if [ -z "$2" ] && [ -z "$3" ]; then
		fail "$1 (both sides empty: nothing was compared)"
	elif [ "$2" = "$3" ]; then pass "$1"; else fail "$1 (want '$2', got '$3')"; fi
}

# expect_cmp NAME GOT OP WANT: GOT is a number and [ GOT OP WANT ] holds;
# an empty GOT (a dead server, a missing reading) fails.
expect_cmp() {
	if [ -n "$2" ] && test "$2" "$3" "$4" 2>/dev/null; then pass "$1 ($2 $3 $4)"; else
		fail "$1 (got '$2', want $3 $4)"; fi
}

# expect_empty NAME GOT: GOT is empty. Only for a GOT that collects the
# failures of checks that ran (each appends what went wrong); anything
# else must prove its source answered, in a non-empty expect_eq.
expect_empty() {
	if [ -z "$2" ]; then pass "$1"; else fail "$1 (want nothing, got '$2')"; fi
}

# expect_match NAME REGEX TEXT
expect_match() {
	if printf '%s' "$3" | grep -Eq -- "$2"; then pass "$1"; else
		fail "$1 (no match for /$2/ in: $(printf '%s' "$3" | head -c 400))"; fi
}

# free_port: a TCP and UDP port nobody uses now, at random from 10000 up
# to the kernel's ephemeral range (ip_local_port_range, where outgoing
# connections take their ports and would race with our listeners).
free_port() {
	local lo=32768 span
	read -r lo _ </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null
	span=$(( lo - 10000 ))
	[ "$span" -ge 1000 ] || span=20000 # an odd range: the old 10000-29999
	for _ in $(seq 1 50); do
		p=$(( (RANDOM * 32768 + RANDOM) % span + 10000 ))
		if ! ss -Htanu 2>/dev/null | awk '{print $5}' | grep -q ":$p\$"; then
			echo "$p"; return 0; fi
	done
	return 1
}

USED_PORTS=""
# alloc_port VAR: sets VAR to a free_port not handed out before in this
# test (free_port alone only knows what is listening right now).
alloc_port() {
	local p
	for _ in $(seq 1 50); do
		p=$(free_port) || return 1
		case " $USED_PORTS " in *" $p "*) continue ;; esac
		USED_PORTS="$USED_PORTS $p"
		printf -v "$1" %s "$p"
		return 0
	done
	return 1
}

# make_peer_cert DIR SAN: a throwaway CA (DIR/ca.crt) and one EC certificate
# for it (DIR/peer.crt, DIR/peer.key) with subjectAltName SAN, for etcd's
# TLS peers. Passes or fails NAME-less; returns non-zero on failure.
make_peer_cert() {
	local c=$1 san=$2
	mkdir -p "$c"
	if openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
		-keyout "$c/ca.key" -out "$c/ca.crt" -days 1 -subj /CN=srvgate-test-ca \
		>"$c/openssl.log" 2>&1 &&
		openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
			-keyout "$c/peer.key" -out "$c/peer.csr" -subj /CN=etcd-peer \
			>>"$c/openssl.log" 2>&1 &&
		printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth,clientAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\nbasicConstraints=CA:FALSE\n' \
			"$san" >"$c/peer.ext" &&
		openssl x509 -req -in "$c/peer.csr" -CA "$c/ca.crt" -CAkey "$c/ca.key" \
			-CAcreateserial -out "$c/peer.crt" -days 1 -extfile "$c/peer.ext" \
			>>"$c/openssl.log" 2>&1 &&
		openssl verify -CAfile "$c/ca.crt" "$c/peer.crt" >>"$c/openssl.log" 2>&1; then
		return 0
	fi
	sed 's/^/    /' "$c/openssl.log" | tail -10
	return 1
}

# sg_is_asan [BIN]: BIN (default $SRVGATE) is built with AddressSanitizer
# (it imports or defines __asan_init).
sg_is_asan() {
	local b=${1:-$SRVGATE}
	[ -f "$b" ] || return 1
	if command -v nm >/dev/null 2>&1; then
		{ nm -D "$b"; nm "$b"; } 2>/dev/null | grep -qw __asan_init
	else
		grep -aq __asan_init "$b"
	fi
}

# check_sanitizer_logs NAME...: one check per srvgate log $TMP/NAME.log
# that AddressSanitizer and UBSan reported nothing. A missing or empty log
# fails (a wrong NAME, or the server never ran). With a binary that is not
# a sanitizer build there is nothing to look for: SKIP, never a pass; and
# SANITIZE=1 (make test SANITIZE=1) with such a binary fails.
check_sanitizer_logs() {
	local n log asan=0
	sg_is_asan && asan=1
	if [ "${SANITIZE:-0}" = 1 ] && [ "$asan" = 0 ]; then
		fail "SANITIZE=1 but $SRVGATE is not an AddressSanitizer build"
	fi
	for n in "$@"; do
		log=$TMP/$n.log
		if [ ! -s "$log" ]; then
			fail "srvgate $n: no sanitizer report (log $log is missing or empty)"
		elif [ "$asan" = 0 ]; then
			skip "srvgate $n: no sanitizer report (not a sanitizer build)"
		elif grep -Eq 'AddressSanitizer|LeakSanitizer|runtime error:|UndefinedBehaviorSanitizer' "$log"; then
			fail "srvgate $n: sanitizer report"
			grep -E -A12 'Sanitizer|runtime error:' "$log" | head -40 | sed 's/^/    /'
		else
			pass "srvgate $n: no sanitizer report (ASan build, $(wc -l <"$log") log lines)"
		fi
	done
}

# Every srvgate in the tests frees all it holds at exit, so that valgrind
# and the sanitizers check the freeing code (in production the registry and
# the DNS data are left to the exit: fast shutdown; tests/e2e/exit.sh).
export SRVGATE_FREE_AT_EXIT=1

# Sanitizer reports go to stderr, which start_srvgate sends to the log
# that check_sanitizer_logs reads (whatever log_path the caller had).
export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}log_path=stderr
export UBSAN_OPTIONS=${UBSAN_OPTIONS:+$UBSAN_OPTIONS:}print_stacktrace=1:log_path=stderr

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
# srvgate. SG_PRELOAD, when set, is srvgate's LD_PRELOAD (a shim).
# SG_ADMIN, when set, is its --admin-token (DELETE and /_admin/ need one;
# send it with -H "$AUTH", see admin_header).
# Returns once /health answers (WAIT_SECS, default 10; each probe gets
# SG_READY_SECS, default 1), non-zero if srvgate exits or never answers.
# With --tls-cert among the flags SG_HTTP is https://, and the probe does
# not check the certificate (-k); SG_PROBE_OPTS adds curl options to it
# (a client certificate, say).
# When a port it picked itself was taken meanwhile by some other process
# ("Address already in use"), it picks another (3 tries).
start_srvgate() {
	local tries=0 mine_http mine_dns from end scheme=http
	sg_name=$1; shift
	case " $* " in *" --tls-cert "*) scheme=https ;; esac
	while :; do
		mine_http="" mine_dns=""
		[ -n "${SG_HTTP_PORT:-}" ] || { alloc_port SG_HTTP_PORT || return 1; mine_http=1; }
		[ -n "${SG_DNS_PORT:-}" ] || { alloc_port SG_DNS_PORT || return 1; mine_dns=1; }
		SG_DATA=${SG_DATA:-$TMP/$sg_name.data}
		SG_HTTP=$scheme://127.0.0.1:$SG_HTTP_PORT
		from=$(( $(cat "$TMP/$sg_name.log" 2>/dev/null | wc -l) + 1 ))
		if [ -n "${SG_PRELOAD:-}" ]; then
			# ASan wants to come first among the libraries; a shim may go first.
			echo "=== $(date +%T) LD_PRELOAD=$SG_PRELOAD" >>"$TMP/$sg_name.log"
			env LD_PRELOAD="$SG_PRELOAD" \
				ASAN_OPTIONS="$ASAN_OPTIONS:verify_asan_link_order=0" \
				"$SRVGATE" serve --http-listen 127.0.0.1:$SG_HTTP_PORT \
				--dns-listen 127.0.0.1:$SG_DNS_PORT --data-dir "$SG_DATA" \
				--zones-dir "${SG_ZONES:-$TMP/zones-none}" \
				${SG_ADMIN:+--admin-token "$SG_ADMIN"} "$@" \
				>>"$TMP/$sg_name.log" 2>&1 &
		else
			"$SRVGATE" serve --http-listen 127.0.0.1:$SG_HTTP_PORT \
				--dns-listen 127.0.0.1:$SG_DNS_PORT --data-dir "$SG_DATA" \
				--zones-dir "${SG_ZONES:-$TMP/zones-none}" \
				${SG_ADMIN:+--admin-token "$SG_ADMIN"} "$@" \
				>>"$TMP/$sg_name.log" 2>&1 &
		fi
		SG_PID=$!
		PIDS="$PIDS $SG_PID"
		end=$(( $(date +%s) + ${WAIT_SECS:-10} ))
		while kill -0 "$SG_PID" 2>/dev/null; do
			curl -sfk ${SG_PROBE_OPTS:-} -m "${SG_READY_SECS:-1}" -o /dev/null \
				"$SG_HTTP/health" && return 0
			[ "$(date +%s)" -lt "$end" ] || return 1
			sleep 0.1
		done
		tries=$((tries + 1))
		if [ -n "$mine_http$mine_dns" ] && [ "$tries" -lt 3 ] &&
			tail -n +"$from" "$TMP/$sg_name.log" | grep -q 'Address already in use'; then
			echo "    (srvgate $sg_name: a port was taken meanwhile; other ports)"
			wait "$SG_PID" 2>/dev/null
			[ -z "$mine_http" ] || unset SG_HTTP_PORT
			[ -z "$mine_dns" ] || unset SG_DNS_PORT
			continue
		fi
		return 1
	done
}

# AUTH: the header that carries SG_ADMIN, for curl -H "$AUTH".
AUTH="Authorization: Bearer ${SG_ADMIN:-}"
set_admin() { SG_ADMIN=$1; AUTH="Authorization: Bearer $1"; }

# The fsync-delaying shim (tests/shim/slowsync.c), built by make next to
# the binary; make test exports SLOWSYNC_SO.
SLOWSYNC_SO=${SLOWSYNC_SO:-$(dirname "$SRVGATE")/slowsync.so}

# start_srvgate_slowsync NAME [flags...]: start_srvgate with the slowsync
# shim preloaded: every fsync, fdatasync, msync and sync_file_range of a
# file whose path contains SLOWSYNC_MATCH (default data.mdb; the ack waits
# for data.wal's sync, checkpoints for data.mdb's) takes
# SLOWSYNC_MS (default 3000) ms longer. Set those (and SLOWSYNC_LOG=1 to
# have each delay logged) in the environment of the call. The readiness
# probe (/health may commit) waits for a slow sync. Fails (returns 1, with
# a FAIL) when the shim is not built.
start_srvgate_slowsync() {
	local secs=$(( ${SLOWSYNC_MS:-3000} / 1000 + 2 ))
	if [ ! -f "$SLOWSYNC_SO" ]; then
		fail "$1: the slowsync shim is built ($SLOWSYNC_SO; make \$(BUILD)/slowsync.so)"
		return 1
	fi
	SG_PRELOAD=$SLOWSYNC_SO SG_READY_SECS=$secs WAIT_SECS=$((10 + 2 * secs)) \
		start_srvgate "$@"
}

# wait_secs SECS CMD...: wait_for with a limit of SECS seconds.
wait_secs() {
	local secs=$1
	shift
	WAIT_SECS=$secs wait_for "$@"
}

# stop_pid PID [SIGNAL]: signals and waits (bounded) for the process.
stop_pid() {
	kill -"${2:-TERM}" "$1" 2>/dev/null || return 0
	for _ in $(seq 1 100); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
	kill -KILL "$1" 2>/dev/null
	wait "$1" 2>/dev/null
}

# term_wait PID: SIGTERM, up to 30 s for PID to exit, then its exit status
# (stop_pid returns 0 for a PID already gone: not for checking the status).
term_wait() {
	kill -TERM "$1"
	for _ in $(seq 1 300); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
	wait "$1"
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
	[ "$SKIPPED" -eq 0 ] || echo "($SKIPPED skipped: not counted)"
	echo "$PASSED passed, $FAILED failed"
	[ "$FAILED" -eq 0 ]
}

# etcd_test_env TOOL...: for a test that runs etcd or etcdctl: no ETCD_*
# variable leaks in from the caller (etcd reads them), etcdctl speaks v3,
# and every TOOL is installed -- else one failure and the test ends.
etcd_test_env() {
	local v t
	for v in $(env | sed -n 's/^\(ETCD[A-Z0-9_]*\)=.*/\1/p'); do unset "$v"; done
	export ETCDCTL_API=3
	for t in "$@"; do
		command -v "$t" >/dev/null && continue
		fail "$* are installed (scripts/install-deps test)"
		finish; exit
	done
}

# need_valgrind: for a test that runs srvgate under valgrind: valgrind is
# installed (else one failure and the test ends), and SRVGATE is a plain
# build -- valgrind cannot run one with AddressSanitizer, so under
# `make test SANITIZE=1` the plain one beside it is built and used.
need_valgrind() {
	local root
	if ! command -v valgrind >/dev/null; then
		fail "valgrind is not installed (scripts/install-deps test)"
		finish
		exit 1
	fi
	if ldd "$SRVGATE" 2>/dev/null | grep -q libasan; then
		root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
		make -s -C "$root" SANITIZE=0 all >/dev/null 2>&1
		SRVGATE=$root/build/srvgate
	fi
}
