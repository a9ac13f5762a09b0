#!/bin/bash
# tests/e2e/etcd_bigwrites.sh -- writes bigger than one etcd Txn may be, on
# a real etcd 3.4 with its defaults (--max-txn-ops 128, --max-request-bytes
# 1.5 MiB), through gateways on --etcd-endpoints:
#   - imports of 60 and 200 members and a sync of 200 succeed (the
#     gateway writes them in parts that fit) and every member is listed
#     by both gateways and served in DNS (up to --max-published)
#   - an import --force replacing 200 members by 150 (in parts), then 150
#     by 5 (one Txn would delete the 150 one by one), keeps the alias
#   - a gateway told a bigger limit than etcd's (--etcd-max-txn-ops 1000)
#     sends a Txn etcd refuses: that import alone fails, with etcd's
#     reason, and the gateway neither reconnects nor reloads
#   - a write bigger than etcd's request limit gets a clear error, no
#     reconnect
#   - none of this makes a gateway reconnect (its log and /metrics)
#   - 30,000 members written into etcd overflow a gateway's local copy
#     (4 MiB at first): it grows, and a restart with etcd out of reach
#     serves every member from it
#   - a batch the local copy could not sync (the slowsync shim fails its
#     syncs for a while) marks it stale: the restart Ranges instead of
#     resuming the watch from it, and that Range writes it whole; that
#     Range (over 30,000 keys) reads the span in slices and misses none
. "$(dirname "$0")/../lib.sh"

etcd_test_env etcd etcdctl

out=$(timeout 5 "$SRVGATE" serve --data-dir "$TMP/flags" --etcd-endpoints http://127.0.0.1:1 --etcd-max-txn-ops 3 2>&1); rc=$?
expect_match "--etcd-max-txn-ops below what one registration needs exits 2" \
	"^2 .*--etcd-max-txn-ops" "$rc $out"
expect_match "serve --help documents --etcd-max-txn-ops" "etcd-max-txn-ops" \
	"$("$SRVGATE" serve --help 2>&1)"

alloc_port C1; alloc_port P1
etcd --name e1 --data-dir "$TMP/e1.etcd" \
	--listen-client-urls "http://127.0.0.1:$C1" --advertise-client-urls "http://127.0.0.1:$C1" \
	--listen-peer-urls "http://127.0.0.1:$P1" --initial-advertise-peer-urls "http://127.0.0.1:$P1" \
	--initial-cluster "e1=http://127.0.0.1:$P1" >>"$TMP/e1.log" 2>&1 &
PIDS="$PIDS $!"
ectl() { etcdctl --endpoints="127.0.0.1:$C1" --command-timeout=5s "$@"; }
healthy() { ectl endpoint health >/dev/null 2>&1; }
check "etcd (default limits) is healthy" wait_for healthy

# gw NAME [flags]: starts gateway NAME; $NAME is its URL, ${NAME}_DNS its port
gw() {
	local n=$1
	shift
	start_srvgate "$n" --etcd-endpoints "http://127.0.0.1:$C1" --grpc-listen off \
		--rate-limit 0 --admin-token adm --max-body-bytes 4M "$@"
	local rc=$?
	eval "${n}=$SG_HTTP ${n}_DNS=$SG_DNS_PORT ${n}_PID=$SG_PID"
	unset SG_HTTP_PORT SG_DNS_PORT SG_DATA
	return $rc
}
check "gateway A starts (default --etcd-max-txn-ops 128)" gw A
check "gateway B starts with --etcd-max-txn-ops 1000 (more than etcd allows)" \
	gw B --etcd-max-txn-ops 1000

reconnects() { curl -s -m 5 "$1/metrics" | sed -n 's/^srvgate_etcd_reconnects_total //p'; }
RA0=$(reconnects "$A") RB0=$(reconnects "$B")

# members N [CLIENTS_FILE]: a file holding a JSON body of N members (with
# the client URLs in CLIENTS_FILE); prints its name
members() {
	local f=$TMP/body.$1
	[ -n "${2:-}" ] || set -- "$1" /dev/null
	jq -nc --argjson n "$1" --rawfile c "$2" >"$f" '{size: $n, cluster_id: "abc123",
		members: [range($n) | {id: "m\(.)", value: "m\(.)=http://10.7.\(. / 250 | floor).\(. % 250):2380"}
			+ (if $c == "" then {} else {clients: $c} end)]}'
	echo "$f"
}
# put GATEWAY TOKEN MODE BODY: the HTTP status; the answer in $TMP/put.out
put() { curl -s -m 20 -o "$TMP/put.out" -w '%{http_code}' -X PUT -H 'Authorization: Bearer adm' \
	-H 'Content-Type: application/json' --data-binary "@$4" "$1/_admin/tokens/$2?mode=$3"; }
