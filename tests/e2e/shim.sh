#!/bin/bash
# tests/e2e/shim.sh -- the slowsync LD_PRELOAD shim (tests/shim/slowsync.c)
# that the publish-after-commit tests use to keep a commit under way:
#   1. without it an fdatasync is fast (the delays below are the shim's);
#   2. with it fsync, fdatasync, sync_file_range and msync of a data.mdb
#      take at least SLOWSYNC_MS, and the real call is still made;
#   3. other files and sockets are not slowed; SLOWSYNC_MATCH picks the
#      files; SLOWSYNC_MS defaults to 3000; SLOWSYNC_LOG=1 logs each delay;
#      while the file SLOWSYNC_FAIL_IF names exists, fsync, fdatasync and
#      pwrite of a matching file fail with EIO (and only then, only those);
#   4. srvgate started with start_srvgate_slowsync: its data.wal syncs are
#      slowed (logged), a registration is acknowledged only after the slow
#      commit, and its DNS answers are not slowed while nothing commits.
. "$(dirname "$0")/../lib.sh"
unset SLOWSYNC_MS SLOWSYNC_MATCH SLOWSYNC_LOG

if [ ! -f "$SLOWSYNC_SO" ]; then
	fail "the shim is built ($SLOWSYNC_SO: make \$(BUILD)/slowsync.so)"
	finish
	exit 1
fi
pass "the shim is built ($SLOWSYNC_SO)"

# sync.py FILE CALL...: each CALL (fsync, fdatasync, sync_file_range,
# msync, or fsync-socket on a socketpair) on FILE, made with 4 KiB of data
# first; prints one line per CALL: "ok MS" or "errno=N MS", MS being the
# milliseconds the call took.
cat >"$TMP/sync.py" <<'EOF'
import ctypes, errno, mmap, os, socket, sys, time
path = sys.argv[1]
libc = ctypes.CDLL(None, use_errno=True)
fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
os.write(fd, b"x" * 4096)
m = mmap.mmap(fd, 4096)
a, b = socket.socketpair()
for call in sys.argv[2:]:
    m[0:1] = b"y"
    err = 0
    t0 = time.monotonic()
    try:
        if call == "fsync":
            os.fsync(fd)
        elif call == "fdatasync":
            os.fdatasync(fd)
        elif call == "msync":
            m.flush()
        elif call == "sync_file_range":  # SYNC_FILE_RANGE_WRITE
            if libc.sync_file_range(fd, ctypes.c_longlong(0), ctypes.c_longlong(0), 2) != 0:
                err = ctypes.get_errno()
        elif call == "fsync-socket":
            os.fsync(a.fileno())
        elif call == "pwrite":
            os.pwrite(fd, b"z" * 4096, 0)
        else:
            sys.exit("unknown call " + call)
    except OSError as e:
        err = e.errno
    ms = int((time.monotonic() - t0) * 1000)
    print("ok %d" % ms if err == 0 else "errno=%d %d" % (err, ms), flush=True)
EOF
mkdir -p "$TMP/d"
DATA=$TMP/d/data.mdb
OTHER=$TMP/d/other.log

# shimmed FILE "CALL..." [ENV=VALUE...]: sync.py FILE CALL... with the shim
# preloaded and the given environment; its stderr goes to $TMP/sync.err.
shimmed() {
	local f=$1 c=$2
	shift 2
	# shellcheck disable=SC2086
	env LD_PRELOAD="$SLOWSYNC_SO" "$@" python3 "$TMP/sync.py" "$f" $c 2>>"$TMP/sync.err"
}
# took_between OUT LO HI: OUT is "ok MS" with LO <= MS < HI.
took_between() {
	awk -v o="$1" -v lo="$2" -v hi="$3" 'BEGIN { n = split(o, f, " ");
		exit !(n == 2 && f[1] == "ok" && f[2] ~ /^[0-9]+$/ && f[2] >= lo && f[2] < hi) }'
}

MS=700
# ---- 1. without the shim ----
r=$(python3 "$TMP/sync.py" "$DATA" fdatasync)
check "without the shim, fdatasync of data.mdb is fast ($r)" took_between "$r" 0 300

# ---- 2. every call on data.mdb waits SLOWSYNC_MS, then really syncs ----
CALLS="fsync fdatasync sync_file_range msync"
r=$(shimmed "$DATA" "$CALLS" SLOWSYNC_MS=$MS)
for c in $CALLS; do
	o=$(printf '%s\n' "$r" | head -1)
	r=$(printf '%s\n' "$r" | sed 1d)
	check "shim, SLOWSYNC_MS=$MS: $c of data.mdb takes >= $MS ms and succeeds ($o)" \
		took_between "$o" "$MS" $((MS + 1500))
done

# ---- 3. what is not slowed; the knobs ----
r=$(shimmed "$OTHER" "$CALLS" SLOWSYNC_MS=$MS)
for c in $CALLS; do
	o=$(printf '%s\n' "$r" | head -1)
	r=$(printf '%s\n' "$r" | sed 1d)
	check "shim: $c of other.log is not slowed ($o)" took_between "$o" 0 300
