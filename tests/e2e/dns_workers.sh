#!/bin/bash
# tests/e2e/dns_workers.sh -- DNS over UDP on --dns-workers threads:
#   1. --dns-workers 3: the workers answer (each of them, queries from many
#      source ports), the totals in /metrics are theirs; the process and
#      its threads are named (srvgate, srvgate-store, srvgate-dnsN)
#   2. a registration is in every worker's answers as soon as it is
#      acknowledged: 40 members registered one by one, each followed at
#      once by a query from a fresh port; DELETEs likewise
#   3. a token deleted: its names go (NXDOMAIN) on every worker
#   4. SIGHUP: a new zone file reaches every worker; a new cookie secret
#      too (a cookie made with it is valid on every worker)
#   5. --dns-workers 0 keeps UDP on the loop (no worker metrics); the
#      default is one worker per CPU srvgate may use (1 under taskset -c
#      0); a value out of range exits 2 naming the flag
#   6. --dns-udp-coalesce-us: a worker naps after small batches of queries
#      that come often (bursts of 4 back to back), not after queries that
#      come seldom (10 ms apart), never with 0; every query is answered,
#      after a nap that found no query too; TCP queries are answered
#      while bursts keep the worker napping;
#      a value out of range exits 2 naming the flag
#   7. TCP on worker 0's loop: with the main thread stopped (ptrace, that
#      thread alone) TCP and UDP queries are answered and an AXFR waits
#      for the main loop, then arrives whole (a refused one is answered
#      by worker 0 meanwhile); SOA, AXFR, SOA pipelined on
#      one connection come back in order (the transfer handed over with
#      the query behind it); with --dns-workers 0 the same TCP query is
#      not answered while the main thread is stopped; while it is
#      stopped, at most --dns-tcp-max-connections allowed transfers wait
#      for it (the rest are closed), and get their zone after, within
#      the main loop's per-address share
#   8. no sanitizer reports (SANITIZE=1 builds)
# Every query has a timeout; every loop is bounded; loopback only.
. "$(dirname "$0")/../lib.sh"

ZONE=discovery.internal
for t in python3 curl kdig; do
	if ! command -v "$t" >/dev/null 2>&1; then
		fail "$t is installed"; finish; exit
	fi
done

# udpq NAME TYPE [COUNT]: COUNT queries (default 1), each from a fresh
# socket (so a fresh source port, so any worker); prints "rcode/ancount"
# for each, "timeout" for none.
udpq() {
	python3 - "$SG_DNS_PORT" "$1" "$2" "${3:-1}" <<'EOF'
import socket, struct, sys, random
port, name, qtype, count = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
types = {"A": 1, "NS": 2, "SOA": 6, "AAAA": 28, "SRV": 33}
qname = b"".join(bytes([len(l)]) + l.encode() for l in name.split(".") if l) + b"\0"
for _ in range(count):
    qid = random.randrange(65536)
    q = struct.pack(">HHHHHH", qid, 0, 1, 0, 0, 0) + qname + struct.pack(">HH", types[qtype], 1)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(2)
    s.sendto(q, ("127.0.0.1", port))
    try:
        a = s.recv(4096)
        print("%d/%d" % (struct.unpack(">H", a[2:4])[0] & 15, struct.unpack(">H", a[6:8])[0]))
    except socket.timeout:
        print("timeout")
    s.close()
EOF
}
metric() { curl -s -m 5 "$SG_HTTP/metrics" | awk -v n="$1" '$1 == n { print $2 }'; }
# tcpq: one SOA query over TCP; prints 1 when answered NOERROR within 2 s.
tcpq() { kdig @127.0.0.1 -p "$SG_DNS_PORT" +tcp +time=2 +retry=0 "$ZONE" SOA 2>&1 |
	grep -c 'status: NOERROR'; }
new_token() { local u; u=$(curl -sf -m 5 "$SG_HTTP/new?size=$1") && echo "${u##*/}"; }
reg() { curl -sf -m 5 -o /dev/null -XPUT "$SG_HTTP/$1/$2" -d "value=$3"; }

mkdir -p "$TMP/zones"
SG_ADMIN=workers-admin
AUTH="Authorization: Bearer $SG_ADMIN"
printf '0123456789abcdef0123456789abcdef\n' >"$TMP/cookie.secret"
if ! SG_ZONES=$TMP/zones start_srvgate w3 --rate-limit 0 --dns-workers 3 \
	--cookie-secret-file "$TMP/cookie.secret"; then
	fail "srvgate starts with --dns-workers 3"; tail -20 "$TMP/w3.log"; finish; exit
