#!/bin/bash
# tests/e2e/zonefile_valgrind.sh -- zone files ldns would choke on, under
# valgrind: a file with three SOA records (libldns 1.8.3 reads a freed SOA
# in ldns_zone_new_frm_fp_l), one with two SOAs and a record without a TTL
# (the same bug with two), and one with a syntax error. Each is refused by
# the pre-pass with file:line: reason, at start and on SIGHUP, while the
# old data keeps serving; memcheck reports no error and no leak.
. "$(dirname "$0")/../lib.sh"

for t in valgrind dig curl; do
	if ! command -v "$t" >/dev/null 2>&1; then
		fail "$t is installed (scripts/install-deps test)"
		finish; exit 1
	fi
done
# valgrind cannot run an AddressSanitizer build: under `make test
# SANITIZE=1` use (and build) the plain binary beside it.
if ldd "$SRVGATE" 2>/dev/null | grep -q libasan; then
	ROOT=$(cd "$(dirname "$0")/../.." && pwd)
	make -s -C "$ROOT" SANITIZE=0 all >/dev/null 2>&1
	SRVGATE=$ROOT/build/srvgate
fi
check "the binary under test is not an ASan build" \
	bash -c "! ldd '$SRVGATE' | grep -q libasan"

VG="valgrind --quiet --leak-check=full --show-leak-kinds=definite,indirect
	--errors-for-leak-kinds=definite,indirect --error-exitcode=99"
ZONES=$TMP/zones
mkdir -p "$ZONES"
cat >"$ZONES/good.test.zone" <<'Z'
$ORIGIN good.test.
$TTL 300
@   SOA ns1 hostmaster 7 3600 600 86400 30
@   NS  ns1
ns1 A   192.0.2.53
www A   192.0.2.80
Z
# Three SOAs (line 3 is the second), then records with and without TTL.
three_soas() {
	cat <<'Z'
$ORIGIN three.test.
@    300 SOA ns1 hostmaster 1 3600 600 86400 30
@    300 SOA ns1 hostmaster 2 3600 600 86400 30
@    300 SOA ns1 hostmaster 3 3600 600 86400 30
@        NS  ns1
ns1      A   192.0.2.1
Z
}
# Two SOAs (line 4), then a record that takes the previous record's TTL:
# ldns reads the freed second SOA for it.
two_soas() {
	cat <<'Z'
$ORIGIN two.test.
$TTL 300
@ SOA ns1 hostmaster 1 3600 600 86400 30
@ SOA ns1 hostmaster 2 3600 600 86400 30
@ NS ns1
ns1 A 192.0.2.1
Z
}
broken() {
	printf '$ORIGIN broken.test.\n$TTL 300\n@ SOA ns1 hostmaster 1 3600 600 86400 30\n\nwww A 999.1.2.3\n'
}

# vg_report NAME CHECK: valgrind's log TMP/NAME.vg is empty (nothing found).
vg_report() {
	if [ ! -e "$TMP/$1.vg" ]; then
		fail "$2 (valgrind wrote no log: it never ran)"
	elif [ -s "$TMP/$1.vg" ]; then
		fail "$2"; head -60 "$TMP/$1.vg" | sed 's/^/    /'
	else
		pass "$2"
	fi
}

# ---- at start: each bad file keeps srvgate from starting ----

n=0
for kind in three_soas two_soas broken; do
	n=$((n + 1))
	mkdir -p "$TMP/start$n"
	"$kind" >"$TMP/start$n/bad.test.zone"
	alloc_port hp && alloc_port dp
	$VG --log-file="$TMP/start$n.vg" "$SRVGATE" serve \
		--http-listen 127.0.0.1:$hp --dns-listen 127.0.0.1:$dp \
		--data-dir "$TMP/start$n.data" --zones-dir "$TMP/start$n" \
		>"$TMP/start$n.log" 2>&1 &
	pid=$!
	PIDS="$PIDS $pid"
	for _ in $(seq 1 600); do kill -0 $pid 2>/dev/null || break; sleep 0.1; done
	wait $pid
	rc=$?
	case $kind in
	three_soas) want="bad.test.zone:3: a second SOA record" ;;
	two_soas) want="bad.test.zone:4: a second SOA record" ;;
	broken) want="bad.test.zone:5: " ;;
	esac
	expect_match "start with $kind: refused with file:line: reason" "$want" \
		"$(cat "$TMP/start$n.log")"
	expect_eq "start with $kind: exits 1, not 99 (memcheck errors)" 1 "$rc"
	vg_report "start$n" "start with $kind: valgrind reports nothing"
done

# ---- SIGHUP: each bad file is refused, the old data keeps serving ----

alloc_port SG_HTTP_PORT && alloc_port SG_DNS_PORT
SG_HTTP=http://127.0.0.1:$SG_HTTP_PORT
$VG --log-file="$TMP/hup.vg" "$SRVGATE" serve \
	--http-listen 127.0.0.1:$SG_HTTP_PORT --dns-listen 127.0.0.1:$SG_DNS_PORT \
	--data-dir "$TMP/hup.data" --zones-dir "$ZONES" >"$TMP/hup.log" 2>&1 &
SG=$!
PIDS="$PIDS $SG"
WAIT_SECS=60 wait_for curl -sf -m 2 "$SG_HTTP/health"
dq() { dig +time=5 +tries=1 -p "$SG_DNS_PORT" @127.0.0.1 "$@" 2>&1; }
expect_eq "srvgate serves good.test under valgrind" 192.0.2.80 "$(dq +short www.good.test A)"
n=0
for kind in three_soas two_soas broken; do
	n=$((n + 1))
	"$kind" >"$ZONES/bad.test.zone"
	before=$(grep -c "zones not reloaded" "$TMP/hup.log")
	kill -HUP $SG
	WAIT_SECS=30 wait_for test "$(grep -c "zones not reloaded" "$TMP/hup.log")" -gt "$before"
	case $kind in
	three_soas) want="bad.test.zone:3: a second SOA record" ;;
	two_soas) want="bad.test.zone:4: a second SOA record" ;;
	broken) want="bad.test.zone:5: " ;;
	esac
	expect_match "SIGHUP with $kind: refused with file:line: reason" \
		"zones not reloaded.*$want" "$(grep "zones not reloaded" "$TMP/hup.log" | tail -1)"
	expect_eq "... the old data keeps serving" 192.0.2.80 "$(dq +short www.good.test A)"
	expect_match "... and nothing of the bad file is served" 'status: REFUSED' \
		"$(dq ns1.bad.test A)"
done
rm -f "$ZONES/bad.test.zone"
kill -HUP $SG
WAIT_SECS=30 wait_for grep -q "SIGHUP: reloaded" "$TMP/hup.log"
expect_eq "the file gone, a SIGHUP reloads" 192.0.2.80 "$(dq +short www.good.test A)"
kill -TERM $SG
for _ in $(seq 1 300); do kill -0 $SG 2>/dev/null || break; sleep 0.1; done
wait $SG
rc=$?
expect_eq "exit code under valgrind (99 = memcheck errors)" 0 "$rc"
vg_report hup "valgrind reports nothing over three refused reloads"
finish
