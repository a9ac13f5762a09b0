#!/bin/bash
# tests/e2e/migration.sh -- the migration subcommands end to end.
#
# A. On loopback, a real etcd 3.4 with --enable-v2 holds a token under
#    /v2/keys/_etcd/registry/<token> (size 3; an IP, a hostname and an IPv6
#    peer URL, plus a 4th member beyond the size):
#      import (idempotent; a differing token refused, replaced with --force),
#      initial-cluster (flag and env), lookup (c-ares, srvgate's DNS port),
#      import from the public-service URL shape (a second srvgate),
#      --admin-token on import, alias and sync (a third srvgate), and the
#      admin token never sent to the source service or to etcd.
# B. The headline migration: real etcd 3.4 with TLS peers in a private
#    network namespace whose resolv.conf points at srvgate on 127.0.0.1:53
#    (etcd's Go resolver asks port 53 only), a static zone for the peers:
#      1. 3 members bootstrap through srvgate's discovery URL;
#      2. etcdctl member add m4, srvgate sync;
#      3. _etcd-server-ssl._tcp.T.Z lists 4 peers;
#      4. m4 joins with --discovery-srv T.Z --initial-cluster-state existing;
#      5. etcdctl member remove m4, srvgate sync: 3 peers again.
#    Also the _etcd-client records, sync --interval, and an alias.
# Every client command gets TOOL_SECS (default 5) seconds: it only talks to
# servers on loopback, so a slower one is a failure, not a wait.
# Needs root (ip netns), etcd-server, etcd-client, bind9-dnsutils, openssl,
# jq, curl. It never skips: a missing prerequisite is a FAIL.
. "$(dirname "$0")/../lib.sh"

ZONE=discovery.internal
STATIC=static.test
T_START=$SECONDS

unset SRVGATE_GATEWAY SRVGATE_ADMIN_TOKEN
etcd_test_env etcd etcdctl
# The admin API is closed without a token: srvgate a and pub get this one,
# and the client commands send it (SRVGATE_ADMIN_TOKEN) unless told another.
set_admin migration-admin



# Every client command talks to loopback servers only: it gets TOOL_SECS.
TOOL_SECS=${TOOL_SECS:-5}

# run NAME ARGS...: runs srvgate ARGS (bounded) with stdout in
# $TMP/NAME.out, stderr in $TMP/NAME.err; sets RC (124: timed out) and
# LAST=NAME for expect_rc.
run() {
	LAST=$1
	shift
	SRVGATE_ADMIN_TOKEN=$SG_ADMIN timeout -k 2 "$TOOL_SECS" "$SRVGATE" "$@" \
		>"$TMP/$LAST.out" 2>"$TMP/$LAST.err"
	RC=$?
}
out_of() { cat "$TMP/$1.out"; }
err_of() { cat "$TMP/$1.err"; }

# expect_rc NAME WANT: RC of the last run is WANT ("nonzero": not 0).
expect_rc() {
	if [ "$RC" = 124 ] || [ "$RC" = 137 ]; then
		fail "$1 (timed out after ${TOOL_SECS}s)"
	elif [ "$2" = nonzero ] && [ "$RC" != 0 ]; then pass "$1"
	elif [ "$2" = "$RC" ]; then pass "$1"
	else fail "$1 (want exit $2, got $RC; stderr: $(head -c 300 "$TMP/$LAST.err" 2>/dev/null))"; fi
}

tail_log() {
	local f
	for f in "$@"; do
		[ -f "$f" ] || continue
		echo "    --- $(basename "$f"): last 10 lines"
		tail -n 10 "$f" | cut -c1-300 | sed 's/^/    /'
	done
}

# random_token: 32 lower-case hex, like the public service's.
random_token() { od -An -N16 -tx1 /dev/urandom | tr -d ' \n'; }

# admin_json HTTP TOKEN: GET /_admin/tokens/TOKEN, compact.
admin_json() { curl -sf -m 5 -H "$AUTH" "$1/_admin/tokens/$2" | jq -c .; }

# etcd_index URL: the X-Etcd-Index of a GET.
etcd_index() {
	curl -sf -m 5 -D - -o /dev/null "$1" | tr -d '\r' |
		sed -n 's/^[Xx]-[Ee]tcd-[Ii]ndex: *//p'
}

# ---- prerequisites: none of these may turn into a skip ----
PREREQ_OK=1
for t in ip etcd etcdctl dig openssl curl jq; do
	if ! command -v "$t" >/dev/null 2>&1; then
		fail "setup: '$t' not found (run scripts/install-deps test)"
		PREREQ_OK=0
	fi
done
[ -x "$SRVGATE" ] || { fail "setup: $SRVGATE not built (run make)"; PREREQ_OK=0; }
[ "$PREREQ_OK" = 1 ] || { finish; exit 1; }
expect_match "setup: etcd is 3.4" '^etcd Version: 3\.4\.' "$(etcd --version)"

# ---- a throwaway CA and one certificate (127.0.0.1 and m1..m4) ----
C=$TMP/tls
san="DNS:$STATIC"
for i in 1 2 3 4; do san="$san,DNS:m$i.$STATIC"; done
san="$san,IP:127.0.0.1"
if make_peer_cert "$C" "$san"; then
	pass "setup: CA and certificate (SAN $san)"
else
	fail "setup: CA and certificate"
fi

# ======================================================================
# A. Import from a real etcd v2 keys API, loopback
# ======================================================================

