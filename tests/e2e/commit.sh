#!/bin/bash
# tests/e2e/commit.sh -- nothing is visible before it is durable.
#   1. With the slowsync shim (every sync of the write-ahead log,
#      data.wal, takes SLOWSYNC_MS longer), a registration that is not yet
#      acknowledged is in no DNS answer, no AXFR, no SOA serial, no NOTIFY
#      and not on the Knot secondary; once acknowledged it is in all of
#      them at once.
#   2. SIGKILL while a registration waits for its sync: after a restart
#      the acknowledged one is there; the unacknowledged one may be there
#      or not (its record was written, not yet synced, and SIGKILL leaves
#      the page cache: like etcd, an unacknowledged write may have
#      committed), but if it is, it is whole; the serial never went
#      backwards for the secondary, and the secondary follows the next
#      change (same zone).
#   3. An acknowledgement never precedes the sync of its data: with the
#      shim, the answer takes at least the delay.
. "$(dirname "$0")/../lib.sh"
export LC_ALL=C
ZONE=discovery.internal
. "$(dirname "$0")/../knot.sh"

for t in kdig knotd dig python3 curl; do
	command -v "$t" >/dev/null || { fail "$t is installed"; finish; exit; }
done
if [ ! -f "$SLOWSYNC_SO" ]; then
	fail "the slowsync shim is built ($SLOWSYNC_SO)"; finish; exit
fi
export SLOWSYNC_MS=4000
export SLOWSYNC_MATCH=data.wal # the ack waits for this sync (data.mdb's: checkpoints)

dq() { dig +time=2 +tries=1 -p "$SG_DNS_PORT" @127.0.0.1 "$@" 2>&1; }
metric() { curl -sf -m 2 "$SG_HTTP/metrics" | awk -v k="$1" '$1 == k { print $2 }'; }
serial_sg() { dq +short "$ZONE" SOA | awk 'NF == 7 { print $3 }'; }
serial_knot() { kq "$KNOT_PORT" +short "$ZONE" SOA | awk 'NF == 7 { print $3 }'; }
srv_sg() { dq +short "_etcd-server-ssl._tcp.$T.$ZONE" SRV; }
srv_knot() { kq "$KNOT_PORT" +short "_etcd-server-ssl._tcp.$T.$ZONE" SRV; }
axfr_sg() { dq +nocmd +nostats "$ZONE" AXFR | grep -v '^;' | grep -v '^$' | sort; }
knot_has() { srv_knot | grep -q " $1\.$T\.$ZONE\.\$"; }
# put ID: registers ID (https://10.9.0.N:2380) in the background; the
# answer's code goes to $TMP/put-ID.code when it comes.
put_bg() {
	( curl -s -m 30 -o "$TMP/put-$1.body" -w '%{http_code}' -XPUT \
		"$SG_HTTP/$T/$1?prevExist=false" -d "value=$1=https://10.9.0.$2:2380" \
		>"$TMP/put-$1.code" 2>/dev/null ) &
	PUT_PID=$!
}

SENT='srvgate_notify_total{state="sent"}'
alloc_port KNOT_PORT
alloc_port SG_DNS_PORT
alloc_port SG_HTTP_PORT
FLAGS=(--rate-limit 0 --allow-transfer 127.0.0.1 --notify "127.0.0.1:$KNOT_PORT")

# ======== setup: a token with one member, on the secondary ========
if ! start_srvgate plain "${FLAGS[@]}"; then
	fail "srvgate starts"; tail -5 "$TMP/plain.log"; finish; exit
