#!/bin/bash
# tests/e2e/dns.sh -- srvgate as an authoritative DNS server, asked with dig,
# kdig and (for what those tools will not send) raw python3 packets:
#   1. token records: SRV per scheme, A/AAAA targets, hostname targets, the
#      first `size` members only, --srv-name, header flags (AA, RA, RD)
#   2. NXDOMAIN vs NODATA, the SOA and its negative TTL, empty non-terminals,
#      REFUSED outside our zones, the question's letter case
#   3. EDNS0: OPT, BADVERS, DO, UDP payload bounded by client and --edns-buffer,
#      additional dropped before TC, the whole answer over TCP
#   4. TCP: pipelining, idle timeout, connection cap
#   5. malformed packets, opcodes, QR, ANY (RFC 8482), AXFR/IXFR, IPv6
#   6. registrations and DELETEs visible at once, the SOA serial up with each
#      change of the published records
#   7. static zones, delegations (referral with glue, DS from the parent), a
#      zone file for the token zone, SIGHUP with broken files (file:line
#      logged, old data kept) and then a fixed one, SRV targets not compressed
#   8. the serial after a restart; no sanitizer reports (SANITIZE=1 builds)
# Every query has +time=2 +tries=1 (or a python timeout): nothing hangs.
. "$(dirname "$0")/../lib.sh"
set_admin dns-test-admin

for t in dig kdig python3 curl; do
	if ! command -v "$t" >/dev/null 2>&1; then
		fail "$t is installed (apt-get install bind9-dnsutils knot-dnsutils python3 curl)"
		finish; exit
	fi
done

ZONE=discovery.internal

# ---- helpers over dig output ----

# dq ARGS...: dig at the server under test (DQ_HOST, default 127.0.0.1).
dq() { dig +time=2 +tries=1 -p "$SG_DNS_PORT" @"${DQ_HOST:-127.0.0.1}" "$@" 2>&1; }
kq() { kdig +time=2 +retry=0 -p "$SG_DNS_PORT" @127.0.0.1 "$@" 2>&1; }
status_of() { printf '%s\n' "$1" | sed -n 's/.*status: \([A-Z0-9]*\),.*/\1/p' | head -1; }
# flags_of OUT: the header flags, space padded (" qr aa rd ").
flags_of() { printf '%s\n' "$1" | sed -n 's/^;; flags: \([^;]*\);.*/ \1 /p' | head -1; }
# count_of OUT ANSWER|AUTHORITY|ADDITIONAL: the header count (OPT included).
count_of() { printf '%s\n' "$1" | sed -n "s/^;; flags:.* $2: \([0-9]*\).*/\1/p" | head -1; }
# section OUT NAME: the records of one section.
section() { printf '%s\n' "$1" | awk -v s=";; $2 SECTION:" '$0==s{on=1;next} on&&/^$/{exit} on'; }
size_of() { printf '%s\n' "$1" | sed -n 's/^;; MSG SIZE  rcvd: \([0-9]*\)/\1/p'; }
has_flag() { case "$(flags_of "$1")" in *" $2 "*) return 0 ;; esac; return 1; }
# rdata OUT SECTION: "type rdata" of each record, sorted.
rdata() { section "$1" "$2" | awk '{t=$4; $1=$2=$3=$4=""; sub(/^ +/, ""); print t, $0}' | sort; }
# neg_soa OUT: "owner ttl" of the SOA in authority.
neg_soa() { section "$1" AUTHORITY | awk '$4=="SOA"{print $1, $2}'; }
serial() { dq +short "${1:-$ZONE}" SOA | awk '{print $3}'; }
# tcp_answering: prints "answering" when a SOA query over TCP is answered.
tcp_answering() { dq +tcp +short "$ZONE" SOA | awk 'NF == 7 { print "answering"; exit }'; }

# expect_flags NAME OUT WANT...: every WANT flag set ("-ra": not set).
expect_flags() {
	local name=$1 out=$2 f bad=""
	shift 2
	for f in "$@"; do
		case $f in
		-*) has_flag "$out" "${f#-}" && bad="$bad $f" ;;
		*) has_flag "$out" "$f" || bad="$bad +$f" ;;
		esac
	done
	if [ -z "$bad" ]; then pass "$name"; else
		fail "$name (flags '$(flags_of "$out")', wrong:$bad)"; fi
}

# expect_negative NAME OUT RCODE OWNER TTL: no answer, the SOA of OWNER with
# TTL in authority, AA set.
expect_negative() {
	local got
	got="$(status_of "$2") an=$(count_of "$2" ANSWER) soa=$(neg_soa "$2") aa=$(has_flag "$2" aa && echo 1 || echo 0)"
	expect_eq "$1" "$3 an=0 soa=$4 $5 aa=1" "$got"
}

# ---- the python side: raw packets and TCP behaviour ----
cat >"$TMP/dnsraw.py" <<'EOF'
import random, socket, struct, sys, time

HOST, PORT = sys.argv[1], int(sys.argv[2])
FAM = socket.AF_INET6 if ':' in HOST else socket.AF_INET
ALIVE_NAME = 'discovery.internal'
TYPES = {'A': 1, 'NS': 2, 'SOA': 6, 'AAAA': 28, 'SRV': 33, 'IXFR': 251,
         'AXFR': 252, 'ANY': 255}


def wname(name):
    out = b''
    for l in name.rstrip('.').split('.'):
        if l:
            out += bytes([len(l)]) + l.encode()
    return out + b'\0'


def query(name, qtype='SOA', qid=None, flags=0x0100, edns=None):
    qid = random.randrange(65536) if qid is None else qid
    p = struct.pack('>HHHHHH', qid, flags, 1, 0, 0, 1 if edns else 0)
    p += wname(name) + struct.pack('>HH', TYPES[qtype], 1)
    if edns:
        p += b'\0' + struct.pack('>HHIH', 41, edns, 0, 0)
    return p


