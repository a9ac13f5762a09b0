#!/bin/bash
# tests/e2e/grpc_discovery.sh -- etcd 3.6+'s v3 discovery, replayed with
# etcdctl 3.4: the calls of v3discovery's joinCluster (Range the size key;
# Range the members prefix, noting header.revision; Put its own key; Range
# again; Watch the prefix from revision+1 until `size` members are known;
# the first `size` by create_revision win).
# The replay is checked first against a real etcd 3.4 on loopback (its size
# key made with etcdctl put), then against srvgate (a /new token):
#   - a joiner alone waits in its watch; two more join at once; all three
#     agree on the same initial cluster, in create-revision order
#   - a 4th sees a full cluster; a token without a size is reported
#   - srvgate: a member registering through v2 counts the same, the
#     members are in the v2 listing and DNS, and a joiner waiting in its
#     watch across a srvgate restart still completes
. "$(dirname "$0")/../lib.sh"

etcd_test_env etcd etcdctl

ectl_at() { local ep=$1; shift; etcdctl --endpoints="$ep" --command-timeout=5s "$@"; }

# members JSON (a Range) -> "create key value" lines, by create revision
members_of() {
	jq -r '.kvs // [] | .[] | "\(.create_revision) \(.key|@base64d) \(.value|@base64d)"' | sort -n
}

# check_cluster EP TOKEN ID: v3discovery's checkCluster. Sets SIZE, REV,
# MEMBERS. Returns 0, 2 (no size key), 3 (full: ID is not among the first
# SIZE), 1 (an error).
check_cluster() {
	local ep=$1 token=$2 id=$3 json key idx=0
	SIZE=$(ectl_at "$ep" get "/_etcd/registry/$token/_config/size" --print-value-only) || return 1
	[ -n "$SIZE" ] || return 2
	json=$(ectl_at "$ep" get "/_etcd/registry/$token/members" --prefix -w json) || return 1
	REV=$(printf '%s' "$json" | jq .header.revision)
	MEMBERS=$(printf '%s' "$json" | members_of)
	while read -r _ key _; do
		[ -n "$key" ] || continue
		[ "$key" = "/_etcd/registry/$token/members/$id" ] && return 0
		[ "$idx" -ge $((SIZE - 1)) ] && return 3
		idx=$((idx + 1))
	done <<<"$MEMBERS"
	return 0
}