# A token in etcd's own registry layout. Ids are created in an order that
# is neither their key order nor etcd's (random) listing order.
ID1=f1e2d3c4b5a69788
ID2=0a1b2c3d4e5f6071
ID3=7c6d5e4f30211203
ID4=3b4c5d6e7f809112
V1=m1=https://10.0.0.1:2380
V2=m2=http://m2.$STATIC:2380
V3='m3=http://[fd00::3]:2380'
V4=m4=http://10.0.0.4:2380
WANT_IC="$V1,$V2,$V3"

# source_put KEY VALUE [QUERY]: a PUT into the source etcd's v2 keys API.
source_put() {
	curl -sf -m 5 -X PUT "$E/v2/keys/_etcd/registry/$1${3:+?$3}" \
		--data-urlencode "value=$2" -o /dev/null
}

# capture_start NAME: a TLS server on a free port (127.0.0.1, our CA) that
# writes the one request it gets to $TMP/NAME.req and answers 404. Sets
# CAP_URL and CAP_PID.
capture_start() {
	local cap_port
	alloc_port cap_port || return 1
	timeout 10 openssl s_server -accept "127.0.0.1:$cap_port" -cert "$C/peer.crt" \
		-key "$C/peer.key" -naccept 1 -quiet \
		< <(printf 'HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}'; sleep 3) \
		>"$TMP/$1.req" 2>"$TMP/$1.s_server.log" &
	CAP_PID=$!
	PIDS="$PIDS $CAP_PID"
	CAP_URL=https://127.0.0.1:$cap_port
	wait_for bash -c "ss -Htln | awk '{print \$4}' | grep -q ':$cap_port\$'"
}