def summary(r):
    if r is None:
        return 'none'
    if r == b'':
        return 'closed'
    if len(r) < 12:
        return 'short'
    qid, fl, qd, an, ns, ar = struct.unpack('>HHHHHH', r[:12])
    return ('id=%d qr=%d opcode=%d aa=%d tc=%d rd=%d ra=%d rcode=%d '
            'qd=%d an=%d ns=%d ar=%d' % (
                qid, fl >> 15, (fl >> 11) & 15, (fl >> 10) & 1,
                (fl >> 9) & 1, (fl >> 8) & 1, (fl >> 7) & 1, fl & 15,
                qd, an, ns, ar))


def udp(pkt, timeout=1.0):
    s = socket.socket(FAM, socket.SOCK_DGRAM)
    s.settimeout(timeout)
    s.sendto(pkt, (HOST, PORT))
    try:
        return s.recv(65535)
    except socket.timeout:
        return None
    finally:
        s.close()


def recv_exact(s, n):
    b = b''
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c:
            return b
        b += c
    return b


def tcp_read(s, timeout=2.0):
    """One length-prefixed message; b'' on close, None on timeout."""
    s.settimeout(timeout)
    try:
        h = recv_exact(s, 2)
        if len(h) < 2:
            return b''
        return recv_exact(s, struct.unpack('>H', h)[0])
    except socket.timeout:
        return None
    except ConnectionResetError:
        return b''


def framed(pkt):
    return struct.pack('>H', len(pkt)) + pkt


def tcp(pkt, timeout=2.0):
    s = socket.create_connection((HOST, PORT), timeout=2)
    s.sendall(framed(pkt))
    r = tcp_read(s, timeout)
    s.close()
    return r


def skip_name(r, o):
    while True:
        l = r[o]
        if l & 0xC0 == 0xC0:
            return o + 2
        o += 1 + l
        if l == 0:
            return o


def records(r):
    """(type, rdata offset, rdlength) of every record after the question."""
    qd, an, ns, ar = struct.unpack('>HHHH', r[4:12])
    o = 12
    for _ in range(qd):
        o = skip_name(r, o) + 4
    out = []
    for _ in range(an + ns + ar):
        o = skip_name(r, o)
        t, _, _, rdlen = struct.unpack('>HHIH', r[o:o + 10])
        out.append((t, o + 10, rdlen))
        o += 10 + rdlen
    return out


def srv_plain(r):
    """Every SRV target is a whole name without pointers (RFC 2782)."""
    n = 0
    for t, o, rdlen in records(r):
        if t != 33:
            continue
        p, end = o + 6, o + rdlen
        while p < end and r[p] != 0:
            if r[p] & 0xC0:
                return 'compressed target in SRV %d' % n
            p += 1 + r[p]
        if p != end - 1:
            return 'SRV %d: rdlength %d is not its name' % (n, rdlen)
        n += 1
    return 'srv=%d plain' % n


def hdr(qid, fl, qd, an=0, ns=0, ar=0):
    return struct.pack('>HHHHHH', qid, fl, qd, an, ns, ar)


def alive(over='udp'):
    """'alive' when a SOA query of ALIVE_NAME gets NOERROR with an answer
    (over UDP, or TCP on its own connection), else what came back."""
    q = query(ALIVE_NAME, 'SOA', 0x0a1e)
    try:
        r = udp(q) if over == 'udp' else tcp(q)
    except OSError as e:
        return 'dead(%s)' % e.__class__.__name__
    s = summary(r)
    return 'alive' if ' qr=1 ' in s and ' rcode=0 ' in s and ' an=1 ' in s \
        else 'dead(%s)' % s


def between(fn, over='udp'):
    """'alive RESULT alive': FN's summary, with the server shown answering
    right before and right after it (silence alone proves nothing)."""
    before = alive(over)
    r = fn()
    return '%s %s %s' % (before, r, alive(over))


