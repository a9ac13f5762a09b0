#!/bin/bash
# tests/e2e/http_hostile.sh -- the HTTP front end against hostile clients
# (issue 9), all on loopback: a client that pipelines and never reads
# (backpressure: RSS from /proc), one address holding thousands of
# connections or watches (fair shares: others still answered), the admin
# API closed without --admin-token, and the rate limiter's prefixes.
# Other clients come from 127.0.0.2 and up (curl --interface). Every
# request has a time limit, every loop a bound; every srvgate is in PIDS.
. "$(dirname "$0")/../lib.sh"

ADMIN=hostile-test-admin-token
T=0123456789abcdef0123456789abcdef # the big token (1.1 MB listing)
F=fedcba9876543210fedcba9876543210 # the fat one (4 MB, more than the
				   # kernel's socket buffers take)

# new_srvgate NAME [flags...]: start_srvgate on fresh ports and data.
new_srvgate() {
	unset SG_HTTP_PORT SG_DNS_PORT SG_DATA
	start_srvgate "$@"
}

# rss_kb PID: the resident set of PID in kB, from /proc.
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null; }

# metric NAME: a metric of the current srvgate (labels included in NAME),
# asked from 127.0.0.250, an address no test crowds.
metric() {
	curl -s -m 3 --interface 127.0.0.250 "$SG_HTTP/metrics" |
		awk -v n="$1" '$1 == n { print $2; exit }'
}
metric_is() { [ "$(metric "$1")" = "$2" ]; }
metric_ge() { local v; v=$(metric "$1"); [ -n "$v" ] && [ "$v" -ge "$2" ]; }

# from ADDR METHOD URL [curl args...]: one request from ADDR; prints
# "code seconds".
from() {
	local a=$1 m=$2 u=$3
	shift 3
	curl -s -m 3 --interface "$a" -o "$TMP/from.body" -X "$m" \
		-w '%{http_code} %{time_total}' "$@" "$u"
}
# answered_within CODE_SECS WANT SECS: "code seconds" is WANT, in SECS.
answered_within() {
	[ "${1% *}" = "$2" ] &&
		awk -v t="${1#* }" -v l="$3" 'BEGIN { exit !(t != "" && t < l) }'
}
# new_token ADDR: a fresh discovery URL made from ADDR (size 3).
new_token() { curl -s -m 3 --interface "$1" "$SG_HTTP/new?size=3"; }

# ---- python3 clients ----

cat >"$TMP/mktoken.py" <<'EOF'
# mktoken.py BASE TOKEN N URLS PAD ADMIN: imports TOKEN with N members of
# URLS peer URLs each (about 60 bytes a URL, plus PAD in the host name),
# through the admin API.
import json, sys, urllib.request
base, token, n, nurl, pad, auth = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), sys.argv[6]
def value(i):
    return ",".join("m%d=https://member-%04d-peer-%02d.rack-%02d%s.example.internal:2380"
                    % (i, i, k, i % 40, "x" * pad) for k in range(nurl))
members = [{"id": "m%d" % i, "value": value(i)} for i in range(n)]
r = urllib.request.Request("%s/_admin/tokens/%s?mode=import" % (base, token),
                           data=json.dumps({"size": n, "members": members}).encode(),
                           method="PUT")
r.add_header("Authorization", "Bearer " + auth)
print(urllib.request.urlopen(r, timeout=30).status)
EOF

cat >"$TMP/pipeline.py" <<'EOF'
# pipeline.py PORT TOKEN CONNS REQS SECS: CONNS connections each send REQS
# pipelined GET /TOKEN at once and never read; closed after SECS.
import socket, sys, time
port, token, conns, reqs, secs = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
req = ("GET /%s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" % token).encode() * reqs
socks = []
for _ in range(conns):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(req)
    socks.append(s)
time.sleep(secs)
EOF

