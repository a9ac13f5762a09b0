#!/bin/bash
# tests/e2e/ops_logs.sh -- what an operator reads: the state-change log,
# the access log, flag errors, the start and transfer lines, build info.
#   1. A token made, a registration (v2 and gRPC), an import (and its
#      repeat), a sync from a real etcd 3.4, an alias and a DELETE each
#      write exactly one state-change line with the client address; the
#      admin token appears in no log.
#   2. The access log has one line per request (N requests, N lines), also
#      for requests refused by the rate limit, the per-address connection
#      limit and evhttp itself (a malformed request); JSON lines parse.
#   3. SIGHUP reopens the log and the access log (logrotate's mv, HUP).
#   4. Flag errors (--tsig-key, --allow-transfer, --notify, --tls-cert,
#      --users-file, --cookie-secret-file, SRVGATE_ variables) exit 2 with one line naming the flag, while a
#      running srvgate holds the data dir; sync names its wrong flag.
#   5. Start line: relative dirs as absolute paths, every DNS listener;
#      transfer lines name the client, a key-only rule's refusal says a
#      key is wanted; sync --interval lines carry timestamps.
#   6. /metrics has srvgate_build_info with `srvgate version`'s commit.
# Needs etcd 3.4, etcdctl, dig, curl, python3. It never skips.
. "$(dirname "$0")/../lib.sh"

unset SRVGATE_GATEWAY SRVGATE_ADMIN_TOKEN SG_HTTP_PORT SG_DNS_PORT SG_DATA
etcd_test_env etcd etcdctl dig curl python3
# A copy: others may rebuild build/srvgate (another commit) meanwhile.
cp "$SRVGATE" "$TMP/srvgate" && SRVGATE=$TMP/srvgate
set_admin ops-admin-secret-77
KEY=k1:hmac-sha256:$(head -c 32 /dev/urandom | base64)

# ---- a real etcd 3.4: the import source (v2 API) and the sync source ----
alloc_port ECP && alloc_port EPP || { fail "setup: free ports"; finish; exit 1; }
E=http://127.0.0.1:$ECP
etcd --name src --data-dir "$TMP/etcd" --enable-v2 \
	--listen-client-urls "$E" --advertise-client-urls "$E" \
	--listen-peer-urls "http://127.0.0.1:$EPP" \
	--initial-advertise-peer-urls "http://127.0.0.1:$EPP" \
	--initial-cluster "src=http://127.0.0.1:$EPP" >"$TMP/etcd.log" 2>&1 &
PIDS="$PIDS $!"
if ! wait_secs 30 curl -sf -m 1 "$E/v2/keys/"; then
	fail "setup: etcd 3.4 answers within 30s"; tail -5 "$TMP/etcd.log"; finish; exit 1
fi

alloc_port GRPC && alloc_port NPORT || { fail "setup: ports"; finish; exit 1; }
# a secondary that acknowledges every NOTIFY (for 60 s at most)
python3 - "$NPORT" <<'EOF' &
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.settimeout(1)
end = time.time() + 60
while time.time() < end:
    try:
        m, peer = s.recvfrom(512)
    except socket.timeout:
        continue
    # the header with QR set, the question: NOERROR
    s.sendto(m[:2] + bytes([m[2] | 0x80, 0]) + m[4:12] + m[12:m.index(0, 12) + 5], peer)
EOF
PIDS="$PIDS $!"
LOG=$TMP/ops.file.log ACC=$TMP/ops.access.log
if ! start_srvgate ops --log-format logfmt --log-file "$LOG" --access-log "$ACC" \
	--grpc-listen "127.0.0.1:$GRPC" --tsig-key "$KEY" \
	--allow-transfer 127.0.0.1/32 --allow-transfer 127.0.0.2/32@k1 \
	--notify "127.0.0.1:$NPORT" --log-level debug; then
	fail "srvgate starts"; tail -5 "$TMP/ops.log"; finish; exit 1
fi
GW=$SG_HTTP HELD=$SG_DATA OPS_PID=$SG_PID OPS_DNS=$SG_DNS_PORT

