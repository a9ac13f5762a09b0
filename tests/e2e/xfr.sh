#!/bin/bash
# tests/e2e/xfr.sh -- zone transfers out of srvgate, to real secondaries:
#   1. Knot DNS as a secondary: NOTIFY retried until Knot is up, the
#      first AXFR, then a registration, a deletion and a burst of
#      registrations (one NOTIFY) reach it through NOTIFY + IXFR; after a
#      srvgate restart IXFR is still incremental; with --ixfr-journal 0
#      Knot takes the whole zone in answer to its IXFR
#   2. NSD as a secondary, the same way
#   3. TSIG: Knot and NSD with a key that --allow-transfer demands (signed
#      NOTIFY, signed IXFR); dig with the right key, a wrong secret
#      (BADSIG), an unknown key (BADKEY), no key (REFUSED), a query signed
#      an hour ago (BADTIME, from a python signer of our own); clients
#      outside every rule (10.9.9.9/32, ::1 asked from 127.0.0.1) refused
#   4. IXFR with --ixfr-journal 2: from before the journal the whole zone,
#      from the previous serial the difference sequence, from the current
#      (or a newer) serial one SOA
#   5. what `dig AXFR` prints passes kzonecheck and named-checkzone (token
#      zone, a token zone from a file with glue, a static zone)
#   6. a zone of 300 tokens x 3 members: the AXFR spans several messages,
#      is complete (count, SOA first and last, no repeats), also signed
# Knot and NSD run in the foreground on free loopback ports with every file
# under $TMP; every wait is bounded. Each srvgate is stopped with SIGTERM at
# the end of its part and its log searched for sanitizer reports.
. "$(dirname "$0")/../lib.sh"
set_admin xfr-test-admin

for t in dig kdig knotd nsd nsd-checkconf kzonecheck named-checkzone python3 curl; do
	if ! command -v "$t" >/dev/null 2>&1; then
		fail "$t is installed (apt-get install bind9-dnsutils bind9-utils knot knot-dnsutils knot-dnssecutils nsd python3 curl)"
		finish; exit
	fi
done

export LC_ALL=C
ZONE=discovery.internal
. "$(dirname "$0")/../knot.sh"
KEY=xfr-key
SECRET=$(head -c 32 /dev/urandom | base64)
WRONG=$(head -c 32 /dev/urandom | base64)
SG_LOGS=""

# ---- helpers ----

# start_sg NAME FLAGS...: a fresh srvgate on new ports (see start_srvgate);
# NEXT_DNS_PORT, when set, is its DNS port (for flags that name it).
start_sg() {
	unset SG_HTTP_PORT SG_DATA
	SG_DNS_PORT=${NEXT_DNS_PORT:-$(free_port)}
	NEXT_DNS_PORT=
	SG_NAME=$1
	SG_LOGS="$SG_LOGS $1"
	if ! start_srvgate "$@"; then
		fail "srvgate $1 starts"; sed 's/^/    /' "$TMP/$1.log" | tail -5
		return 1
	fi
}
# stop_sg: SIGTERM, so that LeakSanitizer (if built in) reports.
stop_sg() { stop_pid "$SG_PID"; }

# eventually SECS NAME CMD...: passes when CMD succeeds within SECS seconds.
eventually() {
	local secs=$1 name=$2
	shift 2
	if WAIT_SECS=$secs wait_for "$@"; then pass "$name"; else fail "$name"; fi
}

