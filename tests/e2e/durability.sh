#!/bin/bash
# tests/e2e/durability.sh -- registrations survive restarts and crashes:
#   1. tokens and members made over HTTP, srvgate stopped with SIGTERM and
#      started again on the same data dir: every member is listed with the
#      same createdIndex, modifiedIndex and value, a deleted one stays
#      deleted, and X-Etcd-Index does not go backwards;
#   2. 8 parallel loops register distinct members while srvgate is stopped
#      (SIGSTOP, so every answer sent gets logged) and killed with SIGKILL;
#      after a restart every registration that was answered 201 is there,
#      with the createdIndex it was answered with.
# JSON is read with python3. Every request has a time limit, every loop a
# bound; every srvgate is in PIDS.
. "$(dirname "$0")/../lib.sh"
set_admin durability-test-admin

ETCD_Q='quorum=false&recursive=false&sorted=false'
FORM='Content-Type: application/x-www-form-urlencoded'

# http METHOD URL [curl args...]: sets CODE, BODY (file $TMP/b) and IDX.
http() {
	local m=$1 u=$2
	shift 2
	rm -f "$TMP/b" "$TMP/h"
	CODE=$(curl -s -m 5 -X "$m" -D "$TMP/h" -o "$TMP/b" -w '%{http_code}' "$@" "$u")
	BODY=$(cat "$TMP/b" 2>/dev/null)
	IDX=$(tr -d '\r' <"$TMP/h" 2>/dev/null | sed -n 's/^[Xx]-[Ee]tcd-[Ii]ndex: *//p' | tail -1)
}

# jv EXPR [FILE]: EXPR in python3 over d, the JSON in FILE ($TMP/b).
jv() {
	python3 -c 'import json, sys
d = json.load(open(sys.argv[2]))
print(eval(sys.argv[1]))' "$1" "${2:-$TMP/b}" 2>/dev/null
}

put_member() {
	http PUT "$1/$2?prevExist=false" -H "$FORM" --data-urlencode "value=$3"
}

# snapshot BASE TOKEN...: one line per token (its size) and per member
# ("token id createdIndex modifiedIndex value"), in listing order.
snapshot() {
	local base=$1 t
	shift
	for t in "$@"; do
		http GET "$base/$t/_config/size?$ETCD_Q"
		echo "$t size $CODE $(jv "d['node']['value']")"
		http GET "$base/$t?$ETCD_Q"
		echo "$t dir $CODE"
		jv "'\n'.join('%s %s %d %d %s' % ('$t', n['key'].split('/')[-1], n['createdIndex'], n['modifiedIndex'], n['value']) for n in d['node'].get('nodes', []))"
	done
}

# restart NAME: SIGTERM, then the same port and data dir again (a new DNS
# port, in case the old one lingers). Sets STOP_RC.
restart() {
	kill -TERM "$SG_PID"
	for _ in $(seq 1 100); do kill -0 "$SG_PID" 2>/dev/null || break; sleep 0.1; done
	kill -0 "$SG_PID" 2>/dev/null && kill -KILL "$SG_PID"
	wait "$SG_PID"
	STOP_RC=$?
	unset SG_DNS_PORT
	start_srvgate "$1"
}

# ======== 1. a SIGTERM restart keeps everything ========

unset SG_HTTP_PORT SG_DNS_PORT SG_DATA
if ! start_srvgate term; then
	fail "srvgate starts"; tail -20 "$TMP/term.log"; finish; exit