# changes EVENT TOKEN: the state-change lines of that event and token.
changes() { grep -E "event=$1 token=$2( |\$)" "$LOG"; }
# one_change NAME EVENT TOKEN [MORE]: exactly one such line, with the client
# address and result=ok (MORE: a regex the line must match too).
one_change() {
	local lines
	lines=$(changes "$2" "$3" | grep -E -- "${4:-.}")
	if [ "$(grep -c . <<<"$lines")" = 1 ] &&
		grep -Eq "client=127\.0\.0\.1 result=(ok|\"ok)" <<<"$lines" &&
		grep -Eq -- "${4:-.}" <<<"$lines"; then
		pass "$1: one line: ${lines#*level=info }"
	else
		fail "$1: want one event=$2 line for $3 with client and result=ok, got: $lines"
	fi
}

# ======== 1. state changes ========
T=$(curl -sf -m 5 "$GW/new?size=3"); T=${T##*/}
wait_for grep -q "event=new token=$T" "$LOG"
one_change "a token made" new "$T"
curl -sf -m 5 -o /dev/null -XPUT "$GW/$T/m1" -d "value=m1=http://10.0.0.1:2380"
wait_for grep -q "event=register token=$T" "$LOG"
one_change "a v2 registration" register "$T" "member=m1 "
ETCDCTL_API=3 timeout 10 etcdctl --endpoints "127.0.0.1:$GRPC" \
	put "/_etcd/registry/$T/members/a2" "m2=http://10.0.0.2:2380" >/dev/null 2>"$TMP/etcdctl.err"
wait_for grep -q "member=a2 " "$LOG"
one_change "a gRPC Put registration" register "$T" "member=a2 "

# import: a token in etcd's v2 store (as the public service keeps them)
TI=opsimport$RANDOM
curl -sf -m 5 -o /dev/null -XPUT "$E/v2/keys/_etcd/registry/$TI/_config/size" -d value=1
curl -sf -m 5 -o /dev/null -XPUT "$E/v2/keys/_etcd/registry/$TI/abc" -d value=x=http://10.0.0.9:2380
imp() { SRVGATE_ADMIN_TOKEN=$SG_ADMIN timeout 10 "$SRVGATE" import "$E/v2/keys/_etcd/registry/$TI" --gateway "$GW" 2>&1; }
out=$(imp)
expect_match "import prints imported" "^imported $TI: size 1, 1 members" "$out"
wait_for grep -q "event=import token=$TI" "$LOG"
one_change "an import" import "$TI"
out=$(imp)
expect_match "a repeated import prints unchanged" "^unchanged $TI: size 1, 1 members" "$out"
wait_for grep -q "event=import-unchanged token=$TI" "$LOG"
one_change "a repeated import" import-unchanged "$TI"
expect_eq "... and no second import line" 1 "$(changes import "$TI" | grep -c .)"

# sync from the running etcd
TS=$(curl -sf -m 5 "$GW/new?size=1"); TS=${TS##*/}
out=$(SRVGATE_ADMIN_TOKEN=$SG_ADMIN timeout 10 "$SRVGATE" sync --etcd "$E" --token "$TS" --gateway "$GW" 2>&1)
expect_match "sync syncs" "^synced $TS: 1 members" "$out"
wait_for grep -q "event=sync token=$TS" "$LOG"
one_change "a sync" sync "$TS"

# an alias, then DELETE of the token
SRVGATE_ADMIN_TOKEN=$SG_ADMIN timeout 10 "$SRVGATE" alias "$T" opsalias --gateway "$GW" >/dev/null 2>&1
wait_for grep -q "event=alias-set token=$T" "$LOG"
one_change "an alias set" alias-set "$T" "member=opsalias "
curl -sf -m 5 -o /dev/null -XDELETE -H "$AUTH" "$GW/$TS"
wait_for grep -q "event=delete-token token=$TS" "$LOG"
one_change "a DELETE" delete-token "$TS"
expect_eq "a DELETE without the admin token changes nothing, logs no change" \
	"401 0" "$(curl -s -m 5 -o /dev/null -w '%{http_code}' -XDELETE "$GW/$T") $(changes delete-token "$T" | grep -c .)"

# ======== 2. the access log ========
# A line looks like: ts=... level=info proto=http client=127.0.0.1
# method=GET path=/health status=200 bytes=3 ms=0.041
wait_for grep -q 'path=/health status=200' "$ACC"
before=$(grep -c . "$ACC")
N=0
req() { curl -s -m 5 -o /dev/null "$@"; N=$((N + 1)); }
req "$GW/health"
req "$GW/$T"
req "$GW/nosuchtoken"
req -XPUT "$GW/$T/m3" -d "value=m3=http://10.0.0.3:2380"
req "$GW/$T?recursive=true&sorted=true"
req -H "$AUTH" "$GW/_admin/tokens/$T"
req "$GW/metrics"
wait_for test "$(grep -c . "$ACC")" -ge $((before + N))
sleep 0.3
expect_eq "$N requests, $N access lines" "$N" $(( $(grep -c . "$ACC") - before ))
line=$(grep "path=/$T/m3 " "$ACC")
expect_match "an access line: client, method, path, status, bytes, ms" \
	'^ts=[0-9T:.-]+Z level=info proto=http client=127\.0\.0\.1 method=PUT path=/[0-9a-f]+/m3 status=201 bytes=[1-9][0-9]* ms=[0-9]+\.[0-9]{3}$' "$line"
expect_match "the query string is kept" "path=\"/$T\\?recursive=true&sorted=true\" status=200" "$(cat "$ACC")"
# a malformed request: evhttp answers 400 itself, with no handler of ours
before=$(grep -c . "$ACC")
python3 - "$SG_HTTP_PORT" <<'EOF'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
s.sendall(b"NOT A REQUEST\r\n\r\n")
try:
    s.recv(4096)
except Exception:
    pass
EOF
wait_for grep -q 'method=- path=- status=400' "$ACC"
expect_eq "a malformed request: one line, status 400" 1 $(( $(grep -c . "$ACC") - before ))
# gRPC calls: one line each, the method path and the gRPC status
expect_match "a gRPC call has its access line" \
	'proto=grpc client=127\.0\.0\.1 method=POST path=/etcdserverpb\.KV/Put status=0 ' "$(cat "$ACC")"
# (grep: 0 a match, 1 none in files it read, 2 a file missing)
grep -q "$SG_ADMIN" "$LOG" "$ACC" "$TMP/ops.log"; rc=$?
if [ "$rc" = 0 ]; then
	fail "the admin token appears in no log"
elif [ "$rc" != 1 ] || [ ! -s "$LOG" ] || [ ! -s "$ACC" ]; then
	fail "the admin token appears in no log (grep $rc: a log is missing or empty)"
else
	pass "the admin token appears in no log ($(grep -c . "$ACC") access lines, $(grep -c . "$LOG") log lines)"
fi

# ======== 3. SIGHUP reopens both files ========
mv "$LOG" "$LOG.1"
mv "$ACC" "$ACC.1"
kill -HUP "$OPS_PID"
wait_for test -s "$LOG"
curl -sf -m 5 -o /dev/null "$GW/health?after-hup"
wait_for grep -q 'after-hup' "$ACC"
check "SIGHUP: the new access log gets the next request" grep -q 'path=/health?after-hup status=200' "$ACC"
check "SIGHUP: the new log file gets lines" grep -q 'SIGHUP' "$LOG"
check "... and the moved access log kept its lines" grep -q 'method=PUT' "$ACC.1"

# ======== 4. limits: refused requests get their line ========
unset SG_HTTP_PORT SG_DNS_PORT SG_DATA
LACC=$TMP/limits.access.log
if start_srvgate limits --grpc-listen off --access-log "$LACC" --log-format json \
	--rate-limit 1 --rate-burst 1 --max-connections-per-address 2; then
	codes=""
	for _ in 1 2 3; do codes="$codes $(curl -s -m 5 -o /dev/null -w '%{http_code}' "$SG_HTTP/new?size=1")"; done
	expect_match "the rate limit answers 429" " 429" "$codes"
	# two connections held open; the third is refused at once
	python3 - "$SG_HTTP_PORT" >"$TMP/refused.out" <<'EOF'
import socket, sys, time
port = int(sys.argv[1])
held = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(2)]
time.sleep(0.3)
s = socket.create_connection(("127.0.0.1", port), timeout=5)
s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
data = b""
try:
    while True:
        d = s.recv(4096)
        if not d:
            break
        data += d
except Exception:
    pass
print(data.split(b"\r\n")[0].decode())
EOF
	expect_match "a connection over the per-address limit is refused" '503' "$(cat "$TMP/refused.out")"
	wait_for grep -q '"status": *"503"' "$LACC"
	stop_pid "$SG_PID"
	n=$(python3 - "$LACC" <<'EOF'
import json, sys
want = {"ts", "level", "proto", "client", "method", "path", "status", "bytes", "ms"}
lines = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
for d in lines:
    assert want <= set(d), d
st = [d["status"] for d in lines]
print(len(lines), st.count("429"), st.count("503"))
EOF
)
	# start_srvgate's /health probes, 3 /new, 1 refused connection (the
	# two held ones sent nothing: no request, no line)
	probes=$(grep -c '"path":"/health"' "$LACC")
	n429=$(grep -o ' 429' <<<"$codes" | grep -c .)
	expect_eq "JSON access lines parse: $probes probes + 3 /new ($n429 of them 429) + 1 refused connection" \
		"$((probes + 4)) $n429 1" "$n"
else
	fail "srvgate starts with limits"; tail -5 "$TMP/limits.log"
fi

# ======== 5. flag errors, while a srvgate holds the data dir ========
# bad NAME WANT ENV... -- ARGS...: serve exits 2, one line matching WANT.
bad() {
	local name=$1 want=$2 rc out
	shift 2
	local envs=()
	while [ "$1" != -- ]; do envs+=("$1"); shift; done
	shift
	# (no listen flags with a variable: they would override it)
	[ ${#envs[@]} -gt 0 ] || set -- --http-listen 127.0.0.1:1 \
		--dns-listen 127.0.0.1:1 "$@"
	out=$(env "${envs[@]}" timeout 5 "$SRVGATE" serve --data-dir "$HELD" "$@" 2>&1)
	rc=$?
	if [ "$rc" = 2 ] && [ "$(grep -c . <<<"$out")" = 1 ] &&
		grep -Eq -- "$want" <<<"$out"; then
		pass "$name: exit 2, one line: $out"
	else
		fail "$name: want exit 2 and /$want/, got $rc: $out"
	fi
}
out=$(timeout 5 "$SRVGATE" serve --data-dir "$HELD" --http-listen 127.0.0.1:1 2>&1)
expect_match "setup: the data dir is held (a good command says so)" 'in use' "$out"
bad "--tsig-key foo" "^srvgate serve: --tsig-key: 'foo' is not NAME:ALGORITHM:BASE64SECRET" -- --tsig-key foo
bad "--allow-transfer with a /99" "^srvgate serve: --allow-transfer: '10\.0\.0\.0/99' is not an address or CIDR" -- --allow-transfer 10.0.0.0/99
bad "--allow-transfer with an unknown key" "no --tsig-key named 'nokey'" -- --allow-transfer 10.0.0.0/8@nokey
bad "--notify without a port" "^srvgate serve: --notify: '1\.2\.3\.4' is not HOST:PORT" -- --notify 1.2.3.4
bad "--notify with a bad address" "^srvgate serve: --notify: " -- --notify 999.1.1.1:53
bad "a bad SRVGATE_ALLOW_TRANSFER is named so" "^srvgate serve: SRVGATE_ALLOW_TRANSFER: '10\.0\.0\.0/99'" SRVGATE_ALLOW_TRANSFER=10.0.0.0/99 --
bad "a bad SRVGATE_TSIG_KEY is named so" "^srvgate serve: SRVGATE_TSIG_KEY: " SRVGATE_TSIG_KEY=foo --
bad "a bad SRVGATE_HTTP_LISTEN is named so" "^srvgate serve: SRVGATE_HTTP_LISTEN: 'nope' is not HOST:PORT" SRVGATE_HTTP_LISTEN=nope --
bad "a missing --tls-cert" "cannot load --tls-cert $TMP/nosuch\\.pem" -- --tls-cert "$TMP/nosuch.pem" --tls-key "$TMP/nosuch.key"
echo "not-a-user-line" >"$TMP/users"
bad "a bad --users-file" "^srvgate serve: --users-file: $TMP/users:1: not name:" -- --users-file "$TMP/users"
bad "a missing SRVGATE_USERS_FILE is named so" "^srvgate serve: SRVGATE_USERS_FILE: $TMP/nosuch: No such file" SRVGATE_USERS_FILE="$TMP/nosuch" --
echo zz >"$TMP/cookie"
bad "a bad --cookie-secret-file" "^srvgate serve: --cookie-secret-file $TMP/cookie: the first line must be 32 hex digits" -- --cookie-secret-file "$TMP/cookie"
bad "a wildcard listener needs --public-url" "^srvgate serve: --public-url: required" -- --http-listen 0.0.0.0:1
check "the holder still answers" curl -sf -m 2 "$GW/health"

# sync names the flag that is wrong
sbad() {
	local name=$1 want=$2 rc out
	shift 2
	out=$(timeout 5 "$SRVGATE" sync "$@" 2>&1)
	rc=$?
	if [ "$rc" = 2 ] && [ "$(grep -c . <<<"$out")" = 1 ] && grep -Eq -- "$want" <<<"$out"; then
		pass "sync $name: exit 2, one line: $out"
	else
		fail "sync $name: want exit 2 and /$want/, got $rc: $out"
	fi
}
sbad "--etcd without a scheme" "^srvgate sync: --etcd: '127\.0\.0\.21:2379' is not an http:// or https:// URL" --etcd 127.0.0.21:2379 --token abc
sbad "no --etcd" "^srvgate sync: --etcd is required" --token abc
sbad "no --token" "^srvgate sync: --token is required" --etcd "$E"
sbad "a bad --token" "^srvgate sync: --token: 'A_B' is not a token name" --etcd "$E" --token A_B
sbad "a bad --interval" "^srvgate sync: --interval: 'soon'" --etcd "$E" --token abc --interval soon
sbad "a bad --gateway" "^srvgate sync: --gateway: 'gw:1'" --etcd "$E" --token abc --gateway gw:1

# ======== 6. start, transfer and sync --interval lines ========
start_line=$(grep -m1 'msg="srvgate ' "$LOG.1")
expect_match "start line: no zone files is 'only', not '1 zones'" "for discovery\.internal only" "$start_line"
mkdir -p "$TMP/cwd"
unset SG_HTTP_PORT SG_DNS_PORT SG_DATA
alloc_port SG_DNS_PORT && alloc_port DNS3 || fail "setup: DNS ports"
cd "$TMP/cwd" || exit 1
SG_DATA=rel.data SG_ZONES=relzones
start_srvgate rel --grpc-listen off --dns-listen "127.0.0.2:$SG_DNS_PORT" \
	--dns-listen "127.0.0.1:$DNS3"
rc=$?
cd - >/dev/null || exit 1
unset SG_ZONES
if [ "$rc" = 0 ]; then
	line=$(grep -m1 'srvgate .*: HTTP on' "$TMP/rel.log")
	expect_match "start line: relative --data-dir as an absolute path" "data in $TMP/cwd/rel\\.data " "$line"
	expect_match "start line: a missing relative --zones-dir as an absolute path" "zone files from $TMP/cwd/relzones " "$line"
	expect_match "start line: every DNS listener" "DNS on 127\\.0\\.0\\.1:$SG_DNS_PORT, 127\\.0\\.0\\.2:$SG_DNS_PORT, 127\\.0\\.0\\.1:$DNS3 for" "$line"
	stop_pid "$SG_PID"
else
	fail "srvgate starts in another directory with relative dirs"; tail -3 "$TMP/rel.log"
fi

axfr() { timeout 10 dig +tcp +time=3 +tries=1 -p "$OPS_DNS" "$@" discovery.internal AXFR @127.0.0.1; }
OPS_DNS=$(sed -n 's/.*DNS on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$LOG.1" | head -1)
axfr >"$TMP/axfr1.out" 2>&1
wait_for grep -q 'xfr: AXFR of discovery.internal' "$LOG"
expect_match "a transfer line names the client" \
	'xfr: AXFR of discovery\.internal\.? to 127\.0\.0\.1 \(serial' "$(cat "$LOG")"
axfr -b 127.0.0.2 >/dev/null 2>&1
wait_for grep -q 'refused AXFR from 127.0.0.2' "$LOG"
expect_match "an unsigned request under a key-only rule: the key is named" \
	"refused AXFR from 127\\.0\\.0\\.2: unsigned, and its --allow-transfer rule requires TSIG key 'k1'" "$(cat "$LOG")"
axfr -b 127.0.0.3 >/dev/null 2>&1
wait_for grep -q 'refused AXFR from 127.0.0.3' "$LOG"
expect_match "a request no rule covers says so" \
	'refused AXFR from 127\.0\.0\.3: no --allow-transfer rule covers this address' "$(cat "$LOG")"

# NOTIFY lines (debug) name the secondary
check "a NOTIFY line names the secondary that acknowledged it" \
	grep -Eq "notify: 127\.0\.0\.1:$NPORT acknowledged the NOTIFY for discovery\.internal" "$LOG" "$LOG.1"

TS2=$(curl -sf -m 5 "$GW/new?size=1"); TS2=${TS2##*/}
SRVGATE_ADMIN_TOKEN=$SG_ADMIN timeout 2.5 "$SRVGATE" sync --etcd "$E" --token "$TS2" \
	--gateway "$GW" --interval 1s >"$TMP/interval.out" 2>&1
lines=$(grep -c . "$TMP/interval.out")
stamped=$(grep -Ec "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z synced $TS2: 1 members" "$TMP/interval.out")
if [ "$lines" -ge 2 ] && [ "$stamped" = "$lines" ]; then
	pass "sync --interval: $lines lines, each with a timestamp: $(head -1 "$TMP/interval.out")"
else
	fail "sync --interval lines carry timestamps ($stamped of $lines): $(head -3 "$TMP/interval.out")"
fi

# ======== 7. build info ========
commit=$("$SRVGATE" version | sed -n 's/^srvgate [0-9.]* (commit \(.*\))$/\1/p')
# (a tree that is not a git checkout, a tarball, is built as "unknown")
if git -C "$(dirname "$0")/../.." rev-parse HEAD >/dev/null 2>&1; then
	expect_match "srvgate version prints the version and the commit" '^[0-9a-f]{7,40}(\+dirty)?$' "$commit"
else
	expect_match "srvgate version prints the version and 'unknown' outside git" '^unknown' "$commit"
fi
metrics=$(curl -sf -m 5 "$GW/metrics")
expect_match "/metrics: srvgate_build_info with the same commit" \
	"^srvgate_build_info\\{version=\"[0-9.]+\",commit=\"${commit//+/\\+}\"\\} 1\$" \
	"$(grep '^srvgate_build_info' <<<"$metrics")"

stop_pid "$OPS_PID"
# ops logs to --log-file: its stderr has only what a sanitizer says.
if sg_is_asan; then
	check "srvgate ops: no sanitizer report on stderr" \
		bash -c "test -f '$TMP/ops.log' && ! grep -Eq 'Sanitizer|runtime error:' '$TMP/ops.log'"
fi
check_sanitizer_logs limits rel
finish
