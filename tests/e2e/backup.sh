#!/bin/bash
# tests/e2e/backup.sh -- `srvgate backup FILE` while registrations run:
# the copy opens with mdb_stat, `serve` starts from it, and it holds every
# registration acknowledged before the backup began; the server was not
# paused (registrations went on during the copy).
. "$(dirname "$0")/../lib.sh"

for t in mdb_stat python3 curl; do
	command -v "$t" >/dev/null || { fail "$t is installed"; finish; exit; }
done

unset SG_HTTP_PORT SG_DNS_PORT SG_DATA
if ! start_srvgate live --rate-limit 0 --max-members 100000 --max-size 5000; then
	fail "srvgate starts"; tail -5 "$TMP/live.log"; finish; exit
fi
T=$(curl -sf -m 5 "$SG_HTTP/new?size=5000"); T=${T##*/}
# Four loops register m<loop>-<n> and log each id acknowledged 201.
for l in 1 2 3 4; do
	( for n in $(seq 1 4000); do
		[ -e "$TMP/stop" ] && break
		code=$(curl -s -m 5 -o /dev/null -w '%{http_code}' -XPUT \
			"$SG_HTTP/$T/m$l-$n?prevExist=false" -d "value=m$l-$n=http://10.$l.0.1:2380")
		[ "$code" = 201 ] && echo "m$l-$n" >>"$TMP/acked.$l"
	done ) &
	LOOPS="${LOOPS:-} $!"
done
acked() { cat "$TMP"/acked.* 2>/dev/null | wc -l; }
WAIT_SECS=30 wait_for bash -c "[ \$(cat $TMP/acked.* 2>/dev/null | wc -l) -ge 40 ]"
cat "$TMP"/acked.* | sort >"$TMP/before"
if "$SRVGATE" backup "$TMP/backup.mdb" --data-dir "$SG_DATA" >"$TMP/backup.out" 2>&1; then
	pass "srvgate backup exits 0 ($(cat "$TMP/backup.out"))"
else
	fail "srvgate backup exits 0"; cat "$TMP/backup.out"
fi
n0=$(acked)
WAIT_SECS=30 wait_for bash -c "[ \$(cat $TMP/acked.* 2>/dev/null | wc -l) -ge $((n0 + 20)) ]"
touch "$TMP/stop"
for p in $LOOPS; do wait "$p"; done
before=$(wc -l <"$TMP/before")
total=$(cat "$TMP"/acked.* | wc -l)
if [ "$before" -ge 40 ] && [ "$total" -gt "$before" ]; then
	pass "registrations ran before ($before) and during/after ($((total - before))) the backup"
else
	fail "registrations ran before ($before) and during/after the backup ($total in all)"
fi
stop_pid "$SG_PID"

mkdir -p "$TMP/restored"
cp "$TMP/backup.mdb" "$TMP/restored/data.mdb"
check "mdb_stat opens the copy" mdb_stat "$TMP/restored"
# mdb_stat reads only the meta pages (it opens a truncated copy too);
# mdb_dump walks every record.
if mdb_dump -p "$TMP/restored" >"$TMP/restored.dump" 2>&1; then
	missing=$(sed -n "s|^ m/$T/||p" "$TMP/restored.dump" | sort | comm -23 "$TMP/before" - | wc -l)
	expect_eq "mdb_dump reads the whole copy: every registration acknowledged before the backup ($before)" 0 "$missing"
else
	fail "mdb_dump reads the whole copy"; tail -3 "$TMP/restored.dump" | sed 's/^/    /'
fi
unset SG_HTTP_PORT SG_DNS_PORT
SG_DATA=$TMP/restored
if start_srvgate restored --max-members 100000; then
	pass "serve starts from the copy"
	curl -sf -m 10 "$SG_HTTP/$T" | python3 -c '
import json, sys
for n in json.load(sys.stdin)["node"].get("nodes", []):
    print(n["key"].split("/")[-1])' | sort >"$TMP/restored.ids"
	missing=$(comm -23 "$TMP/before" "$TMP/restored.ids" | wc -l)
	expect_eq "every registration acknowledged before the backup is in it ($before)" 0 "$missing"
	n=$(wc -l <"$TMP/restored.ids")
	if [ "$n" -ge "$before" ] && [ "$n" -le "$total" ]; then
		pass "the copy holds $n members: no fewer than acknowledged before, no more than ever were"
	else
		fail "the copy holds $n members (before $before, total $total)"
	fi
	stop_pid "$SG_PID"
else
	fail "serve starts from the copy"; tail -5 "$TMP/restored.log"
fi
check "backup of a dir that is not there fails" bash -c "! '$SRVGATE' backup '$TMP/x.mdb' --data-dir '$TMP/nothing' 2>/dev/null"
code=0; "$SRVGATE" backup >/dev/null 2>&1 || code=$?
expect_eq "backup without FILE is a usage error" 2 "$code"
check_sanitizer_logs live restored
finish
