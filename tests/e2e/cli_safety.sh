#!/bin/bash
# tests/e2e/cli_safety.sh -- the client commands that change a gateway
# refuse what an operator did not mean, against two real etcd 3.4 clusters
# (one member each, loopback):
#   1. sync records the source cluster's ID at the first sync; a sync from
#      the other cluster is refused (the message names the token and both
#      IDs), also round after round with --interval; --force switches;
#      a sync into a token with members the cluster does not list that no
#      sync wrote (registered through the v2 API, before or after the
#      first sync) is refused, --force replaces them.
#   2. --dry-run (sync and import) prints the diff and changes nothing
#      (the admin listing and X-Etcd-Index before and after).
#   3. alias refuses to move an alias that names another token without
#      --force; --delete refuses an alias that names another token.
#   4. tokens list (pages, --limit, --json), show, delete; GET
#      /_admin/tokens is bounded (limit at most 1000).
#   5. The cluster ID survives a restart; with the etcd store
#      (--etcd-endpoints) it lives in etcd, with the client URLs and
#      which members sync wrote: a second gateway reads them back.
# Needs etcd 3.4, curl, jq, python3. It never skips.
. "$(dirname "$0")/../lib.sh"

unset SRVGATE_GATEWAY SRVGATE_ADMIN_TOKEN SG_HTTP_PORT SG_DNS_PORT SG_DATA
etcd_test_env etcd curl jq python3
expect_match "setup: etcd is 3.4" '^etcd Version: 3\.4\.' "$(etcd --version)"
set_admin safety-admin
TOOL_SECS=${TOOL_SECS:-10}

# run NAME ARGS...: srvgate ARGS (bounded, with the admin token and the
# gateway); stdout in $TMP/NAME.out, stderr in $TMP/NAME.err, RC its exit,
# LASTRUN its NAME (expect_rc shows that stderr).
run() {
	local name=$1
	LASTRUN=$1
	shift
	SRVGATE_ADMIN_TOKEN=$SG_ADMIN SRVGATE_GATEWAY=$GW timeout -k 2 "$TOOL_SECS" \
		"$SRVGATE" "$@" >"$TMP/$name.out" 2>"$TMP/$name.err"
	RC=$?
}
out_of() { cat "$TMP/$1.out"; }
err_of() { cat "$TMP/$1.err"; }
expect_rc() {
	if [ "$RC" = "$2" ]; then pass "$1"; else
		fail "$1 (want exit $2, got $RC; stderr: $(head -c 400 "$TMP/$LASTRUN.err" 2>/dev/null))"; fi
}
# admin TOKEN: the token whole from the admin API, compact ("" if none).
admin() { curl -sf -m 5 -H "$AUTH" "$GW/_admin/tokens/$1" | jq -c .; }
etcd_index() {
	curl -sf -m 5 -D - -o /dev/null "$GW/$1" | tr -d '\r' |
		sed -n 's/^[Xx]-[Ee]tcd-[Ii]ndex: *//p'
}

# start_etcd NAME: a one-member etcd (v2 API on, for the import source);
# sets E_<NAME> to its client URL and CID_<NAME> to its cluster ID in hex.
start_etcd() {
	local n=$1 cp pp url cid
	alloc_port cp && alloc_port pp || { fail "etcd $n: free ports"; return 1; }
	url=http://127.0.0.1:$cp
	etcd --name "$n" --data-dir "$TMP/etcd-$n" --enable-v2 \
		--listen-client-urls "$url" --advertise-client-urls "$url" \
		--listen-peer-urls "http://127.0.0.1:$pp" \
		--initial-advertise-peer-urls "http://127.0.0.1:$pp" \
		--initial-cluster "$n=http://127.0.0.1:$pp" \
		--initial-cluster-token "cli-safety-$n" >"$TMP/etcd-$n.log" 2>&1 &
	PIDS="$PIDS $!"
	if ! wait_secs 30 curl -sf -m 1 -XPOST "$url/v3/cluster/member/list" -d '{}'; then
		fail "etcd $n answers within 30s"; tail -5 "$TMP/etcd-$n.log"; return 1
	fi
	cid=$(curl -sf -m 5 -XPOST "$url/v3/cluster/member/list" -d '{}' |
		python3 -c 'import json,sys; print("%x" % int(json.load(sys.stdin)["header"]["cluster_id"]))')
	printf -v "E_$n" %s "$url"
	printf -v "CID_$n" %s "$cid"
}

