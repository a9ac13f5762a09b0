#!/bin/bash
# tests/e2e/resolvers.sh -- srvgate behind a real recursive resolver (Unbound):
#   1. Unbound with a stub-zone for discovery.internal -> srvgate: a token's
#      SRV records, the synthesized A/AAAA of the targets, NXDOMAIN for an
#      unknown token and an unknown member name, a token made after Unbound
#      started; the resolver's answers are recursive (RA, no AA)
#   2. the same with a forward-zone, then a forward-zone over TCP
#      (forward-tcp-upstream), which reaches srvgate's TCP listener
#   3. the parent-zone delegation of zones/examples/internal.zone, end to
#      end: a parent srvgate serves internal. (NS + glue for
#      discovery.internal), a second srvgate serves discovery.internal, and
#      Unbound, given only a stub-zone for internal., follows the referral.
#      Glue holds an address, never a port, and a resolver always asks a
#      referred name server on port 53. So part 3 runs in a private network
#      namespace (its own loopback; the host's port 53 is never bound):
#      parent on 127.0.0.2:53, child on 127.0.0.3:53. The referral itself is
#      checked with dig +norec (NOERROR, no AA, NS in authority, glue in
#      additional) before Unbound follows it.
# Unbound runs in the foreground with its own config under $TMP (no chroot,
# no user switch, no remote-control, iterator only: no DNSSEC validation of
# the private zone). Every wait is bounded; every process is stopped.
# Needs root (ip netns), unbound, bind9-dnsutils (dig), curl, iproute2.
. "$(dirname "$0")/../lib.sh"

for t in unbound unbound-checkconf dig curl ip; do
	if ! command -v "$t" >/dev/null 2>&1; then
		fail "$t is installed (apt-get install unbound bind9-dnsutils curl iproute2)"
		finish; exit
	fi
done
[ -x "$SRVGATE" ] || { fail "srvgate is built ($SRVGATE)"; finish; exit; }

export LC_ALL=C
ZONE=discovery.internal
NS=sgres-$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')
SG_LOGS=""
IN_NS=""  # "ip netns exec $NS" while part 3 talks to its namespace

# ---- helpers ----

# start_sg NAME FLAGS...: a fresh srvgate on new free loopback ports.
start_sg() {
	unset SG_HTTP_PORT SG_DNS_PORT SG_DATA
	SG_LOGS="$SG_LOGS $1"
	if ! start_srvgate "$@"; then
		fail "srvgate $1 starts"; tail -5 "$TMP/$1.log" | sed 's/^/    /'
		return 1
	fi
}

# start_unbound NAME PORT [NETNS]: Unbound on 127.0.0.1:PORT (inside NETNS
# if given) with $TMP/NAME.conf: the common server: and remote-control:
# clauses below, then the zone clauses the caller wrote to $TMP/NAME.zones.
# Sets UB_PID. Passes when unbound-checkconf accepts the file and Unbound
# answers within 10 s.
start_unbound() {
	local name=$1 port=$2 ns=${3:-} run=""
	[ -n "$ns" ] && run="ip netns exec $ns"
	mkdir -p "$TMP/$name.d"
	{
		printf 'server:\n'
		printf '    interface: 127.0.0.1\n    port: %s\n' "$port"
		printf '    do-ip6: no\n    do-not-query-localhost: no\n'
		printf '    chroot: ""\n    username: ""\n    directory: "%s"\n' "$TMP/$name.d"
		printf '    pidfile: "%s"\n' "$TMP/$name.d/unbound.pid"
		printf '    logfile: ""\n    use-syslog: no\n    verbosity: 1\n'
		printf '    module-config: "iterator"\n'
		printf 'remote-control:\n    control-enable: no\n'
		cat "$TMP/$name.zones"
	} >"$TMP/$name.conf"
	if unbound-checkconf "$TMP/$name.conf" >"$TMP/$name.checkconf" 2>&1; then
		pass "$name: unbound-checkconf accepts the config"
	else
		fail "$name: unbound-checkconf accepts the config"; sed 's/^/    /' "$TMP/$name.checkconf" | head -5
		return 1
	fi
	$run unbound -d -c "$TMP/$name.conf" >>"$TMP/$name.log" 2>&1 &
	UB_PID=$!
	PIDS="$PIDS $UB_PID"
	# Unbound answers version.server CH TXT itself once it serves.
	if WAIT_SECS=10 wait_for ub_up "$port"; then pass "$name: Unbound serves on 127.0.0.1:$port"; else
		fail "$name: Unbound serves on 127.0.0.1:$port"; tail -5 "$TMP/$name.log" | sed 's/^/    /'
		return 1
	fi
}
ub_up() { $IN_NS dig +time=1 +tries=1 -p "$1" @127.0.0.1 version.server CH TXT | grep -q 'status: NOERROR'; }

