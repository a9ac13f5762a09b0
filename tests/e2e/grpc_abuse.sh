#!/bin/bash
# tests/e2e/grpc_abuse.sh -- the gRPC port against hostile and broken
# clients: random bytes, a bad HTTP/2 preface, HTTP/1, a huge frame, a
# stream flood, rapid resets, malformed and oversized messages, a client
# that never reads, one that never finishes its request, and the limits
# (connections and watches per address and connection, writes per second,
# request and response sizes, grpc-timeout). Each gets a clear gRPC error
# or a GOAWAY, nothing is stored, and srvgate keeps serving.
. "$(dirname "$0")/../lib.sh"

etcd_test_env etcdctl

ectl() { etcdctl --endpoints=127.0.0.1:$GP --command-timeout=5s "$@"; }
serves() { ectl endpoint health >/dev/null 2>&1; }
metric() { curl -sf "$SG_HTTP/metrics" | awk -v m="$1" '$1 == m {print $2}'; }
h2() { python3 "$TMP/h2raw.py" 127.0.0.1 "$GP" "$@"; }

# h2raw.py HOST PORT COMMAND [ARGS]: raw HTTP/2; prints what the server did:
# goaway=CODE (its last GOAWAY, None: none), rst=N, refused=N (RST_STREAM
# REFUSED_STREAM), headers=N, data=N, bytes=N, then closed or open.
cat "$(dirname "$0")/../pb_encode.py" - >"$TMP/h2raw.py" <<'EOF'
import os, select, socket, sys, time
host, port, cmd, args = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4:]
PREFACE = b'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'
def frame(t, flags, stream, payload=b''):
    return len(payload).to_bytes(3, 'big') + bytes([t, flags]) + stream.to_bytes(4, 'big') + payload
def hpack(headers):   # literal fields without indexing, no Huffman
    out = b''
    for n, v in headers:
        n, v = n.encode(), v.encode()
        out += b'\x00' + bytes([len(n)]) + n + bytes([len(v)]) + v
    return out
def grpc_headers(path):
    return hpack([(':method', 'POST'), (':scheme', 'http'), (':path', path), (':authority', 'x'),
                  ('content-type', 'application/grpc'), ('te', 'trailers')])
def msg(m): return b'\0' + len(m).to_bytes(4, 'big') + m
s = socket.create_connection((host, port), timeout=5)
st = {'goaway': None, 'rst': 0, 'refused': 0, 'headers': 0, 'data': 0, 'bytes': 0}
closed = False
buf = b''
def pump(secs):
    global buf, closed
    end = time.time() + secs
    while time.time() < end and not closed:
        s.settimeout(max(0.01, end - time.time()))
        try:
            d = s.recv(65536)
        except socket.timeout:
            continue
        except OSError:
            closed = True; return
        if not d:
            closed = True; return
        st['bytes'] += len(d); buf += d
        while len(buf) >= 9:
            n = int.from_bytes(buf[:3], 'big')
            if len(buf) < 9 + n: break
            t, p = buf[3], buf[9:9 + n]
            buf = buf[9 + n:]
            if t == 7: st['goaway'] = int.from_bytes(p[4:8], 'big')
            elif t == 3:
                st['rst'] += 1
                st['refused'] += int.from_bytes(p[:4], 'big') == 7
            elif t == 1: st['headers'] += 1
            elif t == 0: st['data'] += 1
def send(b):
    global closed
    try: s.sendall(b)
    except OSError: closed = True
def hello(): send(PREFACE + frame(4, 0, 0))
range_hb = grpc_headers('/etcdserverpb.KV/Range')
if cmd == 'random':
    send(os.urandom(int(args[0]))); pump(3)
elif cmd == 'badpreface':
    send(b'PRI * HTTP/1.1\r\n\r\nSM\r\n\r\n' + frame(4, 0, 0)); pump(3)
