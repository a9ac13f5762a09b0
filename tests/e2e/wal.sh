#!/bin/bash
# tests/e2e/wal.sh -- the LMDB store's write-ahead log (data.wal):
#   1. An acknowledgement never precedes the sync of its data: with the
#      slowsync shim delaying every fdatasync of data.wal by SLOWSYNC_MS,
#      8 concurrent registrations are each answered 201 no sooner than
#      that, are not listed before their answer, and the shim did slow a
#      sync of data.wal.
#   2. SIGKILL right after a run of acknowledged registrations, before the
#      log is checkpointed into data.mdb: after a restart every one is
#      there, and the log says changes were replayed from data.wal.
#   3. A data dir without data.wal (as earlier versions leave one) loads
#      whole, and the log is made.
#   4. A backup restored as data.mdb over the dir of a cleanly stopped
#      server, its data.wal left there, gets nothing of that log replayed.
#   5. Group commit waits for the clients it just answered: four
#      closed-loop clients (gather_clients.py), syncs of data.wal slowed to
#      30 ms, share each commit by default, and alternate two to a commit
#      with --commit-gather-us 0; a request after them, alone, is not
#      held by the wait for them.
. "$(dirname "$0")/../lib.sh"

for t in python3 curl; do
	command -v "$t" >/dev/null || { fail "$t is installed"; finish; exit; }
done
if [ ! -f "$SLOWSYNC_SO" ]; then
	fail "the slowsync shim is built ($SLOWSYNC_SO)"; finish; exit
fi

# ids TOKEN: the member ids listed in TOKEN, sorted, one a line.
ids() {
	curl -sf -m 10 "$SG_HTTP/$1" | python3 -c '
import json, sys
for n in json.load(sys.stdin)["node"].get("nodes", []):
    print(n["key"].split("/")[-1])' | sort
}

# ======== 1. the ack waits for the log's sync ========
export SLOWSYNC_MS=3000 SLOWSYNC_MATCH=data.wal SLOWSYNC_LOG=1
unset SG_HTTP_PORT SG_DNS_PORT SG_DATA
if ! start_srvgate_slowsync slow --rate-limit 0; then
	fail "srvgate starts with the slowsync shim"; tail -5 "$TMP/slow.log"; finish; exit