fi
T=$(curl -sf -m 5 "$SG_HTTP/new?size=5"); T=${T##*/}
curl -sf -m 5 -o /dev/null -XPUT "$SG_HTTP/$T/m1" -d "value=m1=https://10.9.0.1:2380"
if start_knot knot "$KNOT_PORT" "$SG_DNS_PORT" && WAIT_SECS=10 wait_for knot_has m1; then
	pass "setup: the Knot secondary has the first member"
else
	fail "setup: the Knot secondary has the first member"; tail -5 "$TMP/knot.log"
	finish; exit
fi
stop_pid "$SG_PID"

# ======== 1. nothing before the ack, everything after ========
if ! start_srvgate_slowsync slow "${FLAGS[@]}"; then
	fail "srvgate starts with the slowsync shim"; tail -5 "$TMP/slow.log"; finish; exit
fi
sleep $((SLOWSYNC_MS / 1000 + 1)) # the readiness probe's commit must be out of the way
S0=$(serial_sg)
N0=$(metric "$SENT")
K0=$(serial_knot)
AX0=$(axfr_sg)
expect_eq "before: srvgate and Knot agree on the serial" "$S0" "$K0"
t0=$(date +%s%3N)
put_bg m2 2
sleep 0.7
check "the registration is not acknowledged yet (the sync is slow)" \
	bash -c "test -f $TMP/put-m2.code && test ! -s $TMP/put-m2.code"
out=$(srv_sg)
check "unacknowledged: srvgate answers the SRV query (m1 there)" \
	grep -q " m1\.$T\.$ZONE\.\$" <<<"$out"
check "unacknowledged: m2 is in no SRV answer" bash -c "! grep -q ' m2\.' <<<'$out'"
expect_eq "unacknowledged: the SOA serial has not moved" "$S0" "$(serial_sg)"
out=$(dq +short "m2.$T.$ZONE" A; dq "m2.$T.$ZONE" A | grep -o 'status: [A-Z]*')
expect_eq "unacknowledged: m2's address is NXDOMAIN" "status: NXDOMAIN" "$out"
AX1=$(axfr_sg)
check "unacknowledged: the AXFR has m1's address" grep -q "^m1\.$T\.$ZONE\..*10\.9\.0\.1" <<<"$AX1"
expect_eq "unacknowledged: the AXFR is what it was" "$AX0" "$AX1"
expect_eq "unacknowledged: no NOTIFY went out" "$N0" "$(metric "$SENT")"
expect_eq "unacknowledged: Knot still has the old serial" "$S0" "$(serial_knot)"
check "... and all of the above ran before the ack" bash -c "test -f $TMP/put-m2.code && test ! -s $TMP/put-m2.code"
wait "$PUT_PID"
t1=$(date +%s%3N)
expect_eq "the registration is acknowledged 201" 201 "$(cat "$TMP/put-m2.code")"
if [ $((t1 - t0)) -ge "$SLOWSYNC_MS" ]; then
	pass "the ack waited for the sync ($((t1 - t0)) ms >= $SLOWSYNC_MS ms)"
else
	fail "the ack waited for the sync ($((t1 - t0)) ms < $SLOWSYNC_MS ms)"
fi
check "acknowledged: m2 is in the SRV answer at once" \
	bash -c "dig +short +time=2 +tries=1 -p $SG_DNS_PORT @127.0.0.1 _etcd-server-ssl._tcp.$T.$ZONE SRV | grep -q ' m2\.$T\.$ZONE\.\$'"
S1=$(serial_sg)
if [ -n "$S1" ] && [ "$S1" -gt "$S0" ]; then pass "acknowledged: the serial rose ($S0 -> $S1)"; else
	fail "acknowledged: the serial rose ($S0 -> '$S1')"; fi
check "acknowledged: the AXFR has m2" bash -c "grep -q '^m2\.$T' <<<\"\$(dig +time=2 +tries=1 -p $SG_DNS_PORT @127.0.0.1 $ZONE AXFR)\""
if WAIT_SECS=8 wait_for knot_has m2; then pass "acknowledged: Knot has m2 (NOTIFY, IXFR)"; else
	fail "acknowledged: Knot has m2"; fi
N1=$(metric "$SENT")
if [ -n "$N1" ] && [ "$N1" -gt "$N0" ]; then pass "acknowledged: a NOTIFY went out"; else
	fail "acknowledged: a NOTIFY went out ($N0 -> '$N1')"; fi

# ======== 2. SIGKILL before the ack ========
KS=$(serial_knot)
put_bg m3 3
sleep 0.7
check "m3 is not acknowledged when srvgate is killed" bash -c "test -f $TMP/put-m3.code && test ! -s $TMP/put-m3.code"
kill -KILL "$SG_PID"
wait "$SG_PID" 2>/dev/null
wait "$PUT_PID"
check "the client got no 2xx" bash -c "! grep -q '^2' '$TMP/put-m3.code'"
if ! start_srvgate after "${FLAGS[@]}"; then
	fail "srvgate restarts after SIGKILL"; tail -5 "$TMP/after.log"; finish; exit
fi
code=$(curl -s -m 5 -o /dev/null -w '%{http_code}' "$SG_HTTP/$T/m2")
expect_eq "after SIGKILL: the acknowledged m2 is there" 200 "$code"
code=$(curl -s -m 5 -o "$TMP/m3.json" -w '%{http_code}' "$SG_HTTP/$T/m3")
case $code in
404) pass "after SIGKILL: the unacknowledged m3 is not there" ;;
200) expect_match "after SIGKILL: the unacknowledged m3 is there whole (its record was written)" \
	'"value":"m3=https://10.9.0.3:2380"' "$(cat "$TMP/m3.json")" ;;
*) fail "after SIGKILL: m3 is either there or not (got $code)" ;;
esac
S2=$(serial_sg)
if [ -n "$S2" ] && [ -n "$KS" ] && [ "$S2" -ge "$KS" ]; then
	pass "after SIGKILL: srvgate's serial $S2 is not behind Knot's $KS"
else
	fail "after SIGKILL: srvgate's serial '$S2' is not behind Knot's '$KS'"
fi
curl -sf -m 5 -o /dev/null -XPUT "$SG_HTTP/$T/m4" -d "value=m4=https://10.9.0.4:2380"
if WAIT_SECS=8 wait_for knot_has m4; then pass "after SIGKILL: Knot follows the next change"; else
	fail "after SIGKILL: Knot follows the next change"; fi
A=$(axfr_sg)
check "the AXFR holds m4's address" grep -q "^m4\.$T\.$ZONE\." <<<"$A"
WAIT_SECS=5 wait_for bash -c "[ \"\$(dig +short -p $KNOT_PORT @127.0.0.1 $ZONE SOA)\" = \"\$(dig +short -p $SG_DNS_PORT @127.0.0.1 $ZONE SOA)\" ]"
expect_eq "Knot's serial equals srvgate's" "$(serial_sg)" "$(serial_knot)"
expect_eq "Knot's SRV set equals srvgate's" "$(srv_sg | sort)" "$(srv_knot | sort)"
for m in m1 m2 m4; do
	expect_eq "Knot's address of $m equals srvgate's" \
		"$(dq +short "$m.$T.$ZONE" A)" "$(kq "$KNOT_PORT" +short "$m.$T.$ZONE" A)"
done

stop_pid "$SG_PID"
stop_pid "$KNOT_PID"
check_sanitizer_logs plain slow after
finish