part_a() {
	local e_cp e_pp dead before after ic1 got want eid t0 ms

	# ---- the source: etcd 3.4 with the v2 API ----
	alloc_port e_cp && alloc_port e_pp || { fail "A. no free ports"; return; }
	E=http://127.0.0.1:$e_cp
	etcd --name src --data-dir "$TMP/src.etcd" --enable-v2 \
		--listen-client-urls "$E" --advertise-client-urls "$E" \
		--listen-peer-urls "http://127.0.0.1:$e_pp" \
		--initial-advertise-peer-urls "http://127.0.0.1:$e_pp" \
		--initial-cluster "src=http://127.0.0.1:$e_pp" \
		>>"$TMP/etcd-src.log" 2>&1 &
	E_PID=$!
	PIDS="$PIDS $E_PID"
	if ! wait_secs 30 curl -sf -m 1 "$E/v2/keys/"; then
		fail "A. source etcd --enable-v2 serves /v2/keys within 30s"
		tail_log "$TMP/etcd-src.log"; return
	fi
	pass "A. source etcd --enable-v2 serves /v2/keys"

	T=$(random_token)
	REG=$E/v2/keys/_etcd/registry/$T
	if source_put "$T/_config/size" 3 && source_put "$T/$ID1" "$V1" &&
		source_put "$T/$ID2" "$V2" && source_put "$T/$ID3" "$V3" &&
		source_put "$T/$ID4" "$V4"; then
		pass "A. source token written (size 3, 4 members) in etcd's v2 store"
	else
		fail "A. source token written in etcd's v2 store"; return
	fi
	# What etcd itself would assemble: the first size by createdIndex.
	want=$(curl -sf -m 5 "$REG" | jq -r \
		'[.node.nodes | sort_by(.createdIndex)[:3][] | .value] | join(",")')
	expect_eq "A. etcd's own first-3-by-createdIndex is what we wrote" "$WANT_IC" "$want"

	# ---- srvgate a: the destination, with a static zone for m2 ----
	mkdir -p "$TMP/zones-a"
	printf '$ORIGIN %s.\n$TTL 60\n@ IN SOA ns1 hostmaster 1 3600 600 86400 30\n@ IN NS ns1\nns1 IN A 127.0.0.1\nm2 IN A 10.0.0.2\n' \
		"$STATIC" >"$TMP/zones-a/$STATIC.zone"
	unset SG_HTTP_PORT SG_DNS_PORT SG_DATA
	SG_ZONES=$TMP/zones-a start_srvgate a --zone "$ZONE" ||
		{ fail "A. srvgate a starts"; tail_log "$TMP/a.log"; return; }
	HTTP=$SG_HTTP DNS=$SG_DNS_PORT A_PIDS="$A_PIDS $SG_PID"
	USED_PORTS="$USED_PORTS $SG_HTTP_PORT $SG_DNS_PORT"

	# A tool's HTTP call must end when its answer is in, not when the
	# server's kept-alive connection times out.
	t0=$(date +%s%N)
	run canary new --gateway "$HTTP" --size 3
	ms=$((($(date +%s%N) - t0) / 1000000))
	if [ "$RC" = 0 ] && [ "$ms" -lt 3000 ]; then
		pass "A. srvgate new answers at once (${ms} ms)"
	else
		fail "A. srvgate new answers at once (${ms} ms, exit $RC: the client waits for the kept-alive connection to time out?)"
	fi

	# ---- import ----
	run imp1 import "$REG" --gateway "$HTTP"
	expect_rc "A. import $REG exits 0" 0
	expect_eq "A. import reports what it copied" "imported $T: size 3, 4 members" "$(out_of imp1)"
	got=$(admin_json "$HTTP" "$T")
	expect_eq "A. imported token has size 3" 3 "$(printf '%s' "$got" | jq -r .size)"
	expect_eq "A. imported member ids in the source's createdIndex order" \
		"$ID1 $ID2 $ID3 $ID4" "$(printf '%s' "$got" | jq -r '[.members[].id] | join(" ")')"
	expect_eq "A. imported values unchanged (IP, hostname, IPv6)" \
		"$V1 $V2 $V3 $V4" "$(printf '%s' "$got" | jq -r '[.members[].value] | join(" ")')"
	expect_eq "A. the discovery API serves _config/size 3" 3 \
		"$(curl -sf -m 5 "$HTTP/$T/_config/size" | jq -r .node.value)"

	before=$(admin_json "$HTTP" "$T")
	ic1=$(etcd_index "$HTTP/$T")
	run imp2 import "$REG" --gateway "$HTTP"
	expect_rc "A. second import exits 0" 0
	expect_eq "A. second import says unchanged" "unchanged $T: size 3, 4 members" "$(out_of imp2)"
	after=$(admin_json "$HTTP" "$T")
	expect_eq "A. second import changes nothing (createdIndex of token and members)" \
		"$(printf '%s' "$before" | jq -c '[.createdIndex, [.members[] | .createdIndex, .modifiedIndex]]')" \
		"$(printf '%s' "$after" | jq -c '[.createdIndex, [.members[] | .createdIndex, .modifiedIndex]]')"
	expect_eq "A. second import: the whole token is identical" "$before" "$after"
	expect_eq "A. second import: X-Etcd-Index did not move" "$ic1" "$(etcd_index "$HTTP/$T")"

	# ---- initial-cluster ----
	run ic initial-cluster "$T" --gateway "$HTTP"
	expect_rc "A. initial-cluster exits 0" 0
	expect_eq "A. initial-cluster (flag): first 3 by createdIndex, commas" \
		"--initial-cluster=$WANT_IC" "$(out_of ic)"
	expect_eq "A. initial-cluster: nothing on stderr (all 3 registered)" "exit 0, stderr 0 bytes" \
		"exit $RC, stderr $(wc -c <"$TMP/ic.err") bytes"
	run ice initial-cluster "$T" --gateway "$HTTP" --format env
	expect_rc "A. initial-cluster --format env exits 0" 0
	expect_eq "A. initial-cluster (env)" "ETCD_INITIAL_CLUSTER=$WANT_IC" "$(out_of ice)"
	run icu initial-cluster "$REG" --gateway "$HTTP"
	expect_eq "A. initial-cluster straight from etcd's registry URL says the same" \
		"--initial-cluster=$WANT_IC" "$(out_of icu)"
	run icb initial-cluster "$T" --gateway "$HTTP" --format yaml
	expect_rc "A. initial-cluster --format yaml is a usage error" 2

	# ---- DNS: lookup (c-ares) against srvgate's DNS port ----
	run lk lookup "$T.$ZONE" --dns "127.0.0.1:$DNS"
	expect_rc "A. lookup $T.$ZONE exits 0" 0
	want=$(printf '%s\n' \
		"https://$ID1.$T.$ZONE:2380 10.0.0.1" \
		"http://m2.$STATIC:2380 10.0.0.2" \
		"http://$ID3.$T.$ZONE:2380 fd00::3" | sort)
	expect_eq "A. lookup lists the 3 peers (scheme per URL) and their addresses" \
		"$want" "$(grep -v '^--' "$TMP/lk.out" | sort)"
	got=$(sed -n 's/^--initial-cluster=//p' "$TMP/lk.out" | tr ',' '\n' | sed 's/^[^=]*=//' | sort | tr '\n' ' ')
	expect_eq "A. lookup's --initial-cluster holds the same 3 URLs" \
		"$(printf '%s\n' "https://$ID1.$T.$ZONE:2380" "http://m2.$STATIC:2380" "http://$ID3.$T.$ZONE:2380" | sort | tr '\n' ' ')" "$got"
	expect_match "A. lookup warns that etcd 3.4 reads only _etcd-server-ssl" \
		'etcd 3\.4 reads only _etcd-server-ssl' "$(err_of lk)"
	expect_eq "A. dig $ID1.$T.$ZONE A (IP peer)" 10.0.0.1 \
		"$(dig +short +time=2 +tries=1 @127.0.0.1 -p "$DNS" "$ID1.$T.$ZONE" A)"
	expect_eq "A. dig $ID3.$T.$ZONE AAAA (IPv6 peer)" fd00::3 \
		"$(dig +short +time=2 +tries=1 @127.0.0.1 -p "$DNS" "$ID3.$T.$ZONE" AAAA)"
	expect_match "A. the member beyond size is not published (NXDOMAIN)" 'status: NXDOMAIN' \
		"$(dig +time=2 +tries=1 @127.0.0.1 -p "$DNS" "$ID4.$T.$ZONE" A)"
	run lkn lookup "nothing-here.$ZONE" --dns "127.0.0.1:$DNS"
	expect_rc "A. lookup of a name that does not exist exits 3 (NXDOMAIN)" 3

	# ---- a differing token: refused, then replaced with --force ----
	T2=$(random_token)
	source_put "$T2/_config/size" 3 && source_put "$T2/a1" m1=http://10.0.1.1:2380 &&
		source_put "$T2/a2" m2=http://10.0.1.2:2380 &&
		source_put "$T2/a3" m3=http://10.0.1.3:2380 ||
		fail "A. second source token written"
	run imp3 import "$E/v2/keys/_etcd/registry/$T2" --gateway "$HTTP"
	expect_rc "A. import of a second token exits 0" 0
	run al0 alias "$T2" staging --gateway "$HTTP"
	expect_rc "A. alias $T2 staging exits 0" 0
	# The source changes after the import: an update keeps createdIndex.
	source_put "$T2/a2" m2=http://10.0.1.22:2380 prevExist=true ||
		fail "A. source member a2 updated"
	before=$(admin_json "$HTTP" "$T2")
	run imp4 import "$E/v2/keys/_etcd/registry/$T2" --gateway "$HTTP"
	expect_rc "A. import of a token that differs, without --force, fails" nonzero
	expect_match "A. the refusal says why and names --force" \
		"exists here with other members or size; use --force" "$(err_of imp4)"
	expect_eq "A. the refused import left the token alone" "$before" "$(admin_json "$HTTP" "$T2")"
	expect_eq "A. DNS still has the old address" 10.0.1.2 \
		"$(dig +short +time=2 +tries=1 @127.0.0.1 -p "$DNS" "a2.$T2.$ZONE" A)"
	run imp5 import "$E/v2/keys/_etcd/registry/$T2" --gateway "$HTTP" --force
	expect_rc "A. import --force exits 0" 0
	expect_eq "A. import --force replaced the members" \
		"m1=http://10.0.1.1:2380 m2=http://10.0.1.22:2380 m3=http://10.0.1.3:2380" \
		"$(admin_json "$HTTP" "$T2" | jq -r '[.members[].value] | join(" ")')"
	expect_eq "A. import --force: DNS has the new address" 10.0.1.22 \
		"$(dig +short +time=2 +tries=1 @127.0.0.1 -p "$DNS" "a2.$T2.$ZONE" A)"
	expect_eq "A. import --force kept the token's alias" '["staging"]' \
		"$(admin_json "$HTTP" "$T2" | jq -c .aliases)"
	expect_eq "A. import --force: the alias answers with the new address" 10.0.1.22 \
		"$(dig +short +time=2 +tries=1 @127.0.0.1 -p "$DNS" "a2.staging.$ZONE" A)"
	run imp6 import "$E/v2/keys/_etcd/registry/$T2" --gateway "$HTTP"
	expect_rc "A. after --force, a plain import is a no-op again (exit 0)" 0

	# ---- the public service's URL shape: <service>/<token> ----
	unset SG_HTTP_PORT SG_DNS_PORT SG_DATA
	start_srvgate pub || { fail "A. srvgate pub starts"; tail_log "$TMP/pub.log"; return; }
	HTTP2=$SG_HTTP A_PIDS="$A_PIDS $SG_PID"
	USED_PORTS="$USED_PORTS $SG_HTTP_PORT $SG_DNS_PORT"
	URL3=$(curl -sf -m 5 "$HTTP2/new?size=3")
	T3=${URL3##*/}
	expect_match "A. the 'public' service hands out $HTTP2/<token>" "^$HTTP2/[0-9a-f]{32}\$" "$URL3"
	for i in 3 1 2; do
		curl -sf -m 5 -X PUT "$URL3/b$i?prevExist=false" \
			--data-urlencode "value=p$i=https://m$i.$STATIC:2380" -o /dev/null ||
			fail "A. register b$i on the 'public' service"
	done
	run imp7 import "$URL3" --gateway "$HTTP"
	expect_rc "A. import $URL3 (public-service shape) exits 0" 0
	expect_eq "A. public-service import reports 3 members" "imported $T3: size 3, 3 members" "$(out_of imp7)"
	expect_eq "A. public-service import: same size, ids and values in the same order" \
		"$(admin_json "$HTTP2" "$T3" | jq -c '[.size, [.members[] | .id, .value]]')" \
		"$(admin_json "$HTTP" "$T3" | jq -c '[.size, [.members[] | .id, .value]]')"
	run ic2 initial-cluster "$T3" --gateway "$HTTP2"
	run ic3 initial-cluster "$T3" --gateway "$HTTP"
	expect_eq "A. initial-cluster on the 'public' service: registration order" \
		"--initial-cluster=p3=https://m3.$STATIC:2380,p1=https://m1.$STATIC:2380,p2=https://m2.$STATIC:2380" \
		"$(out_of ic2)"
	expect_eq "A. initial-cluster after the import says the same" "$(out_of ic2)" "$(out_of ic3)"
	run imp8 import "$URL3/" --gateway "$HTTP"
	expect_rc "A. public-service import again (trailing slash) is a no-op, exit 0" 0

	# ---- the admin token never leaves for the source or etcd ----
	if capture_start capimp; then
		run leak1 import "$CAP_URL/$T" --cacert "$C/ca.crt" --gateway "$HTTP" --admin-token leak-secret
		stop_pid "$CAP_PID"
		expect_match "A. import over https (--cacert) reached the source" \
			"^GET /$T/_config/size HTTP/1.1" "$(cat "$TMP/capimp.req")"
		if grep -qi '^authorization:' "$TMP/capimp.req"; then
			fail "A. import does not send srvgate's admin token to the source ($(grep -i '^authorization:' "$TMP/capimp.req" | tr -d '\r'))"
		else pass "A. import does not send srvgate's admin token to the source"; fi
	else fail "A. a capture server for the leak check"; fi
	if capture_start capsync; then
		run leak2 sync --etcd "$CAP_URL" --token "$T" --cacert "$C/ca.crt" --gateway "$HTTP" --admin-token leak-secret
		stop_pid "$CAP_PID"
		expect_match "A. sync asked the etcd endpoint for its member list" \
			"^POST /v3/cluster/member/list HTTP/1.1" "$(cat "$TMP/capsync.req")"
		if grep -qi '^authorization:' "$TMP/capsync.req"; then
			fail "A. sync does not send srvgate's admin token to etcd ($(grep -i '^authorization:' "$TMP/capsync.req" | tr -d '\r'))"
		else pass "A. sync does not send srvgate's admin token to etcd"; fi
	else fail "A. a capture server for the leak check"; fi

	# ---- --admin-token: writes need it ----
	unset SG_HTTP_PORT SG_DNS_PORT SG_DATA
	start_srvgate adm --zone "$ZONE" --admin-token s3cret ||
		{ fail "A. srvgate adm starts"; tail_log "$TMP/adm.log"; return; }
	HTTP3=$SG_HTTP DNS3=$SG_DNS_PORT A_PIDS="$A_PIDS $SG_PID"
	USED_PORTS="$USED_PORTS $SG_HTTP_PORT $SG_DNS_PORT"

	run adm1 import "$REG" --gateway "$HTTP3"
	expect_rc "A. admin: import without --admin-token fails" nonzero
	expect_match "A. admin: ... with HTTP 401" "HTTP 401" "$(err_of adm1)"
	run adm2 import "$REG" --gateway "$HTTP3" --admin-token wrong
	expect_rc "A. admin: import with a wrong --admin-token fails" nonzero
	expect_eq "A. admin: nothing was imported" 404 \
		"$(curl -s -m 5 -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer s3cret' "$HTTP3/_admin/tokens/$T")"
	run adm3 import "$REG" --gateway "$HTTP3" --admin-token s3cret
	expect_rc "A. admin: import with --admin-token succeeds" 0

	run adm4 alias "$T" prod-east --gateway "$HTTP3"
	expect_rc "A. admin: alias without --admin-token fails" nonzero
	LAST=adm5
	SRVGATE_ADMIN_TOKEN=s3cret "$SRVGATE" alias "$T" prod-east --gateway "$HTTP3" \
		>"$TMP/adm5.out" 2>"$TMP/adm5.err"
	RC=$?
	expect_rc "A. admin: alias with SRVGATE_ADMIN_TOKEN succeeds" 0
	expect_eq "A. admin: _etcd-server-ssl._tcp.prod-east.$ZONE answers" \
		"0 0 2380 $ID1.prod-east.$ZONE." \
		"$(dig +short +time=2 +tries=1 @127.0.0.1 -p "$DNS3" "_etcd-server-ssl._tcp.prod-east.$ZONE" SRV)"

	alloc_port dead
	run adm6 sync --etcd "$E" --token "$T" --gateway "$HTTP3"
	expect_rc "A. admin: sync without --admin-token fails" nonzero
	expect_match "A. admin: ... with HTTP 401" "HTTP 401" "$(err_of adm6)"
	# T holds the imported members, not this cluster's: the first sync
	# replaces them only with --force (tests/e2e/cli_safety.sh has more).
	run adm7r sync --etcd "$E" --token "$T" --gateway "$HTTP3" --admin-token s3cret
	expect_rc "A. sync into a token holding other members is refused without --force" 1
	run adm7 sync --etcd "http://127.0.0.1:$dead,$E" --token "$T" --gateway "$HTTP3" --admin-token s3cret --force
	expect_rc "A. admin: sync --force with --admin-token succeeds (a dead endpoint first)" 0
	expect_eq "A. sync reports the member count" "synced $T: 1 members" "$(out_of adm7)"
	eid=$(curl -sf -m 5 "$E/v2/members" | jq -r '.members[0].id')
	expect_eq "A. sync: the token is exactly etcd's one member, with its client URL" \
		"[1,[\"$eid\",\"src=http://127.0.0.1:$e_pp\",\"$E\"]]" \
		"$(curl -sf -m 5 -H 'Authorization: Bearer s3cret' "$HTTP3/_admin/tokens/$T" |
			jq -c '[.size, [.members[] | .id, .value, .clients]]')"
	expect_eq "A. sync: _etcd-client._tcp.$T.$ZONE has etcd's client port" \
		"0 0 $e_cp $eid.client.$T.$ZONE." \
		"$(dig +short +time=2 +tries=1 @127.0.0.1 -p "$DNS3" "_etcd-client._tcp.$T.$ZONE" SRV)"
	run adm8 lookup "prod-east.$ZONE" --client --dns "127.0.0.1:$DNS3"
	expect_eq "A. lookup --client through the alias gives etcd's endpoint" \
		"http://$eid.client.prod-east.$ZONE:$e_cp 127.0.0.1
--endpoints=http://$eid.client.prod-east.$ZONE:$e_cp" "$(out_of adm8)"
	run adm9 alias "$T" prod-east --gateway "$HTTP3" --delete
	expect_rc "A. admin: alias --delete without --admin-token fails" nonzero
	run adm10 alias "$T" prod-east --gateway "$HTTP3" --delete --admin-token s3cret
	expect_rc "A. admin: alias --delete with --admin-token succeeds" 0
	expect_match "A. the deleted alias is gone from DNS (NXDOMAIN)" 'status: NXDOMAIN' \
		"$(dig +time=2 +tries=1 @127.0.0.1 -p "$DNS3" "_etcd-server._tcp.prod-east.$ZONE" SRV)"
}

