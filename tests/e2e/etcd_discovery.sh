#!/bin/bash
# tests/e2e/etcd_discovery.sh -- real etcd 3.4 bootstraps through srvgate's v2
# discovery URL on loopback:
#   1. 3 members started together on a /new?size=3 URL form one cluster
#   2. a 4th member on that URL falls back to proxy
#   3. 5 members bootstrap from a size=5 token
#   4. a duplicate registration gets 412 / errorCode 105, and a member that
#      comes back with a wiped data dir is refused by etcd ("previously registered")
#   5. a SIGTERM restart of srvgate (same data dir, same port) keeps the registry
#      byte for byte, the index does not go down, and a cluster whose members
#      start around the restart still bootstraps
#   6. the same with the http://host/v2/keys/_etcd/registry/<token> URL shape
# Every port comes from free_port, every data dir is under $TMP, every process
# is in PIDS. On a failure the tail of the logs involved is printed.
. "$(dirname "$0")/../lib.sh"

etcd_test_env etcd etcdctl
expect_match "etcd is 3.4" '^etcd Version: 3\.4\.' "$(etcd --version)"


# dump_logs NAME...: the tail of $TMP/NAME.log for each NAME.
dump_logs() {
	for n in "$@"; do
		echo "    --- tail $n.log"
		tail -n 30 "$TMP/$n.log" 2>/dev/null | sed 's/^/    | /'
	done
}

# step NAME "LOGS" CMD...: check NAME CMD...; on failure dump LOGS.
step() {
	local name=$1 logs=$2 before=$FAILED
	shift 2
	check "$name" "$@"
	[ "$FAILED" = "$before" ] || dump_logs $logs
}

# start_member NAME DISCOVERY_URL: etcd NAME in the background with its data
# in $TMP/NAME.etcd and its log in $TMP/NAME.log. A NAME started again keeps
# its ports (so it keeps its member id). Sets PID_NAME, CURL_NAME, PURL_NAME.
start_member() {
	local name=$1 durl=$2 cp pp
	eval "cp=\${CPORT_$name:-} pp=\${PPORT_$name:-}"
	if [ -z "$cp" ]; then
		if ! alloc_port cp || ! alloc_port pp; then echo "no free port"; return 1; fi
		eval "CPORT_$name=$cp PPORT_$name=$pp"
	fi
	eval "CURL_$name=http://127.0.0.1:$cp PURL_$name=http://127.0.0.1:$pp"
	echo "=== $(date +%T) start $name --discovery $durl" >>"$TMP/$name.log"
	etcd --name "$name" --data-dir "$TMP/$name.etcd" \
		--listen-peer-urls "http://127.0.0.1:$pp" \
		--initial-advertise-peer-urls "http://127.0.0.1:$pp" \
		--listen-client-urls "http://127.0.0.1:$cp" \
		--advertise-client-urls "http://127.0.0.1:$cp" \
		--discovery "$durl" >>"$TMP/$name.log" 2>&1 &
	eval "PID_$name=$!"
	PIDS="$PIDS $!"
}
curl_of() { eval "echo \$CURL_$1"; }
pid_of() { eval "echo \$PID_$1"; }

# stop_members NAME...: SIGTERM each and wait (bounded), all at once.
stop_members() {
	local n
	for n in "$@"; do kill -TERM "$(pid_of "$n")" 2>/dev/null; done
	for n in "$@"; do stop_pid "$(pid_of "$n")"; done
}

# endpoints NAME...: comma-separated client URLs.
endpoints() {
	local n out=""
	for n in "$@"; do out="$out,$(curl_of "$n")"; done
	echo "${out#,}"
}

ctl() { etcdctl --dial-timeout 2s --command-timeout 5s "$@"; }

# cluster_started NAME N: NAME's member list shows N started members.
cluster_started() {
	local out
	out=$(ctl --endpoints "$(curl_of "$1")" member list) || return 1
	[ "$(printf '%s\n' "$out" | grep -c ', started, ')" -eq "$2" ]
}

# put_get PUT_NAME GET_NAME KEY VALUE: a write on one member reads back on another.
put_get() {
	ctl --endpoints "$(curl_of "$1")" put "$3" "$4" || return 1
	got=$(ctl --endpoints "$(curl_of "$2")" get --print-value-only "$3") || return 1
	[ "$got" = "$4" ] || { echo "got '$got'"; return 1; }
}