fi
B=$SG_HTTP
V2=$B/v2/keys/_etcd/registry
http GET "$B/new?size=3"; TA=${BODY##*/}
http GET "$B/new?size=5"; TB=${BODY##*/}
http GET "$B/new?size=1"; TC=${BODY##*/}
n=0
codes=""
for id in a1 a2 a3; do
	put_member "$B/$TA" "$id" "$id=http://10.1.0.$((++n)):2380"
	codes="$codes$CODE "
done
for id in b1 b2 b3 b4 b5; do
	put_member "$V2/$TB" "$id" "$id=https://10.2.0.$((++n)):2380,$id=http://10.2.0.$n:2381"
	codes="$codes$CODE "
done
for id in c1 c2; do
	put_member "$B/$TC" "$id" "$id=http://10.3.0.$((++n)):2380"
	codes="$codes$CODE "
done
expect_eq "10 registrations on 3 tokens (both path shapes) are 201" \
	"$(printf '201 %.0s' $(seq 1 10))" "$codes"
http PUT "$B/$TA/a2" -H "$FORM" --data-urlencode "value=a2=http://10.1.0.99:2380"
expect_eq "an overwrite (no prevExist) is 200" 200 "$CODE"
http DELETE "$B/$TB/b3" -H "$AUTH"
expect_eq "a DELETE is 200" 200 "$CODE"
snapshot "$B" "$TA" "$TB" "$TC" >"$TMP/before.txt"
http GET "$B/$TC?$ETCD_Q"
IDX_BEFORE=$IDX
expect_eq "9 members listed before the restart" 9 "$(grep -c '^[0-9a-f]* [abc][0-9] ' "$TMP/before.txt")"

if restart term; then
	expect_eq "SIGTERM: srvgate exits 0" 0 "$STOP_RC"
	snapshot "$B" "$TA" "$TB" "$TC" >"$TMP/after.txt"
	check "after the restart every token and member is listed as before (same createdIndex, modifiedIndex, value)" \
		diff "$TMP/before.txt" "$TMP/after.txt"
	http GET "$B/$TB/b3"
	expect_eq "a deleted member stays deleted" 404 "$CODE"
	http GET "$B/$TC?$ETCD_Q"
	check "X-Etcd-Index did not go backwards ($IDX_BEFORE -> $IDX)" \
		test -n "$IDX" -a "${IDX:-0}" -ge "$IDX_BEFORE"
	put_member "$B/$TA" a4 "a4=http://10.1.0.4:2380"
	check "a new registration's createdIndex is past every old one ($(jv "d['node']['createdIndex']") > $IDX_BEFORE)" \
		test "$(jv "d['node']['createdIndex']")" -gt "$IDX_BEFORE"
else
	fail "srvgate starts again on its data dir"; tail -20 "$TMP/term.log"
fi
stop_pid "$SG_PID"

# ======== 2. SIGKILL in the middle of a registration load ========

# The slowsync shim (tests/shim/slowsync.c) makes every sync of data.wal
# 30ms slower: that widens the time a commit is under way, so an answer
# sent before its commit would be caught (without it commits on a fast
# disk are over before a client can log its answer). Only srvgate gets it.
unset SG_HTTP_PORT SG_DNS_PORT SG_DATA
if ! SLOWSYNC_MS=30 SLOWSYNC_MATCH=data.wal start_srvgate_slowsync crash --rate-limit 0; then
	fail "srvgate starts for the crash test"; tail -20 "$TMP/crash.log"; finish; exit
fi
B=$SG_HTTP
TOKS=()
for _ in 1 2 3 4; do
	http GET "$B/new?size=1000"
	TOKS+=("${BODY##*/}")
done
expect_eq "4 tokens for the load" 4 "$(printf '%s\n' "${TOKS[@]}" | grep -cE '^[0-9a-f]{32}$')"

LOOPS=8
LOAD_MAX=3000
# loader K: registers wK-1, wK-2, ... round robin over the tokens until a
# PUT is not answered 201 (or LOAD_MAX); logs "token id createdIndex" of each
# 201 to $TMP/acked.K and the first other answer to $TMP/stopped.K.
loader() {
	local k=$1 n out code tok ci
	for n in $(seq 1 "$LOAD_MAX"); do
		tok=${TOKS[$(((k + n) % 4))]}
		out=$(curl -s -m 2 -X PUT -H "$FORM" -w ' %{http_code}' \
			--data-urlencode "value=w$k-$n=http://10.9.$k.$((n % 250)):2380" \
			"$B/$tok/w$k-$n?prevExist=false")
		code=${out##* }
		if [ "$code" != 201 ]; then
			echo "$code" >"$TMP/stopped.$k"
			return
		fi
		ci=$(printf '%s' "$out" | sed -n 's/.*"createdIndex":\([0-9]*\).*/\1/p')
		echo "$tok w$k-$n $ci" >>"$TMP/acked.$k"
	done
	echo "finished" >"$TMP/stopped.$k"
}
acked_count() { cat "$TMP"/acked.* 2>/dev/null | wc -l; }
acked_at_least() { [ "$(acked_count)" -ge "$1" ]; }

LPIDS=""
for k in $(seq 1 $LOOPS); do
	loader "$k" &
	LPIDS="$LPIDS $!"
	PIDS="$PIDS $!"
done
# (up to 40 s: a loaded machine or an ASan build is slower; 100 under way
# is what counts)
WAIT_SECS=40 wait_for acked_at_least 300
sleep 0.3
# SIGSTOP first: srvgate freezes at once, wherever it is, and every answer
# already sent still reaches its loop, which logs it (each loop's next PUT
# then times out). So the acked list is complete when SIGKILL lands, and an
# answer sent before its commit shows up as missing after the restart.
ALIVE_AT_STOP=$(curl -s -m 2 -o /dev/null -w '%{http_code}' "$B/metrics")
kill -STOP "$SG_PID"
STOPPED_AT=$(acked_count)
for p in $LPIDS; do wait "$p"; done
kill -KILL "$SG_PID"
wait "$SG_PID" 2>/dev/null
ACKED=$(acked_count)
check "the load was under way when srvgate was stopped and killed ($STOPPED_AT acked by then, $ACKED in all)" \
	test "$STOPPED_AT" -ge 100
expect_eq "every loop ran until the kill cut it off (no other error; srvgate answered right before)" \
	"200 $(printf '000 %.0s' $(seq 1 $LOOPS))" \
	"$ALIVE_AT_STOP $(cat "$TMP"/stopped.* 2>/dev/null | tr '\n' ' ')"

unset SG_DNS_PORT
if start_srvgate crash --rate-limit 0; then
	: >"$TMP/present.txt"
	for t in "${TOKS[@]}"; do
		http GET "$B/$t?$ETCD_Q"
		jv "'\n'.join('%s %s %d' % ('$t', n['key'].split('/')[-1], n['createdIndex']) for n in d['node'].get('nodes', []) if n['value'].startswith(n['key'].split('/')[-1] + '='))" \
			>>"$TMP/present.txt"
	done
	LAST_IDX=$IDX
	sed -i '/^$/d' "$TMP/present.txt"
	PRESENT=$(wc -l <"$TMP/present.txt")
	sort "$TMP"/acked.* >"$TMP/acked.all"
	sort "$TMP/present.txt" >"$TMP/present.sorted"
	MISSING=$(comm -23 "$TMP/acked.all" "$TMP/present.sorted" | wc -l)
	EXTRA=$(comm -13 "$TMP/acked.all" "$TMP/present.sorted" | wc -l)
	check "every acknowledged registration survived SIGKILL (acked=$ACKED, present=$PRESENT, missing=$MISSING)" \
		test "$ACKED" -gt 0 -a "$MISSING" -eq 0
	comm -23 "$TMP/acked.all" "$TMP/present.sorted" | head -5 | sed 's/^/    missing: /'
	check "nothing unasked-for is there: at most one unanswered PUT per loop ($EXTRA)" \
		test "$EXTRA" -le "$LOOPS"
	MAXC=$(awk '$3 > m { m = $3 } END { print m + 0 }' "$TMP/present.sorted")
	check "X-Etcd-Index after the crash is at least every stored createdIndex ($MAXC <= $LAST_IDX)" \
		test -n "$LAST_IDX" -a "${LAST_IDX:-0}" -ge "$MAXC"
	put_member "$B/${TOKS[0]}" after1 "after1=http://10.9.0.1:2380"
	check "a registration after the crash gets a new index ($(jv "d['node']['createdIndex']") > $MAXC)" \
		test "$(jv "d['node']['createdIndex']")" -gt "$MAXC"
	stop_pid "$SG_PID"
else
	fail "srvgate starts again after SIGKILL"; tail -20 "$TMP/crash.log"
fi

check_sanitizer_logs term crash
finish