fi

# ---- 1. the workers answer ----
expect_eq "srvgate_dns_workers is 3" 3 "$(metric srvgate_dns_workers)"
out=$(udpq "$ZONE" SOA 60 | sort | uniq -c | awk '{print $2 "x" $1}')
expect_eq "60 SOA queries from 60 ports: all NOERROR with one answer" "0/1x60" "$out"
busy=0
for i in 0 1 2; do
	n=$(metric "srvgate_dns_worker_queries_total{worker=\"$i\"}")
	[ "${n:-0}" -gt 0 ] && busy=$((busy + 1))
done
expect_eq "each of the 3 workers answered some of them" 3 "$busy"
expect_eq "srvgate_dns_queries_total{transport=\"udp\"} counts the workers' queries" \
	60 "$(metric 'srvgate_dns_queries_total{transport="udp"}')"
# Named for ps, top -H and killall (the start's re-exec of /proc/self/exe
# had named the process "exe"); the start-up prefault thread may come
# and go, so it is left out.
names=$(for t in /proc/"$SG_PID"/task/*/comm; do cat "$t"; done 2>/dev/null |
	grep -v '^srvgate-fault$' | sort | tr '\n' ' ')
expect_eq "its threads are named: the process, the store writer, each worker" \
	"srvgate srvgate-dns0 srvgate-dns1 srvgate-dns2 srvgate-store " "$names"

# ---- 2. registrations and DELETEs visible at once ----
T=$(new_token 40)
expect_match "/new?size=40 gives a token" '^[0-9a-f]{32}$' "$T"
SRV=_etcd-server-ssl._tcp.$T.$ZONE
# A member given by IP gets <member-id>.TOKEN.ZONE with an A record. One
# python process registers (or deletes) and asks at once, well within the
# 10 ms an idle worker may wait, from a fresh port each time; prints the
# misses ("id:rcode/answers"), or "none".
regq() {
	python3 - "$SG_HTTP_PORT" "$SG_DNS_PORT" "$T" "$ZONE" "$SG_ADMIN" "$@" <<'EOF'
import http.client, socket, struct, sys, random
hport, dport, tok, zone, admin, op, first, last = sys.argv[1:9]
step = 1 if int(last) >= int(first) else -1
c = http.client.HTTPConnection("127.0.0.1", int(hport), timeout=5)
def ask(name):
    qname = b"".join(bytes([len(l)]) + l.encode() for l in name.split(".")) + b"\0"
    q = struct.pack(">HHHHHH", random.randrange(65536), 0, 1, 0, 0, 0) + qname + struct.pack(">HH", 1, 1)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(2)
    s.sendto(q, ("127.0.0.1", int(dport)))
    try:
        a = s.recv(4096)
        return "%d/%d" % (struct.unpack(">H", a[2:4])[0] & 15, struct.unpack(">H", a[6:8])[0])
    except socket.timeout:
        return "timeout"
    finally:
        s.close()
miss = []
for i in range(int(first), int(last) + step, step):
    if op == "reg":
        c.request("PUT", "/%s/m%d" % (tok, i), "value=m%d=https://10.0.1.%d:2380" % (i, i),
                  {"Content-Type": "application/x-www-form-urlencoded"})
        want = "0/1"
    else:
        c.request("DELETE", "/%s/m%d" % (tok, i), headers={"Authorization": "Bearer " + admin})
        want = "3/0"
    r = c.getresponse(); r.read()
    if r.status >= 300:
        miss.append("%d:http%d" % (i, r.status)); continue
    got = ask("m%d.%s.%s" % (i, tok, zone))
    if got != want:
        miss.append("%d:%s" % (i, got))
print(" ".join(miss) or "none")
EOF
}
expect_eq "each of 40 registrations is in the answer asked right after its ack" none \
	"$(regq reg 1 40)"
expect_eq "each of 10 DELETEs is in the answer asked right after its ack (NXDOMAIN)" none \
	"$(regq del 40 31)"

# ---- 3. a token deleted ----
check "DELETE the token" curl -sf -m 5 -o /dev/null -H "$AUTH" -XDELETE "$SG_HTTP/$T"
out=$(udpq "$SRV" SRV 20 | sort -u | tr '\n' ' ')
expect_eq "its SRV name is NXDOMAIN on every worker (20 ports)" "3/0 " "$out"
out=$(udpq "$T.$ZONE" A 10 | sort -u | tr '\n' ' ')
expect_eq "... and so is the token's own name" "3/0 " "$out"

# ---- 4. SIGHUP ----
printf '$ORIGIN static.test.\n$TTL 20\n@ SOA ns1 h 1 3600 600 86400 300\n@ NS ns1\nns1 A 192.0.2.1\nwww A 192.0.2.80\n' \
	>"$TMP/zones/static.test.zone"
out=$(udpq www.static.test A 1)
expect_eq "before SIGHUP static.test is not ours" "5/0" "$out"
kill -HUP "$SG_PID"
WAIT_SECS=5 wait_for grep -q "reloaded 2 zones" "$TMP/w3.log"
out=$(udpq www.static.test A 20 | sort -u | tr '\n' ' ')
expect_eq "after SIGHUP every worker answers from the new zone file" "0/1 " "$out"
printf 'fedcba9876543210fedcba9876543210\n' >"$TMP/cookie.secret"
kill -HUP "$SG_PID"
WAIT_SECS=5 wait_for grep -q "new DNS cookie secret" "$TMP/w3.log"
c=$(kdig +time=2 +retry=0 -p "$SG_DNS_PORT" @127.0.0.1 "$ZONE" SOA \
	+cookie=0102030405060708 2>&1 | sed -n 's/.*COOKIE: \([0-9A-Fa-f]*\).*/\1/p' | head -1)
expect_match "a cookie after the rotation" '^[0-9A-Fa-f]{48}$' "$c"
v0=$(metric 'srvgate_dns_cookies_total{server_cookie="valid"}')
for i in $(seq 1 12); do
	kdig +time=2 +retry=0 -p "$SG_DNS_PORT" @127.0.0.1 "$ZONE" SOA +cookie="$c" >/dev/null 2>&1
done
v1=$(metric 'srvgate_dns_cookies_total{server_cookie="valid"}')
expect_eq "it is valid on every worker: 12 of 12 queries from 12 ports" 12 $(( ${v1:-0} - ${v0:-0} ))
kill "$SG_PID"; wait "$SG_PID" 2>/dev/null

# ---- 5. --dns-workers 0, and a bad value ----
unset SG_HTTP_PORT SG_DNS_PORT SG_DATA
if ! SG_ZONES=$TMP/zones start_srvgate w0 --dns-workers 0; then
	fail "srvgate starts with --dns-workers 0"; tail -20 "$TMP/w0.log"; finish; exit
fi
out=$(curl -s -m 5 "$SG_HTTP/metrics" | awk '$1 ~ /^srvgate_dns_(queries_total|worker)/ { print $1 }' | tr '\n' ' ')
expect_eq "--dns-workers 0: no worker metrics" \
	'srvgate_dns_queries_total{transport="udp"} srvgate_dns_queries_total{transport="tcp"} ' "$out"
out=$(udpq "$ZONE" SOA 5 | sort -u | tr '\n' ' ')
expect_eq "--dns-workers 0: the loop answers UDP" "0/1 " "$out"
expect_eq "... and counts it" 5 "$(metric 'srvgate_dns_queries_total{transport="udp"}')"
kill "$SG_PID"; wait "$SG_PID" 2>/dev/null
# The default: one worker per CPU srvgate may run on (taskset counts).
unset SG_HTTP_PORT SG_DNS_PORT SG_DATA SRVGATE_DNS_WORKERS
all_cpus=$(taskset -pc $$ | sed 's/.*: //')
taskset -pc 0 $$ >/dev/null
if start_srvgate wd; then
	expect_eq "no --dns-workers under taskset -c 0: 1 worker" 1 "$(metric srvgate_dns_workers)"
	kill "$SG_PID"; wait "$SG_PID" 2>/dev/null
else
	fail "srvgate starts without --dns-workers"
fi
taskset -pc "$all_cpus" $$ >/dev/null
if [ "$(nproc)" -gt 1 ]; then
	unset SG_HTTP_PORT SG_DNS_PORT SG_DATA
	if start_srvgate wn; then
		expect_eq "no --dns-workers: one worker per CPU" "$(nproc)" "$(metric srvgate_dns_workers)"
		kill "$SG_PID"; wait "$SG_PID" 2>/dev/null
	else
		fail "srvgate starts without --dns-workers"
	fi
fi
out=$("$SRVGATE" serve --dns-workers 300 --data-dir "$TMP/bad" 2>&1); rc=$?
expect_eq "--dns-workers 300: exit 2" 2 "$rc"
expect_match "... naming the flag" 'dns-workers' "$out"

# ---- 6. --dns-udp-coalesce-us ----
# bursts N GAP_MS: N rounds of four queries sent back to back on one
# socket, the answers awaited, GAP_MS between rounds; prints the answers
# (NOERROR with one SOA record) out of 4N. Back to back, the worker naps
# after each burst, the last too: its nap then ends on an empty socket,
# which must not stop the worker (the next bursts are answered).
bursts() {
	python3 - "$SG_DNS_PORT" "$ZONE" "$1" "$2" <<'EOF'
import socket, struct, sys, time
port, zone, rounds, gap = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), float(sys.argv[4]) / 1000
qname = b"".join(bytes([len(l)]) + l.encode() for l in zone.split(".") if l) + b"\0"
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(2)
good = 0
for r in range(rounds):
    for i in range(4):
        q = struct.pack(">HHHHHH", (4 * r + i) & 0xffff, 0, 1, 0, 0, 0) + qname + struct.pack(">HH", 6, 1)
        s.sendto(q, ("127.0.0.1", port))
    for i in range(4):
        try:
            a = s.recv(4096)
        except socket.timeout:
            break
        if struct.unpack(">H", a[2:4])[0] & 15 == 0 and struct.unpack(">H", a[6:8])[0] == 1:
            good += 1
    if gap:
        time.sleep(gap)
print(good)
EOF
}
naps() { metric 'srvgate_dns_worker_naps_total{worker="0"}'; }
unset SG_HTTP_PORT SG_DNS_PORT SG_DATA
if SG_ZONES=$TMP/zones start_srvgate wc --dns-workers 1 --dns-udp-coalesce-us 1000; then
	expect_eq "coalescing: 300 bursts of 4 back to back all answered" 1200 "$(bursts 300 0)"
	n0=$(naps)
	expect_match "... and the worker napped after some" '^[1-9][0-9]*$' "$n0"
	expect_eq "bursts 10 ms apart all answered" 80 "$(bursts 20 10)"
	n1=$(naps)
	expect_match "... and at most 2 more naps (the average gap was long)" '^[0-2]$' \
		"$(( ${n1:-999} - ${n0:-0} ))"
	# Bursts keep worker 0 napping; its TCP clients still get turns.
	bursts 3000 0 >"$TMP/bursts.out" &
	BP=$!
	sleep 0.3
	n=0
	for _ in 1 2 3; do n=$((n + $(tcpq))); done
	expect_eq "napping under UDP bursts: 3 TCP queries answered meanwhile" 3 "$n"
	check "... while the bursts were still coming" kill -0 "$BP"
	wait "$BP"
	expect_eq "... and the 3000 bursts all answered" 12000 "$(cat "$TMP/bursts.out")"
	kill "$SG_PID"; wait "$SG_PID" 2>/dev/null
