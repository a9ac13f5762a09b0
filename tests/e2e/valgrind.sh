#!/bin/bash
# valgrind.sh -- srvgate under valgrind: HTTP, watches, DNS over UDP and
# TCP, a zone transfer and a SIGHUP, then SIGTERM. Memcheck must report no
# errors and no leaks.
. "$(dirname "$0")/../lib.sh"
set_admin valgrind-test-admin

need_valgrind
check "the binary under test is not an ASan build" \
	bash -c "! ldd '$SRVGATE' | grep -q libasan"
SG_HTTP_PORT=$(free_port)
SG_DNS_PORT=$(free_port)
SG_HTTP=http://127.0.0.1:$SG_HTTP_PORT
D=$SG_DNS_PORT
mkdir -p "$TMP/zones"
cat >"$TMP/zones/static.test.zone" <<'Z'
$ORIGIN static.test.
$TTL 300
@ SOA ns1 hostmaster 1 3600 600 86400 30
@ NS ns1
ns1 A 127.0.0.1
m1 A 127.0.0.1
Z
valgrind --quiet --leak-check=full --show-leak-kinds=definite,indirect \
	--errors-for-leak-kinds=definite,indirect --error-exitcode=99 \
	--log-file="$TMP/vg.log" "$SRVGATE" serve \
	--http-listen 127.0.0.1:$SG_HTTP_PORT --dns-listen 127.0.0.1:$D \
	--data-dir "$TMP/data" --zones-dir "$TMP/zones" --allow-transfer 127.0.0.1 \
	--notify 127.0.0.1:$(free_port) --admin-token "$SG_ADMIN" \
	--access-log "$TMP/access.log" --log-format json >"$TMP/sg.log" 2>&1 &
VG=$!
PIDS="$PIDS $VG"
WAIT_SECS=60 wait_for curl -sf -m 2 "$SG_HTTP/health"
check "srvgate starts under valgrind" curl -sf -m 2 "$SG_HTTP/health"

U=$(curl -s -m 5 "$SG_HTTP/new?size=3")
T=${U##*/}
curl -s -m 10 "$SG_HTTP/$T?recursive=true&wait=true" >"$TMP/watch.out" &
W=$!
sleep 1
for i in 1 2 3 4; do
	curl -s -m 5 -XPUT "$SG_HTTP/$T/m$i?prevExist=false" \
		-d "value=n$i=https://10.0.0.$i:2380,n$i=http://m$i.static.test:2381" >/dev/null
done
wait $W
expect_match "a watch wakes under valgrind" '"action":"create"' "$(cat "$TMP/watch.out")"
curl -s -m 5 -XPUT "$SG_HTTP/$T/bad" -d 'value=%FF' >/dev/null
curl -s -m 5 "$SG_HTTP/metrics" >/dev/null
curl -s -m 5 "$SG_HTTP/$T/m1?wait=true&waitIndex=1" >/dev/null
curl -s -m 5 -H "$AUTH" -XDELETE "$SG_HTTP/$T/m4" >/dev/null
# a watch whose client goes away
curl -s -m 1 "$SG_HTTP/$T?recursive=true&wait=true" >/dev/null
SRV=$(dig +time=5 +tries=1 @127.0.0.1 -p $D +short _etcd-server-ssl._tcp.$T.discovery.internal SRV | wc -l)
expect_eq "SRV over UDP" 3 "$SRV"
SRV=$(dig +tcp +time=5 +tries=1 @127.0.0.1 -p $D +short _etcd-server._tcp.$T.discovery.internal SRV | wc -l)
expect_eq "SRV over TCP" 3 "$SRV"
dig +time=5 +tries=1 @127.0.0.1 -p $D nope.discovery.internal +edns=1 >/dev/null
N=$(dig +time=10 +tries=1 @127.0.0.1 -p $D discovery.internal AXFR | grep -c "IN")
check "AXFR under valgrind" test "$N" -gt 5
dig +time=10 +tries=1 @127.0.0.1 -p $D discovery.internal IXFR=1 >/dev/null
echo "garbage" >"$TMP/zones/broken.zone"
kill -HUP $VG
sleep 1
rm -f "$TMP/zones/broken.zone"
kill -HUP $VG
sleep 1
python3 - "$D" <<'PY'
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for p in (b"\x00", b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\xc0\x0c\x00\x01\x00\x01",
          b"\x12\x34\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00"):
    s.sendto(p, ("127.0.0.1", int(sys.argv[1])))
PY
sleep 1
term_wait $VG
rc=$?
expect_eq "exit code under valgrind (99 = memcheck errors)" 0 "$rc"
check "the access log (JSON) was written under valgrind" \
	grep -q '"path":"/health","status":"200"' "$TMP/access.log"
if [ ! -e "$TMP/vg.log" ]; then
	fail "valgrind reports nothing (valgrind wrote no log: it never ran)"
elif [ -s "$TMP/vg.log" ]; then
	fail "valgrind reported:"
	head -60 "$TMP/vg.log"
else
	pass "valgrind reports nothing"
fi
finish
