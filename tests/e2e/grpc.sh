#!/bin/bash
# tests/e2e/grpc.sh -- etcd's v3 API over gRPC, with etcdctl 3.4 (a real
# clientv3 client) against srvgate:
#   1. get --prefix, put, txn create-if-absent, watch --prefix (sees a Put
#      made by another client), endpoint status, member list
#   2. one registry: a v2 registration is seen over gRPC, a gRPC Put is in
#      the v2 listing and in DNS (SRV), with the same revisions/indexes
#   3. who may write what: outside the registry, size keys, other tokens,
#      bad values, second Puts (AlreadyExists, or idempotent), deletes;
#      the admin token (metadata) overwrites, deletes and sets sizes
#   4. revisions identical after a restart, and no acknowledged Put lost
#      to a SIGKILL under load
#   5. SIGTERM with a watch open: GOAWAY, the watch ends, srvgate exits
. "$(dirname "$0")/../lib.sh"

etcd_test_env etcdctl

ADMIN=admin-$RANDOM$RANDOM
alloc_port GP && alloc_port SG_HTTP_PORT && alloc_port SG_DNS_PORT
start_srvgate grpc --grpc-listen 127.0.0.1:$GP --admin-token "$ADMIN" \
	--rate-limit 100000 --rate-burst 100000 ||
	fail "srvgate starts"
ZONE=discovery.internal

ectl() { etcdctl --endpoints=127.0.0.1:$GP --command-timeout=5s "$@"; }
# b64 -> text
unb64() { jq -r '@base64d'; }
new_token() { curl -sf "$SG_HTTP/new?size=${1:-3}" | sed 's|.*/||'; }
v2_values() { curl -sf "$SG_HTTP/$1" | jq -r '.node.nodes // [] | .[].value' | sort | paste -sd' ' -; }
metric() { curl -sf "$SG_HTTP/metrics" | awk -v m="$1" '$1 == m {print $2}'; }
watches_are() { [ "$(metric srvgate_grpc_watches)" = "$1" ]; }

# A raw gRPC call with curl: METHOD FILE [BEARER]. Prints grpc-status;
# the response message is in $TMP/resp.bin, the trailers in $TMP/curl.err.
grpc_call() {
	curl -s -v --http2-prior-knowledge -m 5 -H 'content-type: application/grpc' \
		-H 'te: trailers' ${3:+-H "authorization: Bearer $3"} \
		--data-binary @"$2" -o "$TMP/resp.bin" \
		"http://127.0.0.1:$GP/etcdserverpb.$1" 2>"$TMP/curl.err"
	sed -n 's/^< grpc-status: \([0-9]*\).*/\1/p' "$TMP/curl.err" | tr -d '\r'
}

# pb.py: protobuf requests as gRPC messages, and the few fields we read back.
cat "$(dirname "$0")/../pb_encode.py" - >"$TMP/pb.py" <<'EOF'
import sys
def frame(msg): return b'\0' + len(msg).to_bytes(4, 'big') + msg
def fields(buf):
    i, out = 0, {}
    while i < len(buf):
        key = 0; s = 0
        while True:
            b = buf[i]; i += 1; key |= (b & 0x7f) << s; s += 7
            if b < 0x80: break
        n, wt = key >> 3, key & 7
        v = 0; s = 0
        while True:
            b = buf[i]; i += 1; v |= (b & 0x7f) << s; s += 7
            if b < 0x80: break
        if wt == 2: v, i = buf[i:i + v], i + v
        out.setdefault(n, []).append(v)
    return out
cmd, a = sys.argv[1], [x.encode() for x in sys.argv[2:]]
if cmd == 'put': sys.stdout.buffer.write(frame(field(1, a[0]) + field(2, a[1])))
elif cmd == 'delete': sys.stdout.buffer.write(frame(field(1, a[0]) + (field(2, a[1]) if len(a) > 1 else b'')))
elif cmd == 'revision':   # header.revision of a response
    buf = open(sys.argv[2], 'rb').read()[5:]
    print(fields(fields(buf)[1][0]).get(3, [0])[0])
elif cmd == 'deleted':    # DeleteRangeResponse.deleted
    buf = open(sys.argv[2], 'rb').read()[5:]
    print(fields(buf).get(2, [0])[0])
EOF
pb() { python3 "$TMP/pb.py" "$@"; }

# ---- 1. etcdctl ----
T=$(new_token 3)
expect_match "a /new token" '^[0-9a-f]{32}$' "$T"
P=/_etcd/registry/$T
expect_eq "get --prefix lists the size key /new made" "$P/_config/size 3" \
	"$(ectl get --prefix "$P" | paste -sd' ' -)"