else
	fail "srvgate starts with --dns-udp-coalesce-us 1000"; tail -20 "$TMP/wc.log"
fi
unset SG_HTTP_PORT SG_DNS_PORT SG_DATA
if SG_ZONES=$TMP/zones start_srvgate wc0 --dns-workers 1 --dns-udp-coalesce-us 0; then
	expect_eq "--dns-udp-coalesce-us 0: 300 bursts all answered" 1200 "$(bursts 300 0)"
	expect_eq "... and no nap" 0 "$(naps)"
	kill "$SG_PID"; wait "$SG_PID" 2>/dev/null
else
	fail "srvgate starts with --dns-udp-coalesce-us 0"; tail -20 "$TMP/wc0.log"
fi
out=$("$SRVGATE" serve --dns-udp-coalesce-us 5000 --data-dir "$TMP/bad" 2>&1); rc=$?
expect_eq "--dns-udp-coalesce-us 5000: exit 2" 2 "$rc"
expect_match "... naming the flag" 'dns-udp-coalesce-us' "$out"

# ---- 7. TCP on worker 0's loop, transfers on the main loop ----
# freeze.py PID SECS READY: stops the process's main thread alone
# (PTRACE_SEIZE + PTRACE_INTERRUPT act on one thread), touches READY, and
# lets it go after SECS.
cat >"$TMP/freeze.py" <<'EOF'
import ctypes, os, sys, time
pid, secs, ready = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
libc = ctypes.CDLL(None, use_errno=True)
libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
PTRACE_SEIZE, PTRACE_INTERRUPT, PTRACE_DETACH = 0x4206, 0x4207, 17
if libc.ptrace(PTRACE_SEIZE, pid, None, None) != 0:
    sys.exit("seize: %s" % os.strerror(ctypes.get_errno()))