listed() { curl -s -m 5 "$1/$2" | jq '.node.nodes | length'; }
nsrv() { dig @127.0.0.1 -p "$1" +short +time=2 +tries=1 "_etcd-server._tcp.$2.discovery.internal" SRV | grep -c 2380; }
# served TOKEN N: both gateways list N members, A serves min(N, 64) SRV
served() {
	local want=$(( $2 < 64 ? $2 : 64 ))
	[ "$(listed "$A" "$1")" = "$2" ] && [ "$(listed "$B" "$1")" = "$2" ] &&
		[ "$(nsrv "$A_DNS" "$1")" = "$want" ] && [ "$(nsrv "$B_DNS" "$1")" = "$want" ]
}

for n in 60 200; do
	T=imp$n
	expect_eq "import of $n members through A" 200 "$(put "$A" "$T" import "$(members $n)")"
	check "  ... both list $n, DNS serves $(( n < 64 ? n : 64 ))" wait_secs 5 served "$T" "$n"
done
expect_eq "  ... etcd holds the 200 member keys" 200 \
	"$(ectl get /_etcd/registry/imp200/members/ --prefix --keys-only | grep -c members/)"
expect_eq "the same import again: unchanged" 200 "$(put "$A" imp200 import "$(members 200)")"

# replaced in parts: the old token deleted alone, made again, alias kept
expect_eq "an alias for imp200" 200 "$(curl -s -m 5 -o /dev/null -w '%{http_code}' -X PUT \
	-H 'Authorization: Bearer adm' -d '{"token":"imp200"}' "$A/_admin/aliases/big-alias")"
expect_eq "import --force of 150 members replacing imp200's 200" 200 \
	"$(put "$A" imp200 'import&force=true' "$(members 150)")"
check "  ... both list 150, DNS serves 64" wait_secs 5 served imp200 150
expect_eq "  ... etcd holds the 150 member keys" 150 \
	"$(ectl get /_etcd/registry/imp200/members/ --prefix --keys-only | grep -c members/)"
check "  ... and the alias still names it (64 SRV records under it)" \
	wait_secs 5 eval '[ "$(nsrv "$A_DNS" big-alias)" = 64 ]'
expect_eq "import --force of 5 members replacing those 150 (the old keys count too)" 200 \
	"$(put "$A" imp200 'import&force=true' "$(members 5)")"
check "  ... both list 5, the alias serves 5" wait_secs 5 eval \
	'served imp200 5 && [ "$(nsrv "$A_DNS" big-alias)" = 5 ]'