expect_eq "put a member" OK "$(ectl put "$P/members/a1" 'm1=http://10.0.0.1:2380' 2>&1)"
expect_eq "get it back" "m1=http://10.0.0.1:2380" \
	"$(ectl get "$P/members/a1" --print-value-only)"

# the watch is open before anyone writes: srvgate counts it
etcdctl --endpoints=127.0.0.1:$GP watch --prefix "$P/members" >"$TMP/watch.out" 2>&1 &
WPID=$!
PIDS="$PIDS $WPID"
check "watch --prefix is open" wait_for watches_are 1

# ---- 2. one registry ----
expect_eq "v2 PUT (etcd 3.4's registration)" 201 \
	"$(curl -s -o /dev/null -w '%{http_code}' -XPUT "$SG_HTTP/$T/b2?prevExist=false" \
		--data-urlencode 'value=m2=http://10.0.0.2:2380')"
expect_eq "a v2 registration is seen over gRPC" "m2=http://10.0.0.2:2380" \
	"$(ectl get "$P/members/b2" --print-value-only)"
expect_eq "a gRPC Put is in the v2 listing" \
	"m1=http://10.0.0.1:2380 m2=http://10.0.0.2:2380" "$(v2_values "$T")"
expect_eq "create_revision is v2's createdIndex" \
	"$(curl -sf "$SG_HTTP/$T/a1" | jq .node.createdIndex)" \
	"$(ectl get "$P/members/a1" -w json | jq '.kvs[0].create_revision')"
expect_eq "header.revision is X-Etcd-Index" \
	"$(curl -sfD - -o /dev/null "$SG_HTTP/$T" | tr -d '\r' | sed -n 's/^X-Etcd-Index: //Ip')" \
	"$(ectl get "$P/members" --prefix -w json | jq .header.revision)"
srv=$(dig @127.0.0.1 -p "$SG_DNS_PORT" +short +tries=1 +time=2 \
	"_etcd-server._tcp.$T.$ZONE" SRV | sort)
expect_eq "the gRPC and v2 members are SRV records" \
	"0 0 2380 a1.$T.$ZONE. 0 0 2380 b2.$T.$ZONE." "$(echo $srv)"
expect_eq "and the gRPC member's address is published" 10.0.0.1 \
	"$(dig @127.0.0.1 -p "$SG_DNS_PORT" +short "a1.$T.$ZONE" A)"

ectl txn >"$TMP/txn1.out" 2>&1 <<EOF
create("$P/members/c3") = "0"

put $P/members/c3 "m3=http://10.0.0.3:2380"

get $P/members/c3

EOF
expect_eq "txn create-if-absent: the first one succeeds" SUCCESS "$(head -1 "$TMP/txn1.out")"
ectl txn >"$TMP/txn2.out" 2>&1 <<EOF
create("$P/members/c3") = "0"

put $P/members/c3 "m3=http://10.0.0.99:2380"

get $P/members/c3

EOF
expect_eq "txn create-if-absent: the second one fails" FAILURE "$(head -1 "$TMP/txn2.out")"
expect_eq "... and answers with the key as it is" \
	"$P/members/c3 m3=http://10.0.0.3:2380" "$(grep . "$TMP/txn2.out" | sed -n '2,3p' | paste -sd' ' -)"
expect_eq "... which it did not change" "m3=http://10.0.0.3:2380" \
	"$(ectl get "$P/members/c3" --print-value-only)"

check "the watch saw the v2 Put and the txn's Put" \
	wait_for grep -q "m3=http://10.0.0.3:2380" "$TMP/watch.out"
expect_eq "in revision order, each once" "$P/members/b2 $P/members/c3" \
	"$(grep "^$P" "$TMP/watch.out" | paste -sd' ' -)"

expect_eq "get --limit 1 --sort-by=CREATE --order=DESCEND: the newest member" \
	"$P/members/c3" "$(ectl get "$P/members" --prefix --limit 1 --sort-by=CREATE --order=DESCEND --keys-only | grep .)"
expect_eq "... with the count of all and more=true" "3 true" \
	"$(ectl get "$P/members" --prefix --limit 1 -w json | jq -r '"\(.count) \(.more)"')"
r_b2=$(ectl get "$P/members/b2" -w json | jq '.kvs[0].mod_revision')
expect_eq "get --rev before c3 was made: served without it" "$P/members/a1 $P/members/b2" \
	"$(ectl get "$P/members" --prefix --rev "$r_b2" --keys-only | grep . | paste -sd' ' -)"
expect_match "get --rev in the future: OutOfRange" 'future revision' \
	"$(ectl get "$P" --prefix --rev 999999 2>&1)"