def case(name, arg):
    if name == 'short':  # 5 bytes: not even a header
        return between(lambda: summary(udp(b'\x12\x34\x01\x00\x00')))
    if name == 'qdcount0':
        return summary(udp(hdr(0x1111, 0x0100, 0)))
    if name == 'qdcount2':
        p = query(arg, 'SOA', 0x1112)
        return summary(udp(p[:4] + b'\x00\x02' + p[6:] + p[12:]))
    if name == 'pointer':  # the question's name is a compression pointer
        return summary(udp(hdr(0x2222, 0x0100, 1) + b'\xc0\x0c\x00\x06\x00\x01'))
    if name == 'garbage':  # a good header, then noise
        rnd = random.Random(7)
        return between(lambda: summary(udp(hdr(0x3333, 0x0100, 1) +
                       bytes(rnd.randrange(256) for _ in range(40)))))
    if name == 'no-qtype':  # the name ends the packet
        return summary(udp(query(arg, 'SOA', 0x3335)[:-4]))
    if name == 'missing-records':  # arcount=2, nothing after the question
        p = query(arg, 'SOA', 0x3334)
        return summary(udp(p[:10] + b'\x00\x02' + p[12:]))
    if name == 'huge-udp':
        return between(lambda: summary(udp(query(arg, 'SOA', 0x4444) + b'\0' * 6000)))
    if name == 'huge-tcp':
        return between(lambda: summary(tcp(hdr(0x4445, 0x0100, 1) + b'\x07' * 65000, 3)),
                       'tcp')
    if name.startswith('opcode'):
        op = int(name[6:])
        return summary(udp(query(arg, 'SOA', 0x5555, (op << 11) | 0x0100)))
    if name == 'qr':  # a response: never answered
        return between(lambda: summary(udp(query(arg, 'SOA', 0x6666, 0x8500))))
    if name in ('axfr-udp', 'ixfr-udp'):
        return summary(udp(query(arg, name[:4].upper(), 0x6667, 0)))
    if name == 'axfr-tcp':
        return summary(tcp(query(arg, 'AXFR', 0x6668, 0)))
    if name == 'srv-plain':
        r = tcp(query(arg, 'SRV', 0x7777, 0, 4096))
        return srv_plain(r) if r else summary(r)
    if name == 'pipeline':  # three queries in one write, three answers
        s = socket.create_connection((HOST, PORT), timeout=2)
        ids = [0x1001, 0x1002, 0x1003]
        s.sendall(b''.join(framed(query(arg, t, i)) for i, t in
                           zip(ids, ['SOA', 'NS', 'SOA'])))
        got = [tcp_read(s) for _ in ids]
        s.close()
        return ' '.join('id=%d,an=%d,rcode=%d' % (
            struct.unpack('>H', g[:2])[0], struct.unpack('>H', g[6:8])[0],
            g[3] & 15) if g else summary(g) for g in got)
    if name == 'idle':  # how long an idle connection stays open
        before = alive('tcp')  # the TCP listener answers queries
        s = socket.create_connection((HOST, PORT), timeout=2)
        t0 = time.monotonic()
        r = tcp_read(s, 5.0)
        took = time.monotonic() - t0
        return '%s %s %s' % (before, summary(r), 'in-time' if 0.5 <= took <= 3
                             else 'after %.1fs' % took)
    if name == 'cap':
        # Two connections, both served; a third is not served while they
        # stay open, and is served once one of them closes.
        time.sleep(0.3)  # earlier clients: let the server see their FIN
        c1 = socket.create_connection((HOST, PORT), timeout=2)
        c2 = socket.create_connection((HOST, PORT), timeout=2)
        for c in (c1, c2):
            c.sendall(framed(query(arg, 'SOA')))
        first = [tcp_read(c) for c in (c1, c2)]
        c3 = socket.create_connection((HOST, PORT), timeout=2)
        c3.sendall(framed(query(arg, 'SOA')))
        full = tcp_read(c3, 0.5)
        c1.close()
        after = tcp_read(c3, 2.0)
        c2.close()
        c3.close()
        return 'c1=%s c2=%s c3-while-full=%s c3-after=%s' % (
            'ok' if first[0] else summary(first[0]),
            'ok' if first[1] else summary(first[1]),
            'ok' if full else summary(full), 'ok' if after else summary(after))
    if name == 'alive':
        return summary(udp(query(arg, 'SOA', 0x0a11)))
    return 'unknown case ' + name


print(case(sys.argv[3], sys.argv[4] if len(sys.argv) > 4 else None))
EOF
raw() { python3 "$TMP/dnsraw.py" "${RAW_HOST:-127.0.0.1}" "$SG_DNS_PORT" "$@" 2>&1; }

# ---- zones and the server ----

# static.test: a SOA whose TTL (20) is below its minimum (900), SRV, NS and
# a delegation of sub.static.test with glue.
write_static() {
	{
		# shellcheck disable=SC2016
		printf '$ORIGIN static.test.\n$TTL 60\n'
		printf '@ 20 IN SOA ns1.static.test. hostmaster.static.test. 2024010101 3600 600 86400 900\n'
		printf '@ IN NS ns1\nns1 IN A 192.0.2.53\n'
		printf 'm1 IN A %s\nm2 IN A 192.0.2.2\nm3 IN A 192.0.2.3\n' "${1:-192.0.2.1}"
		for i in 1 2 3; do printf '_etcd-server._tcp IN SRV 0 0 2380 m%d\n' "$i"; done
		printf 'sub IN NS ns.sub\nns.sub IN A 192.0.2.54\n'
		printf 'sub IN DS 60485 5 1 2BB183AF5F22588179A53B0A98631FAD1A292118\n'
		printf 'ext IN NS ns.example.net.\n'
	} >"$TMP/zones/static.test.zone"
}
mkdir -p "$TMP/zones"
write_static

SG_DNS_PORT=$(free_port)
MAIN_FLAGS="--rate-limit 0 --srv-name x --edns-buffer 1232 --record-ttl 60
	--negative-ttl 30 --dns-tcp-timeout 1s --dns-tcp-max-connections 2
	--dns-listen [::1]:$SG_DNS_PORT"
# shellcheck disable=SC2086
if ! SG_ZONES=$TMP/zones start_srvgate main $MAIN_FLAGS; then
	fail "srvgate starts"; tail -20 "$TMP/main.log"; finish; exit
fi
MAIN_PID=$SG_PID

# new_token SIZE: prints the token.
new_token() { local u; u=$(curl -sf -m 5 "$SG_HTTP/new?size=$1") && echo "${u##*/}"; }
# reg TOKEN ID VALUE: registers a member, returns once the PUT is answered.
reg() { curl -sf -m 5 -o /dev/null -XPUT "$SG_HTTP/$1/$2" -d "value=$3"; }

# ---- 1. token records ----
T=$(new_token 3)
expect_match "/new?size=3 gives a token" '^[0-9a-f]{32}$' "$T"
TZ=$T.$ZONE
M1=8e9e05c52164694d M2=91bc3c398fb3c146 M3=fd422379fda50e48 M4=a0b1c2d3e4f50617
check "register 4 members on a size 3 token" sh -c "
	curl -sf -m 5 -o /dev/null -XPUT '$SG_HTTP/$T/$M1' -d 'value=m1=https://10.0.0.1:2380' &&
	curl -sf -m 5 -o /dev/null -XPUT '$SG_HTTP/$T/$M2' -d 'value=m2=https://[fd00::2]:2381' &&
	curl -sf -m 5 -o /dev/null -XPUT '$SG_HTTP/$T/$M3' -d 'value=m3=http://peer3.example.net:2382' &&
	curl -sf -m 5 -o /dev/null -XPUT '$SG_HTTP/$T/$M4' -d 'value=m4=https://10.0.0.4:2384'"