A_PIDS=""
part_a
for p in $E_PID $A_PIDS; do stop_pid "$p"; done
echo "--- part A: $((SECONDS - T_START))s"

# ======================================================================
# B. etcd 3.4 TLS cluster: discovery URL -> member add/remove -> DNS SRV
# ======================================================================

NS=sgm-$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')
BOOT_SECS=${SG_ETCD_BOOT_SECS:-40}
SG_URL=http://127.0.0.1:8087
EPIDS=""

# Not for background jobs: "in_ns cmd &" forks a subshell, and $! would not
# be the process to stop. Those run "ip netns exec" directly (it execs).
in_ns() { ip netns exec "$NS" "$@"; }
peer_port() { echo $((2400 + $1)); }
client_port() { echo $((2500 + $1)); }
endpoints() { echo "http://127.0.0.1:$(client_port 1),http://127.0.0.1:$(client_port 2),http://127.0.0.1:$(client_port 3)"; }
ctl() { in_ns timeout 10 etcdctl --dial-timeout=2s --command-timeout=3s "$@"; }
# sg_ns NAME ARGS...: as run, with srvgate inside the namespace.
sg_ns() {
	LAST=$1
	shift
	ip netns exec "$NS" timeout -k 2 "$TOOL_SECS" "$SRVGATE" "$@" \
		>"$TMP/$LAST.out" 2>"$TMP/$LAST.err"
	RC=$?
}
srv() { in_ns dig +short +time=2 +tries=1 @127.0.0.1 "$1" SRV | sort; }