libc.ptrace(PTRACE_INTERRUPT, pid, None, None)
os.waitpid(pid, 0x40000000)  # __WALL: the thread has stopped
open(ready, "w").close()
time.sleep(secs)
libc.ptrace(PTRACE_DETACH, pid, None, None)
EOF
# pipeline.py PORT ZONE: SOA (id 1), AXFR (id 2), SOA (id 3) in one write
# on one connection; prints the ids of the messages that come back, in
# order, a transfer's messages as one "2", and how many SOA records the
# transfer held; "closed" when the connection ended first.
cat >"$TMP/pipeline.py" <<'EOF'
import socket, struct, sys
port, zone = int(sys.argv[1]), sys.argv[2]
qname = b"".join(bytes([len(l)]) + l.encode() for l in zone.split(".") if l) + b"\0"
def q(qid, qtype):
    m = struct.pack(">HHHHHH", qid, 0, 1, 0, 0, 0) + qname + struct.pack(">HH", qtype, 1)
    return struct.pack(">H", len(m)) + m
s = socket.create_connection(("127.0.0.1", port), timeout=5)
s.sendall(q(1, 6) + q(2, 252) + q(3, 6))
buf, out, soas = b"", [], 0
def read(n):
    global buf
    while len(buf) < n:
        d = s.recv(65536)
        if not d:
            raise EOFError
        buf += d
    r, buf = buf[:n], buf[n:]
    return r