out=$(dq +rec _etcd-server-ssl._tcp."$TZ" SRV)
expect_eq "https peers: _etcd-server-ssl SRV NOERROR" NOERROR "$(status_of "$out")"
expect_flags "authoritative answer: qr aa, rd copied, no ra" "$out" qr aa rd -ra -tc
expect_eq "https SRV: the first 3 members only, IP targets under the token" \
	"SRV 0 0 2380 $M1.$TZ.
SRV 0 0 2381 $M2.$TZ." "$(rdata "$out" ANSWER)"
expect_eq "https SRV: A and AAAA of the targets in additional" \
	"A 10.0.0.1
AAAA fd00::2" "$(rdata "$out" ADDITIONAL)"
out=$(dq +norec _etcd-server-ssl._tcp."$TZ" SRV)
expect_flags "+norec: rd not set in the answer, aa still set" "$out" qr aa -rd -ra
out=$(dq +norec _etcd-server._tcp."$TZ" SRV)
expect_eq "http peer by hostname: the hostname is the target" \
	"SRV 0 0 2382 peer3.example.net." "$(rdata "$out" ANSWER)"
expect_eq "hostname target: no address in additional (not our zone)" "NOERROR an=1 additional=" \
	"$(status_of "$out") an=$(count_of "$out" ANSWER) additional=$(rdata "$out" ADDITIONAL)"
out=$(dq peer3.example.net A)
expect_eq "the hostname itself is not ours: REFUSED" REFUSED "$(status_of "$out")"
out=$(dq $M1."$TZ" A)
expect_eq "IP target: A record" "A 10.0.0.1" "$(rdata "$out" ANSWER)"
expect_flags "A record: aa, no ra" "$out" aa -ra
out=$(dq $M2."$TZ" AAAA)
expect_eq "IPv6 target: AAAA record" "AAAA fd00::2" "$(rdata "$out" ANSWER)"
out=$(dq $M4."$TZ" A)
expect_negative "member size+1 has no A: NXDOMAIN" "$out" NXDOMAIN "$ZONE." 30
out=$(dq _etcd-server-ssl._tcp."$TZ" SRV +tcp)
case "$out" in *10.0.0.4*|*2384*) m4=present ;; *) m4=absent ;; esac
expect_eq "member size+1 absent from the SRV records (over TCP)" "NOERROR an=2 m4=absent" \
	"$(status_of "$out") an=$(count_of "$out" ANSWER) m4=$m4"
out=$(dq _etcd-server-ssl-x._tcp."$TZ" SRV)
expect_eq "--srv-name x: _etcd-server-ssl-x._tcp has the same records" \
	"SRV 0 0 2380 $M1.$TZ.
SRV 0 0 2381 $M2.$TZ." "$(rdata "$out" ANSWER)"
out=$(dq _etcd-server-x._tcp."$TZ" SRV)
expect_eq "--srv-name x: _etcd-server-x._tcp too" "SRV 0 0 2382 peer3.example.net." "$(rdata "$out" ANSWER)"
expect_eq "SRV targets are not compressed on the wire" "srv=2 plain" \
	"$(raw srv-plain _etcd-server-ssl._tcp."$TZ")"

# ---- 2. negative answers, empty non-terminals, REFUSED, letter case ----
out=$(dq +rec nope."$TZ" SRV)
expect_negative "NXDOMAIN below a token, SOA TTL min(60, 30)" "$out" NXDOMAIN "$ZONE." 30
expect_flags "NXDOMAIN: aa rd, no ra" "$out" aa rd -ra
out=$(dq $M1."$TZ" TXT)
expect_negative "NODATA: name exists, type does not" "$out" NOERROR "$ZONE." 30
out=$(dq $M1."$TZ" AAAA)
expect_negative "NODATA: A target asked for AAAA" "$out" NOERROR "$ZONE." 30
out=$(dq _tcp."$TZ" SRV)
expect_negative "empty non-terminal _tcp.T.Z: NODATA" "$out" NOERROR "$ZONE." 30
out=$(dq "$TZ" A)
expect_negative "empty non-terminal T.Z: NODATA" "$out" NOERROR "$ZONE." 30
out=$(dq sub.$M1."$TZ" A)
expect_negative "below a leaf: NXDOMAIN" "$out" NXDOMAIN "$ZONE." 30
out=$(dq nope.static.test A)
expect_negative "static zone NXDOMAIN: SOA TTL min(20, 900)" "$out" NXDOMAIN "static.test." 20
for n in example.com. internal. xdiscovery.internal. $ZONE.example.; do
	out=$(dq +rec "$n" A)
	expect_eq "outside every zone: $n REFUSED, no aa, no ra" "REFUSED aa=0 ra=0 an=0" \
		"$(status_of "$out") aa=$(has_flag "$out" aa && echo 1 || echo 0) ra=$(has_flag "$out" ra && echo 1 || echo 0) an=$(count_of "$out" ANSWER)"
done
MIXED=_ETCD-Server-SSL._TcP.$(printf '%s' "$T" | tr 'a-f' 'A-F').DisCovery.INTERNAL.
out=$(dq "$MIXED" SRV)
expect_eq "mixed case query answers" "NOERROR 2" "$(status_of "$out") $(count_of "$out" ANSWER)"
expect_eq "mixed case: the question comes back as asked" "$MIXED IN SRV" \
	"$(section "$out" QUESTION | awk '{print substr($1, 2), $2, $3}')"
out=$(dq "NoPe.$(printf '%s' "$T" | tr 'a-f' 'A-F').$ZONE." SRV)
expect_eq "mixed case NXDOMAIN: the question comes back as asked" \
	"NXDOMAIN NoPe.$(printf '%s' "$T" | tr 'a-f' 'A-F').$ZONE." \
	"$(status_of "$out") $(section "$out" QUESTION | awk '{print substr($1, 2)}')"