# join EP TOKEN ID VALUE: joinCluster; prints the initial cluster, or
# ErrSizeNotFound / ErrFullCluster / Err<step>.
join() {
	local ep=$1 token=$2 id=$3 value=$4 rc n wfile wpid
	check_cluster "$ep" "$token" "$id"; rc=$?
	case $rc in 2) echo ErrSizeNotFound; return ;; 3) echo ErrFullCluster; return ;;
		0) ;; *) echo ErrCheck; return ;; esac
	ectl_at "$ep" put "/_etcd/registry/$token/members/$id" "$value" >/dev/null ||
		{ echo ErrPut; return; }
	check_cluster "$ep" "$token" "$id"; rc=$?
	case $rc in 3) echo ErrFullCluster; return ;; 0) ;; *) echo ErrCheck; return ;; esac
	n=$(printf '%s\n' "$MEMBERS" | grep -c .)
	if [ "$n" -lt "$SIZE" ]; then
		wfile=$TMP/watch-$id-$RANDOM
		etcdctl --endpoints="$ep" watch --prefix "/_etcd/registry/$token/members" \
			--rev $((REV + 1)) -w json >"$wfile" 2>&1 &
		wpid=$!
		for _ in $(seq 1 600); do
			MEMBERS=$( { printf '%s\n' "$MEMBERS"
				jq -r '.Events // [] | .[] | select(.type != 1) |
					"\(.kv.create_revision) \(.kv.key|@base64d) \(.kv.value|@base64d)"' \
					"$wfile" 2>/dev/null; } | grep . | sort -n -u)
			n=$(printf '%s\n' "$MEMBERS" | grep -c .)
			[ "$n" -ge "$SIZE" ] && break
			sleep 0.1
		done
		kill "$wpid" 2>/dev/null
		wait "$wpid" 2>/dev/null
		[ "$n" -ge "$SIZE" ] || { echo ErrWatch; return; }
	fi
	printf '%s\n' "$MEMBERS" | head -n "$SIZE" | awk '{print $3}' | paste -sd, -
}

# The members' values in create-revision order, as the server has them.
by_create() {
	ectl_at "$1" get "/_etcd/registry/$2/members" --prefix -w json | members_of |
		head -n 3 | awk '{print $3}' | paste -sd, -
}

# joined_alone NAME: the first joiner registered and is waiting.
registered() { [ -n "$(ectl_at "$1" get "/_etcd/registry/$2/members/$3" --print-value-only)" ]; }

# scenario NAME EP TOKEN: the three joiners, the 4th, a token without size.
scenario() {
	local scn=$1 ep=$2 token=$3 p1 p2 p3 want
	join "$ep" "$token" m1id "m1=http://10.0.0.1:2380" >"$TMP/$scn.1" &
	p1=$!
	check "$scn: the first joiner registers" wait_for registered "$ep" "$token" m1id
	sleep 0.5
	check "$scn: ... and waits (in its watch) for the others" \
		sh -c "kill -0 $p1 && ! test -s '$TMP/$scn.1'"
	join "$ep" "$token" m2id "m2=http://10.0.0.2:2380" >"$TMP/$scn.2" &
	p2=$!
	if [ -n "${V2_THIRD:-}" ]; then
		curl -s -o /dev/null -XPUT "$V2_THIRD/$token/m3id?prevExist=false" \
			--data-urlencode 'value=m3=http://10.0.0.3:2380'
		p3=
	else
		join "$ep" "$token" m3id "m3=http://10.0.0.3:2380" >"$TMP/$scn.3" &
		p3=$!
	fi
	wait $p1 $p2 $p3
	want=$(by_create "$ep" "$token")
	expect_match "$scn: three members, create-revision order" \
		'^m.=http://10\.0\.0\..:2380,m.=http://10\.0\.0\..:2380,m.=http://10\.0\.0\..:2380$' "$want"
	expect_eq "$scn: joiner 1 has that cluster" "$want" "$(cat "$TMP/$scn.1")"
	expect_eq "$scn: joiner 2 has that cluster" "$want" "$(cat "$TMP/$scn.2")"
	[ -n "$p3" ] && expect_eq "$scn: joiner 3 has that cluster" "$want" "$(cat "$TMP/$scn.3")"
	expect_eq "$scn: a 4th sees a full cluster" ErrFullCluster \
		"$(join "$ep" "$token" m4id "m4=http://10.0.0.4:2380")"
	expect_eq "$scn: a token without a size is reported" ErrSizeNotFound \
		"$(join "$ep" "0123456789abcdef0123456789abcdef" m1id "m1=http://10.0.0.1:2380")"
}

# ---- against etcd 3.4 ----
alloc_port CP
alloc_port PP
etcd --name ref --data-dir "$TMP/ref.etcd" \
	--listen-client-urls "http://127.0.0.1:$CP" --advertise-client-urls "http://127.0.0.1:$CP" \
	--listen-peer-urls "http://127.0.0.1:$PP" --initial-advertise-peer-urls "http://127.0.0.1:$PP" \
	--initial-cluster "ref=http://127.0.0.1:$PP" >"$TMP/ref.log" 2>&1 &
ETCD_PID=$!
PIDS="$PIDS $ETCD_PID"
check "etcd 3.4 runs" wait_for ectl_at "127.0.0.1:$CP" endpoint health
ET=etcdref$RANDOM
check "etcd: the size key is made with etcdctl put" ectl_at "127.0.0.1:$CP" put \
	"/_etcd/registry/$ET/_config/size" 3
scenario etcd "127.0.0.1:$CP" "$ET"
stop_pid "$ETCD_PID"

# ---- against srvgate ----
alloc_port GP && alloc_port SG_HTTP_PORT && alloc_port SG_DNS_PORT
start_srvgate disc --grpc-listen 127.0.0.1:$GP || fail "srvgate starts"
EP=127.0.0.1:$GP
T=$(curl -sf "$SG_HTTP/new?size=3" | sed 's|.*/||')
scenario srvgate "$EP" "$T"
expect_eq "srvgate: the v2 listing has the three (and the refused 4th is not there)" 3 \
	"$(curl -sf "$SG_HTTP/$T" | jq '.node.nodes | length')"
expect_eq "srvgate: DNS publishes them" 3 \
	"$(dig @127.0.0.1 -p "$SG_DNS_PORT" +short "_etcd-server._tcp.$T.discovery.internal" SRV | grep -c 2380)"

T2=$(curl -sf "$SG_HTTP/new?size=3" | sed 's|.*/||')
V2_THIRD=$SG_HTTP scenario srvgate-v2 "$EP" "$T2"

# A joiner waits in its watch while srvgate restarts; the others join after.
T3=$(curl -sf "$SG_HTTP/new?size=2" | sed 's|.*/||')
join "$EP" "$T3" r1id "r1=http://10.0.1.1:2380" >"$TMP/restart.1" &
R1=$!
check "restart: the first joiner registers" wait_for registered "$EP" "$T3" r1id
stop_pid "$SG_PID"
start_srvgate disc --grpc-listen 127.0.0.1:$GP || fail "srvgate restarts"
expect_eq "restart: the second joins" "r1=http://10.0.1.1:2380,r2=http://10.0.1.2:2380" \
	"$(join "$EP" "$T3" r2id "r2=http://10.0.1.2:2380")"
wait $R1
expect_eq "restart: the first, watching across the restart, has the same cluster" \
	"r1=http://10.0.1.1:2380,r2=http://10.0.1.2:2380" "$(cat "$TMP/restart.1")"
check_sanitizer_logs disc
finish
