#!/bin/bash
# tests/e2e/storage.sh -- storage that fails safe.
#   1. A damaged data dir (a corrupted root page, a member record of
#      garbage, a leaf node's header of garbage, a truncated file) and a foreign one make srvgate refuse to start with
#      one line naming data.mdb, and leave the file's bytes as they were.
#   2. A full map (--max-db-size 1M): a registration gets 507 with an
#      etcd-style error, its retry 507 again (never 412: nothing of it
#      stayed), /health says why; a DELETE still succeeds and frees space,
#      and a registration then succeeds.
. "$(dirname "$0")/../lib.sh"

for t in python3 curl sha256sum; do
	command -v "$t" >/dev/null || { fail "$t is installed"; finish; exit; }
done

# ======== 1. damaged and foreign data dirs ========
unset SG_HTTP_PORT SG_DNS_PORT SG_DATA
if ! start_srvgate fill --rate-limit 0; then
	fail "srvgate starts"; tail -5 "$TMP/fill.log"; finish; exit
fi
for i in $(seq 1 60); do
	t=$(curl -sf -m 5 "$SG_HTTP/new?size=3") || break
	t=${t##*/}
	for m in a b c; do
		curl -sf -m 5 -o /dev/null -XPUT "$SG_HTTP/$t/$m$i" \
			-d "value=$m$i=https://10.1.$i.$((RANDOM % 250)):2380"
	done
done
n=$(curl -sf -m 5 "$SG_HTTP/metrics" | awk '$1 == "srvgate_tokens" { print $2 }')
expect_eq "setup: 60 tokens stored" 60 "$n"
stop_pid "$SG_PID"
GOOD=$SG_DATA

# corrupt KIND FILE: damages an LMDB file in place.
corrupt() {
	python3 - "$1" "$2" <<'PY'
import os, struct, sys
kind, path = sys.argv[1], sys.argv[2]
data = bytearray(open(path, 'rb').read())
PS = 4096
def meta(i):
    off = i * PS
    root = struct.unpack_from('<Q', data, off + 128)[0]
    txn = struct.unpack_from('<Q', data, off + 144)[0]
    return txn, root
if kind == 'root':
    txn, root = max(meta(0), meta(1))
    assert root not in (0, 0xffffffffffffffff), 'no root page'
    off = root * PS
    data[off + 8:off + 16] = b'\xff' * 8     # flags and bounds of the page
    data[off + 16:off + 80] = os.urandom(64)
elif kind in ('garbage', 'node'):
    # The first leaf page of the main database (the first child of its
    # root). Where a leaf's last bytes fall (the "h" and "i" records, a
    # member's tail, node headers) depends on the order of commits, so
    # the damage is aimed at a node found by walking the page.
    txn, root = max(meta(0), meta(1))
    off = root * PS
    if struct.unpack_from('<H', data, off + 10)[0] & 1:  # P_BRANCH
        node = off + struct.unpack_from('<H', data, off + 16)[0]
        lo, hi, fl = struct.unpack_from('<HHH', data, node)
        off = (lo | hi << 16 | fl << 32) * PS
    assert struct.unpack_from('<H', data, off + 10)[0] & 2, 'not a leaf'
    lower = struct.unpack_from('<H', data, off + 12)[0]
    nodes = [off + struct.unpack_from('<H', data, off + 16 + 2 * i)[0]
             for i in range((lower - 16) // 2)]
    if kind == 'garbage':
        # 64 bytes of 0xff over the value of the page's first member
        # record (a JSON object kept in the node): the key stays readable.
        for node in nodes:
            lo, hi, fl, ks = struct.unpack_from('<HHHH', data, node)
            key = bytes(data[node + 8:node + 8 + ks])
            if key.startswith(b'm/') and not fl & 1:  # not F_BIGDATA
                start = node + 8 + ks
                n = min(64, lo | hi << 16)
                data[start:start + n] = b'\xff' * n
                print(key.decode())
                break
        else:
            assert False, 'no member record in the first leaf'
    else:
        # 0xff over the first node's header: sizes and flags (a sub-
        # database, an overflow page) that LMDB follows out of the page.
        # Zeros after the last page (LMDB allows a longer file) keep the
        # wild reads inside the file, so they run out of the map (SIGSEGV)
        # rather than the file (SIGBUS), whatever the file's length.
        data[nodes[0]:nodes[0] + 8] = b'\xff' * 8
        data += bytes(2 << 20)
elif kind == 'truncate':
    data = data[:max(3 * PS, (len(data) // 2) // PS * PS)]
open(path, 'wb').write(bytes(data))
PY
}

# refuses NAME DIR: srvgate serve on DIR exits non-zero within 10 s with
# a line naming data.mdb; the file's bytes are unchanged.
refuses() {
	local name=$1 dir=$2 before after rc hport dport
	before=$(sha256sum "$dir/data.mdb" | cut -d' ' -f1)
	alloc_port hport
	alloc_port dport
	timeout 10 "$SRVGATE" serve --data-dir "$dir" --http-listen 127.0.0.1:$hport \
		--dns-listen 127.0.0.1:$dport --zones-dir "$TMP/none" >"$TMP/$name.log" 2>&1
	rc=$?
	after=$(sha256sum "$dir/data.mdb" | cut -d' ' -f1)
	if [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ]; then
		pass "$name: srvgate refuses to start (exit $rc)"
	else
		fail "$name: srvgate refuses to start (exit $rc)"
	fi
	expect_match "$name: the message names the file and the problem" \
		'data\.mdb: .*(damaged|truncated|foreign|unknown)' "$(cat "$TMP/$name.log")"
	expect_eq "$name: one line of error" 1 "$(grep -c . "$TMP/$name.log")"
	expect_eq "$name: data.mdb is untouched" "$before" "$after"
}

for kind in root garbage node truncate; do
	rm -rf "$TMP/$kind"; cp -a "$GOOD" "$TMP/$kind"; rm -f "$TMP/$kind/LOCK"
	damaged=$(corrupt "$kind" "$TMP/$kind/data.mdb") || fail "$kind: the damage was done"
	refuses "$kind" "$TMP/$kind"
	if [ "$kind" = garbage ]; then
		expect_match "garbage: the message names the damaged record ($damaged)" \
			"record '${damaged:-?}': not JSON" "$(cat "$TMP/$kind.log")"
	fi
done
# A foreign LMDB: valid, but not ours.
mkdir -p "$TMP/foreign"
python3 - "$TMP/foreign" <<'PY' && refuses foreign "$TMP/foreign" || fail "foreign: python3-lmdb or mdb_load made a foreign LMDB"
import subprocess, sys
d = sys.argv[1]
dump = "VERSION=3\nformat=print\ntype=btree\nmapsize=1048576\nHEADER=END\n hello\n world\nDATA=END\n"
subprocess.run(['mdb_load', '-f', '/dev/stdin', d], input=dump.encode(), check=True)
PY
# The undamaged copy still starts, with everything in it.
unset SG_HTTP_PORT SG_DNS_PORT
SG_DATA=$GOOD
if start_srvgate good; then
	n=$(curl -sf -m 5 "$SG_HTTP/metrics" | awk '$1 == "srvgate_members" { print $2 }')
	expect_eq "the undamaged dir starts with every member" 180 "$n"
	c0=$(curl -sf -m 5 "$SG_HTTP/metrics" | awk '$1 == "srvgate_storage_commits_total" { print $2 }')
	ok=0
	t0=$(date +%s)
	for _ in $(seq 1 300); do
		[ "$(curl -s -m 2 -o /dev/null -w '%{http_code}' "$SG_HTTP/health")" = 200 ] && ok=$((ok + 1))
	done
	c1=$(curl -sf -m 5 "$SG_HTTP/metrics" | awk '$1 == "srvgate_storage_commits_total" { print $2 }')
	secs=$(( $(date +%s) - t0 + 1 ))
	expect_eq "300 /health requests all answer 200" 300 "$ok"
	if [ -n "$c0" ] && [ -n "$c1" ] && [ $((c1 - c0)) -le $((secs + 1)) ]; then
		pass "... with $((c1 - c0)) commits in ${secs} s (one probe a second at most)"
	else
		fail "... with '$c0' -> '$c1' commits in ${secs} s (one probe a second at most)"
	fi
	stop_pid "$SG_PID"
else
	fail "the undamaged dir starts"
fi

# ======== 2. a full map ========
unset SG_HTTP_PORT SG_DNS_PORT SG_DATA
ADMIN=storage-admin
if ! start_srvgate full --rate-limit 0 --max-db-size 1M --max-members 5000 --max-size 5000 \
	--admin-token "$ADMIN"; then
	fail "srvgate starts with --max-db-size 1M"; tail -5 "$TMP/full.log"; finish; exit
fi
BIG=$(curl -sf -m 5 "$SG_HTTP/new?size=5000"); BIG=${BIG##*/}
# A value of 16 URLs with long host names: about 4 KB.
host=$(printf 'h%.0s' $(seq 1 200))
val=""
for u in $(seq 1 16); do val="$val${val:+,}n$u=https://$host$u.example:2380"; done
code=""
for i in $(seq 1 2000); do
	code=$(curl -s -m 10 -o "$TMP/full.body" -w '%{http_code}' -XPUT \
		"$SG_HTTP/$BIG/m$i?prevExist=false" --data-urlencode "value=$val")
	[ "$code" = 201 ] || break
done
expect_eq "a registration into a full map gets 507" 507 "$code"
expect_match "... with an etcd-style error" '"errorCode":300.*max-db-size' "$(cat "$TMP/full.body")"
code=$(curl -s -m 10 -o "$TMP/full.body" -w '%{http_code}' -XPUT \
	"$SG_HTTP/$BIG/m$i?prevExist=false" --data-urlencode "value=$val")
expect_eq "its retry gets 507 again, not 412" 507 "$code"
code=$(curl -s -m 5 -o /dev/null -w '%{http_code}' "$SG_HTTP/$BIG/m$i")
expect_eq "nothing of the refused registration is there" 404 "$code"
sleep 1.1 # /health answers from a probe at most a second old
out=$(curl -s -m 5 -w ' %{http_code}' "$SG_HTTP/health" | tr -d '\n')
expect_match "/health says 503 and why" 'full.* 503$' "$out"
code=$(curl -s -m 10 -o "$TMP/del.body" -w '%{http_code}' -XDELETE \
	-H "Authorization: Bearer $ADMIN" "$SG_HTTP/$BIG")
expect_eq "a DELETE of the big token succeeds" 200 "$code"
code=$(curl -s -m 5 -o /dev/null -w '%{http_code}' "$SG_HTTP/$BIG")
expect_eq "the token is gone" 404 "$code"
T=$(curl -sf -m 5 "$SG_HTTP/new?size=3"); T=${T##*/}
code=$(curl -s -m 10 -o /dev/null -w '%{http_code}' -XPUT \
	"$SG_HTTP/$T/x1?prevExist=false" -d "value=x1=https://10.0.0.1:2380")
expect_eq "a registration then succeeds" 201 "$code"
sleep 1.1
code=$(curl -s -m 5 -o /dev/null -w '%{http_code}' "$SG_HTTP/health")
expect_eq "/health is 200 again" 200 "$code"
stop_pid "$SG_PID"
check_sanitizer_logs fill good full
finish