# ---- 3. EDNS0 and the UDP payload ----
out=$(dq $ZONE SOA)
expect_match "EDNS query: OPT in the answer, version 0, our buffer 1232" \
	'EDNS: version: 0, flags:; udp: 1232' "$out"
out=$(dq $ZONE SOA +dnssec)
expect_match "EDNS DO bit copied" 'EDNS: version: 0, flags: do; udp: 1232' "$out"
out=$(dq $ZONE SOA +noedns)
expect_eq "no EDNS in the query: no OPT in the answer" "NOERROR ar=0" \
	"$(status_of "$out") ar=$(count_of "$out" ADDITIONAL)"
out=$(dq $ZONE SOA +edns=1 +noednsnegotiation)
expect_eq "EDNS version 1: BADVERS, with an OPT, no answer" "BADVERS an=0 opt=1" \
	"$(status_of "$out") an=$(count_of "$out" ANSWER) opt=$(printf '%s' "$out" | grep -c 'EDNS: version: 0')"
out=$(kq $ZONE SOA +edns=1)
expect_match "kdig +edns=1: BADVERS" 'status: BADVERS' "$out"

# Tokens whose SRV answer (about 90 bytes + 88 a member) and its A records
# (16 bytes each: the owner points into the SRV target) are sized against
# the limits: 4 members fit 512 whole (506 bytes) but not with an OPT too,
# 12 fit 1232 only without their A records, 40 never fit 1232.
T4=$(new_token 4)
T12=$(new_token 12)
T40=$(new_token 40)
ok=1
for i in $(seq 1 40); do
	id=$(printf '%016x' $((0x5e0000 + i)))
	if [ "$i" -le 4 ]; then reg "$T4" "$id" "s$i=https://10.1.0.$i:2380" || ok=0; fi
	if [ "$i" -le 12 ]; then reg "$T12" "$id" "t$i=https://10.1.1.$i:2380" || ok=0; fi
	reg "$T40" "$id" "b$i=https://10.2.0.$i:2380" || ok=0
done
expect_eq "register 4 + 12 + 40 members" 1 "$ok"
S4=_etcd-server-ssl._tcp.$T4.$ZONE
S12=_etcd-server-ssl._tcp.$T12.$ZONE
S40=_etcd-server-ssl._tcp.$T40.$ZONE
# sizes OUT: "an=N ar=N tc=0|1" of a dig answer.
sizes() { echo "an=$(count_of "$1" ANSWER) ar=$(count_of "$1" ADDITIONAL) tc=$(has_flag "$1" tc && echo 1 || echo 0)"; }
out=$(dq "$S4" SRV +noedns +ignore)
expect_eq "no EDNS, 4 SRV: answer and additional fit 512, no TC" "an=4 ar=4 tc=0" \
	"an=$(count_of "$out" ANSWER) ar=$(count_of "$out" ADDITIONAL) tc=$(has_flag "$out" tc && echo 1 || echo 0)"
size=$(size_of "$out")
expect_cmp "no EDNS: the answer is at most 512 bytes" "$size" -le 512
out=$(dq "$S4" SRV +bufsize=512 +ignore)
expect_eq "EDNS 512, 4 SRV: additional dropped (OPT stays), no TC" "an=4 ar=1 tc=0" \
	"an=$(count_of "$out" ANSWER) ar=$(count_of "$out" ADDITIONAL) tc=$(has_flag "$out" tc && echo 1 || echo 0)"
out=$(dq "$S4" SRV +bufsize=4096 +ignore)
expect_eq "EDNS 4096, 4 SRV: everything (4 A + OPT)" "an=4 ar=5 tc=0" \
	"an=$(count_of "$out" ANSWER) ar=$(count_of "$out" ADDITIONAL) tc=$(has_flag "$out" tc && echo 1 || echo 0)"
out=$(dq "$S4" SRV +tcp)
full4=$(size_of "$out")
out=$(dq "$S4" SRV +bufsize="$full4" +ignore)
expect_eq "EDNS buffer = the whole answer ($full4): everything" "an=4 ar=5 tc=0" "$(sizes "$out")"
out=$(dq "$S4" SRV +bufsize=$((full4 - 1)) +ignore)
expect_eq "EDNS buffer one byte short ($((full4 - 1))): additional dropped" "an=4 ar=1 tc=0" "$(sizes "$out")"
out=$(dq "$S12" SRV +bufsize=4096 +ignore)
expect_eq "EDNS 4096, --edns-buffer 1232, 12 SRV: additional dropped, no TC" "an=12 ar=1 tc=0" "$(sizes "$out")"
expect_cmp "12 SRV over UDP: within --edns-buffer" "$(size_of "$out")" -le 1232
expect_match "the OPT advertises our 1232" 'EDNS: version: 0, flags:; udp: 1232' "$out"
out=$(dq "$S12" SRV +tcp)
expect_eq "12 SRV over TCP: everything" "an=12 ar=13 tc=0" "$(sizes "$out")"
expect_cmp "12 SRV over TCP: over 1232 bytes" "$(size_of "$out")" -gt 1232
for args in "+noedns" "+bufsize=512" "+bufsize=1232" "+bufsize=4096"; do
	out=$(dq "$S40" SRV $args +ignore)
	limit=512
	case $args in +bufsize=1232|+bufsize=4096) limit=1232 ;; esac
	size=$(size_of "$out")
	if [ -n "$size" ] && [ "$size" -le "$limit" ] && has_flag "$out" tc; then
		pass "40 SRV over UDP $args: TC, $size <= $limit bytes"
	else fail "40 SRV over UDP $args: TC within $limit bytes (got size '$size' flags '$(flags_of "$out")')"; fi
done
out=$(dq "$S40" SRV +tcp)
expect_eq "40 SRV over TCP: the whole answer" "NOERROR an=40 ar=41 tc=0" \
	"$(status_of "$out") an=$(count_of "$out" ANSWER) ar=$(count_of "$out" ADDITIONAL) tc=$(has_flag "$out" tc && echo 1 || echo 0)"
