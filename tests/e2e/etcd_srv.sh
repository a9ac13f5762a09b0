#!/bin/bash
# tests/e2e/etcd_srv.sh -- real etcd 3.4 end to end, DNS SRV included.
#
# etcd's Go resolver reads /etc/resolv.conf and always asks port 53, so the
# whole test runs inside a private network namespace whose resolv.conf
# (/etc/netns/NAME/resolv.conf) points at srvgate on 127.0.0.1:53:
#   1. a static zone (static.test) gives m1..m6 A 127.0.0.1;
#   2. a throwaway CA signs one peer certificate for all members;
#   3. three TLS-peer members bootstrap through srvgate's discovery URL;
#   4. srvgate publishes them as _etcd-server-ssl._tcp.<token>.<zone>;
#   5. the same three members, data wiped, bootstrap again from those SRV
#      records with --discovery-srv.
# Needs root (ip netns), etcd-server, etcd-client, bind9-dnsutils, openssl.
# Without a network namespace it FAILS: it never skips.
. "$(dirname "$0")/../lib.sh"

ZONE=discovery.internal
STATIC=static.test
NS=sg-$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')
BOOT_SECS=${SG_ETCD_BOOT_SECS:-30}
SG_URL=http://127.0.0.1:8087
EPIDS=""

die() { fail "$*"; show_logs; finish; exit 1; }
# Not for background jobs: "in_ns cmd &" forks a subshell, and $! would not
# be the process to stop. Those run "ip netns exec" directly (it execs).
in_ns() { ip netns exec "$NS" "$@"; }
peer_port() { echo $((2400 + $1)); }
client_port() { echo $((2500 + $1)); }
endpoints() { echo "http://127.0.0.1:$(client_port 1),http://127.0.0.1:$(client_port 2),http://127.0.0.1:$(client_port 3)"; }
ctl() { in_ns timeout 10 etcdctl --dial-timeout=2s --command-timeout=3s "$@"; }


# show_logs [PHASE]: srvgate's log and the etcd logs of PHASE (disc, srv;
# default all): the first errors, then the last lines.
show_logs() {
	for f in "$TMP"/srvgate.log "$TMP"/etcd-${1:-*}-*.log; do
		[ -f "$f" ] || continue
		echo "    --- $(basename "$f"): first errors"
		grep -m 3 -E ' [CE] \| |"level":"(error|fatal)"|error|fatal|x509' "$f" | cut -c1-300 | sed 's/^/    /'
		echo "    --- $(basename "$f"): last 8 lines"
		tail -n 8 "$f" | cut -c1-300 | sed 's/^/    /'
	done
}

# etcd and etcdctl read ETCD_* / ETCDCTL_* from the environment.
for v in $(env | sed -n 's/^\(ETCD[A-Z0-9_]*\)=.*/\1/p'); do unset "$v"; done

# ---- prerequisites: none of these may turn into a skip ----
[ "$(id -u)" = 0 ] || die "netns: must run as root to create a network namespace (uid $(id -u))"
for t in ip etcd etcdctl dig openssl curl; do
	command -v "$t" >/dev/null 2>&1 ||
		die "setup: '$t' not found (run scripts/install-deps test)"
done
[ -x "$SRVGATE" ] || die "setup: $SRVGATE not built (run make)"

# ---- the network namespace, always removed at exit ----
on_exit "ip netns pids $NS | xargs -r kill -KILL"
on_exit "ip netns delete $NS"
on_exit "rm -rf /etc/netns/$NS"
ip netns add "$NS" >"$TMP/netns.err" 2>&1 ||
	die "netns: ip netns add $NS failed: $(cat "$TMP/netns.err")"
ip -n "$NS" link set lo up || die "netns: cannot bring up lo in $NS"
mkdir -p "/etc/netns/$NS" && printf 'nameserver 127.0.0.1\n' >"/etc/netns/$NS/resolv.conf" ||
	die "netns: cannot write /etc/netns/$NS/resolv.conf"
[ "$(in_ns cat /etc/resolv.conf 2>&1)" = "nameserver 127.0.0.1" ] ||
	die "netns: /etc/resolv.conf inside $NS is not ours: $(in_ns cat /etc/resolv.conf 2>&1 | head -3)"
pass "netns $NS with resolv.conf -> 127.0.0.1"