dq() { dig +time=2 +tries=1 -p "$SG_DNS_PORT" @127.0.0.1 "$@" 2>&1; }
# records OUT: the record lines of dig output (no comments, no blanks, no
# TSIG: dig prints the TSIG of each signed message).
records() { printf '%s\n' "$1" | grep -v '^;' | grep -v '^$' | awk '$4 != "TSIG"'; }
# tsigs OUT: how many TSIG records dig printed.
tsigs() { printf '%s\n' "$1" | grep -v '^;' | awk '$4 == "TSIG"' | wc -l; }
rcode_of() { printf '%s\n' "$1" | sed -n 's/.*status: \([A-Z]*\)[,;].*/\1/p' | head -1; }
metric() { curl -sf -m 2 "$SG_HTTP/metrics" | awk -v k="$1" '$1 == k { print $2 }'; }
new_token() { local u; u=$(curl -sf -m 5 "$SG_HTTP/new?size=${1:-3}") && echo "${u##*/}"; }
# register TOKEN ID IP: PUT a member whose peer URL is https://IP:2380.
register() {
	curl -sf -m 5 -o /dev/null -XPUT "$SG_HTTP/$1/$2" -d "value=$2=https://$3:2380"
}
serial_at() { kq "$1" +short "$ZONE" SOA | awk 'NF == 7 { print $3 }'; }
sg_serial() { dq +short "$ZONE" SOA | awk 'NF == 7 { print $3 }'; }
# tcp_answering: prints "answering" when srvgate answers a SOA query over
# TCP now (dig's "Transfer failed" is also what a closed connection gives).
tcp_answering() { dq +tcp +short "$ZONE" SOA | awk 'NF == 7 { print "answering"; exit }'; }
# one_line OUT: OUT with its lines joined.
one_line() { printf '%s' "$1" | tr '\n' ' '; }
# has_member PORT TOKEN ID: the token's SRV on that server targets ID.
has_member() {
	kq "$1" +short "_etcd-server-ssl._tcp.$2.$ZONE" SRV |
		grep -q " $3\.$2\.$ZONE\.\$"
}
# lacks_member PORT TOKEN ID: that server answers, and not with ID.
lacks_member() {
	local out
	out=$(kq "$1" "_etcd-server-ssl._tcp.$2.$ZONE" SRV)
	printf '%s\n' "$out" | grep -Eq 'status: (NOERROR|NXDOMAIN)' &&
		! printf '%s\n' "$out" | grep -q " $3\.$2\.$ZONE\.\$"
}
# metric_above NAME VALUE: the counter went past VALUE.
metric_above() { local v; v=$(metric "$1"); [ -n "$v" ] && [ "$v" -gt "$2" ]; }
# ms_since T0: milliseconds since T0 (from now_ms).
now_ms() { date +%s%3N; }
ms_since() { echo $(( $(now_ms) - $1 )); }

IXFR_M='srvgate_xfr_total{type="ixfr"}'
AXFR_M='srvgate_xfr_total{type="axfr"}'
ACKED_M='srvgate_notify_total{state="acked"}'
SENT_M='srvgate_notify_total{state="sent"}'
REFUSED_M='srvgate_xfr_refused_total{rcode="REFUSED"}'
NOTAUTH_M='srvgate_xfr_refused_total{rcode="NOTAUTH"}'

# ---- the secondaries ----

# start_knot and kq: tests/knot.sh.

# stop_tree PID: SIGTERM to a daemon that forked helpers (NSD), then its
# helpers by id if they outlive it.
stop_tree() {
	local kids
	kids=$(ps -o pid= --ppid "$1" 2>/dev/null)
	stop_pid "$1"
	for k in $kids; do stop_pid "$k" KILL; done
}

# start_nsd NAME PORT PRIMARY_PORT [KEYNAME SECRET]: nsd -d as a secondary
# of srvgate; sets NSD_PID. Logs: $TMP/NAME.log (nsd's logfile).
start_nsd() {
	local name=$1 port=$2 primary=$3 key=${4:-} secret=${5:-} d=$TMP/$1
	local keyconf="" keyname=NOKEY
	mkdir -p "$d/zones" "$d/xfr"
	if [ -n "$key" ]; then
		keyconf="key:
    name: \"$key\"
    algorithm: hmac-sha256
    secret: \"$secret\""
		keyname=$key
	fi
	cat >"$d/nsd.conf" <<EOF
server:
    ip-address: 127.0.0.1
    port: $port
    do-ip6: no
    server-count: 1
    username: ""
    chroot: ""
    zonesdir: "$d/zones"
    zonelistfile: "$d/zone.list"
    xfrdfile: "$d/xfrd.state"
    xfrdir: "$d/xfr"
    pidfile: "$d/nsd.pid"
    database: ""
    logfile: "$TMP/$name.log"
    verbosity: 2
    zonefiles-write: 0
remote-control:
    control-enable: no
$keyconf
zone:
    name: $ZONE
    zonefile: "$ZONE.zone"
    request-xfr: 127.0.0.1@$primary $keyname
    allow-notify: 127.0.0.1 $keyname
EOF
	if ! nsd-checkconf "$d/nsd.conf" >>"$TMP/$name.log" 2>&1; then
		return 1
	fi
	nsd -d -c "$d/nsd.conf" >>"$TMP/$name.log" 2>&1 &
	NSD_PID=$!
	on_exit "stop_tree $NSD_PID"
	WAIT_SECS=10 wait_for kq "$port" "$ZONE" SOA +short
}