out=$(dq "$S40" SRV)
expect_eq "dig retries the TC answer over TCP and gets all 40" "an=40 tc=0" \
	"an=$(count_of "$out" ANSWER) tc=$(has_flag "$out" tc && echo 1 || echo 0)"
out=$(kq "$S40" SRV +bufsize=4096 +ignore)
expect_match "kdig +bufsize=4096: TC set, our 1232 limit holds" 'Flags: qr aa tc .*Received (10[0-9]|1[1-9][0-9]|[2-9][0-9]{2}|1[01][0-9]{2}|12[0-2][0-9]|123[0-2]) B' "$(printf '%s' "$out" | tr '\n' ' ')"

# ---- 4. TCP ----
expect_eq "TCP: 3 pipelined queries in one write, 3 answers in order" \
	"id=4097,an=1,rcode=0 id=4098,an=1,rcode=0 id=4099,an=1,rcode=0" "$(raw pipeline $ZONE)"
out=$(kq +tcp +keepopen $ZONE SOA $ZONE NS $M1."$TZ" A)
expect_eq "kdig +tcp +keepopen: 3 answers" 3 "$(printf '%s\n' "$out" | grep -c 'status: NOERROR')"
expect_eq "--dns-tcp-timeout 1s closes an idle connection (TCP answering before)" \
	"alive closed in-time" "$(raw idle)"
expect_eq "--dns-tcp-max-connections 2: a 3rd waits until one closes" \
	"c1=ok c2=ok c3-while-full=none c3-after=ok" "$(raw cap $ZONE)"

# ---- 5. malformed packets, opcodes, QR, ANY, transfers, IPv6 ----
expect_eq "truncated header: no answer (alive before and after)" "alive none alive" "$(raw short)"
expect_match "qdcount=0: FORMERR" 'qr=1 .*rcode=1 qd=0' "$(raw qdcount0)"
expect_match "qdcount=2: FORMERR" 'qr=1 .*rcode=1 ' "$(raw qdcount2 $ZONE)"
expect_match "compression pointer in the question: FORMERR" 'id=8738 qr=1 .*rcode=1 ' "$(raw pointer)"
expect_match "garbage after a good header: FORMERR or nothing (alive before and after)" \
	'^alive (none|id=13107 qr=1 .*rcode=1 .*) alive$' "$(raw garbage)"
expect_match "question without type and class: FORMERR" 'qr=1 .*rcode=1 ' "$(raw no-qtype $ZONE)"
expect_match "arcount counts records that are not there: FORMERR" 'qr=1 .*rcode=1 qd=1 an=0' "$(raw missing-records $ZONE)"
expect_eq "huge UDP packet: no answer (alive before and after)" "alive none alive" "$(raw huge-udp $ZONE)"
expect_match "65000-byte TCP message of garbage: FORMERR or hang up (TCP alive before and after)" \
	'^alive (closed|id=17477 qr=1 .*rcode=1 .*) alive$' "$(raw huge-tcp)"
expect_match "opcode 2 (STATUS): NOTIMP, opcode echoed" 'qr=1 opcode=2 .*ra=0 rcode=4 ' "$(raw opcode2 $ZONE)"
expect_match "opcode 5 (UPDATE): NOTIMP" 'qr=1 opcode=5 .*rcode=4 ' "$(raw opcode5 $ZONE)"
expect_eq "QR set: a response is never answered (alive before and after)" "alive none alive" "$(raw qr $ZONE)"
expect_match "still answering after all that" 'id=2577 qr=1 .*aa=1 .*rcode=0 qd=1 an=1' "$(raw alive $ZONE)"

for q in "$ZONE" "$M1.$TZ" "_etcd-server-ssl._tcp.$TZ"; do
	for tr in +notcp +tcp; do
		out=$(dq "$q" ANY $tr)
		types=$(section "$out" ANSWER | awk '{print $4}' | sort -u | tr '\n' ' ')
		case "$types" in
		[A-Z]*" ") case "$types" in *" "?*" ") fail "ANY $q $tr: one RRset (types: $types)" ;;
			*) pass "ANY $q $tr: one RRset ($types)" ;; esac ;;
		*) fail "ANY $q $tr: one RRset (status $(status_of "$out"), types '$types')" ;;
		esac
	done
done
out=$(dq $ZONE ANY +notcp)
expect_eq "ANY at the apex (SOA and NS there): a single record" "NOERROR 1" \
	"$(status_of "$out") $(count_of "$out" ANSWER)"

# dig prints no rcode for a failed AXFR, only "Transfer failed" (also
# when the connection just closes): the server must answer over TCP first.
out="$(tcp_answering) $(dq $ZONE AXFR | tr '\n' ' ')"
expect_match "AXFR without --allow-transfer: dig's Transfer failed, from a server answering over TCP" \
	'^answering .*Transfer failed' "$out"
expect_match "AXFR without --allow-transfer: kdig sees REFUSED" \
	"server replied with error 'REFUSED'" "$(kq $ZONE AXFR)"
expect_match "AXFR over TCP (raw): REFUSED" 'qr=1 .*rcode=5 ' "$(raw axfr-tcp $ZONE)"
expect_match "AXFR over UDP: REFUSED" 'qr=1 .*rcode=5 ' "$(raw axfr-udp $ZONE)"
expect_match "IXFR over UDP: REFUSED" 'qr=1 .*rcode=5 ' "$(raw ixfr-udp $ZONE)"

out=$(DQ_HOST=::1 dq _etcd-server-ssl._tcp."$TZ" SRV)
expect_eq "IPv6 [::1] over UDP answers" "NOERROR 2" "$(status_of "$out") $(count_of "$out" ANSWER)"
out=$(DQ_HOST=::1 dq _etcd-server-ssl._tcp."$TZ" SRV +tcp)
expect_eq "IPv6 [::1] over TCP answers" "NOERROR 2" "$(status_of "$out") $(count_of "$out" ANSWER)"
expect_match "IPv6 raw: FORMERR for qdcount=0" 'rcode=1' "$(RAW_HOST=::1 raw qdcount0)"

