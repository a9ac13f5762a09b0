#!/bin/bash
# tests/e2e/grpc_tls.sh -- TLS on the gRPC port (--tls-cert, --tls-key,
# --tls-client-ca), with etcdctl 3.4 as etcd's --discovery-cacert/-cert/-key
# client would use it:
#   1. etcdctl over https with the CA: get, put, watch; ALPN is h2; a
#      plain-text client and a client trusting another CA get nowhere
#   2. SIGHUP reloads the certificate (new connections see the new one);
#      a broken file leaves the old one serving
#   3. with --tls-client-ca a client needs a certificate of that CA
. "$(dirname "$0")/../lib.sh"

etcd_test_env etcdctl openssl

# Two CAs, each with one certificate for 127.0.0.1 good for server and
# client; the files srvgate reads are copies, so that SIGHUP can swap them.
make_peer_cert "$TMP/ca1" "IP:127.0.0.1" || fail "a test CA (1)"
make_peer_cert "$TMP/ca2" "IP:127.0.0.1" || fail "a test CA (2)"
cp "$TMP/ca1/peer.crt" "$TMP/server.crt"
cp "$TMP/ca1/peer.key" "$TMP/server.key"

alloc_port GP && alloc_port SG_HTTP_PORT && alloc_port SG_DNS_PORT
start_srvgate tls --grpc-listen 127.0.0.1:$GP --tls-cert "$TMP/server.crt" \
	--tls-key "$TMP/server.key" || fail "srvgate starts with TLS"
EP=https://127.0.0.1:$GP
tctl() { etcdctl --endpoints=$EP --command-timeout=5s "$@"; }
# --tls-cert makes the HTTP port HTTPS too (https_discovery.sh tests it).
curl() { command curl --cacert "$TMP/ca1/ca.crt" "$@"; }
T=$(curl -sf "$SG_HTTP/new?size=3" | sed 's|.*/||')
P=/_etcd/registry/$T

expect_eq "over TLS with the CA: put" OK \
	"$(tctl --cacert "$TMP/ca1/ca.crt" put "$P/members/t1" 't1=https://10.0.0.1:2380' 2>&1)"
expect_eq "... get" "t1=https://10.0.0.1:2380" \
	"$(tctl --cacert "$TMP/ca1/ca.crt" get "$P/members/t1" --print-value-only)"
expect_eq "... the member is the v2 one" "t1=https://10.0.0.1:2380" \
	"$(curl -sf "$SG_HTTP/$T/t1" | jq -r .node.value)"
etcdctl --endpoints=$EP --cacert "$TMP/ca1/ca.crt" watch --prefix "$P/members" \
	>"$TMP/watch.out" 2>&1 &
WPID=$!
PIDS="$PIDS $WPID"
watches_are() { [ "$(curl -sf "$SG_HTTP/metrics" | awk '$1 == "srvgate_grpc_watches" {print $2}')" = "$1" ]; }
check "... watch" wait_for watches_are 1
curl -s -o /dev/null -XPUT "$SG_HTTP/$T/t2?prevExist=false" --data-urlencode 'value=t2=https://10.0.0.2:2380'
check "... which sees a v2 registration" wait_for grep -q 't2=https://10.0.0.2:2380' "$TMP/watch.out"
kill "$WPID" 2>/dev/null
expect_match "ALPN: h2" 'ALPN protocol: h2' \
	"$(echo | timeout 5 openssl s_client -connect 127.0.0.1:$GP -alpn h2 -CAfile "$TMP/ca1/ca.crt" 2>&1)"
expect_match "a client offering only http/1.1 is refused" 'no application protocol|alert' \
	"$(echo | timeout 5 openssl s_client -connect 127.0.0.1:$GP -alpn http/1.1 -CAfile "$TMP/ca1/ca.crt" 2>&1)"
out=$(etcdctl --endpoints=127.0.0.1:$GP --command-timeout=2s get "$P/members/t1" 2>&1)
expect_match "a plain-text client gets nowhere" 'deadline exceeded|Error' "$out"
out=$(tctl --cacert "$TMP/ca2/ca.crt" --command-timeout=2s get "$P/members/t1" 2>&1)
expect_match "a client trusting another CA gets nowhere" 'deadline exceeded|Error' "$out"
check "srvgate still serves" tctl --cacert "$TMP/ca1/ca.crt" endpoint health

# ---- SIGHUP ----
cp "$TMP/ca2/peer.crt" "$TMP/server.crt"
cp "$TMP/ca2/peer.key" "$TMP/server.key"
kill -HUP "$SG_PID"
check "SIGHUP reloads the certificate" wait_for grep -q "SIGHUP: reloaded $TMP/server.crt" "$TMP/tls.log"
check "... new connections show the new one" tctl --cacert "$TMP/ca2/ca.crt" endpoint health
out=$(tctl --cacert "$TMP/ca1/ca.crt" --command-timeout=2s endpoint health 2>&1)
expect_match "... and no longer the old one" 'unhealthy|deadline exceeded|Error' "$out"
echo "not a certificate" >"$TMP/server.crt"
kill -HUP "$SG_PID"
check "a broken certificate file is not loaded" wait_for grep -q "TLS not reloaded" "$TMP/tls.log"
check "... and the one before keeps serving" tctl --cacert "$TMP/ca2/ca.crt" endpoint health
cp "$TMP/ca1/peer.crt" "$TMP/server.crt"
cp "$TMP/ca1/peer.key" "$TMP/server.key"
stop_pid "$SG_PID"

# ---- client certificates ----
SG_PROBE_OPTS="--cert $TMP/ca1/peer.crt --key $TMP/ca1/peer.key" \
	start_srvgate tls --grpc-listen 127.0.0.1:$GP --tls-cert "$TMP/server.crt" \
	--tls-key "$TMP/server.key" --tls-client-ca "$TMP/ca1/ca.crt" ||
	fail "srvgate starts asking for client certificates"
out=$(tctl --cacert "$TMP/ca1/ca.crt" --command-timeout=2s get "$P/members/t1" 2>&1)
expect_match "--tls-client-ca: a client without a certificate gets nowhere" 'deadline exceeded|Error' "$out"
expect_eq "... one with a certificate of that CA is served" "t1=https://10.0.0.1:2380" \
	"$(tctl --cacert "$TMP/ca1/ca.crt" --cert "$TMP/ca1/peer.crt" --key "$TMP/ca1/peer.key" \
		get "$P/members/t1" --print-value-only)"
out=$(tctl --cacert "$TMP/ca1/ca.crt" --cert "$TMP/ca2/peer.crt" --key "$TMP/ca2/peer.key" \
	--command-timeout=2s get "$P/members/t1" 2>&1)
expect_match "... one with a certificate of another CA gets nowhere" 'deadline exceeded|Error' "$out"
expect_eq "... and it may register" OK \
	"$(tctl --cacert "$TMP/ca1/ca.crt" --cert "$TMP/ca1/peer.crt" --key "$TMP/ca1/peer.key" \
		put "$P/members/t3" 't3=https://10.0.0.3:2380' 2>&1)"
expect_match "srvgate refuses a client CA without a certificate" 'tls-client-ca needs' \
	"$("$SRVGATE" serve --tls-client-ca "$TMP/ca1/ca.crt" 2>&1)"
expect_match "... a certificate without its key" 'go together' \
	"$("$SRVGATE" serve --tls-cert "$TMP/server.crt" 2>&1)"
check_sanitizer_logs tls
finish