cat >"$TMP/readall.py" <<'EOF'
# readall.py PORT TOKEN N: N pipelined GET /TOKEN on one connection, every
# answer read; prints how many complete 200 answers came (within 60s).
import socket, sys, time
port, token, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
s = socket.create_connection(("127.0.0.1", port), timeout=10)
s.sendall(("GET /%s HTTP/1.1\r\nHost: x\r\n\r\n" % token).encode() * n)
buf, ok, end = b"", 0, time.time() + 60
while ok < n and time.time() < end:
    d = s.recv(1 << 16)
    if not d:
        break
    buf += d
    while True:
        i = buf.find(b"\r\n\r\n")
        if i < 0:
            break
        head = buf[:i].decode("latin-1").split("\r\n")
        cl = [int(h.split(":", 1)[1]) for h in head if h.lower().startswith("content-length:")]
        if not cl or len(buf) < i + 4 + cl[0]:
            break
        ok += head[0].split()[1] == "200"
        buf = buf[i + 4 + cl[0]:]
print(ok)
EOF

cat >"$TMP/closing.py" <<'EOF'
# closing.py PORT TOKEN HOW: two pipelined GET /TOKEN kept alive, then one
# that closes the connection (HOW: "1.0", an HTTP/1.0 request, or "close",
# Connection: close), read only after a second, through a small receive
# buffer: more than the kernel's socket buffers hold waits in srvgate
# when the closing answer is handed over. Prints the three body lengths
# (the last one: all that came before the close).
import socket, sys, time
port, token, how = int(sys.argv[1]), sys.argv[2], sys.argv[3]
s = socket.create_connection(("127.0.0.1", port), timeout=20)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
keep = "GET /%s HTTP/1.1\r\nHost: x\r\n\r\n" % token
last = ("GET /%s HTTP/1.0\r\n\r\n" % token if how == "1.0" else
        "GET /%s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % token)
s.sendall((keep * 2 + last).encode())
time.sleep(1)
buf, end = b"", time.time() + 60
while time.time() < end:
    d = s.recv(1 << 16)
    if not d:
        break
    buf += d
sizes = []
for _ in range(2):
    i = buf.find(b"\r\n\r\n")
    head = buf[:i].decode("latin-1").split("\r\n") if i >= 0 else []
    cl = [int(h.split(":", 1)[1]) for h in head if h.lower().startswith("content-length:")]
    if not cl:
        break
    sizes.append(min(cl[0], len(buf) - i - 4))
    buf = buf[i + 4 + cl[0]:]
i = buf.find(b"\r\n\r\n")
sizes.append(len(buf) - i - 4 if i >= 0 else 0)
print(" ".join(str(n) for n in sizes))
EOF

cat >"$TMP/crowd.py" <<'EOF'
# crowd.py PORT N HOLD STATUS [PATH]: N connections from 127.0.0.1 (at most
# 256 connecting at once), each idle, or sending one GET PATH (a watch);
# each reads its answer's status line. Kept open HOLD seconds, then closed.
# STATUS gets a JSON summary every 0.2s: tried, settled (connected or
# failed), open, failed, closed (ended with no answer), and the count of
# each status code answered.
import asyncio, collections, json, resource, socket, struct, sys, time
port, n, hold, status = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
path = sys.argv[5] if len(sys.argv) > 5 else None
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, n + 200)), hard))
st = collections.Counter()
writers = []

def dump(done=False):
    d = dict(st); d["done"] = done
    with open(status + ".tmp", "w") as f:
        json.dump(d, f)
    import os; os.replace(status + ".tmp", status)