# secondary_follows KIND PORT LOG: parts 1 and 2, against the srvgate that
# runs now (with --notify to PORT) and a secondary on PORT.
secondary_follows() {
	local kind=$1 port=$2 log=$3 t1 t2 ix0 ack0 sent0 t0 ms i urls

	t1=$(new_token 3)
	FOLLOW_TOKEN=$t1
	check "$kind: a token and a member" register "$t1" m1 10.0.0.1
	if ! WAIT_SECS=10 wait_for has_member "$port" "$t1" m1; then
		fail "$kind: the zone transferred (SRV of a token on $kind)"
		sed 's/^/    /' "$TMP/$log.log" | tail -8
		return
	fi
	pass "$kind: the zone transferred (SRV of a token on $kind)"
	expect_eq "$kind: same serial as srvgate" "$(sg_serial)" "$(serial_at "$port")"

	# A registration: NOTIFY, then the secondary asks for IXFR.
	WAIT_SECS=3 wait_for metric_above "$ACKED_M" 0
	ix0=$(metric "$IXFR_M"); ack0=$(metric "$ACKED_M")
	t0=$(now_ms)
	register "$t1" m2 10.0.0.2
	if WAIT_SECS=5 wait_for has_member "$port" "$t1" m2; then
		ms=$(ms_since "$t0")
		pass "$kind: a new registration shows within 5 s (${ms} ms)"
	else
		fail "$kind: a new registration shows within 5 s"
		sed 's/^/    /' "$TMP/$log.log" | tail -8
	fi
	eventually 3 "$kind: srvgate counted an incremental IXFR" \
		metric_above "$IXFR_M" "$ix0"
	eventually 3 "$kind: srvgate counted the NOTIFY acked" \
		metric_above "$ACKED_M" "$ack0"
	check "$kind: srvgate logged an IXFR" \
		grep -q "xfr: IXFR of $ZONE\. to 127\.0\.0\.1 (serial" "$TMP/$SG_NAME.log"
	expect_eq "$kind: same serial as srvgate after the change" \
		"$(sg_serial)" "$(serial_at "$port")"

	# A deletion travels as an IXFR deletion.
	curl -sf -m 5 -o /dev/null -H "$AUTH" -XDELETE "$SG_HTTP/$t1/m1"
	if WAIT_SECS=5 wait_for lacks_member "$port" "$t1" m1; then
		pass "$kind: a deleted member goes within 5 s"
	else
		fail "$kind: a deleted member goes within 5 s"
	fi
	check "$kind: the remaining member stays" has_member "$port" "$t1" m2

	# A burst: five registrations in one curl, fewer NOTIFYs than changes.
	t2=$(new_token 5)
	sent0=$(metric "$SENT_M")
	urls=()
	for i in 1 2 3 4 5; do
		urls+=(-o /dev/null -XPUT "$SG_HTTP/$t2/b$i" -d "value=b$i=https://10.0.1.$i:2380" --next)
	done
	curl -sf -m 10 -o /dev/null "${urls[@]}" -o /dev/null "$SG_HTTP/health"
	if WAIT_SECS=5 wait_for has_member "$port" "$t2" b5 &&
		has_member "$port" "$t2" b1 && has_member "$port" "$t2" b3; then
		pass "$kind: a burst of 5 registrations arrives"
	else
		fail "$kind: a burst of 5 registrations arrives"
	fi
	expect_cmp "$kind: the burst was coalesced into fewer NOTIFYs" \
		"$(( $(metric "$SENT_M") - sent0 ))" -lt 5
}



# ---- 1. Knot as a secondary ----
KNOT_PORT=$(free_port)
KNOT_FLAGS=(--allow-transfer 127.0.0.1 --notify "127.0.0.1:$KNOT_PORT")
if start_sg sg-knot "${KNOT_FLAGS[@]}"; then
	# A change while the secondary is down: NOTIFY is retried (after 0.2,
	# then 1, 2, 4 ... s) until it answers.
	register "$(new_token 3)" m1 10.0.0.1
	eventually 3 "notify: retried while nobody listens" metric_above "$SENT_M" 1
	expect_eq "notify: ... and not acked" 0 "$(metric "$ACKED_M")"
	if start_knot knot "$KNOT_PORT" "$SG_DNS_PORT"; then
		pass "knot: knotd runs on 127.0.0.1:$KNOT_PORT"
		eventually 8 "notify: acked once Knot is up" metric_above "$ACKED_M" 0
		secondary_follows knot "$KNOT_PORT" knot
		check "knot: it logged an incoming IXFR" grep -q 'IXFR, incoming' "$TMP/knot.log"

		# After a restart the journal starts at the serial Knot has: the
		# next IXFR is still incremental.
		stop_sg
		start_srvgate sg-knot "${KNOT_FLAGS[@]}" || fail "knot: srvgate restarts"
		n=$(grep -c 'xfr: IXFR of' "$TMP/sg-knot.log")
		register "$FOLLOW_TOKEN" m3 10.0.0.3
		eventually 5 "knot: after a srvgate restart, a registration arrives within 5 s" \
			has_member "$KNOT_PORT" "$FOLLOW_TOKEN" m3
		expect_eq "knot: ... by an incremental IXFR" $((n + 1)) "$(grep -c 'xfr: IXFR of' "$TMP/sg-knot.log")"
		# With no journal at all, IXFR is answered with the whole zone,
		# and Knot takes that too.
		stop_sg
		start_srvgate sg-knot "${KNOT_FLAGS[@]}" --ixfr-journal 0 ||
			fail "knot: srvgate restarts with --ixfr-journal 0"
		register "$FOLLOW_TOKEN" m4 10.0.0.4
		curl -sf -m 5 -o /dev/null -H "$AUTH" -XDELETE "$SG_HTTP/$FOLLOW_TOKEN/m2"
		eventually 5 "knot: with --ixfr-journal 0, changes arrive within 5 s" \
			lacks_member "$KNOT_PORT" "$FOLLOW_TOKEN" m2
		check "knot: ... as the whole zone in answer to IXFR" \
			grep -q "IXFR (whole zone) of $ZONE" "$TMP/sg-knot.log"
		check "knot: ... with every member" has_member "$KNOT_PORT" "$FOLLOW_TOKEN" m4
		expect_eq "knot: ... same serial as srvgate" "$(sg_serial)" "$(serial_at "$KNOT_PORT")"
	else
		fail "knot: knotd runs on 127.0.0.1:$KNOT_PORT"; tail -5 "$TMP/knot.log" | sed 's/^/    /'
	fi
	stop_pid "$KNOT_PID"
	stop_sg