S=$(curl -s -m 5 "$A/new?size=3"); S=${S##*/}
expect_eq "sync of 200 members into a new token through A" 200 "$(put "$A" "$S" sync "$(members 200)")"
check "  ... both list 200" wait_secs 5 served "$S" 200
expect_eq "  ... the token's size is their count" 200 \
	"$(curl -s -m 5 "$A/$S/_config/size" | jq -r .node.value)"

# B believes etcd takes 1000 operations: etcd refuses its Txn
code=$(put "$B" big-b import "$(members 200)")
expect_match "B's Txn that etcd refuses: that import fails with etcd's reason" \
	"^500 .*etcd refused the write: .*too many operations" "$code $(cat "$TMP/put.out")"
echo "    ($code: $(jq -r .cause "$TMP/put.out" 2>/dev/null | cut -c1-240))"
expect_eq "  ... no token left behind" 404 "$(curl -s -o /dev/null -w '%{http_code}' "$B/big-b")"

# bigger than etcd's --max-request-bytes (1.5 MiB): clear error
{ printf 'http://'; head -c 1700000 /dev/zero | tr '\0' a; } >"$TMP/big"
code=$(put "$A" big-bytes import "$(members 1 "$TMP/big")")
expect_match "a write bigger than etcd's request limit: a clear error" \
	"^[45].. .*(too large|request)" "$code $(head -c 300 "$TMP/put.out")"
echo "    ($code: $(jq -r .cause "$TMP/put.out" 2>/dev/null | cut -c1-240))"

expect_eq "neither gateway reconnected (reconnects_total unchanged)" "$RA0 $RB0" \
	"$(reconnects "$A") $(reconnects "$B")"
expect_empty "  ... nor logged a lost connection" \
	"$(grep -h 'etcd: lost\|cannot use' "$TMP/A.log" "$TMP/B.log")"
expect_eq "  ... and B still writes (a registration)" 201 \
	"$(curl -s -o /dev/null -w '%{http_code}' -X PUT -d value=x=http://10.1.1.1:2380 "$B/$S/after?prevExist=false")"


# ---- the local copy grows ----
# A's copy of etcd (data-dir/etcd-copy) starts with a 4 MiB map. 30,000
# members written straight into etcd arrive through A's watch and do not
# fit: the map doubles and the copy is written anew from memory. A
# restarted with etcd out of reach then serves every member from it.
python3 - "$C1" <<'PY'
import base64, http.client, json, sys
b64 = lambda s: base64.b64encode(s.encode()).decode()
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=30)
for t in range(300):
    tok = "copygrows%03d" % t
    ops = [{"request_put": {"key": b64("/_etcd/registry/%s/_config/size" % tok), "value": b64("100")}}]
    for m in range(100):
        ops.append({"request_put": {"key": b64("/_etcd/registry/%s/members/m%d" % (tok, m)),
                                     "value": b64("m%d=http://10.9.%d.%d:2380" % (m, t % 250, m))}})
    for i in range(0, len(ops), 101):
        c.request("POST", "/v3/kv/txn", json.dumps({"success": ops[i:i + 101]}))
        r = c.getresponse(); r.read()
        assert r.status == 200, r.status
PY
want=$(ectl get /_etcd/registry/ --prefix --keys-only | grep -c '/members/')
last_has() { [ "$(curl -s -m 5 "$A/copygrows299" | jq '.node.nodes | length')" = 100 ]; }
check "30,000 members written into etcd reach A ($want members in etcd)" wait_secs 30 last_has
expect_match "  ... A's copy grew" "the local copy's map grown to [0-9]+ MiB" \
	"$(grep -o "the local copy's map grown to [0-9]* MiB" "$TMP/A.log" | tail -1)"
expect_empty "  ... and was always written" "$(grep 'local copy was not written' "$TMP/A.log")"
stop_pid "$A_PID"
# (/health stays 503 while etcd is out of reach: start_srvgate gives up
# waiting on it after a second)
SG_DATA=$TMP/A.data WAIT_SECS=1 gw A2 --etcd-endpoints http://127.0.0.1:1
check "A restarts with etcd out of reach" kill -0 "$A2_PID"
wait_secs 10 grep -q ' members, index' "$TMP/A2.log"
expect_match "  ... and serves its copy: every member etcd holds" " $want members" \
	"$(grep -o ' [0-9]* members' "$TMP/A2.log" | tail -1)"
expect_eq "  ... the last token written, in DNS" 64 \
	"$(dig @127.0.0.1 -p "$A2_DNS" +short +tcp "_etcd-server._tcp.copygrows299.discovery.internal" SRV | grep -c 2380)"