# same_ids NAME URL: the member ids etcd reports equal the ids registered
# under URL, and each registered value is name=peer-url of that member.
same_ids() {
	local etcd_ids reg_ids reg_vals want_vals n
	etcd_ids=$(ctl --endpoints "$(curl_of "$1")" member list | cut -d, -f1 | sort)
	reg_ids=$(curl -sf -m 5 "$2" | jq -r '.node.nodes[].key | split("/") | last' | sort)
	echo "etcd: $etcd_ids"
	echo "registry: $reg_ids"
	[ -n "$etcd_ids" ] && [ "$etcd_ids" = "$reg_ids" ] || return 1
	want_vals=$(ctl --endpoints "$(curl_of "$1")" member list | \
		awk -F', ' '{print $3 "=" $4}' | sort)
	reg_vals=$(curl -sf -m 5 "$2" | jq -r '.node.nodes[].value' | sort)
	echo "want values: $want_vals"
	echo "registry values: $reg_vals"
	[ "$want_vals" = "$reg_vals" ]
}

# members_registered URL N: the token lists exactly N members.
members_registered() {
	[ "$(curl -sf -m 2 "$1" | jq '.node.nodes | length')" = "$2" ]
}

log_has() { grep -q -- "$2" "$TMP/$1.log"; }
not_running() { ! kill -0 "$1" 2>/dev/null; }

# listing URL FILE: saves the body to FILE and the X-Etcd-Index to FILE.index.
listing() {
	curl -sf -m 5 -D "$2.head" -o "$2" "$1" || return 1
	tr -d '\r' <"$2.head" | sed -n 's/^[Xx]-[Ee]tcd-[Ii]ndex: *//p' >"$2.index"
}
# members_of FILE [N]: key, value and createdIndex of the (first N) members.
members_of() {
	jq -c --argjson n "${2:-1000000}" \
		'[.node.nodes[:$n][] | {key, value, createdIndex}]' "$1"
}
# retried_across_restart NAME...: one of them logged a failed discovery
# request and a retry (so it was waiting while srvgate was down).
retried_across_restart() {
	for n in "$@"; do
		grep -q 'discovery: .*error connecting to .*retrying in' "$TMP/$n.log" && return 0
	done
	return 1
}

# restart_srvgate [HOOK]: SIGTERM srvgate, check it exits 0, run HOOK while it
# is down, then start it again on the same ports and data dir.
restart_srvgate() {
	local rc
	kill -TERM "$SG_PID"
	if WAIT_SECS=15 wait_for not_running "$SG_PID"; then
		wait "$SG_PID"; rc=$?
	else
		rc=timeout; stop_pid "$SG_PID" KILL
	fi
	expect_eq "srvgate exits 0 on SIGTERM" 0 "$rc"
	[ -z "${1:-}" ] || "$1"
	start_srvgate sg
}

T0=$(date +%s)

# ---------------------------------------------------------------- srvgate
start_srvgate sg
step "srvgate serves /health" sg curl -sf -m 2 "$SG_HTTP/health"
USED_PORTS="$USED_PORTS $SG_HTTP_PORT $SG_DNS_PORT"

# ------------------------------------------- 1. three members, size=3
URL_A=$(curl -sf -m 5 "$SG_HTTP/new?size=3")
expect_match "/new?size=3 hands out <public-url>/<token>" "^$SG_HTTP/[0-9a-f]{32}\$" "$URL_A"
for m in a1 a2 a3; do start_member "$m" "$URL_A"; done
WAIT_SECS=40 step "size=3: member list shows 3 started members" "a1 a2 a3 sg" \
	wait_for cluster_started a1 3
for m in a2 a3; do
	WAIT_SECS=10 step "size=3: $m sees the same 3 started members" "$m" \
		wait_for cluster_started "$m" 3
done
step "size=3: put on a1, get on a3" "a1 a3" put_get a1 a3 /srvgate/a hello-a
step "size=3: registered ids and values are etcd's members" "a1" same_ids a1 "$URL_A"

# ------------------------------------------- 2. a 4th member falls back to proxy
start_member a4 "$URL_A"
WAIT_SECS=30 step "4th member logs 'discovery cluster full, falling back to proxy'" "a4" \
	wait_for log_has a4 'discovery cluster full, falling back to proxy'