fi

# ---- 2. NSD as a secondary ----
NSD_PORT=$(free_port)
if start_sg sg-nsd --allow-transfer 127.0.0.1 --notify "127.0.0.1:$NSD_PORT"; then
	if start_nsd nsd "$NSD_PORT" "$SG_DNS_PORT"; then
		pass "nsd: nsd runs on 127.0.0.1:$NSD_PORT"
		secondary_follows nsd "$NSD_PORT" nsd
		check "nsd: it logged the updates" grep -q 'received update to serial' "$TMP/nsd.log"
	else
		fail "nsd: nsd runs on 127.0.0.1:$NSD_PORT"; tail -5 "$TMP/nsd.log" | sed 's/^/    /'
	fi
	stop_tree "$NSD_PID"
	stop_sg
fi

# ---- 3. TSIG and access rules ----

# A signer of our own, so that a query can be signed at any time (dig
# always signs with the current time): tsig_axfr.py HOST PORT ZONE KEY
# SECRET OFFSET prints "RCODE TSIGERROR ANSWERS" of the first answer.
cat >"$TMP/tsig_axfr.py" <<'EOF'
import base64, hashlib, hmac, random, socket, struct, sys, time

host, port, zone, key, secret, offset = sys.argv[1:7]

def name(n):
    out = b""
    for label in n.rstrip(".").split("."):
        if label:
            out += bytes([len(label)]) + label.lower().encode()
    return out + b"\0"

def skip_name(m, i):
    while True:
        n = m[i]
        if n == 0:
            return i + 1
        if n & 0xC0 == 0xC0:
            return i + 2
        i += n + 1

qid = random.randrange(65536)
msg = struct.pack("!HHHHHH", qid, 0, 1, 0, 0, 0) + name(zone) + struct.pack("!HH", 252, 1)
now = int(time.time()) + int(offset)
alg = name("hmac-sha256")
tsig_vars = (name(key) + struct.pack("!HI", 255, 0) + alg +
             struct.pack("!HIH", now >> 32, now & 0xFFFFFFFF, 300) + struct.pack("!HH", 0, 0))
mac = hmac.new(base64.b64decode(secret), msg + tsig_vars, hashlib.sha256).digest()
rdata = (alg + struct.pack("!HIH", now >> 32, now & 0xFFFFFFFF, 300) +
         struct.pack("!H", len(mac)) + mac + struct.pack("!HHH", qid, 0, 0))
tsig = name(key) + struct.pack("!HHIH", 250, 255, 0, len(rdata)) + rdata
wire = msg[:10] + struct.pack("!H", 1) + msg[12:] + tsig
s = socket.create_connection((host, int(port)), timeout=3)
s.sendall(struct.pack("!H", len(wire)) + wire)
buf = b""
while len(buf) < 2 or len(buf) < 2 + struct.unpack("!H", buf[:2])[0]:
    chunk = s.recv(65536)
    if not chunk:
        break
    buf += chunk
m = buf[2:]
_, flags, qd, an, ns, ar = struct.unpack("!HHHHHH", m[:12])
i = 12
for _ in range(qd):
    i = skip_name(m, i) + 4