elif cmd == 'http1':
    send(b'GET / HTTP/1.1\r\nHost: x\r\n\r\n'); pump(2)
    print(buf.split(b'\r\n')[0].decode(errors='replace')); sys.exit(0)
elif cmd == 'hugeframe':
    hello(); send(((1 << 24) - 1).to_bytes(3, 'big') + bytes([0, 0, 0, 0, 0, 1]) + b'x' * 1000); pump(3)
elif cmd == 'flood':      # N streams at once, none finished
    hello(); send(b''.join(frame(1, 4, 2 * i + 1, range_hb) for i in range(int(args[0])))); pump(float(args[1]))
elif cmd == 'resets':     # N streams opened and reset at once
    hello()
    send(b''.join(frame(1, 4, 2 * i + 1, range_hb) + frame(3, 0, 2 * i + 1, (8).to_bytes(4, 'big'))
                  for i in range(int(args[0])))); pump(3)
elif cmd == 'hold':       # a connection with no stream, for SECS
    hello(); pump(float(args[0]))
elif cmd == 'noread':     # a watch on every key from revision 1, never read, SECS
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    hello()
    create = field(1, field(1, b'\0') + field(2, b'\0') + field(3, 1))
    send(frame(1, 4, 1, grpc_headers('/etcdserverpb.Watch/Watch')) + frame(0, 0, 1, msg(create)))
    open(args[1], 'w').close()
    time.sleep(float(args[0])); sys.exit(0)