start_etcd one && start_etcd two || { finish; exit 1; }
if [ -n "$CID_one" ] && [ "$CID_one" != "$CID_two" ]; then
	pass "setup: two etcd clusters, IDs $CID_one and $CID_two"
else
	fail "setup: two etcd clusters with different IDs ('$CID_one', '$CID_two')"
fi
start_srvgate sg || { fail "srvgate starts"; tail -5 "$TMP/sg.log"; finish; exit 1; }
GW=$SG_HTTP
new_token() { local t; t=$(curl -sf -m 5 "$GW/new?size=${1:-3}"); echo "${t##*/}"; }

# ======== 1. sync: the cluster ID ========
T=$(new_token 3)
run s1 sync --etcd "$E_one" --token "$T"
expect_rc "1. the first sync into an empty token succeeds" 0
expect_eq "1. ... it says so" "synced $T: 1 members" "$(out_of s1)"
expect_eq "1. ... and the token records cluster one's ID" "$CID_one" "$(admin "$T" | jq -r .cluster_id)"
before=$(admin "$T")
run s2 sync --etcd "$E_two" --token "$T"
expect_rc "1. a sync from another cluster is refused (exit 1)" 1
expect_match "1. ... the refusal names the token and both cluster IDs" \
	"refused, nothing changed: token $T follows etcd cluster $CID_one .* from cluster $CID_two; use --force" "$(err_of s2)"
expect_eq "1. ... and changes nothing" "$before" "$(admin "$T")"
# --interval keeps refusing, one line a round, and never replaces.
SRVGATE_ADMIN_TOKEN=$SG_ADMIN timeout 10 "$SRVGATE" sync --etcd "$E_two" --token "$T" \
	--gateway "$GW" --interval 300ms >"$TMP/si.out" 2>"$TMP/si.err" &
SI=$!
wait_secs 8 bash -c "[ \$(grep -c 'refused, nothing changed' '$TMP/si.err') -ge 3 ]"
stop_pid "$SI"
n=$(grep -c "refused, nothing changed: token $T follows etcd cluster $CID_one" "$TMP/si.err")
if [ "$n" -ge 3 ]; then pass "1. sync --interval from the other cluster is refused every round ($n rounds)"
else fail "1. sync --interval refused every round (only $n lines: $(head -c 300 "$TMP/si.err"))"; fi
expect_match "1. ... each refusal line has a timestamp" \
	'^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]+Z srvgate sync: refused' "$(head -1 "$TMP/si.err")"
expect_eq "1. ... and the token still follows cluster one, unchanged" "$before" "$(admin "$T")"
run s3 sync --etcd "$E_two" --token "$T" --force
expect_rc "1. sync --force from the other cluster succeeds" 0
expect_eq "1. ... the token follows cluster two now" "$CID_two" "$(admin "$T" | jq -r .cluster_id)"
expect_eq "1. ... with cluster two's member" \
	"$(curl -sf -XPOST "$E_two/v3/cluster/member/list" -d '{}' | jq -r '.members[0].peerURLs[0]')" \
	"$(admin "$T" | jq -r '.members[0].value' | sed 's/^[^=]*=//')"
run s4 sync --etcd "$E_two" --token "$T"
expect_rc "1. then a plain sync from cluster two succeeds" 0

# A token with a member registered through the v2 API: not the cluster's.
U=$(new_token 3)
curl -sf -m 5 -o /dev/null -XPUT "$GW/$U/v2member" -d "value=x=http://10.9.9.9:2380"
before=$(admin "$U")
run s5 sync --etcd "$E_one" --token "$U"
expect_rc "1. a first sync into a token with a v2-registered member is refused" 1
expect_match "1. ... the refusal names the token, the cluster and the member" \
	"token $U was never synced and holds members etcd cluster $CID_one does not list; use --force .*: v2member" "$(err_of s5)"