err = "NONE"
for n in range(an + ns + ar):
    i = skip_name(m, i)
    rtype, _, _, rdlen = struct.unpack("!HHIH", m[i:i + 10])
    i += 10
    if rtype == 250:
        j = skip_name(m, i) + 8
        maclen = struct.unpack("!H", m[j:j + 2])[0]
        j += 2 + maclen + 2
        err = {0: "NOERROR", 16: "BADSIG", 17: "BADKEY", 18: "BADTIME"}.get(
            struct.unpack("!H", m[j:j + 2])[0], "OTHER")
    i += rdlen
rcodes = {0: "NOERROR", 1: "FORMERR", 5: "REFUSED", 9: "NOTAUTH"}
print(rcodes.get(flags & 0xF, str(flags & 0xF)), err, an)
EOF

KNOT_PORT=$(free_port)
NSD_PORT=$(free_port)
if start_sg sg-tsig --tsig-key "$KEY:hmac-sha256:$SECRET" \
	--allow-transfer "127.0.0.1@$KEY" \
	--notify "127.0.0.1:$KNOT_PORT@$KEY" --notify "127.0.0.1:$NSD_PORT@$KEY"; then
	T=$(new_token 3)
	register "$T" m1 10.0.0.1
	start_knot knot-tsig "$KNOT_PORT" "$SG_DNS_PORT" "$KEY" "$SECRET" ||
		fail "tsig: knotd runs"
	start_nsd nsd-tsig "$NSD_PORT" "$SG_DNS_PORT" "$KEY" "$SECRET" ||
		fail "tsig: nsd runs"
	eventually 10 "tsig: Knot transferred with the key" \
		has_member "$KNOT_PORT" "$T" m1
	eventually 10 "tsig: NSD transferred with the key" \
		has_member "$NSD_PORT" "$T" m1
	register "$T" m2 10.0.0.2
	eventually 5 "tsig: a registration reaches Knot within 5 s (signed NOTIFY, IXFR)" \
		has_member "$KNOT_PORT" "$T" m2
	eventually 5 "tsig: a registration reaches NSD within 5 s (signed NOTIFY, IXFR)" \
		has_member "$NSD_PORT" "$T" m2
	check "tsig: srvgate logged a signed IXFR" \
		grep -q "xfr: IXFR of $ZONE\. .* signed with $KEY" "$TMP/$SG_NAME.log"
	check "tsig: Knot accepted the signed NOTIFY" \
		bash -c "! grep -q 'rcode 9' '$TMP/$SG_NAME.log' && grep -q 'notify, incoming' '$TMP/knot-tsig.log'"
	expect_eq "tsig: the secondaries were never refused" "0 0" \
		"$(metric "$REFUSED_M") $(metric "$NOTAUTH_M")"
	stop_pid "$KNOT_PID"
	stop_tree "$NSD_PID"
	# two member addresses and the glue of the generated NS (--ns-address)

	out=$(dq +nocmd +nocomments "$ZONE" AXFR -y "hmac-sha256:$KEY:$SECRET")
	types=$(records "$out" | awk '{ print $4 }')
	expect_eq "tsig: dig AXFR with the key: the zone, SOA first and last" \
		"SOA SOA | A A A NS SRV SRV" \
		"$(printf '%s\n' "$types" | sed -n '1p;$p' | tr '\n' ' ')| $(printf '%s\n' "$types" | sed '1d;$d' | sort | tr '\n' ' ' | sed 's/ $//')"
	expect_eq "tsig: ... signed, and dig verified it" "1 " \
		"$(tsigs "$out") $(printf '%s\n' "$out" | grep -Ei 'verify|failed')"

	out=$(dq +nocmd "$ZONE" AXFR -y "hmac-sha256:$KEY:$WRONG")
	expect_match "tsig: a wrong secret fails (BADSIG)" 'BADSIG' "$out"
	expect_match "tsig: a wrong secret: Transfer failed, after srvgate's BADSIG" \
		'BADSIG.*Transfer failed|Transfer failed.*BADSIG' "$(one_line "$out")"
	expect_eq "tsig: a wrong secret gets no records (but a BADSIG answer)" "BADSIG records=0" \
		"$(grep -q BADSIG <<<"$out" && echo BADSIG) records=$(records "$out" | grep -vc TSIG)"
	out=$(kq "$SG_DNS_PORT" "$ZONE" AXFR -y "hmac-sha256:$KEY:$WRONG")
	expect_match "tsig: kdig too sees BADSIG" 'BADSIG' "$out"

	out=$(dq +nocmd "$ZONE" AXFR -y "hmac-sha256:no-such-key:$SECRET")
	expect_match "tsig: an unknown key fails (BADKEY)" 'BADKEY' "$out"
	out=$(dq +nocmd "$ZONE" AXFR -y "hmac-sha512:$KEY:$SECRET")
	expect_match "tsig: the key with another algorithm fails (BADKEY)" 'BADKEY' "$out"

	out="$(tcp_answering) $(one_line "$(dq +nocmd "$ZONE" AXFR)")"
	expect_match "tsig: unsigned: Transfer failed, from a server answering over TCP" \
		'^answering .*Transfer failed' "$out"
	out=$(kq "$SG_DNS_PORT" "$ZONE" AXFR)
	expect_match "tsig: unsigned is REFUSED" "REFUSED" "$out"

	out=$(python3 "$TMP/tsig_axfr.py" 127.0.0.1 "$SG_DNS_PORT" "$ZONE" "$KEY" "$SECRET" 0 2>&1)
	expect_match "tsig: our own signer, now: the zone" '^NOERROR NOERROR [1-9]' "$out"
	out=$(python3 "$TMP/tsig_axfr.py" 127.0.0.1 "$SG_DNS_PORT" "$ZONE" "$KEY" "$SECRET" -3600 2>&1)
	expect_eq "tsig: a query signed an hour ago (a replay) fails (BADTIME)" "NOTAUTH BADTIME 0" "$out"
	out=$(python3 "$TMP/tsig_axfr.py" 127.0.0.1 "$SG_DNS_PORT" "$ZONE" "$KEY" "$WRONG" 0 2>&1)
	expect_eq "tsig: our own signer, wrong secret (BADSIG)" "NOTAUTH BADSIG 0" "$out"
	expect_cmp "tsig: srvgate counted the NOTAUTH answers" "$(metric "$NOTAUTH_M")" -ge 6
	check "tsig: srvgate logged why" grep -q 'TSIG BADTIME' "$TMP/$SG_NAME.log"
	stop_sg