# rq PORT ARGS...: dig at the resolver on 127.0.0.1:PORT (in $IN_NS).
# Unbound answers from srvgate on loopback in milliseconds: 2 s is plenty.
rq() { local p=$1; shift; $IN_NS dig +time=2 +tries=1 -p "$p" @127.0.0.1 "$@" 2>&1; }
rcode_of() { printf '%s\n' "$1" | sed -n 's/.*status: \([A-Z]*\)[,;].*/\1/p' | head -1; }
flags_of() { printf '%s\n' "$1" | sed -n 's/^;; flags: \([a-z ]*\);.*/\1/p' | head -1; }
# section OUT NAME: the record lines of dig's NAME SECTION, fields 1,4,5...
section() {
	printf '%s\n' "$1" | awk -v s=";; $2 SECTION:" '
		$0 == s { on = 1; next } on && /^$/ { on = 0 } on && !/^;/ {
			$2 = ""; $3 = ""; gsub(/  +/, " "); print }' | sort
}
# srv_of OUT: "prio weight port target" of each SRV in the answer, sorted.
srv_of() { section "$1" ANSWER | awk '$2 == "SRV" { print $3, $4, $5, $6 }' | sort; }
new_token() { local u; u=$(curl -sf -m 5 "$1/new?size=${2:-3}") && echo "${u##*/}"; }
# register BASE TOKEN ID PEERURL
register() {
	curl -sf -m 5 -o /dev/null -XPUT "$1/$2/$3" --data-urlencode "value=$3=$4"
}
metric() { $IN_NS curl -sf -m 2 "$1/metrics" | awk -v k="$2" '$1 == k { print $2 }'; }

# resolve_checks LABEL PORT BASE TOKEN: the token's records through the
# resolver on PORT, for the token made by setup_token (members m1..m3).
resolve_checks() {
	local label=$1 port=$2 base=$3 tok=$4 out want id
	out=$(rq "$port" "_etcd-server-ssl._tcp.$tok.$ZONE" SRV)
	expect_eq "$label: SRV through the resolver: NOERROR" NOERROR "$(rcode_of "$out")"
	if [ -z "$(rcode_of "$out")" ]; then # no answer at all: don't wait for the rest
		fail "$label: the resolver answers (the rest of these checks not run)"
		printf '%s\n' "$out" | grep -v '^$' | head -5 | sed 's/^/    /'
		return 1
	fi
	want=$(for id in $MEMBERS; do echo "0 0 2380 $id.$tok.$ZONE."; done | sort)
	expect_eq "$label: SRV: the three members, port 2380, targets <id>.T.$ZONE" "$want" "$(srv_of "$out")"
	expect_match "$label: the resolver's answer is recursive (ra, no aa)" '^qr rd ra$' "$(flags_of "$out")"
	for id in $MEMBERS; do
		case $(ip_of "$id") in
		*:*) out=$(rq "$port" "$id.$tok.$ZONE" AAAA)
			expect_eq "$label: AAAA of target $id" "$id.$tok.$ZONE. AAAA $(ip_of "$id")" \
				"$(section "$out" ANSWER)"
			out=$(rq "$port" "$id.$tok.$ZONE" A)
			expect_eq "$label: A of the IPv6-only target $id: NOERROR, no answer" "NOERROR|" \
				"$(rcode_of "$out")|$(section "$out" ANSWER)" ;;
		*) out=$(rq "$port" "$id.$tok.$ZONE" A)
			expect_eq "$label: A of target $id" "$id.$tok.$ZONE. A $(ip_of "$id")" \
				"$(section "$out" ANSWER)" ;;
		esac
	done
	out=$(rq "$port" "_etcd-server-ssl._tcp.$UNKNOWN.$ZONE" SRV)
	expect_eq "$label: unknown token: NXDOMAIN" NXDOMAIN "$(rcode_of "$out")"
	expect_match "$label: unknown token: the zone's SOA in authority" \
		"^$ZONE\\. SOA ns1\\.$ZONE\\. " "$(section "$out" AUTHORITY)"
	out=$(rq "$port" "nosuch.$tok.$ZONE" A)
	expect_eq "$label: unknown name under a known token: NXDOMAIN" NXDOMAIN "$(rcode_of "$out")"
	out=$(rq "$port" "_etcd-server._tcp.$tok.$ZONE" SRV)
	expect_eq "$label: no http peers, so no _etcd-server._tcp: NXDOMAIN" NXDOMAIN "$(rcode_of "$out")"
}
MEMBERS="8e9e05c52164694d 91bc3c398fb3c146 fd422379fda50e46"
ip_of() {
	case $1 in
	8e9e05c52164694d) echo 10.0.0.1 ;;
	91bc3c398fb3c146) echo 10.0.0.2 ;;
	fd422379fda50e46) echo fd00::3 ;;
	esac
}
peer_of() { case $(ip_of "$1") in *:*) echo "https://[$(ip_of "$1")]:2380" ;; *) echo "https://$(ip_of "$1"):2380" ;; esac; }
UNKNOWN=00000000000000000000000000000bad
# setup_token BASE: a token of size 3 with the three members; sets TOK.
setup_token() {
	local id
	TOK=$(new_token "$1" 3) || { fail "token: /new answers"; return 1; }
	for id in $MEMBERS; do
		register "$1" "$TOK" "$id" "$(peer_of "$id")" || { fail "token: register $id"; return 1; }
	done
	pass "token $TOK with three members"
}