elif cmd == 'askmore':    # SECS of progress requests on a watch, sent as the
    # server's windows allow; its answers are read off the socket but
    # never acknowledged (no WINDOW_UPDATE), as by a client that reads none
    hello()
    send(frame(1, 4, 1, grpc_headers('/etcdserverpb.Watch/Watch')))
    one = msg(field(3, b''))
    conn_w, stream_w, sent, ended = 65535, 65535, 0, 0
    end = time.time() + float(args[0])
    s.setblocking(False)
    while time.time() < end and not ended:
        room = min(conn_w, stream_w, 7000) // len(one) * len(one)
        if room > 0:
            try:
                s.sendall(frame(0, 0, 1, one * (room // len(one))))
            except OSError:
                break
            conn_w -= room; stream_w -= room; sent += room
        r, _, _ = select.select([s], [], [], 0.05)
        if not r: continue
        try: d = s.recv(65536)
        except OSError: break
        if not d: break
        buf += d
        while len(buf) >= 9:
            n = int.from_bytes(buf[:3], 'big')
            if len(buf) < 9 + n: break
            t, fl, sid, p = buf[3], buf[4], int.from_bytes(buf[5:9], 'big') & 0x7fffffff, buf[9:9 + n]
            buf = buf[9 + n:]
            if t == 4 and not fl & 1:
                for k in range(0, len(p), 6):
                    if int.from_bytes(p[k:k + 2], 'big') == 4:
                        stream_w += int.from_bytes(p[k + 2:k + 6], 'big') - 65535
                s.sendall(frame(4, 1, 0))
            elif t == 8:
                inc = int.from_bytes(p, 'big') & 0x7fffffff
                if sid == 0: conn_w += inc
                elif sid == 1: stream_w += inc
            elif sid == 1 and ((t == 1 and fl & 1) or t == 3): ended = 1
            elif t == 7: ended = 2
    print('sent=%d ended=%d' % (sent, ended)); sys.exit(0)
print(' '.join('%s=%s' % kv for kv in st.items()) + (' closed' if closed else ' open'))
EOF

# A raw gRPC call with curl: METHOD DATA-FILE [HEADER]. Prints grpc-status
# (or the HTTP status when there is none); trailers in $TMP/curl.err.
grpc_call() {
	curl -s -v --http2-prior-knowledge -m 5 -H 'content-type: application/grpc' \
		${3:+-H "$3"} --data-binary @"$2" -o /dev/null \
		"http://127.0.0.1:$GP/etcdserverpb.$1" 2>"$TMP/curl.err"
	tr -d '\r' <"$TMP/curl.err" | sed -n 's/^< grpc-status: //p;' | head -1 | grep . ||
		tr -d '\r' <"$TMP/curl.err" | sed -n 's/^< HTTP\/2 \([0-9]*\).*/http\1/p' | head -1
}
grpc_message() { tr -d '\r' <"$TMP/curl.err" | sed -n 's/^< grpc-message: //p'; }
# frame HEX: a gRPC message prefix and body from hex
frame_hex() { printf '%s' "$1" | xxd -r -p; }

alloc_port GP && alloc_port SG_HTTP_PORT && alloc_port SG_DNS_PORT
start_srvgate abuse --grpc-listen 127.0.0.1:$GP --grpc-max-connections-per-address 4 \
	--grpc-max-watches 2 --grpc-max-watches-per-address 3 --idle-timeout 2s \
	--rate-limit 100000 --rate-burst 100000 || fail "srvgate starts"
T=$(curl -sf "$SG_HTTP/new?size=3" | sed 's|.*/||')
P=/_etcd/registry/$T
stored() { curl -sf "$SG_HTTP/$T" | jq '.node.nodes // [] | length'; }

# ---- broken HTTP/2 ----
expect_match "random bytes: the connection is closed" ' closed$' "$(h2 random 5000)"
check "... and srvgate serves" serves
expect_match "a bad HTTP/2 preface: closed" ' closed$' "$(h2 badpreface)"
expect_eq "HTTP/1: told this port is HTTP/2" "HTTP/1.1 505 HTTP Version Not Supported" "$(h2 http1)"
expect_match "a huge frame: GOAWAY FRAME_SIZE_ERROR" '^goaway=6 .* closed$' "$(h2 hugeframe)"
check "... and srvgate serves" serves
out=$(h2 flood 300 3)
expect_match "a stream flood: streams past --grpc-max-streams are refused" 'refused=200 ' "$out"
expect_match "... and the 100 unfinished requests end after --idle-timeout" 'headers=100 ' "$out"
expect_match "rapid resets: GOAWAY (nghttp2's reset limit)" '^goaway=[0-9]+ .* closed$' \
	"$(h2 resets 3000)"
check "... and srvgate serves" serves
expect_match "a connection that opens no stream: GOAWAY NO_ERROR after --idle-timeout" \
	'^goaway=0 .* closed$' "$(h2 hold 4)"

# ---- broken gRPC ----
frame_hex 00000000020aff >"$TMP/bad.bin"       # field 1, a length past the end
expect_eq "malformed protobuf: Internal" 13 "$(grpc_call KV/Put "$TMP/bad.bin")"
expect_match "... saying so" 'unmarshalling' "$(grpc_message)"
frame_hex 0000000002 >"$TMP/short.bin"
expect_eq "a message cut short: Internal" 13 "$(grpc_call KV/Range "$TMP/short.bin")"
frame_hex 07000000020a00 >"$TMP/flag.bin"
expect_eq "a bad compressed flag: Internal" 13 "$(grpc_call KV/Range "$TMP/flag.bin")"
frame_hex 01000000020a00 >"$TMP/zip.bin"
expect_eq "a compressed message: Unimplemented" 12 "$(grpc_call KV/Range "$TMP/zip.bin")"
frame_hex 0001000000 >"$TMP/big.bin"
expect_eq "a message over --grpc-max-request-bytes: ResourceExhausted" 8 \
	"$(grpc_call KV/Put "$TMP/big.bin")"
expect_eq "an unknown method: Unimplemented" 12 "$(grpc_call Lease/LeaseGrant "$TMP/short.bin")"
expect_eq "not application/grpc: HTTP 415" http415 \
	"$(grpc_call KV/Range "$TMP/short.bin" 'content-type: text/plain')"
expect_eq "nothing was stored" 0 "$(stored)"
check "srvgate serves" serves

# ---- limits ----
hp=""
for i in 1 2 3 4 5 6; do h2 hold 3 >"$TMP/hold.$i" & hp="$hp $!"; done
wait $hp
expect_eq "--grpc-max-connections-per-address 4: two of six are closed at once" 2 \
	"$(grep -l '=None.* closed$' "$TMP"/hold.* | wc -l)"
out=$( (printf 'watch /a\nwatch /b\nwatch /c\n'; sleep 2) | timeout 5 \
	etcdctl --endpoints=127.0.0.1:$GP watch -i 2>&1)
expect_match "--grpc-max-watches 2: the third watch on a connection is canceled" \
	'watch was canceled \(srvgate: too many watches on this connection' "$out"
wp=""
for i in 1 2; do
	(printf 'watch /a\nwatch /b\n'; sleep 3) | timeout 5 etcdctl --endpoints=127.0.0.1:$GP \
		watch -i >"$TMP/w.$i" 2>&1 &
	wp="$wp $!"
done
wait $wp
expect_eq "--grpc-max-watches-per-address 3: the fourth watch from the address is canceled" 1 \
	"$(cat "$TMP"/w.* | grep -c 'too many watches from this address')"

# A client that never reads: its watch from revision 1 replays every key,
# srvgate stops at a bound, goes on serving, and lets go when it leaves.
rss() { awk '/VmRSS/ {print $2}' "/proc/$SG_PID/status"; }
rss0=$(rss)
h2 noread 6 "$TMP/noread.ready" &
NR=$!
check "a client that never reads watches" wait_for test -e "$TMP/noread.ready"
for i in $(seq 1 300); do echo "m$i"; done |
	xargs -P 8 -I{} curl -s -o /dev/null -XPUT "$SG_HTTP/$T/{}?prevExist=false" \
		--data-urlencode 'value={}=http://10.9.9.9:2380'
expect_eq "300 registrations while it does not read" 300 "$(stored)"
check "srvgate serves others meanwhile" serves
rss1=$(rss)
grow=$(( rss1 - rss0 ))
[ -n "$rss0" ] && [ -n "$rss1" ] || grow="unknown (no VmRSS: srvgate gone?)"
expect_match "... and holds no more than a bound for it (RSS grew ${grow} kB)" '^-?[0-9]{1,5}$' "$grow"
wait $NR
conns_are() { [ "$(metric srvgate_grpc_connections)" = "$1" ]; }
check "when it leaves, its connection goes" wait_for conns_are 0
# A client that sends requests but reads no answers: the stream stops
# reading it (flow control) instead of queueing answers without end.
out=$(h2 askmore 3)
expect_match "a client asking without reading is held back by flow control" \
	'^sent=[0-9]{1,6} ' "$out"
expect_match "... and its stream lives on" 'ended=0$' "$out"
stop_pid "$SG_PID"

# ---- writes per second, sizes ----
alloc_port GP && alloc_port SG_HTTP_PORT && alloc_port SG_DNS_PORT
unset SG_DATA
start_srvgate limits --grpc-listen 127.0.0.1:$GP --rate-limit 1 --rate-burst 3 \
	--grpc-max-request-bytes 1024 --grpc-max-response-bytes 65536 --admin-token adm ||
	fail "srvgate starts"
T=$(curl -sf "$SG_HTTP/new?size=3" | sed 's|.*/||')
P=/_etcd/registry/$T
for i in 1 2 3 4 5 6; do
	ectl put "$P/members/r$i" "r$i=http://10.0.0.$i:2380" >>"$TMP/rate.out" 2>&1
done
expect_eq "--rate-limit 1 --rate-burst 3: three Puts pass" 3 "$(grep -c '^OK' "$TMP/rate.out")"
expect_match "... the next get ResourceExhausted" 'code = ResourceExhausted desc = etcdserver: too many requests' \
	"$(cat "$TMP/rate.out")"
long=$(printf 'r=http://10.0.0.1:2380%.0s,' $(seq 1 60))
out=$(ectl put "$P/members/big" "${long%,}" 2>&1)
expect_match "a Put over --grpc-max-request-bytes: ResourceExhausted" \
	'code = ResourceExhausted desc = grpc: received message larger than max' "$out"
# 160 members of ~420 bytes, put by the admin token (not rate limited):
# more than one 64 KiB response
python3 - "$T" >"$TMP/bigputs" <<'EOF'
import sys
v = ','.join('n%d=http://10.0.0.%d:2380' % (i, i) for i in range(1, 16)).encode()
def ln(n): return bytes([n]) if n < 128 else bytes([n & 0x7f | 0x80, n >> 7])
def f(n, b): return bytes([n << 3 | 2]) + ln(len(b)) + b
for i in range(1, 161):
    k = ('/_etcd/registry/%s/members/big%d' % (sys.argv[1], i)).encode()
    m = f(1, k) + f(2, v)
    print((b'\0' + len(m).to_bytes(4, 'big') + m).hex())
EOF
while read -r hex; do
	frame_hex "$hex" >"$TMP/one.bin"
	grpc_call KV/Put "$TMP/one.bin" 'authorization: Bearer adm' >/dev/null
done <"$TMP/bigputs"
n=$(curl -sf "$SG_HTTP/$T" | jq '.node.nodes | length')
expect_match "a big token ($n members)" '^1[0-9][0-9]$' "$n"
out=$(ectl get --prefix "$P/members/big" 2>&1)
expect_match "a range past --grpc-max-response-bytes: ResourceExhausted, asking for a limit" \
	'code = ResourceExhausted desc = srvgate: the range holds [0-9]+ keys.*limit' "$out"
expect_eq "... and with a limit it is served" 20 \
	"$(ectl get --prefix "$P/members/big" --limit 20 --keys-only | grep -c .)"
expect_eq "... and says how many there are" \
	"$(curl -sf "$SG_HTTP/$T" | jq '[.node.nodes[] | select(.key | test("/big"))] | length')" \
	"$(ectl get --prefix "$P/members/big" --limit 1 -w json | jq .count)"
stop_pid "$SG_PID"

# ---- grpc-timeout, with commits that take 2 s ----
alloc_port GP && alloc_port SG_HTTP_PORT && alloc_port SG_DNS_PORT
unset SG_DATA
SLOWSYNC_MS=2000 SLOWSYNC_MATCH=data.wal start_srvgate_slowsync slow --grpc-listen 127.0.0.1:$GP ||
	fail "srvgate starts with slow commits"
T=$(curl -sf -m 10 "$SG_HTTP/new?size=3" | sed 's|.*/||')
python3 - "$T" >"$TMP/put.bin" <<'EOF'
import sys
k = b'/_etcd/registry/' + sys.argv[1].encode() + b'/members/late'
v = b'late=http://10.0.0.7:2380'
m = b'\x0a' + bytes([len(k)]) + k + b'\x12' + bytes([len(v)]) + v
sys.stdout.buffer.write(b'\0' + len(m).to_bytes(4, 'big') + m)
EOF
t0=$(date +%s%N)
expect_eq "grpc-timeout 300m on a Put that takes 2 s: DeadlineExceeded" 4 \
	"$(grpc_call KV/Put "$TMP/put.bin" 'grpc-timeout: 300m')"
expect_match "... in time" '^[0-9]$' "$(( ($(date +%s%N) - t0) / 1000000000 ))"
check "... and the Put still happens, as in etcd" wait_for \
	sh -c "curl -sf '$SG_HTTP/$T/late' | grep -q late="

# ---- draining ----
h2 hold 10 >"$TMP/drain.out" &
HOLD=$!
check "a connection is open" wait_for conns_are 1
kill -TERM "$SG_PID"
wait $HOLD
expect_match "SIGTERM: an open connection gets GOAWAY NO_ERROR and is closed" \
	'^goaway=0 .* closed$' "$(cat "$TMP/drain.out")"
check_sanitizer_logs abuse limits slow
finish