# ---- 1. static zone: m1..m6.static.test -> 127.0.0.1 ----
mkdir -p "$TMP/zones"
{
	printf '$ORIGIN %s.\n$TTL 60\n' "$STATIC"
	printf '@ IN SOA ns1.%s. hostmaster.%s. 1 3600 600 86400 30\n' "$STATIC" "$STATIC"
	printf '@ IN NS ns1.%s.\nns1 IN A 127.0.0.1\n' "$STATIC"
	for i in 1 2 3 4 5 6; do printf 'm%d IN A 127.0.0.1\n' "$i"; done
} >"$TMP/zones/$STATIC.zone"

ip netns exec "$NS" "$SRVGATE" serve --http-listen 127.0.0.1:8087 --dns-listen 127.0.0.1:53 \
	--zone "$ZONE" --zones-dir "$TMP/zones" --data-dir "$TMP/srvgate.data" \
	>>"$TMP/srvgate.log" 2>&1 &
SG_PID=$!
PIDS="$PIDS $SG_PID"
wait_secs 10 in_ns curl -sf -m 1 "$SG_URL/health" ||
	die "srvgate did not come up inside $NS"

a_all=""
for i in 1 2 3 4 5 6; do
	a=$(in_ns dig +short +time=2 +tries=1 @127.0.0.1 "m$i.$STATIC" A)
	a_all="$a_all m$i=$a"
done
expect_eq "1. static zone: m1..m6.$STATIC A 127.0.0.1" \
	" m1=127.0.0.1 m2=127.0.0.1 m3=127.0.0.1 m4=127.0.0.1 m5=127.0.0.1 m6=127.0.0.1" "$a_all"
# The libc path through resolv.conf (ahostsv4 would set AI_ADDRCONFIG and
# find no address on a namespace that has only lo).
expect_eq "1. m1.$STATIC resolves through resolv.conf" "127.0.0.1" \
	"$(in_ns getent hosts "m1.$STATIC" | awk 'NR==1{print $1}')"

# ---- 2. a throwaway CA and one peer certificate ----
C=$TMP/tls
san="DNS:$STATIC"
for i in 1 2 3 4 5 6; do san="$san,DNS:m$i.$STATIC"; done
san="$san,IP:127.0.0.1"
if make_peer_cert "$C" "$san"; then
	pass "2. CA and peer cert (SAN $san)"
else
	fail "2. CA and peer cert"
fi

# start_etcd PHASE I [flags...]: member mI with TLS peers on mI.static.test.
start_etcd() {
	ph=$1 i=$2; shift 2
	mkdir -p "$TMP/etcd-data"
	ip netns exec "$NS" etcd --name "m$i" --data-dir "$TMP/etcd-data/m$i" \
		--listen-peer-urls "https://127.0.0.1:$(peer_port "$i")" \
		--initial-advertise-peer-urls "https://m$i.$STATIC:$(peer_port "$i")" \
		--listen-client-urls "http://127.0.0.1:$(client_port "$i")" \
		--advertise-client-urls "http://127.0.0.1:$(client_port "$i")" \
		--peer-cert-file "$C/peer.crt" --peer-key-file "$C/peer.key" \
		--peer-trusted-ca-file "$C/ca.crt" --peer-client-cert-auth \
		"$@" >>"$TMP/etcd-$ph-m$i.log" 2>&1 &
	EPIDS="$EPIDS $!"
	PIDS="$PIDS $!"
}

stop_etcds() {
	for p in $EPIDS; do stop_pid "$p"; done
	EPIDS=""
}

# members_ready: every endpoint healthy and 3 started members, all https
# peers on mN.static.test.
members_ready() {
	ctl --endpoints "$(endpoints)" endpoint health >/dev/null 2>&1 || return 1
	ctl --endpoints "$(endpoints)" member list >"$TMP/members.txt" 2>&1 || return 1
	[ "$(grep -c ', started, ' "$TMP/members.txt")" = 3 ] || return 1
	for i in 1 2 3; do
		grep -q ", started, m$i, https://m$i.$STATIC:$(peer_port "$i"), " "$TMP/members.txt" || return 1
	done
}