try:
    while not out or out[-1] != 3:
        m = read(struct.unpack(">H", read(2))[0])
        qid = struct.unpack(">H", m[:2])[0]
        if qid == 2:  # SOA records: owner compressed to the question
            soas += m[12:].count(b"\xc0\x0c\x00\x06\x00\x01")
        if not out or out[-1] != qid:
            out.append(qid)
except (EOFError, socket.timeout):
    out.append("closed")
print(" ".join(map(str, out)), "soa=%d" % soas)
EOF
axfr_soas() { grep -Ec "^$ZONE\.[[:space:]].*SOA" "$1"; }

unset SG_HTTP_PORT SG_DNS_PORT SG_DATA
if SG_ZONES=$TMP/zones start_srvgate wt --rate-limit 0 --dns-workers 2 \
	--allow-transfer 127.0.0.1; then
	T=$(new_token 3)
	reg "$T" m1 "m1=http://10.7.0.1:2380"
	rm -f "$TMP/frozen"
	python3 "$TMP/freeze.py" "$SG_PID" 4 "$TMP/frozen" 2>"$TMP/freeze.err" &
	FZ=$!
	check "the main thread is stopped" wait_secs 5 test -e "$TMP/frozen"
	kdig @127.0.0.1 -p "$SG_DNS_PORT" +tcp +time=6 +retry=0 "$ZONE" AXFR \
		>"$TMP/axfr.out" 2>&1 &
	AX=$!
	expect_eq "main thread stopped: a TCP query is answered (worker 0)" 1 "$(tcpq)"
	expect_eq "... and a UDP one" "0/1" "$(udpq "$ZONE" SOA)"
	out=$(kdig @127.0.0.1 -p "$SG_DNS_PORT" -b 127.0.0.2 +tcp +time=2 +retry=0 "$ZONE" AXFR 2>&1)
	expect_match "... an AXFR from 127.0.0.2 (no --allow-transfer rule): REFUSED by worker 0" \
		"REFUSED" "$out"
	expect_eq "... an allowed AXFR waits for the main loop" 0 "$(axfr_soas "$TMP/axfr.out")"
	wait "$FZ"
	wait "$AX"
	expect_eq "main thread going again: the AXFR arrives whole (SOA first and last)" \
		2 "$(axfr_soas "$TMP/axfr.out")"
	expect_eq "... with the member" 1 "$(grep -c "^m1\.$T\.$ZONE\." "$TMP/axfr.out")"
	expect_eq "SOA, AXFR, SOA pipelined on one connection: answered in order" \
		"1 2 3 soa=2" "$(python3 "$TMP/pipeline.py" "$SG_DNS_PORT" "$ZONE")"
	expect_eq "TCP queries counted: 1 + 1 + 1 on worker 0 and the main loop, then 3" 6 \
		"$(metric 'srvgate_dns_queries_total{transport="tcp"}')"
	expect_eq "no TCP connection left open" 0 "$(metric srvgate_dns_tcp_connections)"
	kill "$SG_PID"; wait "$SG_PID" 2>/dev/null