expect_eq "1. ... and changes nothing (no cluster recorded)" "$before" "$(admin "$U")"

# ======== 2. dry runs ========
run d1 sync --etcd "$E_one" --token "$U" --dry-run
expect_rc "2. sync --dry-run of a sync that would be refused exits 1" 1
expect_match "2. ... says it would be refused" "would be refused: token $U was never synced" "$(out_of d1)"
expect_match "2. ... shows the member it would remove" "^  - v2member  x=http://10.9.9.9:2380" "$(out_of d1)"
expect_match "2. ... and the one it would add" "^  \+ [0-9a-f]+  one=http://127.0.0.1:[0-9]+  clients $E_one" "$(out_of d1)"
expect_match "2. ... and the cluster it would record" "etcd cluster none -> $CID_one" "$(out_of d1)"
ix=$(etcd_index "$U")
run d2 sync --etcd "$E_one" --token "$U" --dry-run --force
expect_rc "2. sync --dry-run --force exits 0" 0
expect_match "2. ... and counts the changes" "^[1-9][0-9]* change\(s\) would be made" "$(out_of d2)"
expect_eq "2. the dry runs changed nothing (the token whole)" "$before" "$(admin "$U")"
expect_eq "2. ... nor X-Etcd-Index" "$ix" "$(etcd_index "$U")"
run d3 sync --etcd "$E_one" --token "$U" --dry-run --interval 1s
expect_rc "2. --dry-run with --interval is a usage error" 2
run s6 sync --etcd "$E_one" --token "$U" --force
expect_rc "2. sync --force replaces the v2-registered member" 0
expect_eq "2. ... the token holds cluster one's member only, and follows it" \
	"[\"$CID_one\",1]" "$(admin "$U" | jq -c '[.cluster_id, (.members | length)]')"
# A registration through the v2 API into a token sync follows: refused.
curl -sf -m 5 -o /dev/null -XPUT "$GW/$U/late" -d "value=y=http://10.9.9.8:2380"
before=$(admin "$U")
run s7 sync --etcd "$E_one" --token "$U"
expect_rc "2. a member registered through the v2 API after the first sync: sync is refused" 1
expect_match "2. ... the refusal names it" \
	"token $U holds registered \(not synced\) members etcd cluster $CID_one does not list; use --force .*: late" "$(err_of s7)"
expect_eq "2. ... and the member stays" "$before" "$(admin "$U")"
curl -sf -m 5 -o /dev/null -XDELETE -H "$AUTH" "$GW/$U/late"
run s8 sync --etcd "$E_one" --token "$U"
expect_rc "2. once it is deleted, sync goes through again" 0

# import --dry-run, from etcd one's v2 keys (a discovery service's layout).
S=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
src_put() { curl -sf -m 5 -o /dev/null -XPUT "$E_one/v2/keys/_etcd/registry/$S/$1" --data-urlencode "value=$2"; }
src_put _config/size 3 && src_put a1 m1=http://10.0.0.1:2380 && src_put a2 m2=http://10.0.0.2:2380 ||
	fail "2. source token written in etcd one's v2 keys"
SRC=$E_one/v2/keys/_etcd/registry/$S
run i1 import "$SRC" --dry-run
expect_rc "2. import --dry-run of a new token exits 0" 0
expect_match "2. ... says the token is new" "import of token $S \(a new token\), nothing changed" "$(out_of i1)"
expect_match "2. ... lists both members as added" "^  \+ a1  m1=http://10.0.0.1:2380.*
  \+ a2  m2=http://10.0.0.2:2380" "$(out_of i1)"
expect_eq "2. ... and created nothing (404)" 404 \
	"$(curl -s -m 5 -o /dev/null -w '%{http_code}' -H "$AUTH" "$GW/_admin/tokens/$S")"
run i2 import "$SRC"
expect_rc "2. the import itself" 0
src_put a2 m2=http://10.0.0.22:2380
before=$(admin "$S")
ix=$(etcd_index "$S")
run i3 import "$SRC" --dry-run
expect_rc "2. import --dry-run of a token that differs (no --force) exits 1" 1
expect_match "2. ... shows the change" "^  ~ a2  m2=http://10.0.0.2:2380
  > a2  m2=http://10.0.0.22:2380" "$(out_of i3)"
