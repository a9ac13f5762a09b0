#!/bin/bash
# tests/e2e/http_api.sh -- srvgate's HTTP API on loopback with curl, as etcd
# 3.4's discovery client uses it (the exact requests of
# /work/shared/reference/etcd-discovery-protocol.md, A1), plus /new, /health,
# /metrics, the limits, watches, shutdown and the command line.
# JSON is read with python3 (jq may be missing). Every request has a time
# limit, every loop a bound; every srvgate is in PIDS.
. "$(dirname "$0")/../lib.sh"

ETCD_Q='quorum=false&recursive=false&sorted=false'
FORM='Content-Type: application/x-www-form-urlencoded'

# new_srvgate NAME [flags...]: start_srvgate on fresh ports and a fresh data
# dir (lib.sh keeps SG_* from the last start otherwise).
new_srvgate() {
	unset SG_HTTP_PORT SG_DNS_PORT SG_DATA
	start_srvgate "$@"
}

# http METHOD URL [curl args...]: one request. Sets CODE, BODY (the body file
# is $TMP/b), HDR, IDX (X-Etcd-Index), CTYPE and SECS (time taken). Every
# answer is logged with its index for the checks on X-Etcd-Index.
http() {
	local m=$1 u=$2 out
	shift 2
	rm -f "$TMP/b" "$TMP/h"
	out=$(curl -s -m 5 -X "$m" -D "$TMP/h" -o "$TMP/b" \
		-w '%{http_code} %{time_total}' "$@" "$u")
	CODE=${out% *}
	SECS=${out#* }
	BODY=$(cat "$TMP/b" 2>/dev/null)
	HDR=$(tr -d '\r' <"$TMP/h" 2>/dev/null)
	IDX=$(printf '%s\n' "$HDR" | sed -n 's/^[Xx]-[Ee]tcd-[Ii]ndex: *//p' | tail -1)
	CTYPE=$(printf '%s\n' "$HDR" | sed -n 's/^[Cc]ontent-[Tt]ype: *//p' | tail -1)
	echo "$(base_of "$u") ${IDX:-none} $CODE $m $u" >>"$TMP/idx.log"
}
base_of() { printf '%s' "$1" | sed -E 's#^(https?://[^/]+).*#\1#'; }

# jv EXPR [FILE]: EXPR in python3 over d, the JSON in FILE ($TMP/b).
jv() {
	python3 -c 'import json, sys
d = json.load(open(sys.argv[2]))
v = eval(sys.argv[1])
print(json.dumps(v) if isinstance(v, (dict, list, bool)) or v is None else v)' \
		"$1" "${2:-$TMP/b}" 2>/dev/null
}

# metric BASE NAME: the value of an unlabelled metric.
metric() {
	curl -s -m 3 "$1/metrics" | awk -v n="$2" '$1 == n { print $2; exit }'
}
metric_is() { [ "$(metric "$1" "$2")" = "$3" ]; }
# wait_metric BASE NAME VALUE: waits up to 5s for the metric to read VALUE.
wait_metric() { WAIT_SECS=5 wait_for metric_is "$@"; }
# status_is URL CODE: a GET of URL answers CODE.
status_is() { [ "$(curl -s -m 2 -o /dev/null -w '%{http_code}' "$1")" = "$2" ]; }

# bg_get NAME URL [SECS]: GET in the background; the answer goes to
# $TMP/NAME.body and "code seconds" to $TMP/NAME.code. Sets BG_PID.
bg_get() {
	curl -s -m "${3:-10}" -o "$TMP/$1.body" -w '%{http_code} %{time_total}' \
		"$2" >"$TMP/$1.code" 2>/dev/null &
	BG_PID=$!
}

# put_member BASEPATH ID VALUE [curl args...]: etcd's registration PUT.
put_member() {
	local p=$1 id=$2 v=$3
	shift 3
	http PUT "$p/$id?prevExist=false" -H "$FORM" \
		--data-urlencode "value=$v" "$@"
}

# health_code BASE: the HTTP code of GET BASE/health now (000: no answer).
health_code() { curl -s -m 3 -o /dev/null -w '%{http_code}' "$1/health"; }
# refused_or_cut GOT BEFORE BASE: the server answered /health right before
# the request (BEFORE is that code), and the request got a 4xx, or was cut
# off (GOT 000 or "closed") by a server that still answers /health after.
refused_or_cut() {
	[ "$2" = 200 ] || { echo "not answering before the request (/health: $2)"; return 1; }
	case $1 in
	4??) return 0 ;;
	000|closed) [ "$(health_code "$3")" = 200 ] ||
		{ echo "cut off, and /health does not answer after it"; return 1; } ;;
	*) return 1 ;;
	esac
}
# bad_request_answer GOT BEFORE BASE: refused_or_cut, with 400 the only 4xx.
bad_request_answer() {
	case $1 in 400|000|closed) refused_or_cut "$@" ;; *) return 1 ;; esac
}
# watch_waits PID BASE: the watching curl PID still waits, and the server
# answers and counts one open watch.
watch_waits() { kill -0 "$1" && metric_is "$2" srvgate_watches_open 1; }

