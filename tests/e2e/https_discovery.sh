#!/bin/bash
# tests/e2e/https_discovery.sh -- the discovery API over HTTPS (--tls-cert,
# --tls-key, --tls-client-ca on the HTTP port):
#   1. /new over https hands out an https:// discovery URL; plain HTTP on
#      that port gets no answer; a client that opens a connection and never
#      starts the handshake is closed
#   2. etcd 3.4 bootstraps a 3-member cluster through the https URL, trusting
#      the test CA through SSL_CERT_FILE; the members are SRV records
#   3. SIGHUP swaps in a certificate of another CA: new connections get it
#   4. with --tls-client-ca, a client without a certificate of that CA gets
#      no answer, one with a certificate is served
. "$(dirname "$0")/../lib.sh"

etcd_test_env etcd openssl

make_peer_cert "$TMP/ca1" "IP:127.0.0.1" || fail "a test CA (1)"
make_peer_cert "$TMP/ca2" "IP:127.0.0.1" || fail "a test CA (2)"
cp "$TMP/ca1/peer.crt" "$TMP/server.crt"
cp "$TMP/ca1/peer.key" "$TMP/server.key"

alloc_port SG_HTTP_PORT && alloc_port SG_DNS_PORT
start_srvgate https --grpc-listen off --tls-cert "$TMP/server.crt" \
	--tls-key "$TMP/server.key" || fail "srvgate starts with TLS on HTTP"
BASE=https://127.0.0.1:$SG_HTTP_PORT
hcurl() { curl -s -m 5 --cacert "$TMP/ca1/ca.crt" "$@"; }

# ---- 1. /new over https; plain HTTP; a silent client -----------------------
url=$(hcurl -H "$AUTH" "$BASE/new?size=3")
expect_match "/new over https hands out an https URL" \
	"^https://127\.0\.0\.1:$SG_HTTP_PORT/[0-9a-f]{32}\$" "$url"
T=${url##*/}
expect_eq "the new token's size reads back over https" "3" \
	"$(hcurl "$BASE/$T/_config/size" | jq -r .node.value)"
expect_eq "a client that does not trust the CA is refused by curl" "60" \
	"$(curl -s -m 5 -o /dev/null "$BASE/health"; echo $?)"
out=$(curl -s -m 5 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$SG_HTTP_PORT/health")
expect_eq "plain HTTP on the TLS port gets no HTTP answer" "000" "$out"
exec 7<>/dev/tcp/127.0.0.1/$SG_HTTP_PORT
check "a client that never starts the handshake is closed" \
	timeout 30 sh -c 'cat <&7 >/dev/null'
exec 7<&- 7>&-
expect_eq "... and the server still answers" "200" \
	"$(hcurl -o /dev/null -w '%{http_code}' "$BASE/health")"

# ---- 2. etcd 3.4 bootstraps through the https URL --------------------------
for n in e1 e2 e3; do
	alloc_port cp && alloc_port pp || fail "ports for $n"
	eval "CP_$n=$cp"
	SSL_CERT_FILE="$TMP/ca1/ca.crt" etcd --name "$n" --data-dir "$TMP/$n.etcd" \
		--listen-peer-urls "http://127.0.0.1:$pp" \
		--initial-advertise-peer-urls "http://127.0.0.1:$pp" \
		--listen-client-urls "http://127.0.0.1:$cp" \
		--advertise-client-urls "http://127.0.0.1:$cp" \
		--discovery "$url" >"$TMP/$n.log" 2>&1 &
	PIDS="$PIDS $!"
done
cluster_of_3() {
	[ "$(etcdctl --endpoints "http://127.0.0.1:$CP_e1" --command-timeout=3s \
		member list 2>/dev/null | grep -c ', started, ')" = 3 ]
}
check "etcd 3.4 forms a 3-member cluster through the https discovery URL" \
	wait_secs 60 cluster_of_3 ||
	tail -n 15 "$TMP/e1.log" | sed 's/^/    | /'
expect_eq "... all three registered over https" "3" \
	"$(hcurl "$BASE/$T" | jq '.node.nodes | length')"
expect_eq "... and published as SRV records" "3" \
	"$(dig +short -p "$SG_DNS_PORT" @127.0.0.1 SRV "_etcd-server._tcp.$T.discovery.internal" | grep -c .)"
check "... etcd logged the https discovery URL" grep -q "https://127.0.0.1:$SG_HTTP_PORT" "$TMP/e1.log"
for p in $PIDS; do case $p in "$SG_PID") ;; *) kill -TERM "$p" 2>/dev/null ;; esac; done

# ---- 3. SIGHUP swaps the certificate ---------------------------------------
cp "$TMP/ca2/peer.crt" "$TMP/server.crt"
cp "$TMP/ca2/peer.key" "$TMP/server.key"
kill -HUP "$SG_PID"
check "SIGHUP reloads the certificate" wait_for grep -q "SIGHUP: reloaded $TMP/server.crt" "$TMP/https.log"
expect_eq "after SIGHUP a new connection gets the new CA's certificate" "200" \
	"$(curl -s -m 5 --cacert "$TMP/ca2/ca.crt" -o /dev/null -w '%{http_code}' "$BASE/health")"
expect_eq "... and the old CA's no longer verifies it" "60" \
	"$(hcurl -o /dev/null "$BASE/health"; echo $?)"
stop_pid "$SG_PID"

# ---- 4. client certificates ------------------------------------------------
cp "$TMP/ca1/peer.crt" "$TMP/server.crt"
cp "$TMP/ca1/peer.key" "$TMP/server.key"
SG_PROBE_OPTS="--cert $TMP/ca1/peer.crt --key $TMP/ca1/peer.key" \
	start_srvgate https2 --grpc-listen off --tls-cert "$TMP/server.crt" \
	--tls-key "$TMP/server.key" --tls-client-ca "$TMP/ca1/ca.crt" ||
	fail "srvgate starts with --tls-client-ca"
out=$(hcurl -o /dev/null -w '%{http_code}' "$BASE/health")
expect_eq "--tls-client-ca: a client without a certificate gets no answer" "000" "$out"
out=$(curl -s -m 5 --cacert "$TMP/ca1/ca.crt" --cert "$TMP/ca2/peer.crt" \
	--key "$TMP/ca2/peer.key" -o /dev/null -w '%{http_code}' "$BASE/health")
expect_eq "... nor one with a certificate of another CA" "000" "$out"
out=$(curl -s -m 5 --cacert "$TMP/ca1/ca.crt" --cert "$TMP/ca1/peer.crt" \
	--key "$TMP/ca1/peer.key" -H "$AUTH" -w '\n%{http_code}' "$BASE/new?size=1")
expect_match "... one with a certificate of that CA is served" \
	'^https://.*[0-9a-f]{32}.200$' "$(printf '%s' "$out" | tr '\n' '.')"
check_sanitizer_logs https https2
finish
