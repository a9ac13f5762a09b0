#!/bin/bash
# diskfull.sh -- a full disk: srvgate answers 507 and /health 503, keeps
# nothing of a refused write (its retry is 507 again, never 412), loses no
# acknowledged registration, and takes writes again once there is room.
. "$(dirname "$0")/../lib.sh"

FS=$TMP/fs
mkdir -p "$FS"
if ! mount -t tmpfs -o size=256k tmpfs "$FS" 2>"$TMP/mount.err"; then
	fail "mount a 256 KiB tmpfs (needs root): $(cat "$TMP/mount.err")"
	finish
	exit 1
fi
on_exit "umount -l '$FS'"

SG_DATA=$FS/data
start_srvgate sg --rate-limit 0
check "srvgate starts on a small filesystem" curl -sf -m 2 "$SG_HTTP/health"
U=$(curl -s -m 5 "$SG_HTTP/new?size=1000")
T=${U##*/}

# Values near the 4 KiB limit fill 256 KiB after some dozens of members.
pad=$(printf 'h%.0s' $(seq 1 200))
acked=""
code=201
for i in $(seq 1 300); do
	v="m$i=http://$pad-$i.example.com:2380"
	for j in 1 2 3 4 5 6 7 8 9 10 11 12; do v="$v,m$i=http://$pad-$i-$j.example.com:2380"; done
	code=$(curl -s -m 10 -o "$TMP/put.out" -w '%{http_code}' -XPUT \
		"$SG_HTTP/$T/m$i" --data-urlencode "value=$v")
	[ "$code" = 201 ] || break
	acked="$acked m$i"
done
n_acked=$(echo $acked | wc -w)
expect_eq "a registration fails once the disk is full: 507" 507 "$code"
expect_match "the failure is etcd's JSON error" '"errorCode":300' "$(cat "$TMP/put.out")"
check "some registrations were acknowledged first ($n_acked)" test "$n_acked" -gt 5
expect_eq "/health says the disk takes no writes" 503 \
	"$(curl -s -m 10 -o /dev/null -w '%{http_code}' "$SG_HTTP/health")"
expect_match "the commit failures are counted" 'srvgate_storage_commit_failures_total [1-9]' \
	"$(curl -s -m 5 "$SG_HTTP/metrics")"
expect_match "the log says what failed" 'storage: write refused: .*(No space|space)' "$(cat "$TMP/sg.log")"
code=$(curl -s -m 10 -o /dev/null -w '%{http_code}' -XPUT \
	"$SG_HTTP/$T/m$i?prevExist=false" --data-urlencode "value=$v")
expect_eq "its retry (prevExist=false) gets 507 again, not 412" 507 "$code"

mount -o remount,size=16m "$FS"
WAIT_SECS=10 wait_for curl -sf -m 2 "$SG_HTTP/health"
expect_eq "/health recovers once there is room" 200 \
	"$(curl -s -m 5 -o /dev/null -w '%{http_code}' "$SG_HTTP/health")"
code=$(curl -s -m 10 -o /dev/null -w '%{http_code}' -XPUT \
	"$SG_HTTP/$T/m$i?prevExist=false" --data-urlencode "value=$v")
expect_eq "the refused registration then succeeds" 201 "$code"
acked="$acked m$i"
n_acked=$((n_acked + 1))

kill -TERM "$SG_PID"
WAIT_SECS=10 wait_for bash -c "! kill -0 $SG_PID"
wait "$SG_PID"
expect_eq "srvgate exits 0 on SIGTERM after the full disk" 0 "$?"
start_srvgate sg --rate-limit 0
listing=$(curl -s -m 5 "$SG_HTTP/$T")
missing=0
for m in $acked; do
	case "$listing" in *"/$m\""*) ;; *) missing=$((missing + 1)) ;; esac
done
expect_eq "after a restart every acknowledged registration is there (acked=$n_acked)" 0 "$missing"
check_sanitizer_logs sg
finish