show_logs() {
	local f
	for f in "$TMP"/srvgate-b.log "$TMP"/etcd-b-*.log "$TMP"/sync-interval.log; do
		[ -f "$f" ] || continue
		echo "    --- $(basename "$f"): first errors"
		grep -m 3 -E '"level":"(error|fatal)"|error|fatal|x509' "$f" | cut -c1-300 | sed 's/^/    /'
		echo "    --- $(basename "$f"): last 8 lines"
		tail -n 8 "$f" | cut -c1-300 | sed 's/^/    /'
	done
}

# start_etcd I [flags...]: member mI with TLS peers on mI.static.test.
# Heartbeats of 250 ms and elections after 2.5 s (etcd's defaults: 100 ms,
# 1 s): on a 2-CPU machine busy with the rest of the suite, etcd once
# called the cluster unhealthy and refused `member add` for over a minute
# (B2); slower timers leave a descheduled member time to answer.
start_etcd() {
	local i=$1
	shift
	ip netns exec "$NS" etcd --name "m$i" --data-dir "$TMP/etcd-data/m$i" \
		--listen-peer-urls "https://127.0.0.1:$(peer_port "$i")" \
		--initial-advertise-peer-urls "https://m$i.$STATIC:$(peer_port "$i")" \
		--listen-client-urls "http://127.0.0.1:$(client_port "$i")" \
		--advertise-client-urls "http://127.0.0.1:$(client_port "$i")" \
		--peer-cert-file "$C/peer.crt" --peer-key-file "$C/peer.key" \
		--peer-trusted-ca-file "$C/ca.crt" --peer-client-cert-auth \
		--heartbeat-interval 250 --election-timeout 2500 \
		"$@" >>"$TMP/etcd-b-m$i.log" 2>&1 &
	eval "EPID_$i=$!"
	EPIDS="$EPIDS $!"
	PIDS="$PIDS $!"
}

