#!/bin/bash
# fuzz.sh -- mutated DNS packets over UDP and TCP and broken HTTP requests,
# a bounded number of each; srvgate must keep answering and (under
# SANITIZE=1) report nothing.
. "$(dirname "$0")/../lib.sh"

FUZZ_N=${FUZZ_N:-20000}
start_srvgate sg --rate-limit 0 --allow-transfer 127.0.0.1
check "srvgate starts" curl -sf -m 2 "$SG_HTTP/health"
U=$(curl -s -m 5 "$SG_HTTP/new?size=3")
T=${U##*/}
curl -s -m 5 -XPUT "$SG_HTTP/$T/m1" -d value=m1=https://10.0.0.1:2380 >/dev/null

python3 - "$SG_DNS_PORT" "$SG_HTTP_PORT" "$T" "$FUZZ_N" >"$TMP/fuzz.out" 2>&1 <<'PY'
import random, socket, struct, sys
dport, hport, token, n = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
rng = random.Random(20261125)
def name(s):
    return b"".join(bytes([len(l)]) + l.encode() for l in s.split(".") if l) + b"\0"
seeds = []
for qn, qt in [("_etcd-server-ssl._tcp.%s.discovery.internal" % token, 33),
               ("discovery.internal", 6), ("m1.%s.discovery.internal" % token, 1),
               ("nope.discovery.internal", 1), ("discovery.internal", 252),
               ("discovery.internal", 255)]:
    q = struct.pack(">HHHHHH", 0x1234, 0x0100, 1, 0, 0, 1) + name(qn) + struct.pack(">HH", qt, 1)
    q += b"\0" + struct.pack(">HHIH", 41, 4096, 0x8000, 0)  # OPT with DO
    seeds.append(q)
def mutate(p):
    p = bytearray(p)
    for _ in range(rng.randint(1, 6)):
        op = rng.randint(0, 5)
        if op == 0 and p: p[rng.randrange(len(p))] = rng.randrange(256)
        elif op == 1 and p: del p[rng.randrange(len(p)):]
        elif op == 2: p += bytes(rng.randrange(256) for _ in range(rng.randint(1, 40)))
        elif op == 3 and len(p) > 12: p[12] = rng.choice([0xC0, 0x3F, 0x40, 0xFF])
        elif op == 4 and len(p) > 12: p[4:12] = bytes(rng.randrange(256) for _ in range(8))
        elif op == 5 and len(p) > 2: p[2] = rng.randrange(256)
    return bytes(p)
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.setblocking(False)
for i in range(n):
    try:
        u.sendto(mutate(rng.choice(seeds)), ("127.0.0.1", dport))
    except OSError:
        pass
    if i % 64 == 0:
        try:
            while True: u.recv(65535)
        except OSError:
            pass
tcp_sent = 0
for i in range(300):
    s = socket.create_connection(("127.0.0.1", dport), timeout=2)
    msgs = b""
    for _ in range(rng.randint(1, 5)):
        m = mutate(rng.choice(seeds))
        l = len(m) if rng.random() < 0.8 else rng.randrange(65536)
        msgs += struct.pack(">H", l) + m
    try:
        s.sendall(msgs)
        tcp_sent += 1
        s.settimeout(0.2)
        s.recv(65535)
    except OSError:
        pass
    s.close()
reqs = [b"GET / HTTP/1.1\r\n\r\n", b"PUT /%s/x HTTP/1.1\r\nContent-Length: 5\r\n\r\nvalue" % token.encode(),
        b"GET /%s?wait=true&waitIndex=abc HTTP/1.1\r\n\r\n" % token.encode(),
        b"\x00\xff garbage\r\n\r\n", b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\n\r\n",
        b"POST /new?size=%ff HTTP/1.1\r\nContent-Length: 3\r\n\r\nsize=0",
        b"GET /_admin/tokens/%s HTTP/1.0\r\n\r\n" % token.encode(),
        b"PUT /_admin/tokens/x?mode=import HTTP/1.1\r\nContent-Length: 9\r\n\r\n{\"size\":[",
        b"GET /v2/keys/_etcd/registry/%s/../.. HTTP/1.1\r\n\r\n" % token.encode()]
for i in range(300):
    r = bytearray(rng.choice(reqs))
    if rng.random() < 0.5 and r:
        r[rng.randrange(len(r))] = rng.randrange(256)
    try:
        s = socket.create_connection(("127.0.0.1", hport), timeout=2)
        s.sendall(bytes(r))
        s.settimeout(0.3)
        s.recv(65535)
        s.close()
    except OSError:
        pass
print("sent", n, "udp,", tcp_sent, "tcp connections, 300 http requests")
PY
rc=$?
cat "$TMP/fuzz.out"
expect_eq "the fuzzer ran to its end" 0 "$rc"
check "still alive" kill -0 "$SG_PID"
expect_eq "DNS still answers" "0 0 2380 m1.$T.discovery.internal." \
	"$(dig +time=2 +tries=2 @127.0.0.1 -p "$SG_DNS_PORT" +short "_etcd-server-ssl._tcp.$T.discovery.internal" SRV)"
check "HTTP still answers" curl -sf -m 5 "$SG_HTTP/health"
kill -TERM "$SG_PID"
WAIT_SECS=10 wait_for bash -c "! kill -0 $SG_PID"
wait "$SG_PID"
expect_eq "exits 0 on SIGTERM" 0 "$?"
check_sanitizer_logs sg
finish