# ---- 1. Unbound, stub-zone ----
if start_sg sg; then
	SG_BASE=$SG_HTTP
	SG_PORT=$SG_DNS_PORT
	SG_MAIN_PID=$SG_PID
	setup_token "$SG_BASE" || TOK=$UNKNOWN
	# srvgate itself, as the reference
	out=$(dig +time=2 +tries=1 -p "$SG_PORT" @127.0.0.1 "_etcd-server-ssl._tcp.$TOK.$ZONE" SRV)
	expect_eq "srvgate answers the SRV itself (3 records, aa)" "3 aa" \
		"$(srv_of "$out" | wc -l) $(flags_of "$out" | grep -o aa)"

	UB1=$(free_port)
	printf 'stub-zone:\n    name: "%s"\n    stub-addr: 127.0.0.1@%s\n' "$ZONE" "$SG_PORT" >"$TMP/unbound-stub.zones"
	if start_unbound unbound-stub "$UB1"; then
		q0=$(metric "$SG_BASE" 'srvgate_dns_queries_total{transport="udp"}')
		resolve_checks "stub-zone" "$UB1" "$SG_BASE" "$TOK"
		q1=$(metric "$SG_BASE" 'srvgate_dns_queries_total{transport="udp"}')
		if [ -n "$q0" ] && [ -n "$q1" ] && [ "$q1" -gt "$q0" ]; then
			pass "stub-zone: Unbound asked srvgate over UDP ($q0 -> $q1 queries)"
		else fail "stub-zone: Unbound asked srvgate over UDP (queries '$q0' -> '$q1')"; fi
		# a token made after Unbound started (nothing cached for it)
		if T2=$(new_token "$SG_BASE" 1) && register "$SG_BASE" "$T2" 1a2b3c4d5e6f7a8b https://10.0.0.9:2380; then
			out=$(rq "$UB1" "_etcd-server-ssl._tcp.$T2.$ZONE" SRV)
			expect_eq "stub-zone: a token made after Unbound started resolves" \
				"0 0 2380 1a2b3c4d5e6f7a8b.$T2.$ZONE." "$(srv_of "$out")"
			out=$(rq "$UB1" "1a2b3c4d5e6f7a8b.$T2.$ZONE" A)
			expect_eq "stub-zone: ... and its target's A" "1a2b3c4d5e6f7a8b.$T2.$ZONE. A 10.0.0.9" \
				"$(section "$out" ANSWER)"
		else fail "stub-zone: a second token can be made"; fi
		stop_pid "$UB_PID"
	fi

	# ---- 2. Unbound, forward-zone (UDP, then TCP upstream) ----
	UB2=$(free_port)
	printf 'forward-zone:\n    name: "%s"\n    forward-addr: 127.0.0.1@%s\n' "$ZONE" "$SG_PORT" >"$TMP/unbound-fwd.zones"
	if start_unbound unbound-fwd "$UB2"; then
		resolve_checks "forward-zone" "$UB2" "$SG_BASE" "$TOK"
		stop_pid "$UB_PID"
	fi
	UB3=$(free_port)
	printf 'forward-zone:\n    name: "%s"\n    forward-addr: 127.0.0.1@%s\n    forward-tcp-upstream: yes\n' \
		"$ZONE" "$SG_PORT" >"$TMP/unbound-fwdtcp.zones"
	if start_unbound unbound-fwdtcp "$UB3"; then
		t0=$(metric "$SG_BASE" 'srvgate_dns_queries_total{transport="tcp"}')
		out=$(rq "$UB3" "_etcd-server-ssl._tcp.$TOK.$ZONE" SRV)
		want=$(for id in $MEMBERS; do echo "0 0 2380 $id.$TOK.$ZONE."; done | sort)
		expect_eq "forward-zone over TCP: SRV of the three members" "$want" "$(srv_of "$out")"
		out=$(rq "$UB3" "_etcd-server-ssl._tcp.$UNKNOWN.$ZONE" SRV)
		expect_eq "forward-zone over TCP: unknown token: NXDOMAIN" NXDOMAIN "$(rcode_of "$out")"
		t1=$(metric "$SG_BASE" 'srvgate_dns_queries_total{transport="tcp"}')
		if [ -n "$t0" ] && [ -n "$t1" ] && [ "$t1" -gt "$t0" ]; then
			pass "forward-zone over TCP: Unbound asked srvgate over TCP ($t0 -> $t1 queries)"
		else fail "forward-zone over TCP: Unbound asked srvgate over TCP (queries '$t0' -> '$t1')"; fi
		stop_pid "$UB_PID"
	fi
	stop_pid "$SG_MAIN_PID"