# le A B: A <= B, failing on empty input.
le() { [ -n "$1" ] && [ -n "$2" ] && [ "$1" -le "$2" ]; }
# fast SECS: a curl time_total under 2 seconds.
fast() { awk -v s="$1" 'BEGIN { exit !(s != "" && s < 2) }'; }
# fast_200 CODE SECS: answered 200 (not refused at once: 000) and fast.
fast_200() { [ "$1" = 200 ] && fast "$2"; }

# ---- helpers in python3: raw sockets ----

cat >"$TMP/slowloris.py" <<'EOF'
# Sends half a request head (or a whole head and then its body), then one
# byte every 0.2s; prints when the server closed the connection.
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=2)
s.settimeout(0.2)
t0 = time.time()
if sys.argv[2] == "head":
    s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ")
else:
    s.sendall(b"PUT /new HTTP/1.1\r\nHost: x\r\nContent-Length: 200\r\n\r\nsize=")
closed = None
while time.time() - t0 < 8:
    try:
        if s.recv(4096) == b"":
            closed = time.time() - t0
            break
    except socket.timeout:
        pass
    except OSError:
        closed = time.time() - t0
        break
    try:
        s.send(b"a")
    except OSError:
        closed = time.time() - t0
        break
print("closed_after=%.2f" % closed if closed is not None else "still_open")
EOF

cat >"$TMP/maxconn.py" <<'EOF'
# Opens N connections and has each served once (kept alive), then one more:
# it must wait while the N are open and be served once they close.
import socket, sys, time
port, n = int(sys.argv[1]), int(sys.argv[2])
REQ = b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n"
def answer(s, secs):
    s.settimeout(secs)
    try:
        d = s.recv(4096)
    except socket.timeout:
        return "waiting"
    except OSError as e:
        return "error:%s" % e
    return "served" if d.startswith(b"HTTP/1.1 200") else "closed" if not d else "other"
held = []
for _ in range(n):
    s = socket.create_connection(("127.0.0.1", port), timeout=2)
    s.sendall(REQ)
    held.append(answer(s, 3) == "served" and s)
print("held_served=%d" % sum(1 for s in held if s))
extra = socket.create_connection(("127.0.0.1", port), timeout=2)
extra.sendall(REQ)
print("extra_while_held=" + answer(extra, 1.5))
for s in held:
    if s:
        s.close()
print("extra_after_close=" + answer(extra, 5))
EOF

cat >"$TMP/hold.py" <<'EOF'
# Has one request served, says so, and keeps the connection open a while.
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=3)
s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
print("served" if s.recv(4096).startswith(b"HTTP/1.1 200") else "not served", flush=True)
time.sleep(float(sys.argv[2]))
EOF

cat >"$TMP/bigreq.py" <<'EOF'
# Sends one raw request; prints the status code, or "closed"/"timeout".
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
try:
    s.sendall(sys.argv[2].replace("\n", "\r\n").encode())
    d = s.recv(4096)
    print(d.split(b" ")[1].decode() if d.startswith(b"HTTP/1.") else "closed")
except socket.timeout:
    print("timeout")
except OSError:
    print("closed")
EOF

# ======== main instance: etcd's requests, both path shapes ========

if ! new_srvgate main --max-size 50 --admin-token s3cret; then
	fail "srvgate starts"; tail -20 "$TMP/main.log"; finish; exit
fi
B=$SG_HTTP
MAIN_PID=$SG_PID
MAIN_PORT=$SG_HTTP_PORT

# ---- /new ----
http GET "$B/new"
expect_eq "GET /new is 200" 200 "$CODE"
expect_match "GET /new is text/plain" '^text/plain' "$CTYPE"
expect_match "GET /new body is <public-url>/<32 lowercase hex>" \
	"^http://127\\.0\\.0\\.1:$MAIN_PORT/[0-9a-f]{32}\$" "$BODY"
expect_eq "GET /new body has no trailing newline (0 lines, ${#B} + 33 bytes)" "0 $((${#B} + 33))" \
	"$(wc -l <"$TMP/b") $(wc -c <"$TMP/b")"