step "the 4th member did not register" sg members_registered "$URL_A" 3
stop_members a4

# ------------------------------------------- 4. duplicate registration
A1_ID=$(curl -sf -m 5 "$URL_A" | jq -r '.node.nodes[0].key | split("/") | last')
A1_VAL=$(curl -sf -m 5 "$URL_A" | jq -r '.node.nodes[0].value')
listing "$URL_A" "$TMP/dup.before"
dup=$(curl -s -m 5 -o "$TMP/dup.body" -w '%{http_code}' -X PUT \
	-H 'Content-Type: application/x-www-form-urlencoded' \
	--data-urlencode "value=$A1_VAL" "$URL_A/$A1_ID?prevExist=false")
expect_eq "PUT prevExist=false of a registered id: HTTP 412" 412 "$dup"
expect_eq "PUT prevExist=false of a registered id: errorCode 105" 105 \
	"$(jq -r .errorCode "$TMP/dup.body" 2>/dev/null)"
listing "$URL_A" "$TMP/dup.after"
check "the refused PUT changed nothing" cmp "$TMP/dup.before" "$TMP/dup.after"

# a3 comes back with an empty data dir, the same name, URLs and discovery URL:
# it has the same member id, its PUT gets 105 and etcd exits 1.
stop_members a3
rm -rf "$TMP/a3.etcd"
echo "=== restart with wiped data dir" >>"$TMP/a3.log"
start_member a3 "$URL_A"
A3_PID=$(pid_of a3)
if WAIT_SECS=30 wait_for not_running "$A3_PID"; then
	wait "$A3_PID"; rc=$?
else
	rc=still-running
fi
expect_eq "wiped member on the same token exits 1" 1 "$rc"
dup_log=$(sed -n '/=== restart with wiped data dir/,$p' "$TMP/a3.log")
expect_match "wiped member logs that it has previously registered" \
	"member \"a3\" has previously registered with discovery service token" "$dup_log"
[ "$rc" = 1 ] || dump_logs a3
step "the duplicate left the token at 3 members" sg members_registered "$URL_A" 3
step "a1 and a2 still serve after the refused duplicate" "a1 a2" put_get a2 a1 /srvgate/a2 still
stop_members a1 a2 a3

# ------------------------------------------- 3. five members, size=5
URL_B=$(curl -sf -m 5 "$SG_HTTP/new?size=5")
step "size=5 token has _config/size 5" sg \
	sh -c "curl -sf -m 5 '$URL_B/_config/size' | jq -e '.node.value == \"5\"'"
for m in b1 b2 b3 b4 b5; do start_member "$m" "$URL_B"; done
WAIT_SECS=40 step "size=5: member list shows 5 started members" "b1 b2 b3 b4 b5 sg" \
	wait_for cluster_started b1 5
WAIT_SECS=10 step "size=5: b5 sees 5 started members" b5 wait_for cluster_started b5 5
step "size=5: put on b2, get on b5" "b2 b5" put_get b2 b5 /srvgate/b hello-b
step "size=5: registered ids and values are etcd's members" b1 same_ids b1 "$URL_B"
stop_members b1 b2 b3 b4 b5

# ------------------------------------------- 5. srvgate restart
URL_C=$(curl -sf -m 5 "$SG_HTTP/new?size=3")
for m in c1 c2; do start_member "$m" "$URL_C"; done
WAIT_SECS=20 step "restart: c1 and c2 registered before the restart" "c1 c2 sg" \
	wait_for members_registered "$URL_C" 2
sleep 0.5 # let c1 and c2 reach their watch
for t in A B C; do eval "listing \"\$URL_$t\" \"$TMP/$t.before\""; done
restart_srvgate
step "restart: srvgate serves again on the same port" sg curl -sf -m 2 "$SG_HTTP/health"
for t in A B C; do eval "listing \"\$URL_$t\" \"$TMP/$t.after\""; done
start_member c3 "$URL_C"
for t in A B C; do
	expect_eq "restart: token $t lists the same members (key, value, createdIndex)" \
		"$(members_of "$TMP/$t.before")" "$(members_of "$TMP/$t.after")"
	check "restart: token $t listing is byte-identical" cmp "$TMP/$t.before" "$TMP/$t.after"
	b=$(cat "$TMP/$t.before.index") a=$(cat "$TMP/$t.after.index")
	check "restart: X-Etcd-Index did not go down on token $t ($b -> $a)" \
		test -n "$b" -a -n "$a" -a "${a:-0}" -ge "${b:-1}"