fi

# Access rules: nobody from 127.0.0.1; ::1 may (over IPv6 only).
ACL_PORT=$(free_port)
if NEXT_DNS_PORT=$ACL_PORT start_sg sg-acl --allow-transfer 10.9.9.9/32 \
	--allow-transfer ::1 --dns-listen "[::1]:$ACL_PORT"; then
	out=$(kq "$SG_DNS_PORT" "$ZONE" AXFR)
	expect_match "acl: 127.0.0.1 outside 10.9.9.9/32 and ::1 is REFUSED" "REFUSED" "$out"
	alive=$(tcp_answering)
	out=$(dq +nocmd "$ZONE" AXFR)
	expect_eq "acl: 127.0.0.1 gets no records (from a server answering over TCP)" \
		"answering records=0" "$alive records=$(records "$out" | grep -c .)"
	out=$(dig +time=2 +tries=1 -p "$ACL_PORT" @::1 +nocmd +nocomments "$ZONE" AXFR 2>&1)
	# SOA first and last; the order in between is the server's own
	types=$(records "$out" | awk '{ print $4 }')
	expect_eq "acl: ::1 may transfer" "SOA SOA | A NS" \
		"$(printf '%s\n' "$types" | sed -n '1p;$p' | tr '\n' ' ')| $(printf '%s\n' "$types" | sed '1d;$d' | sort | tr '\n' ' ' | sed 's/ $//')"
	expect_eq "acl: srvgate counted 2 REFUSED" 2 "$(metric "$REFUSED_M")"
	check "acl: srvgate logged the refusal" grep -q 'refused AXFR from 127.0.0.1: no --allow-transfer rule covers this address' "$TMP/$SG_NAME.log"
	stop_sg
fi

# ---- 4. IXFR and the journal ----

# compact OUT: one line per record of dig output: "SOA serial",
# "A <owner's first label> <address>", "SRV <target's first label>".
compact() {
	records "$1" | awk '
		$4 == "SOA" { print "SOA", $7; next }
		$4 == "SRV" { split($NF, l, "."); print "SRV", l[1]; next }
		{ split($1, l, "."); print $4, l[1], $NF }'
}
joined() { compact "$1" | tr '\n' '|' | sed 's/|$//'; }