# ---- 6. changes are visible at once; the serial goes up ----
TV=$(new_token 5)
prev=$(serial)
ok="" sok=""
for i in 1 2 3 4 5; do
	reg "$TV" "$(printf '%016x' $((0x7a0000 + i)))" "v$i=https://10.3.0.$i:2380" || ok="$ok put$i-failed"
	# no wait, no retry: the answer must be there when the PUT is acknowledged
	n=$(dq +short _etcd-server-ssl._tcp."$TV".$ZONE SRV | grep -c .)
	[ "$n" = "$i" ] || ok="$ok after-put$i:$n"
	s=$(serial)
	[ -n "$s" ] && [ "$s" -gt "$prev" ] || sok="$sok $prev->$s"
	prev=$s
done
expect_empty "each registration is in DNS as soon as its PUT is answered" "$ok"
expect_empty "the SOA serial goes up with each registration" "$sok"
check "DELETE a member" curl -sf -m 5 -o /dev/null -H "$AUTH" -XDELETE "$SG_HTTP/$T/$M1"
out=$(dq _etcd-server-ssl._tcp."$TZ" SRV)
expect_eq "after DELETE: its SRV is gone, the next member moves into the first 3" \
	"SRV 0 0 2381 $M2.$TZ.
SRV 0 0 2384 $M4.$TZ." "$(rdata "$out" ANSWER)"
out=$(dq $M1."$TZ" A)
expect_negative "after DELETE: its A record is gone" "$out" NXDOMAIN "$ZONE." 30
s=$(serial)
expect_cmp "the SOA serial goes up with a DELETE" "$s" -gt "$prev"

# ---- 7. static zones, delegation, SIGHUP ----
out=$(dq m1.static.test A)
expect_eq "static zone: A record, authoritative" "A 192.0.2.1 aa=1" \
	"$(rdata "$out" ANSWER) aa=$(has_flag "$out" aa && echo 1 || echo 0)"
out=$(dq _etcd-server._tcp.static.test SRV)
expect_eq "static zone: SRV, with the targets' A records in additional" \
	"SRV 0 0 2380 m1.static.test.
SRV 0 0 2380 m2.static.test.
SRV 0 0 2380 m3.static.test.|A 192.0.2.1
A 192.0.2.2
A 192.0.2.3" "$(rdata "$out" ANSWER)|$(rdata "$out" ADDITIONAL)"
expect_eq "static zone: SRV targets not compressed either" "srv=3 plain" \
	"$(raw srv-plain _etcd-server._tcp.static.test)"
out=$(dq static.test NS)
expect_eq "static zone: NS at the apex with its address" "NS ns1.static.test.|A 192.0.2.53" \
	"$(rdata "$out" ANSWER)|$(rdata "$out" ADDITIONAL)"
out=$(dq static.test SOA)
expect_match "static zone: its own SOA" 'SOA ns1.static.test. hostmaster.static.test. 2024010101 ' "$(rdata "$out" ANSWER)"
for n in www.sub.static.test sub.static.test ns.sub.static.test; do
	out=$(dq +norec "$n" A)
	expect_eq "delegation: $n A is a referral (NOERROR, no aa, NS + glue)" \
		"NOERROR aa=0 an=0 ns=NS ns.sub.static.test. glue=A 192.0.2.54" \
		"$(status_of "$out") aa=$(has_flag "$out" aa && echo 1 || echo 0) an=$(count_of "$out" ANSWER) ns=$(rdata "$out" AUTHORITY) glue=$(rdata "$out" ADDITIONAL)"
done
out=$(dq sub.static.test NS)
expect_eq "delegation: the NS owner in authority is the cut" "sub.static.test." \
	"$(section "$out" AUTHORITY | awk '{print $1}')"
out=$(dq +norec www.ext.static.test A)
expect_eq "delegation out of the zone: referral without glue" \
	"NOERROR aa=0 an=0 ns=NS ns.example.net. glue=" \
	"$(status_of "$out") aa=$(has_flag "$out" aa && echo 1 || echo 0) an=$(count_of "$out" ANSWER) ns=$(rdata "$out" AUTHORITY) glue=$(rdata "$out" ADDITIONAL)"
out=$(dq sub.static.test DS)
expect_eq "DS at a cut: the parent answers it, authoritatively" \
	"NOERROR aa=1 DS 60485 5 1 2BB183AF5F22588179A53B0A98631FAD1A292118" \
	"$(status_of "$out") aa=$(has_flag "$out" aa && echo 1 || echo 0) $(rdata "$out" ANSWER)"
out=$(dq ext.static.test DS)
expect_negative "DS at a cut without one: NODATA from the parent" "$out" NOERROR static.test. 20
out=$(dq +norec www.sub.static.test DS)
expect_eq "DS below a cut: still a referral" "NOERROR aa=0 NS ns.sub.static.test." \
	"$(status_of "$out") aa=$(has_flag "$out" aa && echo 1 || echo 0) $(rdata "$out" AUTHORITY)"