async def one(sem, end):
    async with sem:
        st["tried"] += 1
        try:
            r, w = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 5)
        except (OSError, asyncio.TimeoutError):
            st["failed"] += 1
            st["settled"] += 1
            return
    st["open"] += 1
    st["settled"] += 1
    # closed with a reset: no TIME_WAIT left on thousands of local ports
    w.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                          struct.pack("ii", 1, 0))
    writers.append(w)
    try:
        if path:
            w.write(("GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % path).encode())
        line = await asyncio.wait_for(r.readline(), max(0.1, end - time.time()))
        parts = line.split()
        st[parts[1].decode() if len(parts) > 1 else "closed"] += 1
    except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError):
        pass

async def reporter():
    while True:
        dump()
        await asyncio.sleep(0.2)

async def main():
    end = time.time() + hold
    rep = asyncio.create_task(reporter())
    sem = asyncio.Semaphore(256)
    await asyncio.wait([asyncio.create_task(one(sem, end)) for _ in range(n)],
                       timeout=hold)
    rep.cancel()
    for w in writers:
        w.close()
    dump(True)

asyncio.run(main())
EOF

# crowd_stat FIELD: a count from the crowd's status file ($TMP/crowd.json).
crowd_stat() {
	python3 -c 'import json, sys
print(json.load(open(sys.argv[1])).get(sys.argv[2], 0))' \
		"$TMP/crowd.json" "$1" 2>/dev/null
}
crowd_ge() { local v; v=$(crowd_stat "$1"); [ -n "$v" ] && [ "$v" -ge "$2" ]; }
# crowd_start N HOLD [PATH]: crowd.py in the background (CROWD_PID).
crowd_start() {
	rm -f "$TMP/crowd.json"
	python3 "$TMP/crowd.py" "$SG_HTTP_PORT" "$1" "$2" "$TMP/crowd.json" \
		${3:+"$3"} >"$TMP/crowd.log" 2>&1 &
	CROWD_PID=$!
}
crowd_stop() { kill "$CROWD_PID" 2>/dev/null; wait "$CROWD_PID" 2>/dev/null; }

# ---- 1. backpressure: pipelining, never reading ----
# The listing is about 1.1 MB: 300 pipelined GETs of it would be 330 MB
# queued (the unbounded server reached 333 MB RSS here).

# An ASan build keeps freed memory in quarantine (256 MB by default), which
# RSS would count: keep it small here.
ASAN_OPTIONS=$ASAN_OPTIONS:quarantine_size_mb=16 \
	new_srvgate pipe --admin-token "$ADMIN" --max-body-bytes 8M --rate-limit 0
check "pipe: a token of 1000 members imported" \
	test "$(python3 "$TMP/mktoken.py" "$SG_HTTP" "$T" 1000 16 0 "$ADMIN")" = 200
size=$(curl -s -m 10 "$SG_HTTP/$T" | wc -c)
check "pipe: the listing is over 1 MB ($size bytes)" test "$size" -gt 1000000
url=$(new_token 127.0.0.2)
rss0=$(rss_kb "$SG_PID")
python3 "$TMP/pipeline.py" "$SG_HTTP_PORT" "$T" 3 100 8 &
attack=$!
check "pipe: the 3 attacking connections are held (not read)" \
	wait_secs 5 metric_is srvgate_http_output_held 3
reg=$(from 127.0.0.2 PUT "$url/m1?prevExist=false" -d value=m1=http://10.0.0.1:2380)
max=0
for _ in $(seq 1 16); do
	r=$(rss_kb "$SG_PID")
	[ -n "$r" ] && [ "$r" -gt "$max" ] && max=$r
	sleep 0.25
done
echo "    RSS ${rss0} kB before, at most ${max} kB under the attack"
check "pipe: RSS under 100 MB while 3 x 100 pipelined GETs wait (${max} kB)" \
	test "$max" -gt 0 -a "$max" -lt 102400
check "pipe: a registration from 127.0.0.2 answered 201 within 100 ms ($reg)" \
	answered_within "$reg" 201 0.1
check "pipe: /health from 127.0.0.2 answers meanwhile" \
	answered_within "$(from 127.0.0.2 GET "$SG_HTTP/health")" 200 1
kill "$attack" 2>/dev/null
wait "$attack" 2>/dev/null
check "pipe: a held connection is let go when its client leaves" \
	wait_secs 5 metric_is srvgate_http_output_held 0
check "pipe: a client that reads gets all 100 pipelined answers" \
	test "$(python3 "$TMP/readall.py" "$SG_HTTP_PORT" "$T" 100)" = 100
check "pipe: a token of 1000 fat members imported" \
	test "$(python3 "$TMP/mktoken.py" "$SG_HTTP" "$F" 1000 16 180 "$ADMIN")" = 200
fat=$(curl -s -m 10 "$SG_HTTP/$F" | wc -c)
check "pipe: the fat listing is over 4 MB ($fat bytes)" test "$fat" -gt 4000000
# 12 MB queued for a slow reader: the closing answer must go out whole
# before srvgate lets evhttp close (it shuts the socket's write side).
# Both ways at once: each reader is slow on purpose.
readers=""
for how in 1.0 close; do
	python3 "$TMP/closing.py" "$SG_HTTP_PORT" "$F" "$how" >"$TMP/closing.$how" &
	readers="$readers $!"
done
wait $readers
for how in 1.0 close; do
	expect_eq "pipe: a closing answer ($how) after two kept-alive ones arrives whole" \
		"$fat $fat $fat" "$(cat "$TMP/closing.$how")"
done
stop_pid "$SG_PID"

# ---- 2. fair shares: 4200 idle connections from one address ----
# --io-timeout 60s keeps the idle ones open for the whole test.

new_srvgate conns --io-timeout 60s
crowd_start 4200 20
check "conns: 4200 idle connections from 127.0.0.1 made" \
	wait_secs 20 crowd_ge settled 4200
# 64 of 127.0.0.1 and the one asking for the metric
check "conns: 127.0.0.1 holds its 64 (--max-connections-per-address)" \
	wait_secs 5 metric_is srvgate_http_connections 65
check "conns: the rest were refused with 503" wait_secs 5 crowd_ge 503 4136
check "conns: /health from 127.0.0.2 answers" \
	answered_within "$(from 127.0.0.2 GET "$SG_HTTP/health")" 200 1
url=$(new_token 127.0.0.2)
check "conns: a registration from 127.0.0.2 answers" \
	answered_within "$(from 127.0.0.2 PUT "$url/m1" -d value=m1=http://10.0.0.1:2380)" 201 1
crowd_stop
stop_pid "$SG_PID"

# The same with no per-address cap to speak of: only the reserved last 5%
# of --max-connections (4096) keeps room for others.
new_srvgate reserve --io-timeout 60s --max-connections-per-address 100000
crowd_start 4200 20
check "reserve: 4200 idle connections from 127.0.0.1 made" \
	wait_secs 20 crowd_ge settled 4200
# 4096 - 204 reserved = 3892 for 127.0.0.1; the other 308 get 503
check "reserve: those beyond 95% of --max-connections refused with 503" \
	wait_secs 10 crowd_ge 503 308
check "reserve: ... counted as refused for the reserve" \
	metric_ge 'srvgate_http_connections_refused_total{reason="reserve"}' 308
open=$(metric srvgate_http_connections)
check "reserve: 127.0.0.1 holds at most 3892, and the metrics client 1 ($open)" \
	test "${open:-0}" -ge 3800 -a "${open:-9999}" -le 3893
check "reserve: /health from 127.0.0.2 answers" \
	answered_within "$(from 127.0.0.2 GET "$SG_HTTP/health")" 200 1
url=$(new_token 127.0.0.3)
check "reserve: a registration from 127.0.0.3 answers" \
	answered_within "$(from 127.0.0.3 PUT "$url/m1" -d value=m1=http://10.0.0.1:2380)" 201 1
crowd_stop
stop_pid "$SG_PID"

# ---- 3. fair shares: 10k watches from one address ----

if [ "$(ulimit -Hn)" != unlimited ] && [ "$(ulimit -Hn)" -lt 11000 ]; then
	skip "watches: 10k connections need an open-file limit of 11000 (hard limit $(ulimit -Hn))"
else
	new_srvgate watches --io-timeout 60s --max-connections 12000 \
		--max-connections-per-address 100000
	url=$(new_token 127.0.0.2)
	wt=${url##*/}
	crowd_start 10000 90 "/$wt?wait=true&recursive=true"
	check "watches: 10000 watches from 127.0.0.1 made" \
		wait_secs 30 crowd_ge settled 10000
	check "watches: 1000 held (--max-watches-per-address)" \
		wait_secs 10 metric_is srvgate_watches_open 1000
	check "watches: the other 9000 answered 503" \
		wait_secs 10 crowd_ge 503 9000
	check "watches: refusals counted" \
		metric_is srvgate_http_watches_refused_total 9000
	check "watches: /health from 127.0.0.2 answers" \
		answered_within "$(from 127.0.0.2 GET "$SG_HTTP/health")" 200 1
	check "watches: /metrics from 127.0.0.2 answers" \
		answered_within "$(from 127.0.0.2 GET "$SG_HTTP/metrics")" 200 1
	check "watches: a registration from 127.0.0.2 into the watched token answers" \
		answered_within "$(from 127.0.0.2 PUT "$url/m1" -d value=m1=http://10.0.0.1:2380)" 201 1
	check "watches: the 1000 held watches got the event" \
		wait_secs 10 crowd_ge 200 1000
	crowd_stop
	stop_pid "$SG_PID"
fi

# ---- 4. the admin API: closed without --admin-token ----

new_srvgate noadmin
url=$(new_token 127.0.0.1)
tok=${url##*/}
check "noadmin: the token answers (server alive)" \
	answered_within "$(from 127.0.0.1 GET "$url")" 200 1
for req in "GET $SG_HTTP/_admin/tokens/$tok" \
	"PUT $SG_HTTP/_admin/tokens/$tok?mode=import&force=true" \
	"PUT $SG_HTTP/_admin/aliases/prod" "DELETE $SG_HTTP/_admin/aliases/prod" \
	"DELETE $url" "DELETE $url/m1"; do
	got=$(from 127.0.0.1 ${req% *} "${req#* }" -d '{"size":1,"members":[]}')
	check "noadmin: $req answers 403" answered_within "$got" 403 1
	check "noadmin: ... naming --admin-token" grep -q -- --admin-token "$TMP/from.body"
done
check "noadmin: the token is still there" \
	answered_within "$(from 127.0.0.1 GET "$url")" 200 1
check "noadmin: no warning on loopback" \
	grep -q "HTTP on 127.0.0.1" "$TMP/noadmin.log"
check "noadmin: ... and none logged" \
	sh -c "! grep -q 'not loopback' '$TMP/noadmin.log'"
stop_pid "$SG_PID"

new_srvgate public --http-listen "0.0.0.0:$SG_HTTP_PORT" --public-url "http://discovery.test:$SG_HTTP_PORT"
check "public: a listener on 0.0.0.0 without --admin-token logs a warning" \
	grep -q "not loopback, without --admin-token" "$TMP/public.log"
stop_pid "$SG_PID"

# ---- 4b. with --admin-token: every route needs it; writes keep limits ----

new_srvgate admin --admin-token "$ADMIN" --max-size 10 --max-members 10
AUTH="Authorization: Bearer $ADMIN"
BAD="Authorization: Bearer not-$ADMIN"
url=$(new_token 127.0.0.1)
tok=${url##*/}
check "admin: GET with the token answers 200" \
	answered_within "$(from 127.0.0.1 GET "$SG_HTTP/_admin/tokens/$tok" -H "$AUTH")" 200 1
check "admin: GET without a token answers 401" \
	answered_within "$(from 127.0.0.1 GET "$SG_HTTP/_admin/tokens/$tok")" 401 1
check "admin: GET with a wrong token answers 401" \
	answered_within "$(from 127.0.0.1 GET "$SG_HTTP/_admin/tokens/$tok" -H "$BAD")" 401 1
check "admin: an import with a wrong token answers 401" \
	answered_within "$(from 127.0.0.1 PUT "$SG_HTTP/_admin/tokens/abc?mode=import" -H "$BAD" \
		-d '{"size":1,"members":[{"id":"a","value":"a=http://10.0.0.1:2380"}]}')" 401 1
check "admin: DELETE with a wrong token answers 401" \
	answered_within "$(from 127.0.0.1 DELETE "$url" -H "$BAD")" 401 1
check "admin: an import of size 1000000 answers 400" \
	answered_within "$(from 127.0.0.1 PUT "$SG_HTTP/_admin/tokens/big?mode=import" -H "$AUTH" \
		-d '{"size":1000000,"members":[{"id":"a","value":"a=http://10.0.0.1:2380"}]}')" 400 1
check "admin: ... naming --max-size" grep -q -- --max-size "$TMP/from.body"
check "admin: ... and made no token" \
	answered_within "$(from 127.0.0.1 GET "$SG_HTTP/_admin/tokens/big" -H "$AUTH")" 404 1
members=$(python3 -c 'import json
print(json.dumps({"size": 3, "members": [{"id": "m%d" % i, "value": "m%d=http://10.0.0.%d:2380" % (i, i + 1)} for i in range(11)]}))')
check "admin: an import of 11 members (--max-members 10) answers 400" \
	answered_within "$(from 127.0.0.1 PUT "$SG_HTTP/_admin/tokens/many?mode=import" -H "$AUTH" -d "$members")" 400 1
check "admin: an import within the limits answers 200" \
	answered_within "$(from 127.0.0.1 PUT "$SG_HTTP/_admin/tokens/small?mode=import" -H "$AUTH" \
		-d '{"size":3,"members":[{"id":"a","value":"a=http://10.0.0.1:2380"}]}')" 200 1
check "admin: DELETE with the token answers 200" \
	answered_within "$(from 127.0.0.1 DELETE "$url" -H "$AUTH")" 200 1
stop_pid "$SG_PID"

new_srvgate adminrate --admin-token "$ADMIN" --rate-limit 1 --rate-burst 3
codes=""
for i in 1 2 3 4 5; do
	got=$(from 127.0.0.1 PUT "$SG_HTTP/_admin/tokens/r$i?mode=import" -H "$AUTH" \
		-d '{"size":1,"members":[{"id":"a","value":"a=http://10.0.0.1:2380"}]}')
	codes="$codes ${got% *}"
done
expect_eq "adminrate: 5 admin imports at once, burst 3" " 200 200 200 429 429" "$codes"
stop_pid "$SG_PID"

# ---- 5. the rate limiter: per address, prefixes from flags ----
# 20 addresses of 127/8 each within their own limit (the attack that once
# locked 127.0.0.1 out of a 16-slot table).

new_srvgate rate --rate-limit 1 --rate-burst 3
bad=""
for n in $(seq 2 21); do
	for _ in 1 2 3; do
		got=$(from "127.0.0.$n" GET "$SG_HTTP/new?size=3")
		[ "${got% *}" = 200 ] || bad="$bad 127.0.0.$n:${got% *}"
	done
done
expect_empty "rate: 20 addresses x 3 /new each, all within their burst" "$bad"
check "rate: 127.0.0.1 is not locked out" \
	answered_within "$(from 127.0.0.1 GET "$SG_HTTP/new?size=3")" 200 1
from 127.0.0.1 GET "$SG_HTTP/new?size=3" >/dev/null
from 127.0.0.1 GET "$SG_HTTP/new?size=3" >/dev/null
check "rate: 127.0.0.1 past its own burst gets 429" \
	answered_within "$(from 127.0.0.1 GET "$SG_HTTP/new?size=3")" 429 1
stop_pid "$SG_PID"

new_srvgate rate8 --rate-limit 1 --rate-burst 3 --rate-limit-ipv4-prefix 8
for n in 2 3 4; do from "127.0.0.$n" GET "$SG_HTTP/new?size=3" >/dev/null; done
check "rate8: with --rate-limit-ipv4-prefix 8, 127/8 is one client: 429" \
	answered_within "$(from 127.0.0.1 GET "$SG_HTTP/new?size=3")" 429 1
check "rate8: ... while the server answers" \
	answered_within "$(from 127.0.0.1 GET "$SG_HTTP/health")" 200 1
stop_pid "$SG_PID"

check_sanitizer_logs pipe conns reserve noadmin public admin adminrate rate rate8
[ -f "$TMP/watches.log" ] && check_sanitizer_logs watches
finish