stop_pid "$A2_PID"

# ---- a batch the local copy could not take ----
# C's copy refuses syncs while $TMP/failsync exists (the slowsync shim's
# SLOWSYNC_FAIL_IF, for files under etcd-copy/): the batch of lost1 is in
# memory and served, but not in the copy, which is marked stale: later
# batches go in without the span's count, so a restart with etcd in reach
# Ranges rather than resuming from a copy that lacks lost1, and that Range
# puts lost1 into the copy, which a restart with etcd out of reach serves.
metric() { curl -s -m 5 "$1/metrics" | sed -n "s/^srvgate_etcd_$2 //p"; }
lists() { curl -s -m 5 "$1/$2" | jq -r '.node.nodes[]?.key' | grep -c "/$3\$"; }
if [ -f "$SLOWSYNC_SO" ]; then
	SG_PRELOAD=$SLOWSYNC_SO SLOWSYNC_MS=0 SLOWSYNC_MATCH=etcd-copy \
		SLOWSYNC_FAIL_IF=$TMP/failsync gw C
	check "C starts, its copy's syncs behind the shim" kill -0 "$C_PID"
else
	fail "the slowsync shim is built ($SLOWSYNC_SO)"
fi
CT=$(curl -s -m 5 "$C/new?size=3"); CT=${CT##*/}
creg() { curl -s -o /dev/null -w '%{http_code}' -m 10 -X PUT \
	-d "value=$2=http://10.8.0.1:2380" "$1/$CT/$2?prevExist=false"; }
expect_eq "C registers m1 (its copy healthy)" 201 "$(creg "$C" m1)"
touch "$TMP/failsync"
expect_eq "C registers lost1 while its copy cannot sync" 201 "$(creg "$C" lost1)"
check "  ... and logs that the copy missed that batch" \
	wait_secs 10 grep -q 'local copy was not written' "$TMP/C.log"
rm -f "$TMP/failsync"
expect_eq "  ... C lists lost1 all the same (memory has it)" 1 "$(lists "$C" "$CT" lost1)"
expect_eq "the copy syncs again: C registers after1" 201 "$(creg "$C" after1)"
stop_pid "$C_PID"
SG_DATA=$TMP/C.data gw C2
check "C restarts with etcd in reach" kill -0 "$C2_PID"
has_lost1() { [ "$(lists "$C2" "$CT" lost1)" = 1 ]; }
check "  ... and lists lost1" wait_secs 10 has_lost1
expect_eq "  ... from a Range, not a watch resumed on the stale copy (ranges, resumes)" \
	"1 0" "$(metric "$C2" ranges_total) $(metric "$C2" resumes_total)"
expect_eq "  ... after1 too" 1 "$(lists "$C2" "$CT" after1)"
# etcd holds over 30,000 keys: more than a page, so that Range read the
# span in slices (by the first character of the token's name)
expect_eq "  ... and, its Range read in slices, every member etcd holds" \
	"$(ectl get /_etcd/registry/ --prefix --keys-only | grep -c '/members/')" \
	"$(curl -s -m 5 "$C2/metrics" | sed -n 's/^srvgate_members //p')"
stop_pid "$C2_PID"
SG_DATA=$TMP/C.data WAIT_SECS=1 gw C3 --etcd-endpoints http://127.0.0.1:1
check "C restarts with etcd out of reach" kill -0 "$C3_PID"
c3_ready() { [ "$(curl -s -m 5 -o /dev/null -w '%{http_code}' "$C3/$CT")" = 200 ]; }
wait_secs 10 c3_ready
expect_eq "  ... and its copy, which that Range wrote, holds lost1, m1 and after1" \
	"1 1 1" "$(lists "$C3" "$CT" lost1) $(lists "$C3" "$CT" m1) $(lists "$C3" "$CT" after1)"
stop_pid "$C3_PID"
stop_pid "$B_PID"
check_sanitizer_logs A A2 B C C2 C3
finish