expect_match "2. ... and that it would be refused" "would be refused: the token exists here with other members" "$(out_of i3)"
run i4 import "$SRC" --dry-run --force
expect_rc "2. import --dry-run --force exits 0" 0
expect_eq "2. the import dry runs changed nothing (the token whole)" "$before" "$(admin "$S")"
expect_eq "2. ... nor X-Etcd-Index" "$ix" "$(etcd_index "$S")"
check "2. ... and the listing still has the old value" bash -c \
	"curl -sf -m 5 '$GW/$S' | jq -r '.node.nodes[].value' | grep -qx 'm2=http://10.0.0.2:2380'"

# ======== 3. aliases ========
run a1 alias "$T" prod
expect_rc "3. alias T prod" 0
run a2 alias "$U" prod
expect_rc "3. moving prod to another token without --force is refused (exit 1)" 1
expect_match "3. ... the refusal names the token it names and --force" \
	"alias prod names token $T; use --force .* to move it to $U" "$(err_of a2)"
expect_eq "3. ... prod still names T" '["prod"]' "$(admin "$T" | jq -c .aliases)"
run a3 alias "$U" prod --delete
expect_rc "3. alias U prod --delete, while prod names T, is refused" 1
expect_match "3. ... and the message names the right token" \
	"alias prod names token $T, not $U; nothing deleted" "$(err_of a3)"
expect_eq "3. ... prod still names T" '["prod"]' "$(admin "$T" | jq -c .aliases)"
run a4 alias "$U" prod --force
expect_rc "3. alias U prod --force moves it" 0
expect_eq "3. ... and says from where" "alias prod -> $U (moved from $T)" "$(out_of a4)"
expect_eq "3. ... prod names U now, T none" '["prod"][]' \
	"$(admin "$U" | jq -c .aliases)$(admin "$T" | jq -c .aliases)"
run a5 alias "$T" prod --delete
expect_rc "3. alias T prod --delete (prod names U) is refused" 1
run a6 alias "$U" prod --delete
expect_rc "3. alias U prod --delete succeeds" 0
expect_eq "3. ... and names the token it named" "removed prod (it named $U)" "$(out_of a6)"
expect_eq "3. ... prod is gone" '[]' "$(admin "$U" | jq -c .aliases)"

# ======== 4. tokens list, show, delete ========
run a7 alias "$T" staging
total=$(curl -sf -m 5 -H "$AUTH" "$GW/_admin/tokens" | jq -r .total)
run l1 tokens list
expect_rc "4. tokens list exits 0" 0
expect_eq "4. ... a header and one line a token" "$((total + 1))" "$(out_of l1 | wc -l)"
expect_match "4. ... T's line: size, members, cluster, alias" \
	"^$T +1 +1  [0-9T:-]+Z  $CID_two +staging$" "$(out_of l1)"
run l2 tokens list --json
expect_eq "4. tokens list --json: every token, by name" \
	"$(curl -sf -m 5 -H "$AUTH" "$GW/_admin/tokens?limit=1000" | jq -c '[.tokens[].token]')" \
	"$(out_of l2 | jq -c '[.[].token]')"
expect_eq "4. ... with the fields scripts read" '["aliases","cluster_id","created_at","members","size","token"]' \
	"$(out_of l2 | jq -c '.[0] | keys')"
run l3 tokens list --limit 2 --json
expect_eq "4. tokens list --limit 2: two tokens" 2 "$(out_of l3 | jq length)"
page=$(curl -sf -m 5 -H "$AUTH" "$GW/_admin/tokens?limit=1")
nxt=$(printf '%s' "$page" | jq -r .next)
expect_eq "4. GET /_admin/tokens?limit=1: one token, next names it" \
	"1 $(printf '%s' "$page" | jq -r '.tokens[0].token')" "$(printf '%s' "$page" | jq -r '.tokens | length') $nxt"
