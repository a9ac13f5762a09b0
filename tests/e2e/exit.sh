#!/bin/bash
# exit.sh -- what a stopping srvgate leaves to the process's exit (issue
# 13: freeing 100k tokens block by block took seconds of a shutdown). With
# SRVGATE_FREE_AT_EXIT=0, as in production, the registry, the DNS data and
# the UDP workers' replicas are not freed but stay reachable: memcheck must
# report no definite or indirect leak. The other tests free everything
# (tests/lib.sh sets SRVGATE_FREE_AT_EXIT=1), which valgrind.sh checks.
. "$(dirname "$0")/../lib.sh"

need_valgrind
SG_HTTP_PORT=$(free_port)
D=$(free_port)
SG_HTTP=http://127.0.0.1:$SG_HTTP_PORT
SRVGATE_FREE_AT_EXIT=0 valgrind --quiet --leak-check=full \
	--show-leak-kinds=definite,indirect \
	--errors-for-leak-kinds=definite,indirect --error-exitcode=99 \
	--log-file="$TMP/vg.log" "$SRVGATE" serve \
	--http-listen 127.0.0.1:$SG_HTTP_PORT --dns-listen 127.0.0.1:$D \
	--dns-workers 2 --data-dir "$TMP/data" --zones-dir "$TMP/zones" \
	>"$TMP/sg.log" 2>&1 &
VG=$!
PIDS="$PIDS $VG"
WAIT_SECS=60 wait_for curl -sf -m 2 "$SG_HTTP/health"
check "srvgate starts under valgrind" curl -sf -m 2 "$SG_HTTP/health"
for t in 1 2 3; do
	U=$(curl -s -m 5 "$SG_HTTP/new?size=2")
	T=${U##*/}
	for i in 1 2; do
		curl -s -m 5 -XPUT "$SG_HTTP/$T/m$i?prevExist=false" \
			-d "value=n$i=https://10.0.$t.$i:2380" >/dev/null
	done
done
for _ in 1 2 3 4; do # over both workers' sockets, most likely
	SRV=$(dig +time=5 +tries=1 @127.0.0.1 -p $D +short _etcd-server-ssl._tcp.$T.discovery.internal SRV | wc -l)
done
expect_eq "SRV over UDP from the workers" 2 "$SRV"
term_wait $VG
rc=$?
expect_eq "exit code under valgrind, data left to the exit (99 = leaks)" 0 "$rc"
if [ ! -e "$TMP/vg.log" ]; then
	fail "valgrind wrote no log: it never ran"
elif [ -s "$TMP/vg.log" ]; then
	fail "valgrind reported:"
	head -40 "$TMP/vg.log"
else
	pass "valgrind reports nothing with SRVGATE_FREE_AT_EXIT=0"
fi
check "srvgate logged its stop" grep -q "stopped" "$TMP/sg.log"
finish