# ---- 3. a TLS cluster through the discovery URL ----
DURL=$(in_ns curl -sf -m 5 "$SG_URL/new?size=3")
TOKEN=${DURL##*/}
expect_match "3. /new?size=3 hands out a token URL" "^$SG_URL/[0-9a-f]+\$" "$DURL"
DOMAIN=$TOKEN.$ZONE

for i in 1 2 3; do start_etcd disc "$i" --discovery "$DURL"; done
if wait_secs "$BOOT_SECS" members_ready; then
	pass "3. discovery bootstrap: member list shows 3 TLS members"
	cp "$TMP/members.txt" "$TMP/members-disc.txt"
else
	fail "3. discovery bootstrap: member list shows 3 TLS members (within ${BOOT_SECS}s)"
	sed 's/^/    /' "$TMP/members.txt" 2>/dev/null | head; show_logs disc
fi

# ---- 4. the published SRV records ----
want=""
for i in 1 2 3; do want="${want}0 0 $(peer_port "$i") m$i.$STATIC.
"; done
want=${want%?}
got=$(in_ns dig +short +time=2 +tries=1 @127.0.0.1 "_etcd-server-ssl._tcp.$DOMAIN" SRV | sort)
expect_eq "4. _etcd-server-ssl._tcp.$DOMAIN SRV lists m1..m3" "$want" "$got"
full=$(in_ns dig +norec +time=2 +tries=1 @127.0.0.1 "_etcd-server-ssl._tcp.$DOMAIN" SRV)
expect_match "4. SRV answer is NOERROR with 3 answers" "status: NOERROR.*ANSWER: 3," "$(printf '%s' "$full" | tr '\n' ' ')"
expect_match "4. SRV answer has the aa flag" "flags:[a-z ]* aa[ ;]" "$full"
full=$(in_ns dig +norec +time=2 +tries=1 @127.0.0.1 "_etcd-server._tcp.$DOMAIN" SRV)
expect_match "4. no plain _etcd-server records for https peers (an authoritative NXDOMAIN)" \
	"status: NXDOMAIN.*flags:[a-z ]* aa[ ;].*ANSWER: 0," "$(printf '%s' "$full" | tr '\n' ' ')"

# ---- 5. the same members, data wiped, from the SRV records ----
stop_etcds
pids=$(ip netns pids "$NS" 2>&1)
left=$(printf '%s\n' "$pids" | grep -vx "$SG_PID" | tr '\n' ' ')
sg_in=$(printf '%s\n' "$pids" | grep -qx "$SG_PID" && echo yes || echo no)
expect_eq "5. first cluster fully stopped (nothing but srvgate in $NS)" \
	"srvgate=yes others=" "srvgate=$sg_in others=$left"
rm -rf "$TMP/etcd-data"
for i in 1 2 3; do
	start_etcd srv "$i" --discovery-srv "$DOMAIN" \
		--initial-cluster-token "srv-$TOKEN" --initial-cluster-state new
done
if wait_secs "$BOOT_SECS" members_ready; then
	pass "5. --discovery-srv bootstrap: member list shows 3 TLS members"
else
	fail "5. --discovery-srv bootstrap: member list shows 3 TLS members (within ${BOOT_SECS}s)"
	sed 's/^/    /' "$TMP/members.txt" 2>/dev/null | head; show_logs srv
fi
# Each member found itself in the SRV set by resolved IP:port (its own entry
# carries its --name; the others are named 0, 1).
n=0
for i in 1 2 3; do
	grep -q "got bootstrap from DNS for etcd-server at m$i=https://m$i.$STATIC:$(peer_port "$i")" \
		"$TMP/etcd-srv-m$i.log" && n=$((n + 1))
done
expect_eq "5. every member took its peers from DNS SRV and found itself" 3 "$n"
# A new --initial-cluster-token gives new member IDs: a fresh cluster.
if [ -s "$TMP/members-disc.txt" ]; then
	old_ids=$(cut -d, -f1 "$TMP/members-disc.txt" | sort | tr '\n' ' ')
	new_ids=$(cut -d, -f1 "$TMP/members.txt" | sort | tr '\n' ' ')
	if [ "$old_ids" != "$new_ids" ]; then pass "5. a fresh cluster (new member IDs)"; else
		fail "5. a fresh cluster (member IDs unchanged: $new_ids)"; fi
fi
val=v-$RANDOM
ctl --endpoints "http://127.0.0.1:$(client_port 1)" put /srvgate/e2e "$val" >"$TMP/put.out" 2>&1
got=$(ctl --endpoints "http://127.0.0.1:$(client_port 3)" get /srvgate/e2e --print-value-only 2>&1)
if [ "$got" = "$val" ]; then pass "5. put on m1, get on m3"; else
	fail "5. put on m1, get on m3 (want '$val', got '$got'; put: $(head -c 200 "$TMP/put.out"))"
	show_logs srv
fi

stop_etcds
stop_pid "$SG_PID"
finish