done
WAIT_SECS=45 step "restart: c1, c2 (before) and c3 (after) bootstrap, 3 started" \
	"c1 c2 c3 sg" wait_for cluster_started c1 3
step "restart: c1 or c2 retried across the restart" "c1 c2" retried_across_restart c1 c2
step "restart: put on c3, get on c1" "c1 c3" put_get c3 c1 /srvgate/c hello-c
step "restart: registered ids and values are etcd's members" c1 same_ids c1 "$URL_C"
stop_members c1 c2 c3

# ------------------------------------------- 6. /v2/keys/_etcd/registry/<token>
TOK_D=$(curl -sf -m 5 "$SG_HTTP/new?size=3")
TOK_D=${TOK_D##*/}
URL_D=$SG_HTTP/v2/keys/_etcd/registry/$TOK_D
expect_match "v2 shape: empty token listing" '"nodes":\[\]' "$(curl -sf -m 5 "$URL_D")"
for m in d1 d2; do start_member "$m" "$URL_D"; done
WAIT_SECS=20 step "v2 shape: d1 and d2 registered before the restart" "d1 d2 sg" \
	wait_for members_registered "$URL_D" 2
sleep 0.5
listing "$URL_D" "$TMP/D.before"
listing "$SG_HTTP/$TOK_D" "$TMP/D.short"
expect_eq "v2 shape: /<token> and /v2/keys/... list the same members" \
	"$(members_of "$TMP/D.short")" "$(members_of "$TMP/D.before")"
d3_while_down() { start_member d3 "$URL_D"; sleep 1; }
restart_srvgate d3_while_down # d3 starts while srvgate is down
listing "$URL_D" "$TMP/D.after"
# d3 may have registered by now: compare the members from before the restart.
expect_eq "v2 shape: restart keeps the members (key, value, createdIndex)" \
	"$(members_of "$TMP/D.before")" "$(members_of "$TMP/D.after" 2)"
b=$(cat "$TMP/D.before.index") a=$(cat "$TMP/D.after.index")
check "v2 shape: X-Etcd-Index did not go down ($b -> $a)" \
	test -n "$b" -a -n "$a" -a "${a:-0}" -ge "${b:-1}"
WAIT_SECS=45 step "v2 shape: d1, d2 (before) and d3 (started while down) bootstrap" \
	"d1 d2 d3 sg" wait_for cluster_started d1 3
step "v2 shape: d1, d2 and d3 retried across the restart" "d1 d2 d3" \
	sh -c "grep -q 'retrying in' '$TMP/d1.log' && grep -q 'retrying in' '$TMP/d2.log' &&
		grep -q 'retrying in' '$TMP/d3.log'"
step "v2 shape: put on d1, get on d3" "d1 d3" put_get d1 d3 /srvgate/d hello-d
step "v2 shape: registered ids and values are etcd's members" d1 same_ids d1 "$URL_D"
start_member d4 "$URL_D"
WAIT_SECS=30 step "v2 shape: 4th member falls back to proxy" d4 \
	wait_for log_has d4 'discovery cluster full, falling back to proxy'
D1_ID=$(jq -r '.node.nodes[0].key | split("/") | last' "$TMP/D.after")
D1_VAL=$(jq -r '.node.nodes[0].value' "$TMP/D.after")
dup=$(curl -s -m 5 -o "$TMP/dupd.body" -w '%{http_code}' -X PUT \
	--data-urlencode "value=$D1_VAL" "$URL_D/$D1_ID?prevExist=false")
expect_eq "v2 shape: duplicate PUT gets HTTP 412" 412 "$dup"
expect_eq "v2 shape: duplicate PUT gets errorCode 105" 105 \
	"$(jq -r .errorCode "$TMP/dupd.body" 2>/dev/null)"
stop_members d1 d2 d3 d4

# ------------------------------------------- the end
for p in $PIDS; do stop_pid "$p"; done
echo "etcd_discovery: $(( $(date +%s) - T0 ))s"
finish