fi

# ---- 3. the parent zone's delegation, followed by Unbound ----
netns_ok=""
if [ "$(id -u)" != 0 ]; then
	fail "netns: part 3 needs root for a network namespace (uid $(id -u))"
else
	on_exit "ip netns pids $NS | xargs -r kill -KILL"
	on_exit "ip netns delete $NS"
	if ip netns add "$NS" >"$TMP/netns.err" 2>&1 && ip -n "$NS" link set lo up; then
		netns_ok=1; pass "netns $NS with its own loopback"
	else fail "netns: ip netns add $NS: $(cat "$TMP/netns.err")"; fi
fi
if [ -n "$netns_ok" ]; then
	IN_NS="ip netns exec $NS"
	PARENT=127.0.0.2
	CHILD=127.0.0.3
	mkdir -p "$TMP/parent-zones" "$TMP/child-zones"
	# zones/examples/*.zone with the addresses of this test
	ex=$(cd "$(dirname "$0")/../../zones/examples" && pwd)
	sed -e "s/192\\.0\\.2\\.10\$/$PARENT/" -e "s/192\\.0\\.2\\.53\$/$CHILD/" \
		"$ex/internal.zone" >"$TMP/parent-zones/internal.zone"
	sed -e "s/192\\.0\\.2\\.53\$/$CHILD/" "$ex/$ZONE.zone" >"$TMP/child-zones/$ZONE.zone"
	expect_eq "parent zone: glue and NS address adapted" "$PARENT $CHILD" \
		"$(awk '$1 == "ns1" && $2 == "A" { a = $3 } $1 == "ns1.discovery" && $2 == "A" { g = $3 } END { print a, g }' \
			"$TMP/parent-zones/internal.zone")"
	# start_srvgate cannot enter a namespace: the same, by hand.
	# The parent must not serve discovery.internal itself, so its own token
	# zone is another name.
	ip netns exec "$NS" "$SRVGATE" serve --http-listen $PARENT:8087 --dns-listen $PARENT:53 \
		--zone parent-tokens.invalid --zones-dir "$TMP/parent-zones" --data-dir "$TMP/parent.data" \
		>>"$TMP/parent.log" 2>&1 &
	PARENT_PID=$!
	ip netns exec "$NS" "$SRVGATE" serve --http-listen $CHILD:8087 --dns-listen $CHILD:53 \
		--zone "$ZONE" --zones-dir "$TMP/child-zones" --data-dir "$TMP/child.data" \
		>>"$TMP/child.log" 2>&1 &
	CHILD_PID=$!
	PIDS="$PIDS $PARENT_PID $CHILD_PID"
	SG_LOGS="$SG_LOGS parent child"
	up=1
	for h in $PARENT $CHILD; do
		if ! wait_for ip netns exec "$NS" curl -sf -m 1 "http://$h:8087/health"; then
			fail "srvgate on $h:53 in $NS starts"; up=""
		fi
	done
	[ -n "$up" ] && pass "parent srvgate on $PARENT:53, child srvgate on $CHILD:53 (in $NS)"
	if [ -n "$up" ]; then
		CB=http://$CHILD:8087
		PB=http://$PARENT:8087
		# curl and the registrations go to the child inside the namespace
		TOK=$(ip netns exec "$NS" curl -sf -m 5 "$CB/new?size=3") && TOK=${TOK##*/}
		ok=${TOK:+1}
		for id in $MEMBERS; do
			ip netns exec "$NS" curl -sf -m 5 -o /dev/null -XPUT "$CB/$TOK/$id" \
				--data-urlencode "value=$id=$(peer_of "$id")" || ok=""
		done
		if [ -n "$ok" ]; then pass "child: token $TOK with three members"; else
			fail "child: token with three members"; TOK=$UNKNOWN; fi

		# the referral, as the parent gives it
		pq() { ip netns exec "$NS" dig +norec +time=2 +tries=1 @$PARENT "$@" 2>&1; }
		out=$(pq "_etcd-server-ssl._tcp.$TOK.$ZONE" SRV)
		expect_eq "referral: NOERROR from the parent" NOERROR "$(rcode_of "$out")"
		expect_eq "referral: no aa, no answer" "qr|0" \
			"$(flags_of "$out")|$(printf '%s\n' "$out" | sed -n 's/.*ANSWER: \([0-9]*\),.*/\1/p')"
		expect_eq "referral: NS of $ZONE in authority" "$ZONE. NS ns1.$ZONE." "$(section "$out" AUTHORITY)"
		expect_eq "referral: glue in additional" "ns1.$ZONE. A $CHILD" "$(section "$out" ADDITIONAL)"
		out=$(pq "ns1.$ZONE" A)
		expect_eq "referral: the glue name itself is referred too (no aa)" "NOERROR|qr|$ZONE. NS ns1.$ZONE." \
			"$(rcode_of "$out")|$(flags_of "$out")|$(section "$out" AUTHORITY)"
		out=$(pq ns1.internal A)
		expect_eq "parent: answers its own data (aa)" "qr aa|ns1.internal. A $PARENT" \
			"$(flags_of "$out")|$(section "$out" ANSWER)"
		# the child, asked directly
		out=$(ip netns exec "$NS" dig +norec +time=2 +tries=1 @$CHILD "_etcd-server-ssl._tcp.$TOK.$ZONE" SRV 2>&1)
		expect_eq "child: answers the SRV itself (3 records, aa)" "3 qr aa" \
			"$(srv_of "$out" | wc -l) $(flags_of "$out")"

		# Unbound knows only internal. -> parent; it must follow the referral
		UBR=5353
		printf 'stub-zone:\n    name: "internal"\n    stub-addr: %s\n' "$PARENT" >"$TMP/unbound-ref.zones"
		if start_unbound unbound-ref "$UBR" "$NS"; then
			p0=$(metric "$PB" 'srvgate_dns_queries_total{transport="udp"}')
			c0=$(metric "$CB" 'srvgate_dns_queries_total{transport="udp"}')
			resolve_checks "referral" "$UBR" "$CB" "$TOK"
			out=$(rq "$UBR" ns1.internal A)
			expect_eq "referral: the parent's own names resolve" "ns1.internal. A $PARENT" "$(section "$out" ANSWER)"
			p1=$(metric "$PB" 'srvgate_dns_queries_total{transport="udp"}')
			c1=$(metric "$CB" 'srvgate_dns_queries_total{transport="udp"}')
			if [ -n "$p0" ] && [ -n "$p1" ] && [ "$p1" -gt "$p0" ] && [ -n "$c0" ] && [ -n "$c1" ] && [ "$c1" -gt "$c0" ]; then
				pass "referral: Unbound asked the parent ($p0 -> $p1) and then the child ($c0 -> $c1)"
			else fail "referral: Unbound asked the parent ('$p0' -> '$p1') and then the child ('$c0' -> '$c1')"; fi
			stop_pid "$UB_PID"
		fi
	fi
	stop_pid "$PARENT_PID"
	stop_pid "$CHILD_PID"
	IN_NS=""
fi

# ---- every srvgate log: no sanitizer report ----
check_sanitizer_logs $SG_LOGS
finish