# started N: member list shows N started members, all https peers on
# mI.static.test, with their names.
started() {
	local i
	ctl --endpoints "$(endpoints)" member list >"$TMP/members.txt" 2>&1 || return 1
	[ "$(grep -c ', started, ' "$TMP/members.txt")" = "$1" ] || return 1
	for i in $(seq 1 "$1"); do
		grep -q ", started, m$i, https://m$i.$STATIC:$(peer_port "$i"), " "$TMP/members.txt" || return 1
	done
}

# want_srv I...: the SRV lines for members mI.
want_srv() {
	local i
	for i in "$@"; do echo "0 0 $(peer_port "$i") m$i.$STATIC."; done | sort
}
# client_ports: the ports of _etcd-client._tcp.$DOMAIN, sorted, one line.
client_ports() { srv "_etcd-client._tcp.$DOMAIN" | awk '{print $3}' | sort | tr '\n' ' '; }
srv_is() { [ "$(srv "$1")" = "$2" ]; }
client_ports_are() { [ "$(client_ports)" = "$1" ]; }

# member_add: etcdctl member add m4 (etcd refuses with "unhealthy cluster"
# for the first seconds after bootstrap); sets M4_ID.
member_add() {
	# An add etcd applied but whose answer etcdctl did not get (a timeout
	# on a loaded machine) leaves m4 listed, unstarted; adding it again
	# would be refused for ever ("not healthy for reconfigure").
	M4_ID=$(ctl --endpoints "$(endpoints)" member list 2>/dev/null |
		awk -F', ' -v u="https://m4.$STATIC:$(peer_port 4)" '$4 == u { print $1; exit }')
	[ -z "$M4_ID" ] || return 0
	ctl --endpoints "$(endpoints)" member add m4 \
		--peer-urls="https://m4.$STATIC:$(peer_port 4)" >"$TMP/member-add.out" 2>&1 || return 1
	M4_ID=$(sed -n 's/^Member \([0-9a-f]*\) added to cluster.*/\1/p' "$TMP/member-add.out")
	[ -n "$M4_ID" ]
}
member_remove() {
	ctl --endpoints "$(endpoints)" member remove "$M4_ID" >"$TMP/member-remove.out" 2>&1
}