else
	fail "srvgate starts with --allow-transfer and 2 workers"; tail -20 "$TMP/wt.log"
fi
unset SG_HTTP_PORT SG_DNS_PORT SG_DATA
if SG_ZONES=$TMP/zones start_srvgate wt0 --rate-limit 0 --dns-workers 0; then
	rm -f "$TMP/frozen"
	python3 "$TMP/freeze.py" "$SG_PID" 3 "$TMP/frozen" 2>"$TMP/freeze.err" &
	FZ=$!
	check "--dns-workers 0: the main thread is stopped" wait_secs 5 test -e "$TMP/frozen"
	expect_eq "... and a TCP query is not answered meanwhile (TCP on that loop)" 0 "$(tcpq)"
	wait "$FZ"
	expect_eq "... once it goes again, it is" 1 "$(tcpq)"
	kill "$SG_PID"; wait "$SG_PID" 2>/dev/null
else
	fail "srvgate starts with --dns-workers 0"; tail -20 "$TMP/wt0.log"
fi

# Transfers wait for the main loop, but not without bound: with it
# stopped and --dns-tcp-max-connections 4, of 12 allowed AXFR clients 4
# are held and 8 closed; once it goes again, those held get their zone
# within the main loop's own shares.
# hold.py PORT ZONE N STATE: N connections 50 ms apart, each asking for
# AXFR; 0.5 s later writes "open=X closed=Y" to STATE; then prints how
# many of the open ones got a NOERROR answer within 8 s.
cat >"$TMP/hold.py" <<'EOF'
import socket, struct, sys, time
port, zone, n, state = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4]
qname = b"".join(bytes([len(l)]) + l.encode() for l in zone.split(".") if l) + b"\0"
m = struct.pack(">HHHHHH", 7, 0, 1, 0, 0, 0) + qname + struct.pack(">HH", 252, 1)
socks = []
for _ in range(n):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(struct.pack(">H", len(m)) + m)
    socks.append(s)
    time.sleep(0.05)
time.sleep(0.5)
live = []
for s in socks:
    s.setblocking(False)
    try:
        if s.recv(1, socket.MSG_PEEK) == b"":
            continue  # closed by the server
    except BlockingIOError:
        pass
    except OSError:
        continue
    live.append(s)
open(state, "w").write("open=%d closed=%d\n" % (len(live), n - len(live)))
answered = 0
for s in live:
    s.setblocking(True)
    s.settimeout(8)
    try:
        h = s.recv(2, socket.MSG_WAITALL)
        a = s.recv(12, socket.MSG_WAITALL)
        if len(h) == 2 and len(a) == 12 and a[3] & 15 == 0:
            answered += 1
    except OSError:
        pass
print(answered)
EOF
unset SG_HTTP_PORT SG_DNS_PORT SG_DATA
if SG_ZONES=$TMP/zones start_srvgate wq --rate-limit 0 --dns-workers 1 \
	--allow-transfer 127.0.0.1 --dns-tcp-max-connections 4; then
	rm -f "$TMP/frozen" "$TMP/held"
	python3 "$TMP/freeze.py" "$SG_PID" 3 "$TMP/frozen" 2>"$TMP/freeze.err" &
	FZ=$!
	check "main thread stopped again" wait_secs 5 test -e "$TMP/frozen"
	python3 "$TMP/hold.py" "$SG_DNS_PORT" "$ZONE" 12 "$TMP/held" >"$TMP/held.out" 2>&1 &
	HP=$!
	wait "$FZ"
	wait "$HP"
	expect_eq "12 AXFR clients while the main loop is stopped: 4 wait, 8 are closed" \
		"open=4 closed=8" "$(cat "$TMP/held" 2>/dev/null)"
	# The main loop applies its own shares: one address gets 3 of its 4
	# slots (the last quarter is for addresses that hold none).
	expect_eq "... and 3 that waited get their zone once it goes again (one address's share)" 3 \
		"$(cat "$TMP/held.out")"
	kill "$SG_PID"; wait "$SG_PID" 2>/dev/null
else
	fail "srvgate starts with --dns-tcp-max-connections 4"; tail -20 "$TMP/wq.log"
fi

check_sanitizer_logs w3 w0 wd wc wc0 wt wt0 wq
finish