done
r=$(shimmed "$DATA" fsync-socket SLOWSYNC_MS=$MS SLOWSYNC_MATCH=)
expect_match "shim, even matching every path: fsync of a socket is not slowed and reaches the real fsync (EINVAL)" \
	"^errno=$(python3 -c 'import errno; print(errno.EINVAL)') [0-9]{1,2}\$" "$r"
r=$(shimmed "$OTHER" fdatasync SLOWSYNC_MS=$MS SLOWSYNC_MATCH=other.log)
check "shim, SLOWSYNC_MATCH=other.log: other.log is slowed ($r)" took_between "$r" "$MS" $((MS + 1500))
r=$(shimmed "$DATA" fdatasync SLOWSYNC_MS=$MS SLOWSYNC_MATCH=other.log)
check "shim, SLOWSYNC_MATCH=other.log: data.mdb is not ($r)" took_between "$r" 0 300
r=$(env -u SLOWSYNC_MS LD_PRELOAD="$SLOWSYNC_SO" python3 "$TMP/sync.py" "$DATA" fdatasync)
check "shim: SLOWSYNC_MS defaults to 3000 ($r)" took_between "$r" 3000 4500
: >"$TMP/sync.err"
r=$(shimmed "$DATA" fsync SLOWSYNC_MS=50 SLOWSYNC_LOG=1)
expect_match "shim, SLOWSYNC_LOG=1: the delay is logged with the path" \
	"^slowsync: fsync\\($DATA\\) \\+50 ms\$" "$(cat "$TMP/sync.err")"
EIO=$(python3 -c 'import errno; print(errno.EIO)')
FLAG=$TMP/d/failing
rm -f "$FLAG"
r=$(shimmed "$DATA" "fdatasync pwrite" SLOWSYNC_MS=0 SLOWSYNC_FAIL_IF="$FLAG" | awk '{ print $1 }' | xargs)
expect_eq "shim, SLOWSYNC_FAIL_IF names no file: fdatasync and pwrite of data.mdb succeed" "ok ok" "$r"
touch "$FLAG"
r=$(shimmed "$DATA" "fdatasync fsync pwrite" SLOWSYNC_MS=0 SLOWSYNC_FAIL_IF="$FLAG" | awk '{ print $1 }' | xargs)
expect_eq "shim, SLOWSYNC_FAIL_IF's file exists: fdatasync, fsync and pwrite of data.mdb fail (EIO)" \
	"errno=$EIO errno=$EIO errno=$EIO" "$r"
r=$(shimmed "$OTHER" "fdatasync pwrite" SLOWSYNC_MS=0 SLOWSYNC_FAIL_IF="$FLAG" | awk '{ print $1 }' | xargs)
expect_eq "  ... but not of other.log" "ok ok" "$r"
rm -f "$FLAG"

# ---- 4. srvgate with the shim ----
# An ack waits for the sync of the write-ahead log, data.wal (data.mdb's
# syncs are checkpoints, off the ack's path).
export SLOWSYNC_MS=1000 SLOWSYNC_LOG=1 SLOWSYNC_MATCH=data.wal
if start_srvgate_slowsync sg --rate-limit 0; then
	pass "srvgate starts with the shim preloaded"
	expect_match "srvgate's log: its data.wal syncs are slowed by the shim" \
		"^slowsync: [a-z_]+\\($SG_DATA/data\\.wal\\) \\+1000 ms\$" "$(cat "$TMP/sg.log")"
	out=$(curl -s -m 10 -w ' %{http_code} %{time_total}' "$SG_HTTP/new?size=3")
	T=${out%% *}
	T=${T##*/}
	read -r code secs <<<"${out#* }"
	check "GET /new (a commit) is answered 200 only after the slow sync ($code in ${secs}s)" \
		awk -v c="$code" -v s="$secs" 'BEGIN { exit !(c == 200 && s >= 1.0 && s < 5) }'
	out=$(curl -s -m 10 -o /dev/null -w '%{http_code} %{time_total}' -XPUT \
		"$SG_HTTP/$T/m1?prevExist=false" -d value=m1=https://10.0.0.1:2380)
	read -r code secs <<<"$out"
	check "a registration is acknowledged (201) only after the slow sync ($code in ${secs}s)" \
		awk -v c="$code" -v s="$secs" 'BEGIN { exit !(c == 201 && s >= 1.0 && s < 5) }'
	t0=$(date +%s%3N)
	soa=$(dig +time=2 +tries=1 -p "$SG_DNS_PORT" @127.0.0.1 +short discovery.internal SOA)
	ms=$(( $(date +%s%3N) - t0 ))
	check "with nothing to commit, DNS answers at once (SOA '$soa' in ${ms} ms)" \
		test -n "$soa" -a "$ms" -lt 800
	stop_pid "$SG_PID"
	check_sanitizer_logs sg
else
	fail "srvgate starts with the shim preloaded"; tail -5 "$TMP/sg.log" | sed 's/^/    /'
fi
finish