part_b() {
	local want got i

	[ "$(id -u)" = 0 ] || { fail "B. netns: must run as root (uid $(id -u))"; return; }
	on_exit "ip netns pids $NS | xargs -r kill -KILL"
	on_exit "ip netns delete $NS"
	on_exit "rm -rf /etc/netns/$NS"
	if ! ip netns add "$NS" >"$TMP/netns.err" 2>&1; then
		fail "B. netns: ip netns add $NS: $(cat "$TMP/netns.err")"; return
	fi
	ip -n "$NS" link set lo up || { fail "B. netns: lo up in $NS"; return; }
	mkdir -p "/etc/netns/$NS" && printf 'nameserver 127.0.0.1\n' >"/etc/netns/$NS/resolv.conf" ||
		{ fail "B. netns: cannot write /etc/netns/$NS/resolv.conf"; return; }
	[ "$(in_ns cat /etc/resolv.conf 2>&1)" = "nameserver 127.0.0.1" ] ||
		{ fail "B. netns: resolv.conf inside $NS is not ours"; return; }
	pass "B. netns $NS with resolv.conf -> 127.0.0.1"

	# A static zone for the peers' hostnames.
	mkdir -p "$TMP/zones-b"
	{
		printf '$ORIGIN %s.\n$TTL 60\n' "$STATIC"
		printf '@ IN SOA ns1.%s. hostmaster.%s. 1 3600 600 86400 30\n' "$STATIC" "$STATIC"
		printf '@ IN NS ns1.%s.\nns1 IN A 127.0.0.1\n' "$STATIC"
		for i in 1 2 3 4; do printf 'm%d IN A 127.0.0.1\n' "$i"; done
	} >"$TMP/zones-b/$STATIC.zone"
	ip netns exec "$NS" "$SRVGATE" serve --http-listen 127.0.0.1:8087 \
		--dns-listen 127.0.0.1:53 --zone "$ZONE" --zones-dir "$TMP/zones-b" \
		--data-dir "$TMP/srvgate-b.data" --admin-token b-admin \
		>>"$TMP/srvgate-b.log" 2>&1 &
	SGB_PID=$!
	PIDS="$PIDS $SGB_PID"
	wait_secs 10 in_ns curl -sf -m 1 "$SG_URL/health" ||
		{ fail "B. srvgate comes up on 127.0.0.1:53 inside $NS"; show_logs; return; }
	expect_eq "B. m4.$STATIC resolves through resolv.conf" 127.0.0.1 \
		"$(in_ns getent hosts "m4.$STATIC" | awk 'NR==1{print $1}')"

	# ---- 1. bootstrap through the discovery URL ----
	DURL=$(in_ns curl -sf -m 5 "$SG_URL/new?size=3")
	TB=${DURL##*/}
	expect_match "B1. /new?size=3 hands out a token URL" "^$SG_URL/[0-9a-f]{32}\$" "$DURL"
	DOMAIN=$TB.$ZONE
	for i in 1 2 3; do start_etcd "$i" --discovery "$DURL"; done
	if wait_secs "$BOOT_SECS" started 3; then
		pass "B1. 3 TLS members bootstrap through the discovery URL"
	else
		fail "B1. 3 TLS members bootstrap through the discovery URL (within ${BOOT_SECS}s)"
		sed 's/^/    /' "$TMP/members.txt" | head; show_logs; return
	fi
	expect_eq "B1. _etcd-server-ssl._tcp.$DOMAIN lists m1..m3" \
		"$(want_srv 1 2 3)" "$(srv "_etcd-server-ssl._tcp.$DOMAIN")"
	# initial-cluster from srvgate equals the cluster etcd formed.
	sg_ns icb initial-cluster "$TB" --gateway "$SG_URL"
	expect_eq "B1. initial-cluster matches etcd's member list" \
		"$(awk -F', ' '{print $3 "=" $4}' "$TMP/members.txt" | sort | tr '\n' ',')" \
		"$(sed 's/^--initial-cluster=//' "$TMP/icb.out" | tr ',' '\n' | sort | tr '\n' ',')"

	# ---- 2. member add, then sync ----
	if wait_secs 60 member_add; then
		pass "B2. etcdctl member add m4 (id $M4_ID)"
	else
		fail "B2. etcdctl member add m4 within 60s: $(tail -c 300 "$TMP/member-add.out")"
		show_logs; return
	fi
	expect_eq "B2. before sync, DNS still has 3 peers" "$(want_srv 1 2 3)" \
		"$(srv "_etcd-server-ssl._tcp.$DOMAIN")"
	sg_ns sync1 sync --etcd "$(endpoints)" --token "$TB" \
		--gateway "$SG_URL"
	expect_rc "B2. sync without --admin-token is refused" nonzero
	sg_ns sync2 sync --etcd "$(endpoints)" --token "$TB" \
		--gateway "$SG_URL" --admin-token b-admin
	expect_rc "B2. srvgate sync exits 0" 0
	expect_eq "B2. sync reports 4 members" "synced $TB: 4 members" "$(out_of sync2)"
	expect_eq "B2. the unstarted m4 is in the token under etcd's member id" \
		"$M4_ID=https://m4.$STATIC:$(peer_port 4)" \
		"$(in_ns curl -sf -m 5 -H 'Authorization: Bearer b-admin' "$SG_URL/_admin/tokens/$TB" | jq -r --arg id "$M4_ID" '.members[] | select(.id == $id) | .value')"

	# ---- 3. DNS lists 4 peers ----
	expect_eq "B3. dig _etcd-server-ssl._tcp.$DOMAIN SRV lists 4 peers" \
		"$(want_srv 1 2 3 4)" "$(srv "_etcd-server-ssl._tcp.$DOMAIN")"
	expect_eq "B3. _etcd-client._tcp.$DOMAIN lists the 3 client URLs (m4 has none yet)" \
		"$(client_port 1) $(client_port 2) $(client_port 3) " "$(client_ports)"
	sg_ns lkc lookup "$DOMAIN" --client
	expect_rc "B3. lookup --client (resolv.conf, port 53) exits 0" 0
	expect_eq "B3. lookup --client: 3 endpoints at 127.0.0.1" \
		"$(client_port 1) $(client_port 2) $(client_port 3) " \
		"$(grep -v '^--' "$TMP/lkc.out" | awk '$2 == "127.0.0.1" {sub(/.*:/, "", $1); print $1}' | sort | tr '\n' ' ')"
	got=$(sed -n 's/^--endpoints=//p' "$TMP/lkc.out")
	if [ -n "$got" ] && ctl --endpoints "$got" endpoint health >"$TMP/lkc-health.out" 2>&1; then
		pass "B3. etcdctl works with lookup's --endpoints"
	else
		fail "B3. etcdctl works with lookup's --endpoints ('$got': $(tail -c 200 "$TMP/lkc-health.out"))"
	fi
	sg_ns lks lookup "$DOMAIN"
	expect_rc "B3. lookup $DOMAIN exits 0" 0
	expect_eq "B3. lookup lists 4 https peers" \
		"$(for i in 1 2 3 4; do echo "https://m$i.$STATIC:$(peer_port "$i") 127.0.0.1"; done)" \
		"$(grep -v '^--' "$TMP/lks.out" | sort)"

	# An alias answers the same records.
	sg_ns al1 alias "$TB" prod-east --gateway "$SG_URL" \
		--admin-token b-admin
	expect_rc "B3. srvgate alias $TB prod-east exits 0" 0
	expect_eq "B3. _etcd-server-ssl._tcp.prod-east.$ZONE answers the same 4 records" \
		"$(want_srv 1 2 3 4)" "$(srv "_etcd-server-ssl._tcp.prod-east.$ZONE")"

	# ---- 4. m4 joins from the SRV records ----
	start_etcd 4 --discovery-srv "$DOMAIN" --initial-cluster-state existing
	if wait_secs "$BOOT_SECS" started 4; then
		pass "B4. m4 joins with --discovery-srv: member list shows 4 started"
	else
		fail "B4. m4 joins with --discovery-srv (within ${BOOT_SECS}s)"
		sed 's/^/    /' "$TMP/members.txt" | head; show_logs
	fi
	if grep -q "got bootstrap from DNS for etcd-server at m4=https://m4.$STATIC:$(peer_port 4)" \
		"$TMP/etcd-b-m4.log"; then
		pass "B4. m4 took its peers from the SRV records and found itself"
	else fail "B4. m4 took its peers from the SRV records and found itself"; fi

	# sync --interval keeps following: m4's name and client URL appear.
	ip netns exec "$NS" "$SRVGATE" sync --etcd "$(endpoints)" --token "$TB" \
		--gateway "$SG_URL" --admin-token b-admin --interval 500ms \
		>>"$TMP/sync-interval.log" 2>&1 &
	SYNC_PID=$!
	PIDS="$PIDS $SYNC_PID"
	if wait_secs 15 client_ports_are "$(client_port 1) $(client_port 2) $(client_port 3) $(client_port 4) "; then
		pass "B4. sync --interval: _etcd-client._tcp lists m4's client URL too"
	else fail "B4. sync --interval: _etcd-client._tcp lists 4 client URLs (got '$(client_ports)')"; fi
	expect_eq "B4. sync --interval: m4 is in the token under its name" \
		"m4=https://m4.$STATIC:$(peer_port 4)" \
		"$(in_ns curl -sf -m 5 -H 'Authorization: Bearer b-admin' "$SG_URL/_admin/tokens/$TB" | jq -r --arg id "$M4_ID" '.members[] | select(.id == $id) | .value')"
	stop_pid "$SYNC_PID"
	expect_match "B4. sync --interval printed 'synced T: 4 members' (after a timestamp)" \
		"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]+Z synced $TB: 4 members" \
		"$(cat "$TMP/sync-interval.log")"

	# ---- 5. member remove, then sync: 3 peers ----
	if wait_secs 20 member_remove; then pass "B5. etcdctl member remove $M4_ID"; else
		fail "B5. etcdctl member remove $M4_ID: $(tail -c 300 "$TMP/member-remove.out")"; fi
	expect_eq "B5. before sync, DNS still has 4 peers" "$(want_srv 1 2 3 4)" \
		"$(srv "_etcd-server-ssl._tcp.$DOMAIN")"
	sg_ns sync3 sync --etcd "$(endpoints)" --token "$TB" \
		--gateway "$SG_URL" --admin-token b-admin
	expect_rc "B5. srvgate sync exits 0" 0
	expect_eq "B5. sync reports 3 members" "synced $TB: 3 members" "$(out_of sync3)"
	expect_eq "B5. _etcd-server-ssl._tcp.$DOMAIN is back to m1..m3" \
		"$(want_srv 1 2 3)" "$(srv "_etcd-server-ssl._tcp.$DOMAIN")"
	expect_eq "B5. the alias follows (3 records)" \
		"$(want_srv 1 2 3)" "$(srv "_etcd-server-ssl._tcp.prod-east.$ZONE")"
	expect_eq "B5. _etcd-client._tcp.$DOMAIN lists the 3 remaining client URLs" \
		"$(client_port 1) $(client_port 2) $(client_port 3) " "$(client_ports)"
	if wait_secs 10 started 3; then pass "B5. the cluster is 3 started members"; else
		fail "B5. the cluster is 3 started members"; sed 's/^/    /' "$TMP/members.txt" | head; fi
	got=$(eval "echo \$EPID_4")
	if wait_secs 15 bash -c "! kill -0 $got 2>/dev/null"; then
		pass "B5. the removed m4 stopped by itself"
	else fail "B5. the removed m4 stopped by itself"; fi

	for i in $EPIDS; do stop_pid "$i"; done
	stop_pid "$SGB_PID"
	got=$(ip netns pids "$NS" 2>&1 | tr '\n' ' ')
	expect_eq "B. nothing left running in $NS (which is still there)" "netns=yes pids=" \
		"netns=$(ip netns list | awk '{print $1}' | grep -qx "$NS" && echo yes || echo no) pids=$got"
}

part_b
echo "--- total: $((SECONDS - T_START))s"
finish