# With an NS outside the zone the generated zone is whole (part 5 checks
# it): the default ns1.<zone> has no address record.
if start_sg sg-ixfr --allow-transfer 127.0.0.1 --ixfr-journal 2 \
	--ns-name ns1.example.net.; then
	T=$(new_token 10)
	S0=$(sg_serial)
	register "$T" m1 10.0.0.1; S1=$(sg_serial)
	register "$T" m2 10.0.0.2; S2=$(sg_serial)
	register "$T" m3 10.0.0.3; S3=$(sg_serial)
	register "$T" m4 10.0.0.4; S4=$(sg_serial)
	register "$T" m1 10.0.1.1; S5=$(sg_serial) # m1 moves: A out, A in
	if [ -n "$S0" ] && [ "$S0" -lt "$S1" ] && [ "$S1" -lt "$S2" ] &&
		[ "$S2" -lt "$S3" ] && [ "$S3" -lt "$S4" ] && [ "$S4" -lt "$S5" ]; then
		pass "ixfr: 5 changes, 5 new serials ($S0 .. $S5)"
	else
		fail "ixfr: 5 changes, 5 new serials (got '$S0 $S1 $S2 $S3 $S4 $S5')"
	fi

	out=$(dq +nocmd +nocomments +nostats "$ZONE" IXFR="$S1")
	soas=$(compact "$out" | awk '$1 == "SOA"' | tr '\n' ' ')
	expect_eq "ixfr: from before the journal: the whole zone, SOA $S5 first and last only" \
		"SOA $S5 SOA $S5 " "$soas"
	expect_eq "ixfr: ... first and last" "SOA $S5|SOA $S5" \
		"$(compact "$out" | sed -n '1p;$p' | tr '\n' '|' | sed 's/|$//')"
	expect_eq "ixfr: ... with every record as it is now" \
		"A m1 10.0.1.1|A m2 10.0.0.2|A m3 10.0.0.3|A m4 10.0.0.4|NS discovery ns1.example.net.|SRV m1|SRV m2|SRV m3|SRV m4" \
		"$(compact "$out" | sed '1d;$d' | sort | tr '\n' '|' | sed 's/|$//')"
	check "ixfr: srvgate logged the fallback" grep -q "IXFR (whole zone) of $ZONE" "$TMP/$SG_NAME.log"

	out=$(dq +nocmd +nocomments +nostats "$ZONE" IXFR="$S4")
	expect_eq "ixfr: from the previous serial: SOA new, SOA old, deletions, SOA new, additions, SOA new" \
		"SOA $S5|SOA $S4|A m1 10.0.0.1|SOA $S5|A m1 10.0.1.1|SOA $S5" "$(joined "$out")"

	out=$(dq +nocmd +nocomments +nostats "$ZONE" IXFR="$S3")
	expect_eq "ixfr: from two serials back: both differences in order" \
		"SOA $S5 SOA $S3 SOA $S4 SOA $S4 SOA $S5 SOA $S5 " \
		"$(compact "$out" | awk '$1 == "SOA"' | tr '\n' ' ')"
	expect_eq "ixfr: ... adding m4, then moving m1" \
		"A m1 10.0.0.1|A m1 10.0.1.1|A m4 10.0.0.4|SRV m4" \
		"$(compact "$out" | awk '$1 != "SOA"' | sort | tr '\n' '|' | sed 's/|$//')"

	out=$(dq +nocmd +nocomments +nostats "$ZONE" IXFR="$S5")
	expect_eq "ixfr: from the current serial: one SOA" "SOA $S5" "$(joined "$out")"
	out=$(dq +nocmd +nocomments +nostats "$ZONE" IXFR=$((S5 + 100)))
	expect_eq "ixfr: from a newer serial than ours: one SOA (RFC 1995)" "SOA $S5" "$(joined "$out")"
	expect_eq "ixfr: counted 4 IXFR and 1 AXFR (the fallback)" "4 1" \
		"$(metric "$IXFR_M") $(metric "$AXFR_M")"

	# ---- 5. zone checkers, on the generated token zone ----
	dq +nocmd +nocomments +nostats "$ZONE" AXFR >"$TMP/gen.zone"
	check "checkzone: kzonecheck passes the generated token zone" \
		kzonecheck -v -o "$ZONE" "$TMP/gen.zone"
	check "checkzone: named-checkzone passes the generated token zone" \
		named-checkzone -i full "$ZONE" "$TMP/gen.zone"
	stop_sg
fi