T1=${BODY##*/}
http GET "$B/$T1/_config/size?$ETCD_Q"
expect_eq "size defaults to 3" '3' "$(jv "d['node']['value']")"

http POST "$B/new?size=5"
expect_eq "POST /new?size=5 is 200" 200 "$CODE"
T5=${BODY##*/}
http GET "$B/$T5/_config/size?$ETCD_Q"
expect_eq "POST /new?size=5 makes size 5" '5' "$(jv "d['node']['value']")"
http POST "$B/new" -d size=4
T4=${BODY##*/}
http GET "$B/$T4/_config/size?$ETCD_Q"
expect_eq "POST /new with form size=4 makes size 4" '4' "$(jv "d['node']['value']")"

for bad in 0 abc 51 -1; do
	http GET "$B/new?size=$bad"
	expect_eq "/new?size=$bad is 400" 400 "$CODE"
	expect_match "/new?size=$bad says what size may be" 'size.*1.*50' "$BODY"
done

# ---- etcd 3.4's checkCluster, createSelf, waitNodes on /<token> ----
P=$B/$T1
V1='infra0=http://10.0.0.10:2380'
V2='infra1=http://10.0.0.11:2380,infra1=https://10.0.0.11:2381'
ID1=8e9e05c52164694d
ID2=91bc3c398fb3c146
ID3=fd422379fda50e48

http GET "$P/_config/size?$ETCD_Q"
expect_eq "size GET is 200" 200 "$CODE"
expect_eq "size GET key" "/_etcd/registry/$T1/_config/size" "$(jv "d['node']['key']")"
expect_eq "size GET is application/json" application/json "$CTYPE"

http GET "$P?$ETCD_Q"
expect_eq "dir GET of an empty token is 200" 200 "$CODE"
expect_eq "dir GET is a dir" true "$(jv "d['node']['dir']")"
expect_eq "dir GET of an empty token lists nothing" 0 "$(jv "len(d['node'].get('nodes', []))")"
D0=$IDX

put_member "$P" "$ID1" "$V1"
expect_eq "PUT ?prevExist=false creates: 201" 201 "$CODE"
expect_eq "PUT answer action is create" create "$(jv "d['action']")"
expect_eq "PUT answer key" "/_etcd/registry/$T1/$ID1" "$(jv "d['node']['key']")"
expect_eq "PUT answer value" "$V1" "$(jv "d['node']['value']")"
C1=$(jv "d['node']['createdIndex']")
check "PUT createdIndex = modifiedIndex = X-Etcd-Index > dir GET's index" \
	test "$C1" = "$(jv "d['node']['modifiedIndex']")" -a "$C1" = "$IDX" -a "$C1" -gt "$D0"

# createSelf's follow-up: the self watch at createdIndex answers at once
http GET "$P/$ID1?recursive=false&wait=true&waitIndex=$C1"
expect_eq "self watch at createdIndex is 200" 200 "$CODE"
check "self watch at createdIndex answers at once ($CODE in $SECS s)" fast_200 "$CODE" "$SECS"
expect_eq "self watch reports the member" "/_etcd/registry/$T1/$ID1 $C1" \
	"$(jv "d['node']['key'] + ' ' + str(d['node']['createdIndex'])")"

# waitNodes: a recursive watch from the dir GET's index + 1 sees ID1 at once
http GET "$P?recursive=true&wait=true&waitIndex=$((D0 + 1))"
expect_eq "recursive watch with an answerable waitIndex is 200" 200 "$CODE"
check "recursive watch with an answerable waitIndex answers at once ($CODE in $SECS s)" \
	fast_200 "$CODE" "$SECS"
expect_eq "it reports the first registration" "$ID1 $C1" \
	"$(jv "d['node']['key'].split('/')[-1] + ' ' + str(d['node']['modifiedIndex'])")"

# a recursive watch past everything waits, then wakes on a PUT to the
# other path shape
http GET "$P?$ETCD_Q"
bg_get rwatch "$P?recursive=true&wait=true&waitIndex=$((IDX + 1))"
RW_PID=$BG_PID
check "recursive watch is registered" wait_metric "$B" srvgate_watches_open 1
sleep 0.3
check "recursive watch past the index waits" watch_waits "$RW_PID" "$B"
V2P=$B/v2/keys/_etcd/registry/$T1
put_member "$V2P" "$ID2" "$V2"
expect_eq "PUT on /v2/keys/_etcd/registry/<token>/<id> is 201" 201 "$CODE"
C2=$(jv "d['node']['createdIndex']")
wait "$RW_PID"
expect_match "recursive watch wakes with 200 on the PUT" '^200 ' "$(cat "$TMP/rwatch.code")"
expect_eq "the woken watch reports the new member" "/_etcd/registry/$T1/$ID2 $C2" \
	"$(jv "d['node']['key'] + ' ' + str(d['node']['modifiedIndex'])" "$TMP/rwatch.body")"

# the listing, on both shapes
for shape in "$P" "$V2P"; do
	http GET "$shape?$ETCD_Q"
	expect_eq "dir GET ${shape#$B} lists both members by createdIndex" \
		"$ID1 $ID2" "$(jv "' '.join(n['key'].split('/')[-1] for n in d['node']['nodes'])")"
	expect_eq "dir GET ${shape#$B} hides _config" false \
		"$(jv "any('_config' in n['key'] for n in d['node']['nodes'])")"
	check "dir GET ${shape#$B}: X-Etcd-Index >= every modifiedIndex" le "$C2" "$IDX"
	expect_eq "dir GET ${shape#$B} keeps the value" "$V2" "$(jv "d['node']['nodes'][1]['value']")"
done
http GET "$V2P/_config/size?$ETCD_Q"
expect_eq "size GET on the v2 shape" 3 "$(jv "d['node']['value']")"
http GET "$P/_config"
expect_eq "GET _config is a dir holding size" "/_etcd/registry/$T1/_config/size" \
	"$(jv "d['node']['nodes'][0]['key']")"

# a duplicate registration
put_member "$P" "$ID1" "$V1"
expect_eq "duplicate PUT ?prevExist=false is 412" 412 "$CODE"
expect_eq "duplicate PUT has errorCode 105" 105 "$(jv "d['errorCode']")"
put_member "$V2P" "$ID2" "$V2"
expect_eq "duplicate PUT on the v2 shape has errorCode 105" "412 105" "$CODE $(jv "d['errorCode']")"

# a watch on a member that does not exist yet wakes when it is created
http GET "$P?$ETCD_Q"
bg_get mwatch "$P/$ID3?recursive=false&wait=true&waitIndex=$((IDX + 1))"
MW_PID=$BG_PID
check "member watch is registered" wait_metric "$B" srvgate_watches_open 1
check "watch on a missing member waits" watch_waits "$MW_PID" "$B"
put_member "$P" "$ID3" "$V1"
C3=$(jv "d['node']['createdIndex']")
wait "$MW_PID"
expect_match "watch on a missing member wakes with 200 on its creation" '^200 ' \
	"$(cat "$TMP/mwatch.code")"
expect_eq "and reports it" "/_etcd/registry/$T1/$ID3 $C3 create" \
	"$(jv "d['node']['key'] + ' ' + str(d['node']['createdIndex']) + ' ' + d['action']" "$TMP/mwatch.body")"

# one kept-alive connection, as Go's client keeps it: a watch answered from
# history, a PUT with "Expect: 100-continue" (curl sends it for bodies over
# 1 KiB), a listing
KA_VAL="ka=http://10.0.0.20:2380$(printf ',ka=http://10.0.0.20:%d' $(seq 3000 3014))"
W='\n<%{http_code} %{num_connects}>\n'
ka=$(curl -s -m 10 -w "$W" "$P/$ID1?recursive=false&wait=true&waitIndex=$C1" \
	--next -s -m 10 -w "$W" -X PUT -H "$FORM" -H 'Expect: 100-continue' \
	--data-urlencode "value=$KA_VAL" "$P/0ka1?prevExist=false" \
	--next -s -m 10 -w "$W" -X PUT -H "$FORM" \
	--data-urlencode "value=$KA_VAL$(head -c 1100 /dev/zero | tr '\0' 0)" \
	"$P/0ka2?prevExist=false" \
	--next -s -m 10 -w "$W" "$P?$ETCD_Q")
expect_eq "keep-alive: watch, PUT, bad PUT, listing on one connection" \
	"<200 1> <201 0> <400 0> <200 0>" "$(printf '%s\n' "$ka" | grep -o '<[0-9]* [0-9]*>' | tr '\n' ' ' | sed 's/ $//')"
expect_match "keep-alive: the listing shows the member PUT on it" '"key":"[^"]*/0ka1"' "$ka"
http DELETE "$P/0ka1" -H 'Authorization: Bearer s3cret'
expect_eq "(cleanup of the keep-alive member)" 200 "$CODE"

# unknown tokens and keys
NOTOK=0123456789abcdef0123456789abcdef
for u in "$B/$NOTOK?$ETCD_Q" "$B/v2/keys/_etcd/registry/$NOTOK?$ETCD_Q" \
	"$B/$NOTOK/_config/size?$ETCD_Q" "$P/0badc0de?$ETCD_Q" "$V2P/0badc0de"; do
	http GET "$u"
	expect_eq "GET ${u#$B} is 404 errorCode 100" "404 100" "$CODE $(jv "d['errorCode']")"
done
http PUT "$B/$NOTOK/$ID1?prevExist=false" -H "$FORM" --data-urlencode "value=$V1"
expect_eq "PUT under an unknown token is 404 errorCode 100" "404 100" "$CODE $(jv "d['errorCode']")"

# bad values
for v in garbage 'infra0' '=http://10.0.0.1:2380' 'infra0=10.0.0.1:2380' \
	'infra0=ftp://10.0.0.1:2380' 'infra0=http://10.0.0.1:2380/path'; do
	put_member "$P" badval "$v"
	expect_eq "PUT value '$v' is 400" 400 "$CODE"
done
http PUT "$P/badval?prevExist=false" -H "$FORM" -d 'other=1'
expect_eq "PUT without value is 400" 400 "$CODE"
http GET "$P/badval"
expect_eq "a refused value was not stored" 404 "$CODE"

# ---- /health and /metrics ----
http GET "$B/health"
expect_eq "/health is 200 OK" "200 OK" "$CODE $BODY"
http GET "$B/metrics"
expect_eq "/metrics is 200" 200 "$CODE"
for m in srvgate_tokens srvgate_members srvgate_http_requests_total \
	srvgate_watches_open srvgate_storage_commit_seconds; do
	expect_match "/metrics has $m" "^$m(\\{|_bucket|_sum|_count| )" "$BODY"
done
expect_eq "srvgate_tokens counts the tokens made" 3 \
	"$(printf '%s\n' "$BODY" | awk '$1 == "srvgate_tokens" { print $2 }')"
expect_eq "srvgate_members counts the members" 3 \
	"$(printf '%s\n' "$BODY" | awk '$1 == "srvgate_members" { print $2 }')"
expect_match "srvgate_http_requests_total counts member creations" \
	'srvgate_http_requests_total\{route="member",code="201"\} 4' "$BODY"

# ---- DELETE, with --admin-token ----
http DELETE "$P/$ID3"
expect_eq "DELETE of a member without a token is 401" 401 "$CODE"
http DELETE "$P/$ID3" -H 'Authorization: Bearer wrong'
expect_eq "DELETE with the wrong token is 401" 401 "$CODE"
http DELETE "$P" -H 'Authorization: s3cret'
expect_eq "DELETE of a token without 'Bearer' is 401" 401 "$CODE"
http GET "$P/$ID3"
expect_eq "a refused DELETE removes nothing" 200 "$CODE"
http DELETE "$P/$ID3" -H 'Authorization: Bearer s3cret'
expect_eq "DELETE of a member is 200 action delete" "200 delete" "$CODE $(jv "d['action']")"
expect_eq "DELETE answer's prevNode is the member" "/_etcd/registry/$T1/$ID3" \
	"$(jv "d['prevNode']['key']")"
DEL_IDX=$(jv "d['node']['modifiedIndex']")
http GET "$P/$ID3"
expect_eq "a deleted member is 404 errorCode 100" "404 100" "$CODE $(jv "d['errorCode']")"
http GET "$P?$ETCD_Q"
expect_eq "a deleted member is no longer listed" "$ID1 $ID2" \
	"$(jv "' '.join(n['key'].split('/')[-1] for n in d['node']['nodes'])")"
http GET "$P?recursive=true&wait=true&waitIndex=$DEL_IDX"
expect_eq "a watch at the deletion's index sees the delete at once" "200 delete $ID3" \
	"$CODE $(jv "d['action'] + ' ' + d['node']['key'].split('/')[-1]")"
http DELETE "$P/$ID3" -H 'Authorization: Bearer s3cret'
expect_eq "DELETE of a missing member is 404" 404 "$CODE"
http DELETE "$B/$T5" -H 'Authorization: Bearer s3cret'
expect_eq "DELETE of a token is 200" 200 "$CODE"
http GET "$B/$T5?$ETCD_Q"
expect_eq "a deleted token is 404 errorCode 100" "404 100" "$CODE $(jv "d['errorCode']")"
http GET "$B/$T5/_config/size?$ETCD_Q"
expect_eq "a deleted token's size is gone" 404 "$CODE"

# ---- a watch whose client goes away is removed ----
bg_get gone "$B/$T4?recursive=true&wait=true" 1
check "an open watch shows in srvgate_watches_open" wait_metric "$B" srvgate_watches_open 1
wait "$BG_PID"
check "a watch whose client disconnected is removed" wait_metric "$B" srvgate_watches_open 0

# ---- X-Etcd-Index on every answer, never going down ----
# (answers only: a request that got none, code 000, has no index either)
grep "^$B " "$TMP/idx.log" 2>/dev/null | awk '$3 != "000"' >"$TMP/idx.main"
N_IDX=$(wc -l <"$TMP/idx.main")
check "X-Etcd-Index on every answer of the main instance (${N_IDX:-no} answers)" \
	bash -c "[ '${N_IDX:-0}' -ge 50 ] && ! awk '\$2 == \"none\"' '$TMP/idx.main' | grep -q ."
check "X-Etcd-Index never goes down on the main instance (${N_IDX:-no} answers)" \
	bash -c "[ '${N_IDX:-0}' -ge 50 ] && awk 'prev != \"\" && \$2 < prev { print; bad = 1 } { prev = \$2 } END { exit bad }' '$TMP/idx.main'"

# ---- one data dir, one server ----
p2=$(free_port)
d2=$(free_port)
timeout 10 "$SRVGATE" serve --http-listen "127.0.0.1:$p2" --dns-listen "127.0.0.1:$d2" \
	--data-dir "$SG_DATA" --zones-dir "$TMP/zones-none" >"$TMP/second.out" 2>&1
rc=$?
check "a second srvgate on the same --data-dir exits non-zero ($rc)" \
	test "$rc" -ne 0 -a "$rc" -ne 124
expect_match "and says the data dir is in use" "$SG_DATA.*(in use|lock)" "$(cat "$TMP/second.out")"
check "the first one still serves" curl -sf -m 3 "$B/health"

# ---- SIGTERM with an open watch and an idle kept-alive connection ----
TW_START=$(date +%s%3N)
bg_get termw "$B/$T4?recursive=true&wait=true" 10
TW_PID=$BG_PID
check "watch before SIGTERM is registered" wait_metric "$B" srvgate_watches_open 1
python3 "$TMP/hold.py" "$MAIN_PORT" 3 >"$TMP/hold.out" 2>&1 &
PIDS="$PIDS $!"
check "a kept-alive connection is open before SIGTERM" \
	wait_for grep -q '^served' "$TMP/hold.out"
TW_TERM=$(date +%s%3N)
kill -TERM "$MAIN_PID"
for _ in $(seq 1 100); do kill -0 "$MAIN_PID" 2>/dev/null || break; sleep 0.1; done
kill -0 "$MAIN_PID" 2>/dev/null && { echo "    still running 10s after SIGTERM"; kill -KILL "$MAIN_PID"; }
wait "$MAIN_PID"
rc=$?
expect_eq "SIGTERM: srvgate exits 0" 0 "$rc"
wait "$TW_PID"
read -r tw_code tw_secs <"$TMP/termw.code"
expect_eq "SIGTERM answers the open watch with 200" 200 "$tw_code"
expect_eq "with an empty body" "200 0" "$tw_code $(wc -c <"$TMP/termw.body")"
# From SIGTERM to the answer (the watch had been open a while before).
tw_after=$(awk -v s="$TW_START" -v t="$tw_secs" -v k="$TW_TERM" \
	'BEGIN { if (t == "") print ""; else printf "%.3f", (s + t * 1000 - k) / 1000 }')
check "at once after SIGTERM ($tw_code, $tw_after s after it)" fast_200 "$tw_code" "$tw_after"
expect_match "the log tells of the drain" 'drain' "$(cat "$TMP/main.log")"

# ======== --public-url and the size limits ========

if new_srvgate limits --public-url https://disc.example.com/base/ \
	--max-members 3 --max-size 3 --max-body-bytes 1024 --max-header-bytes 1024; then
	L=$SG_HTTP
	http GET "$L/new"
	expect_match "--public-url sets the /new URL (trailing / dropped)" \
		'^https://disc\.example\.com/base/[0-9a-f]{32}$' "$BODY"
	LT=${BODY##*/}
	http GET "$L/$LT?$ETCD_Q"
	expect_eq "the token of that URL is served here" 200 "$CODE"
	http GET "$L/new?size=4"
	expect_eq "/new?size above --max-size 3 is 400" 400 "$CODE"
	for i in 1 2 3; do put_member "$L/$LT" "m$i" "n$i=http://10.0.1.$i:2380"; done
	expect_eq "3 members fit --max-members 3" 201 "$CODE"
	put_member "$L/$LT" m4 "n4=http://10.0.1.4:2380"
	check "a 4th member is refused ($CODE)" test "$CODE" -ge 400 -a "$CODE" -lt 500
	expect_match "with an etcd error" '"errorCode":[0-9]+' "$BODY"
	expect_match "that says why" 'most allowed|max' "$BODY"
	http GET "$L/$LT?$ETCD_Q"
	expect_eq "the token still lists 3" 3 "$(jv "len(d['node']['nodes'])")"

	http GET "$L/new?size=3"
	LB=${BODY##*/}
	val="value=n5%3Dhttp%3A%2F%2F10.0.1.5%3A2380&pad="
	code=$(curl -s -m 5 -o /dev/null -w '%{http_code}' -X PUT -H "$FORM" \
		--data "${val}x" "$L/$LB/m5?prevExist=false")
	expect_eq "a small body with a pad field registers" 201 "$code"
	pad=$(head -c 1500 /dev/zero | tr '\0' x)
	pre=$(health_code "$L")
	code=$(curl -s -m 5 -o /dev/null -w '%{http_code}' -X PUT -H "$FORM" -H 'Expect:' \
		--data "$val$pad" "$L/$LB/m6?prevExist=false")
	check "a body above --max-body-bytes is refused ($code)" refused_or_cut "$code" "$pre" "$L"
	pre=$(health_code "$L")
	code=$(curl -s -m 5 -o /dev/null -w '%{http_code}' -X PUT -H "$FORM" \
		--data "$val$pad" "$L/$LB/m7?prevExist=false")
	check "... also with Expect: 100-continue ($code)" refused_or_cut "$code" "$pre" "$L"
	http GET "$L/$LB?$ETCD_Q"
	expect_eq "and nothing of them was stored" m5 \
		"$(jv "' '.join(n['key'].split('/')[-1] for n in d['node']['nodes'])")"
	pre=$(health_code "$L")
	r=$(python3 "$TMP/bigreq.py" "$SG_HTTP_PORT" \
		"GET /health HTTP/1.1
Host: x
X-Big: $(head -c 2000 /dev/zero | tr '\0' a)

")
	check "a head above --max-header-bytes is refused ($r)" refused_or_cut "$r" "$pre" "$L"
	http GET "$L/health" -H "X-Small: $(head -c 300 /dev/zero | tr '\0' a)"
	expect_eq "a head under the limit is served" 200 "$CODE"
	pre=$(health_code "$L")
	r=$(python3 "$TMP/bigreq.py" "$SG_HTTP_PORT" "NONSENSE

")
	check "a malformed request gets 400 or a close ($r)" bad_request_answer "$r" "$pre" "$L"
	http GET "$L/health" -H 'Connection: close'
	expect_eq "Connection: close still gets its answer" "200 OK" "$CODE $BODY"
	http GET "$L/health" -0
	expect_eq "so does HTTP/1.0" "200 OK" "$CODE $BODY"
	check "the server survived all of that" curl -sf -m 3 "$L/health"
	stop_pid "$SG_PID"
else
	fail "srvgate starts with the limit flags"; tail -20 "$TMP/limits.log"
fi

# ======== --rate-limit ========

if new_srvgate rate --rate-limit 2 --rate-burst 2; then
	# one curl, one connection: the three come within milliseconds
	codes=$(curl -s -m 5 -o /dev/null -w '%{http_code} ' -X POST "$SG_HTTP/new" \
		--next -s -m 5 -o /dev/null -w '%{http_code} ' -X POST "$SG_HTTP/new" \
		--next -s -m 5 -o "$TMP/b429" -D "$TMP/h429" -w '%{http_code}' -X POST "$SG_HTTP/new")
	expect_eq "--rate-limit 2 --rate-burst 2: the 3rd quick /new is 429" "200 200 429" "$codes"
	expect_match "the 429 carries X-Etcd-Index" '^[Xx]-[Ee]tcd-[Ii]ndex: [0-9]+' "$(tr -d '\r' <"$TMP/h429")"
	expect_match "and says why" 'rate' "$(cat "$TMP/b429")"
	http GET "$SG_HTTP/health"
	expect_eq "reads are not limited" 200 "$CODE"
	sleep 1.1
	http POST "$SG_HTTP/new"
	expect_eq "a second later /new works again" 200 "$CODE"
	stop_pid "$SG_PID"
else
	fail "srvgate starts with --rate-limit"
fi

# ======== --idle-timeout: a slowloris is cut off ========

if new_srvgate idle --idle-timeout 1s; then
	for part in head body; do
		r=$(python3 "$TMP/slowloris.py" "$SG_HTTP_PORT" "$part")
		check "--idle-timeout 1s closes a connection trickling its $part in time ($r)" \
			awk -v r="${r#closed_after=}" 'BEGIN { exit !(r ~ /^[0-9.]+$/ && r >= 0.7 && r < 4) }'
	done
	check "and the server still serves" curl -sf -m 3 "$SG_HTTP/health"
	stop_pid "$SG_PID"
else
	fail "srvgate starts with --idle-timeout"
fi

# ======== --max-connections ========

if new_srvgate conns --max-connections 3; then
	r=$(python3 "$TMP/maxconn.py" "$SG_HTTP_PORT" 3)
	expect_match "--max-connections 3: 3 connections are served" 'held_served=3' "$r"
	expect_eq "the 4th is not served while they are open (the 3 were)" \
		"held_served=3 extra_while_held=waiting" "$(printf '%s\n' "$r" | sed -n '1,2p' | tr '\n' ' ' | sed 's/ $//')"
	expect_match "and is served once they close" 'extra_after_close=served' "$r"
	check "srvgate_http_connection_cap_reached_total counts it" \
		test "$(metric "$SG_HTTP" srvgate_http_connection_cap_reached_total)" -ge 1
	stop_pid "$SG_PID"
else
	fail "srvgate starts with --max-connections"
fi

# ======== --watch-timeout ========

if new_srvgate wt --watch-timeout 1s; then
	http GET "$SG_HTTP/new?size=1"
	WT=${BODY##*/}
	http GET "$SG_HTTP/$WT?recursive=true&wait=true"
	expect_eq "--watch-timeout 1s answers an open watch with 200" 200 "$CODE"
	expect_eq "and an empty body" "200 0" "$CODE $(wc -c <"$TMP/b")"
	check "after about a second ($SECS s)" \
		awk -v s="$SECS" 'BEGIN { exit !(s >= 0.8 && s < 3) }'
	check "the timed-out watch is removed" wait_metric "$SG_HTTP" srvgate_watches_open 0
	stop_pid "$SG_PID"
else
	fail "srvgate starts with --watch-timeout"
fi

# ======== --gc-unfilled-after ========

if new_srvgate gc --gc-unfilled-after 1s; then
	G=$SG_HTTP
	http GET "$G/new?size=1"
	GFULL=${BODY##*/}
	put_member "$G/$GFULL" aa01 "n1=http://10.0.2.1:2380"
	http GET "$G/new?size=2"
	GPART=${BODY##*/}
	put_member "$G/$GPART" bb01 "n1=http://10.0.2.2:2380"
	expect_eq "both gc tokens have a member" 201 "$CODE"
	WAIT_SECS=6 wait_for status_is "$G/$GPART" 404
	check "--gc-unfilled-after 1s deletes a token that did not fill" status_is "$G/$GPART" 404
	http GET "$G/$GFULL?$ETCD_Q"
	expect_eq "and keeps the filled one with its member" "200 aa01" \
		"$CODE $(jv "d['node']['nodes'][0]['key'].split('/')[-1]")"
	stop_pid "$SG_PID"
else
	fail "srvgate starts with --gc-unfilled-after"
fi

# ======== the command line ========

# bad_flag NAME REGEX ARGS...: `srvgate serve ARGS` must exit 2 with one
# line that matches REGEX.
bad_flag() {
	local name=$1 re=$2 out rc
	shift 2
	out=$(timeout 5 "$SRVGATE" serve --data-dir "$TMP/never.data" "$@" 2>&1)
	rc=$?
	expect_eq "$name exits 2" 2 "$rc"
	expect_eq "$name prints one line" 1 "$(printf '%s\n' "$out" | wc -l)"
	expect_match "$name says what is wrong" "$re" "$out"
}
bad_flag "--http-listen nonsense" 'http-listen.*nonsense' --http-listen nonsense
bad_flag "--max-size x" "max-size.*'x'" --max-size x
bad_flag "an unknown flag" 'unknown flag.*no-such-flag' --no-such-flag
check "no server ran for the bad flags" test ! -e "$TMP/never.data/data.mdb"

hp=$(free_port)
dp=$(free_port)
SRVGATE_HTTP_LISTEN=127.0.0.1:$hp "$SRVGATE" serve --dns-listen "127.0.0.1:$dp" \
	--data-dir "$TMP/env.data" --zones-dir "$TMP/zones-none" >>"$TMP/env.log" 2>&1 &
ENV_PID=$!
PIDS="$PIDS $ENV_PID"
check "SRVGATE_HTTP_LISTEN sets the HTTP address" wait_for curl -sf -m 1 "http://127.0.0.1:$hp/health"
http GET "http://127.0.0.1:$hp/new"
expect_match "and the default public URL follows it" "^http://127\\.0\\.0\\.1:$hp/[0-9a-f]{32}\$" "$BODY"
stop_pid "$ENV_PID"

check_sanitizer_logs main limits rate idle conns wt gc env
finish