expect_eq "4. ... ?after=next is the second token" \
	"$(curl -sf -m 5 -H "$AUTH" "$GW/_admin/tokens?limit=2" | jq -r '.tokens[1].token')" \
	"$(curl -sf -m 5 -H "$AUTH" "$GW/_admin/tokens?limit=1&after=$nxt" | jq -r '.tokens[0].token')"
expect_eq "4. ?limit over 1000 is refused (400)" 400 \
	"$(curl -s -m 5 -o /dev/null -w '%{http_code}' -H "$AUTH" "$GW/_admin/tokens?limit=5000")"
expect_eq "4. the listing needs the admin token (401)" 401 \
	"$(curl -s -m 5 -o /dev/null -w '%{http_code}' "$GW/_admin/tokens")"
run t1 tokens show "$T"
expect_rc "4. tokens show exits 0" 0
expect_match "4. ... shows the cluster, the alias and the member" \
	"etcd cluster  $CID_two
aliases       staging
members       1
  [0-9a-f]+  two=http://127.0.0.1:[0-9]+  clients $E_two" "$(out_of t1)"
run t2 tokens show "$T" --json
expect_eq "4. tokens show --json is the admin API's token" "$(admin "$T")" "$(out_of t2 | jq -c .)"
run t3 tokens delete "$T"
expect_rc "4. tokens delete exits 0" 0
expect_eq "4. ... says what went" "deleted $T: 1 members; aliases removed: staging" "$(out_of t3)"
expect_eq "4. ... the token is gone (404 from the discovery API)" 404 \
	"$(curl -s -m 5 -o /dev/null -w '%{http_code}' "$GW/$T")"
run t4 tokens show "$T"
expect_rc "4. tokens show of a deleted token exits 1" 1
expect_eq "4. ... and says so" "srvgate tokens: no token $T at $GW" "$(err_of t4)"
run t5 tokens frob
expect_rc "4. tokens with an unknown verb is a usage error" 2
expect_eq "4. the list lost one token" "$((total - 1))" \
	"$(curl -sf -m 5 -H "$AUTH" "$GW/_admin/tokens" | jq -r .total)"

# ======== the cluster ID survives a restart ========
stop_pid "$SG_PID"
start_srvgate sg || fail "srvgate restarts on its data dir"
expect_eq "the recorded cluster ID is read back after a restart" "$CID_one" "$(admin "$U" | jq -r .cluster_id)"
run r1 sync --etcd "$E_two" --token "$U"
expect_rc "... and still guards the token" 1
stop_pid "$SG_PID"

# ======== the etcd store (--etcd-endpoints) keeps them in etcd ========
# A gateway syncs a token, then another gateway with an empty data dir on
# the same etcd reads the cluster ID, the client URLs and which members
# sync wrote back from etcd alone.
if start_etcd store; then
	unset SG_HTTP_PORT SG_DNS_PORT SG_DATA
	start_srvgate e1 --etcd-endpoints "$E_store" --grpc-listen off ||
		fail "gateway e1 on the etcd store starts"
	GW=$SG_HTTP
	W=$(new_token 3)
	run e1 sync --etcd "$E_one" --token "$W"
	expect_rc "etcd store: the first sync" 0
	stop_pid "$SG_PID"
	unset SG_HTTP_PORT SG_DNS_PORT SG_DATA
	start_srvgate e2 --etcd-endpoints "$E_store" --grpc-listen off ||
		fail "gateway e2 on the etcd store starts"
	GW=$SG_HTTP
	expect_eq "etcd store: a second gateway (empty data dir) reads the cluster ID and client URL from etcd" \
		"[\"$CID_one\",\"$E_one\"]" "$(admin "$W" | jq -c '[.cluster_id, .members[0].clients]')"
	run e2 sync --etcd "$E_two" --token "$W"
	expect_rc "etcd store: ... and refuses a sync from the other cluster" 1
	run e3 sync --etcd "$E_one" --token "$W" --dry-run
	expect_match "etcd store: ... while one from the same cluster has nothing to do (its member is known as synced)" \
		"^0 change\(s\) would be made" "$(out_of e3)"
	stop_pid "$SG_PID"
fi
check_sanitizer_logs sg e1 e2
finish