# A broken file: the error names file and line, the old data keeps serving.
# broken_static LINE TEXT: the good file with TEXT inserted as line LINE.
broken_static() {
	write_static
	sed -i "$1i $2" "$TMP/zones/static.test.zone"
}
# expect_error_line N: a SIGHUP logs static.test.zone:N.
expect_error_line() {
	local before
	before=$(grep -c 'zones not reloaded' "$TMP/main.log")
	kill -HUP "$SG_PID"
	wait_for sh -c "[ \$(grep -c 'zones not reloaded' '$TMP/main.log') -gt $before ]"
	expect_match "SIGHUP with a broken zone file logs static.test.zone:$1" \
		"static\.test\.zone:$1: " "$(grep 'zones not reloaded' "$TMP/main.log" | tail -1)"
}
broken_static 6 'm9 IN A not-an-address'
expect_error_line 6
# ldns reads blank lines after an entry before it parses it
broken_static 6 'm9 IN A not-an-address\n\n'
expect_error_line 6
write_static
n=$(wc -l <"$TMP/zones/static.test.zone")
printf 'm9 IN A 192.0.2.9 ; fine\nm8 IN A (\n  not-an-address )\n\n' >>"$TMP/zones/static.test.zone"
expect_error_line $((n + 3)) # an entry over two lines: its last line
out=$(dq m1.static.test A)
expect_eq "broken file: the old static data keeps answering" "A 192.0.2.1" "$(rdata "$out" ANSWER)"
out=$(dq _etcd-server-ssl._tcp."$TZ" SRV)
expect_eq "broken file: token records keep answering" 2 "$(count_of "$out" ANSWER)"
write_static 192.0.2.11
printf 'm4 IN A 192.0.2.4\n' >>"$TMP/zones/static.test.zone"
kill -HUP "$SG_PID"
check "SIGHUP with a fixed file: the new data serves" \
	wait_for sh -c "dig +time=2 +tries=1 -p $SG_DNS_PORT @127.0.0.1 +short m4.static.test A | grep -qx 192.0.2.4"
out=$(dq m1.static.test A)
expect_eq "fixed file: changed records change" "A 192.0.2.11" "$(rdata "$out" ANSWER)"
out=$(dq _etcd-server-ssl._tcp."$TZ" SRV)
expect_eq "after the reload: token records still answer" "SRV 0 0 2381 $M2.$TZ.
SRV 0 0 2384 $M4.$TZ." "$(rdata "$out" ANSWER)"
out=$(dq $M4."$TZ" A)
expect_eq "after the reload: token A records still answer" "A 10.0.0.4" "$(rdata "$out" ANSWER)"

# A second server whose token zone has a zone file: SOA and NS from the
# file, the token records merged in.
mkdir -p "$TMP/zones2"
cat >"$TMP/zones2/tok.test.zone" <<'EOF'
$ORIGIN tok.test.
$TTL 300
@     IN SOA ns-a.tok.test. admin.tok.test. 1000 3600 600 86400 120
@     IN NS  ns-a
@     IN NS  ns-b
ns-a  IN A   192.0.2.70
ns-b  IN A   192.0.2.71
www   IN A   192.0.2.80
EOF
MAIN_HTTP_PORT=$SG_HTTP_PORT MAIN_DNS_PORT=$SG_DNS_PORT MAIN_DATA=$SG_DATA MAIN_HTTP=$SG_HTTP
unset SG_HTTP_PORT SG_DNS_PORT SG_DATA
if SG_ZONES=$TMP/zones2 start_srvgate tok --zone tok.test --rate-limit 0; then
	TT=$(new_token 1)
	reg "$TT" 1111222233334444 "t1=https://10.4.0.1:2380"
	out=$(dq tok.test SOA)
	expect_match "token zone file: the file's SOA serves" \
		'^SOA ns-a.tok.test. admin.tok.test. [0-9]+ 3600 600 86400 120$' "$(rdata "$out" ANSWER)"
	s=$(serial tok.test)
	expect_cmp "token zone file: serial = the file's 1000 + index" "$s" -gt 1000
	out=$(dq tok.test NS)
	expect_eq "token zone file: its NS and their addresses" "NS ns-a.tok.test.
NS ns-b.tok.test.|A 192.0.2.70
A 192.0.2.71" "$(rdata "$out" ANSWER)|$(rdata "$out" ADDITIONAL)"
	out=$(dq _etcd-server-ssl._tcp."$TT".tok.test SRV)
	expect_eq "token zone file: token records merged in" \
		"SRV 0 0 2380 1111222233334444.$TT.tok.test.|A 10.4.0.1" \
		"$(rdata "$out" ANSWER)|$(rdata "$out" ADDITIONAL)"
	out=$(dq www.tok.test A)
	expect_eq "token zone file: its other records still answer" "A 192.0.2.80" "$(rdata "$out" ANSWER)"
	out=$(dq nope."$TT".tok.test A)
	expect_negative "token zone file: NXDOMAIN, SOA TTL min(300, 120)" "$out" NXDOMAIN tok.test. 120
	out=$(dq _etcd-server-ssl._tcp."$T".$ZONE SRV)
	expect_eq "token zone file: the default zone is not served" REFUSED "$(status_of "$out")"
	stop_pid "$SG_PID"
else
	fail "srvgate starts with a zone file for its token zone"; tail -20 "$TMP/tok.log"
fi

# ---- 8. the serial survives a restart ----
SG_HTTP_PORT=$MAIN_HTTP_PORT SG_DNS_PORT=$MAIN_DNS_PORT SG_DATA=$MAIN_DATA SG_HTTP=$MAIN_HTTP
before=$(serial)
stop_pid "$MAIN_PID"
# shellcheck disable=SC2086
if SG_ZONES=$TMP/zones start_srvgate main $MAIN_FLAGS; then
	expect_eq "after a restart: the same serial" "$before" "$(serial)"
	out=$(dq _etcd-server-ssl._tcp.$TZ SRV)
	expect_eq "after a restart: token records answer" 2 "$(count_of "$out" ANSWER)"
	TR=$(new_token 1)
	reg "$TR" 0123456789abcdef "r1=https://10.0.0.5:2385"
	s=$(serial)
	expect_cmp "after a restart: a change moves the serial up" "$s" -gt "$before"
else
	fail "srvgate restarts on the same data dir"; tail -20 "$TMP/main.log"
fi

# A clean exit, so that LeakSanitizer (SANITIZE=1 builds) reports too.
stop_pid "$SG_PID"
check_sanitizer_logs main tok
finish