# ---- 5 and 6. a token zone from a file, a static zone; 300 tokens ----
mkdir -p "$TMP/zones"
cat >"$TMP/zones/$ZONE.zone" <<EOF
\$ORIGIN $ZONE.
\$TTL 300
@	IN SOA	ns1 hostmaster 100 3600 600 86400 30
@	IN NS	ns1
ns1	IN A	127.0.0.1
EOF
cat >"$TMP/zones/example.test.zone" <<'EOF'
$ORIGIN example.test.
$TTL 3600
@	SOA	ns1 hostmaster 2024010101 7200 900 1209600 300
@	NS	ns1
@	NS	ns2.example.net.
@	MX	10 mail
@	TXT	"v=spf1 -all"
ns1	A	192.0.2.1
ns1	AAAA	2001:db8::1
mail	A	192.0.2.25
www	CNAME	example.test.
_etcd-server._tcp	SRV	0 0 2380 ns1
sub	NS	ns1.sub
ns1.sub	A	192.0.2.53
EOF
cat >"$TMP/load.py" <<'EOF'
# load.py PORT TOKENS SIZE: makes TOKENS tokens of SIZE members over one
# keep-alive connection; prints nothing on success.
import http.client, sys
port, ntok, size = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
toks = []
for i in range(ntok):
    c.request("GET", "/new?size=%d" % size)
    r = c.getresponse()
    body = r.read().decode()
    if r.status // 100 != 2:
        sys.exit("GET /new: %d %s" % (r.status, body))
    toks.append(body.strip().rsplit("/", 1)[1])
for i, t in enumerate(toks):
    for j in range(size):
        c.request("PUT", "/%s/m%d" % (t, j),
                  body="value=m%d=https://10.%d.%d.%d:2380" % (j, i // 256, i % 256, j + 1),
                  headers={"Content-Type": "application/x-www-form-urlencoded"})
        r = c.getresponse()
        body = r.read()
        if r.status // 100 != 2:
            sys.exit("PUT: %d %s" % (r.status, body))
EOF

if SG_ZONES=$TMP/zones start_sg sg-big --rate-limit 0 --allow-transfer 127.0.0.1 \
	--tsig-key "$KEY:hmac-sha256:$SECRET"; then
	dq +nocmd +nocomments +nostats example.test AXFR >"$TMP/static.zone"
	expect_eq "checkzone: a static zone transfers whole" 13 "$(records "$(cat "$TMP/static.zone")" | wc -l)"
	check "checkzone: kzonecheck passes a static zone" \
		kzonecheck -v -o example.test "$TMP/static.zone"
	check "checkzone: named-checkzone passes a static zone" \
		named-checkzone -i full example.test "$TMP/static.zone"

	t0=$(now_ms)
	check "big: 300 tokens x 3 members registered" python3 "$TMP/load.py" "$SG_HTTP_PORT" 300 3
	echo "    (loaded in $(ms_since "$t0") ms)"
	WANT=$((2 + 2 + 300 * 3 * 2)) # SOA, NS, ns1 A, SRV and A per member, SOA

	out=$(dq +nocmd +nocomments "$ZONE" AXFR)
	records "$out" >"$TMP/big.zone"
	expect_eq "big: dig AXFR has every record" "$WANT" "$(wc -l <"$TMP/big.zone")"
	expect_eq "big: SOA first and last, and only there" "1 $WANT 2" \
		"$(awk '$4 == "SOA" { printf "%s ", NR; n++ } END { print n }' "$TMP/big.zone")"
	expect_eq "big: no record twice" "records=$WANT twice=" \
		"records=$(wc -l <"$TMP/big.zone") twice=$(awk '$4 != "SOA"' "$TMP/big.zone" | sort | uniq -d | head -3)"
	expect_eq "big: 900 SRV and 901 A" "900 901" \
		"$(awk '$4 == "SRV" { s++ } $4 == "A" { a++ } END { print s + 0, a + 0 }' "$TMP/big.zone")"
	expect_eq "big: all 300 tokens" 300 \
		"$(awk '$4 == "SRV" { split($1, l, "."); print l[3] }' "$TMP/big.zone" | sort -u | wc -l)"
	msgs=$(printf '%s\n' "$out" | sed -n 's/^;; XFR size: .*messages \([0-9]*\),.*/\1/p')
	expect_cmp "big: it took more than one message" "$msgs" -gt 1
	out=$(kq "$SG_DNS_PORT" "$ZONE" AXFR)
	expect_eq "big: kdig AXFR agrees" "$WANT" "$(records "$out" | wc -l)"
	out=$(dq +nocmd +nocomments "$ZONE" AXFR -y "hmac-sha256:$KEY:$SECRET")
	expect_eq "big: signed AXFR is whole" "$WANT" "$(records "$out" | wc -l)"
	expect_eq "big: ... every message signed, dig verified each" "$msgs " \
		"$(tsigs "$out") $(printf '%s\n' "$out" | grep '^;' | grep -Ei 'verify|failed|error')"
	check "checkzone: kzonecheck passes the token zone of 300 tokens" \
		kzonecheck -v -o "$ZONE" "$TMP/big.zone"
	check "checkzone: named-checkzone passes the token zone of 300 tokens" \
		named-checkzone -i full "$ZONE" "$TMP/big.zone"
	stop_sg
fi

# ---- every srvgate log: no sanitizer report, no crash ----
check_sanitizer_logs $SG_LOGS
finish