rev=$(ectl get "$P" --prefix -w json | jq .header.revision)
st=$(ectl endpoint status -w json)
expect_eq "endpoint status: srvgate is its own leader" \
	"$(echo "$st" | jq '.[0].Status.header.member_id')" \
	"$(echo "$st" | jq '.[0].Status.leader')"
expect_eq "endpoint status: the raft index is the store's index" "$rev" \
	"$(echo "$st" | jq '.[0].Status.raftIndex')"
expect_match "endpoint status prints a table" "127.0.0.1:$GP .* 3\.4\.0 .* true " \
	"$(ectl endpoint status -w table | tr -s ' |' ' ')"
expect_eq "member list: srvgate, started, at its gRPC URL" \
	"started, srvgate, , http://127.0.0.1:$GP, false" \
	"$(ectl member list | sed 's/^[^,]*, //')"

# ---- 3. who may write what ----
before=$(v2_values "$T")
out=$(ectl put /foo bar 2>&1)
expect_match "put outside the registry: PermissionDenied" 'code = PermissionDenied' "$out"
out=$(ectl put "$P/_config/size" 5 2>&1)
expect_match "put of a size key: PermissionDenied" 'code = PermissionDenied.*read-only' "$out"
out=$(ectl put /_etcd/registry/0123456789abcdef0123456789abcdef/members/x1 'm=http://10.0.0.1:2380' 2>&1)
expect_match "put into a token that does not exist: PermissionDenied" \
	'code = PermissionDenied.*no discovery token' "$out"
out=$(ectl put "$P/members/e5" 'not a peer url' 2>&1)
expect_match "put of a bad value: InvalidArgument" 'code = InvalidArgument.*name=url' "$out"
out=$(ectl put "$P/members/a1" 'm1=http://10.0.0.66:2380' 2>&1)
expect_match "a second put of another value: AlreadyExists" 'code = AlreadyExists' "$out"
r1=$(ectl get "$P/members/a1" -w json | jq '.kvs[0].mod_revision')
expect_eq "a second put of the same value succeeds (etcd re-registers after a restart)" OK \
	"$(ectl put "$P/members/a1" 'm1=http://10.0.0.1:2380' 2>&1)"
expect_eq "... without a write" "$r1" "$(ectl get "$P/members/a1" -w json | jq '.kvs[0].mod_revision')"
out=$(ectl del "$P/members/a1" 2>&1)
expect_match "delete without the admin token: PermissionDenied" 'code = PermissionDenied.*admin token' "$out"
expect_eq "nothing refused was stored" "$before" "$(v2_values "$T")"
expect_eq "nothing outside the registry exists" 0 "$(ectl get /foo -w json | jq '.count // 0')"

pb delete "$P/members/b2" >"$TMP/del.bin"
expect_eq "the wrong admin token is no admin: PermissionDenied" 7 \
	"$(grpc_call KV/DeleteRange "$TMP/del.bin" wrong-token)"
pb put "$P/members/a1" 'm1=http://10.0.0.11:2380' >"$TMP/put.bin"
expect_eq "the admin token overwrites" 0 "$(grpc_call KV/Put "$TMP/put.bin" "$ADMIN")"
expect_eq "... with the revision of the write in the header" \
	"$(ectl get "$P/members/a1" -w json | jq '.kvs[0].mod_revision')" \
	"$(pb revision "$TMP/resp.bin")"
expect_eq "... seen in the v2 listing" "m1=http://10.0.0.11:2380" \
	"$(curl -sf "$SG_HTTP/$T/a1" | jq -r .node.value)"
expect_match "get --rev from before an overwrite: compacted (the old value is gone)" \
	'required revision has been compacted' "$(ectl get "$P/members" --prefix --rev "$r_b2" 2>&1)"
expect_eq "the admin token deletes" 0 "$(grpc_call KV/DeleteRange "$TMP/del.bin" "$ADMIN")"
expect_eq "... one key" 1 "$(pb deleted "$TMP/resp.bin")"
expect_eq "... gone from v2" 404 "$(curl -s -o /dev/null -w '%{http_code}' "$SG_HTTP/$T/b2")"
check "the watch saw the delete" wait_for grep -qx DELETE "$TMP/watch.out"
pb put /_etcd/registry/made-by-v3/_config/size 2 >"$TMP/size.bin"
expect_eq "the admin token makes a token by its size key" 0 \
	"$(grpc_call KV/Put "$TMP/size.bin" "$ADMIN")"
expect_eq "... which v2 serves" 2 \
	"$(curl -sf "$SG_HTTP/made-by-v3/_config/size" | jq -r .node.value)"
