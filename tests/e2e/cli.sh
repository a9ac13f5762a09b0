#!/bin/bash
# tests/e2e/cli.sh -- what an operator sees: flag errors, logs, client
# errors and lookup's exit codes.
#   1. A bad flag or SRVGATE_ variable exits 2 with one line naming it,
#      before the data dir is opened (a running srvgate holds it).
#   2. --log-format logfmt and json write parseable lines with timestamps;
#      --log-file is reopened on SIGHUP (logrotate).
#   3. Client commands name the URL and the reason of a failure.
#   4. lookup tells found (0), NXDOMAIN (3), REFUSED (5) and no server (7).
. "$(dirname "$0")/../lib.sh"

for t in python3 curl; do
	command -v "$t" >/dev/null || { fail "$t is installed"; finish; exit; }
done

unset SG_HTTP_PORT SG_DNS_PORT SG_DATA
if ! start_srvgate holder --log-format logfmt --log-file "$TMP/holder.file.log"; then
	fail "srvgate starts"; tail -5 "$TMP/holder.log"; finish; exit
fi
HELD=$SG_DATA

# ======== 1. flag errors ========
# bad NAME WANT ENV... -- ARGS...: srvgate serve exits 2, one line matching WANT.
bad() {
	local name=$1 want=$2 rc out
	shift 2
	local envs=()
	while [ "$1" != -- ]; do envs+=("$1"); shift; done
	shift
	out=$(env "${envs[@]}" timeout 5 "$SRVGATE" serve --data-dir "$HELD" \
		--http-listen 127.0.0.1:1 --dns-listen 127.0.0.1:1 "$@" 2>&1)
	rc=$?
	if [ "$rc" = 2 ] && [ "$(grep -c . <<<"$out")" = 1 ] &&
		grep -Eq -- "$want" <<<"$out"; then
		pass "$name: exit 2, one line: $out"
	else
		fail "$name: want exit 2 and /$want/, got $rc: $out"
	fi
}
bad "an unknown flag" "unknown flag '--nope'" -- --nope 1
bad "a bad number" "^srvgate serve: --max-size: 'x' is not a whole number" -- --max-size x
bad "a bad variable is named as the variable" "SRVGATE_MAX_SIZE: 'y'" SRVGATE_MAX_SIZE=y --
out=$(SRVGATE_HTTP_LISTEN=nope timeout 5 "$SRVGATE" serve --data-dir "$HELD" 2>&1)
rc=$?
if [ "$rc" = 2 ] && grep -q "SRVGATE_HTTP_LISTEN: 'nope' is not HOST:PORT" <<<"$out"; then
	pass "a bad SRVGATE_HTTP_LISTEN is named so, before the data dir: $out"
else
	fail "a bad SRVGATE_HTTP_LISTEN is named so (exit $rc): $out"
fi
bad "a wildcard listener needs --public-url" "--public-url: required when" -- \
	--http-listen 0.0.0.0:8087
bad "a bad log format" "--log-format: 'xml'" -- --log-format xml
check "the data dir was not touched by them: the first srvgate still answers" \
	curl -sf -m 2 "$SG_HTTP/health"

# ======== 2. logs ========
T=$(curl -sf -m 5 "$SG_HTTP/new?size=3"); T=${T##*/}
F=$TMP/holder.file.log
check "--log-file gets the log" grep -q 'level=info msg=' "$F"
check "logfmt lines start with a timestamp" bash -c "head -1 '$F' | grep -Eq '^ts=[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z level='"
mv "$F" "$F.1"
kill -HUP "$SG_PID"
WAIT_SECS=5 wait_for test -s "$F"
check "SIGHUP reopens the log file (logrotate)" grep -q 'SIGHUP' "$F"
check "... and the old file kept its lines" grep -q 'srvgate' "$F.1"
stop_pid "$SG_PID"
unset SG_HTTP_PORT SG_DNS_PORT SG_DATA
if start_srvgate json --log-format json; then
	stop_pid "$SG_PID"
	n=$(python3 -c '
import json, sys
n = 0
for line in open(sys.argv[1]):
    line = line.strip()
    if not line.startswith("{"):
        continue
    d = json.loads(line)
    assert d["ts"] and d["level"] and d["msg"]
    n += 1
print(n)' "$TMP/json.log" 2>&1)
	if [ -n "$n" ] && [ "$n" -ge 2 ] 2>/dev/null; then
		pass "--log-format json: $n lines, each a JSON object with ts, level, msg"
	else
		fail "--log-format json lines parse ($n)"
	fi
else
	fail "srvgate starts with --log-format json"
fi

# ======== 3. client errors ========
alloc_port DEAD
out=$("$SRVGATE" new --gateway "http://127.0.0.1:$DEAD" 2>&1)
expect_match "new: names the URL and the refusal" \
	"http://127.0.0.1:$DEAD/new.*(refused|Connection refused)" "$out"
out=$("$SRVGATE" import "http://nosuch.invalid/abc" --gateway "http://127.0.0.1:$DEAD" 2>&1)
expect_match "import: names the URL and the name that does not resolve" \
	"http://nosuch.invalid/abc.*cannot resolve 'nosuch.invalid'" "$out"

# ======== 4. lookup ========
unset SG_HTTP_PORT SG_DNS_PORT SG_DATA
if start_srvgate dns; then
	T=$(curl -sf -m 5 "$SG_HTTP/new?size=1"); T=${T##*/}
	curl -sf -m 5 -o /dev/null -XPUT "$SG_HTTP/$T/m1" -d "value=m1=https://10.0.0.1:2380"
	lk() { "$SRVGATE" lookup "$@" >"$TMP/lk.out" 2>&1; echo $?; }
	expect_eq "lookup of a published token exits 0" 0 "$(lk "$T.discovery.internal" --dns "127.0.0.1:$SG_DNS_PORT")"
	check "... and prints the peer" grep -q 'https://m1\.' "$TMP/lk.out"
	expect_eq "lookup of an unknown token exits 3 (NXDOMAIN)" 3 "$(lk "nosuch.discovery.internal" --dns "127.0.0.1:$SG_DNS_PORT")"
	check "... and says NXDOMAIN" grep -q NXDOMAIN "$TMP/lk.out"
	expect_eq "lookup outside srvgate's zones exits 5 (REFUSED)" 5 "$(lk "example.com" --dns "127.0.0.1:$SG_DNS_PORT")"
	check "... and says REFUSED" grep -q REFUSED "$TMP/lk.out"
	expect_eq "lookup where nothing listens exits 7" 7 "$(lk "$T.discovery.internal" --dns "127.0.0.1:$DEAD")"
	check "... and says no server answered" grep -q 'no DNS server answered' "$TMP/lk.out"
	stop_pid "$SG_PID"
else
	fail "srvgate starts for lookup"
fi
# holder logs to --log-file: its stderr has only what a sanitizer says.
if sg_is_asan; then
	check "srvgate holder: no sanitizer report on stderr" \
		bash -c "test -f '$TMP/holder.log' && ! grep -Eq 'Sanitizer|runtime error:' '$TMP/holder.log'"
fi
check_sanitizer_logs json dns
finish