fi
T=$(curl -sf -m 10 "$SG_HTTP/new?size=10"); T=${T##*/}
expect_match "a token was made (through the slow log)" '^[0-9a-f]{32}$' "$T"
slowed0=$(grep -c 'slowsync: fdatasync(.*/data\.wal)' "$TMP/slow.log")
for i in 1 2 3 4 5 6 7 8; do
	( curl -s -m 30 -o /dev/null -w '%{http_code} %{time_total}\n' -XPUT \
		"$SG_HTTP/$T/w$i?prevExist=false" -d "value=w$i=http://10.7.0.$i:2380" \
		>"$TMP/put.$i" ) &
	PUTS="${PUTS:-} $!"
done
sleep 1
answered=$(cat "$TMP"/put.* | grep -c .)
listed=$(curl -sf -m 5 "$SG_HTTP/$T" | python3 -c '
import json, sys
print(len(json.load(sys.stdin)["node"].get("nodes", [])))')
expect_eq "a second in, while the log's sync is slow: no answer yet" 0 "$answered"
expect_eq "... and none of them listed" 0 "$listed"
for p in $PUTS; do wait "$p"; done
early=""
for i in 1 2 3 4 5 6 7 8; do
	read -r code secs <"$TMP/put.$i"
	[ "$code" = 201 ] || early="$early w$i:code=$code"
	awk -v s="${secs:-0}" -v d="$SLOWSYNC_MS" 'BEGIN { exit !(s * 1000 >= d) }' ||
		early="$early w$i:${secs}s"
done
expect_empty "every registration is answered 201, none sooner than the ${SLOWSYNC_MS} ms sync" "$early"
slowed1=$(grep -c 'slowsync: fdatasync(.*/data\.wal)' "$TMP/slow.log")
check "the shim slowed syncs of data.wal for them ($slowed0 -> $slowed1)" test "$slowed1" -gt "$slowed0"
expect_eq "all 8 are listed after their acknowledgements" "w1 w2 w3 w4 w5 w6 w7 w8" "$(ids "$T" | tr '\n' ' ' | sed 's/ $//')"
stop_pid "$SG_PID"
unset SLOWSYNC_MS SLOWSYNC_MATCH SLOWSYNC_LOG

# ======== 2. SIGKILL before a checkpoint: the log replays ========
unset SG_HTTP_PORT SG_DNS_PORT SG_DATA
if ! start_srvgate crash --rate-limit 0; then
	fail "srvgate starts"; tail -5 "$TMP/crash.log"; finish; exit
fi
T=$(curl -sf -m 5 "$SG_HTTP/new?size=100"); T=${T##*/}
: >"$TMP/acked"
for i in $(seq 1 40); do
	code=$(curl -s -m 5 -o /dev/null -w '%{http_code}' -XPUT \
		"$SG_HTTP/$T/k$i?prevExist=false" -d "value=k$i=http://10.8.0.$i:2380")
	[ "$code" = 201 ] && echo "k$i" >>"$TMP/acked"
done
kill -KILL "$SG_PID"
wait "$SG_PID" 2>/dev/null
expect_eq "40 registrations were acknowledged before SIGKILL" 40 "$(wc -l <"$TMP/acked")"
if ! start_srvgate crash --rate-limit 0; then
	fail "srvgate restarts after SIGKILL"; tail -5 "$TMP/crash.log"; finish; exit
fi
expect_match "the restart replayed changes from data.wal" \
	'storage: [0-9]+ changes replayed from .*/data\.wal' "$(cat "$TMP/crash.log")"
missing=$(sort "$TMP/acked" | comm -23 - <(ids "$T") | tr '\n' ' ')
expect_empty "every acknowledged registration is there after SIGKILL" "$missing"

# ======== 3. a data dir without data.wal ========
stop_pid "$SG_PID"
check "a clean stop leaves data.wal" test -f "$SG_DATA/data.wal"
rm -f "$SG_DATA/data.wal"
if start_srvgate crash --rate-limit 0; then
	missing=$(sort "$TMP/acked" | comm -23 - <(ids "$T") | tr '\n' ' ')
	n=$(ids "$T" | wc -l)
	expect_eq "without data.wal: all 40 members load" 40 "$n"
	expect_empty "without data.wal: none missing" "$missing"
	check "data.wal is made again" test -f "$SG_DATA/data.wal"
	"$SRVGATE" backup "$TMP/b.mdb" --data-dir "$SG_DATA" >/dev/null 2>&1 ||
		fail "srvgate backup exits 0"
	code=$(curl -s -m 5 -o /dev/null -w '%{http_code}' -XPUT \
		"$SG_HTTP/$T/k41?prevExist=false" -d "value=k41=http://10.8.0.41:2380")
	expect_eq "and it takes registrations" 201 "$code"
	stop_pid "$SG_PID"
else
	fail "srvgate starts on a data dir without data.wal"; tail -5 "$TMP/crash.log"
fi

# ======== 4. a backup restored over a cleanly stopped server's dir ========
# The log of a clean stop reads as empty: k41, logged after the backup,
# must not come back on top of it.
cp "$TMP/b.mdb" "$SG_DATA/data.mdb" && rm -f "$SG_DATA/lock.mdb"
if start_srvgate crash --rate-limit 0; then
	n=$(ids "$T" | wc -l)
	expect_eq "restored over a dir whose data.wal stayed: the backup's 40 members, no more" 40 "$n"
	stop_pid "$SG_PID"
else
	fail "srvgate starts from the restored backup"; tail -5 "$TMP/crash.log"
fi
# ======== 5. a group commit waits for the clients it answered ========
# Four closed-loop clients, the first a little ahead of the others, with
# every sync of data.wal 30 ms long. Without --commit-gather-us the first
# client's commit and the others' alternate, each waiting out the other's
# sync: 2 changes a commit. With it, the commit after the others' waits
# the moment the first client takes to send again, and all four share
# every sync from then on.
GPY=$(dirname "$0")/gather_clients.py
gather_metrics() {
	curl -s -m 5 "$SG_HTTP/metrics" | awk '
		$1 == "srvgate_storage_commits_total" { c = $2 }
		$1 == "srvgate_storage_writes_total" { w = $2 }
		END { print c + 0, w + 0 }'
}
# gather_run NAME FLAGS...: 4 clients x 15 PUTs; sets G_CHANGES, G_COMMITS.
gather_run() {
	local name=$1 c0 w0 c1 w1 out tok
	shift
	G_CHANGES="" G_COMMITS=""
	unset SG_HTTP_PORT SG_DNS_PORT SG_DATA
	if ! start_srvgate_slowsync "$name" --rate-limit 0 "$@"; then
		fail "srvgate starts ($name)"; tail -5 "$TMP/$name.log"; return
	fi
	tok=$(curl -sf -m 10 "$SG_HTTP/new?size=100"); tok=${tok##*/}
	read -r c0 w0 < <(gather_metrics)
	out=$(python3 "$GPY" "$SG_HTTP_PORT" "$tok" 4 15 10 2>&1)
	read -r c1 w1 < <(gather_metrics)
	G_CHANGES=$((w1 - w0)) G_COMMITS=$((c1 - c0))
	echo "    $name: $out, $G_CHANGES changes in $G_COMMITS commits"
	expect_eq "$name: the 60 registrations are answered 201" \
		"sent=60 ok=60 other=0" "$(echo "$out" | cut -d' ' -f1-3)"
	# The last commit answered four clients that send no more: the next
	# request alone waits for them until the timer ends the wait.
	out=$(curl -s -m 5 -o /dev/null -w '%{http_code} %{time_total}' -XPUT \
		"$SG_HTTP/$tok/alone?prevExist=false" -d "value=a=http://10.9.9.9:2380")
	check "$name: a request after them, alone, is answered 201 within 1 s ($out)" \
		awk -v o="$out" 'BEGIN { split(o, f, " "); exit !(f[1] == 201 && f[2] < 1) }'
	stop_pid "$SG_PID"
}
export SLOWSYNC_MS=30 SLOWSYNC_MATCH=data.wal
gather_run gather0 --commit-gather-us 0
expect_eq "--commit-gather-us 0: 60 changes committed" 60 "$G_CHANGES"
check "... in alternating commits of the first client and the others (at least 24 commits for 60: ${G_COMMITS:-none})" \
	test "${G_COMMITS:-0}" -ge 24
gather_run gather
expect_eq "gathering (default): 60 changes committed" 60 "$G_CHANGES"
check "... all four clients sharing each commit (at most 20 commits for 60: ${G_COMMITS:-none})" \
	test "${G_COMMITS:-99}" -le 20
unset SLOWSYNC_MS SLOWSYNC_MATCH
check_sanitizer_logs slow crash gather0 gather
finish