kill "$WPID" 2>/dev/null

# 70 deletions in one token: the registry keeps the last 64, so a watch
# from before them is canceled as compacted, and one from after is served.
T4=$(new_token 3)
for i in $(seq 1 70); do
	curl -s -o /dev/null -XPUT "$SG_HTTP/$T4/d$i" --data-urlencode "value=d$i=http://10.0.2.1:2380"
done
first=$(curl -sfD - -o /dev/null "$SG_HTTP/$T4" | tr -d '\r' | sed -n 's/^X-Etcd-Index: //Ip')
for i in $(seq 1 70); do
	curl -s -o /dev/null -XDELETE -H "Authorization: Bearer $ADMIN" "$SG_HTTP/$T4/d$i"
done
out=$(timeout 5 etcdctl --endpoints=127.0.0.1:$GP watch --prefix "/_etcd/registry/$T4" \
	--rev "$first" 2>&1)
expect_match "a watch from before forgotten deletions: canceled as compacted" \
	'watch was canceled \(etcdserver: mvcc: required revision has been compacted\)' "$out"
out=$(timeout 3 etcdctl --endpoints=127.0.0.1:$GP watch --prefix "/_etcd/registry/$T4" \
	--rev $((first + 60)) --prev-kv 2>&1)
expect_eq "a watch from after them replays the deletions it can, with prev_kv" 11 \
	"$(printf '%s\n' "$out" | grep -c '^DELETE')"
expect_match "... each with the value it had" "d70=http://10.0.2.1:2380" "$out"

# ---- 4. restarts ----
snapshot() {
	ectl get --prefix /_etcd/registry/ -w json |
		jq -c '[.header.revision, [.kvs[] | [(.key|@base64d), .create_revision, .mod_revision, .version, (.value|@base64d)]]]'
}
before=$(snapshot)
stop_pid "$SG_PID"
start_srvgate grpc --grpc-listen 127.0.0.1:$GP --admin-token "$ADMIN" ||
	fail "srvgate restarts"
expect_eq "revisions identical after a restart" "$before" "$(snapshot)"

# Puts under load, then SIGKILL: each acknowledged one must be there.
T2=$(new_token 3)
: >"$TMP/acked"
(
	for i in $(seq 1 200); do
		[ -e "$TMP/stop-load" ] && break
		if ectl put "/_etcd/registry/$T2/members/k$i" "m$i=http://10.1.0.$((i % 250 + 1)):2380" >/dev/null 2>&1; then
			echo "k$i" >>"$TMP/acked"
		fi
	done
) &
LOAD=$!
wait_for sh -c "[ \$(wc -l <$TMP/acked) -ge 20 ]"
kill -KILL "$SG_PID"
touch "$TMP/stop-load"
wait "$LOAD" 2>/dev/null
start_srvgate grpc --grpc-listen 127.0.0.1:$GP --admin-token "$ADMIN" ||
	fail "srvgate restarts after SIGKILL"
have=$(ectl get --prefix "/_etcd/registry/$T2/members/" --keys-only | sed -n 's|.*/||p' | grep . | sort)
lost=$(sort "$TMP/acked" | comm -23 - <(echo "$have"))
expect_match "Puts were acknowledged before the SIGKILL" '^[1-9][0-9]*$' \
	"$(grep -c . "$TMP/acked")"
expect_empty "no acknowledged Put lost to the SIGKILL" "$lost"

# ---- 5. draining ----
etcdctl --endpoints=127.0.0.1:$GP watch --prefix "/_etcd/registry/$T" >"$TMP/watch2.out" 2>&1 &
W2=$!
PIDS="$PIDS $W2"
if WAIT_SECS=20 wait_for watches_are 1; then pass "a watch is open"; else
	fail "a watch is open ($(metric srvgate_grpc_watches) open)"
	sed 's/^/    /' "$TMP/watch2.out" | tail -5
fi
start=$(date +%s)
kill -TERM "$SG_PID"
check "SIGTERM with a watch open: srvgate exits" wait_secs 8 sh -c "! kill -0 $SG_PID 2>/dev/null"
expect_match "... within the drain time" '^[0-7]$' "$(( $(date +%s) - start ))"
# A drain is a clean exit: status 0 (as term_wait reads it; srvgate is
# gone or the check above failed, so the wait is bounded).
if kill -0 "$SG_PID" 2>/dev/null; then
	fail "... exit status after the drain (srvgate still runs)"
else
	wait "$SG_PID"
	expect_eq "... with exit status 0 after the drain" 0 "$?"
fi
kill "$W2" 2>/dev/null
check_sanitizer_logs grpc
finish
