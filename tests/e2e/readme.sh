#!/bin/bash
# tests/e2e/readme.sh -- README's runnable examples run as written. Every
# ```sh block right after a line `<!-- runnable -->` runs, in README's
# order, in one bash (set -eE -o pipefail) in an empty directory, with
# $SRVGATE on PATH as `srvgate`, on free loopback ports: SRVGATE_*_LISTEN
# and SRVGATE_GATEWAY are set, and 127.0.0.1:8087, 127.0.0.1:5300, -p 5300
# and 127.0.0.1:8089 in the blocks (and their outputs) are replaced. A
# fenced block after `<!-- output -->` lists lines the runnable block's
# stdout must hold (whole lines, any order; `<token>`: 32 hex digits, `...`:
# anything). One check per block: it ran to its end and printed them; a
# failing block is shown with its README line. README=FILE tests another
# copy (to watch a broken one fail).
. "$(dirname "$0")/../lib.sh"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
README=${README:-$ROOT/README.md}

for t in curl dig etcdctl mdb_stat python3; do
	command -v "$t" >/dev/null || { fail "$t is installed"; finish; exit; }
done
ST=$TMP/blocks WORK=$TMP/work
mkdir -p "$ST" "$WORK" "$TMP/bin"
ln -s "$SRVGATE" "$TMP/bin/srvgate"

# Blocks to $ST/N.sh, expected lines to $ST/N.want, README lines to $ST/N.where.
if ! python3 - "$README" "$ST" >"$TMP/extract.out" 2>&1 <<'PY'
import sys
lines = open(sys.argv[1]).read().split("\n")
out, n, i, last, errors = sys.argv[2], 0, 0, None, []
def fence(at):  # the fenced block opening at line `at`: (text, end)
    ind = len(lines[at]) - len(lines[at].lstrip())
    body, j = [], at + 1
    while j < len(lines) and lines[j].strip() != "```":
        body.append(lines[j][ind:] if lines[j][:ind].strip() == "" else lines[j])
        j += 1
    return "\n".join(body) + "\n", j
while i < len(lines):
    mark = lines[i].strip()
    if mark in ("<!-- runnable -->", "<!-- output -->"):
        j = i + 1
        while j < len(lines) and lines[j].strip() == "":
            j += 1
        opening = lines[j].strip() if j < len(lines) else ""
        if mark == "<!-- runnable -->" and opening != "```sh":
            errors.append("line %d: <!-- runnable --> is not followed by a ```sh block" % (i + 1))
        elif mark == "<!-- output -->" and (not opening.startswith("```") or last is None):
            errors.append("line %d: <!-- output --> follows no runnable block or precedes no block" % (i + 1))
        else:
            text, end = fence(j)
            if mark == "<!-- runnable -->":
                n += 1
                last = n
                open("%s/%d.sh" % (out, n), "w").write(text)
                open("%s/%d.where" % (out, n), "w").write("%d" % (j + 1))
            else:
                open("%s/%d.want" % (out, last), "w").write(text)
                last = None
            i = end
    i += 1
for e in errors:
    print(e)
print("%d blocks" % n)
sys.exit(1 if errors or n == 0 else 0)
PY
then
	fail "README's markers are well-formed"; sed 's/^/    /' "$TMP/extract.out"; finish; exit
fi
N=$(ls "$ST"/*.sh | wc -l)
pass "README has $N runnable blocks ($(grep -c . <(ls "$ST"/*.want)) with their output)"

alloc_port HTTP && alloc_port DNS && alloc_port GRPC || { fail "free ports"; finish; exit; }
subst() {
	sed -i -e "s/127\.0\.0\.1:8087/127.0.0.1:$HTTP/g" -e "s/127\.0\.0\.1:5300/127.0.0.1:$DNS/g" \
		-e "s/-p 5300/-p $DNS/g" -e "s/127\.0\.0\.1:8089/127.0.0.1:$GRPC/g" "$1"
}
for f in "$ST"/*.sh "$ST"/*.want; do [ -e "$f" ] && subst "$f"; done
# A default port left in a block would reach past the test's servers.
for f in "$ST"/*.sh; do
	if grep -Eq '(:|-p )(8087|5300|8089)([^0-9]|$)' "$f"; then
		fail "README block $(basename "$f" .sh) (line $(cat "${f%.sh}.where")) names a default port the test does not replace"
		grep -En '(:|-p )(8087|5300|8089)([^0-9]|$)' "$f" | sed 's/^/    /'
		DEFAULT_PORT=1
	fi
done
[ -z "${DEFAULT_PORT:-}" ] || { finish; exit; }

{
	echo 'set -eE -o pipefail'
	echo "cd '$WORK'"
	echo "trap 'rc=\$?; echo \"README block \$B, its line \$LINENO: \$BASH_COMMAND (exit \$rc)\" >>\"$ST/\$B.err\"' ERR"
	echo "trap 'jobs -p >\"$ST/jobs\"; kill \$(jobs -p) 2>/dev/null; wait' EXIT"
	for k in $(seq 1 "$N"); do
		echo "B=$k; { . '$ST/$k.sh'; } >'$ST/$k.out' 2>'$ST/$k.err'; echo $k >>'$ST/done'; jobs -p >'$ST/jobs'"
	done
} >"$TMP/driver.sh"
# The servers the blocks start, killed at the end whatever happens.
on_exit 'for p in $(cat "$ST/jobs" 2>/dev/null); do kill -KILL "$p"; done'

# Nothing from the caller's environment reaches the blocks' srvgate.
unset $(env | sed -n 's/^\(SRVGATE_[A-Z_]*\)=.*/\1/p' | grep -vx SRVGATE_BIN)
env -u ETCDCTL_API PATH="$TMP/bin:$PATH" SRVGATE_HTTP_LISTEN="127.0.0.1:$HTTP" \
	SRVGATE_DNS_LISTEN="127.0.0.1:$DNS" SRVGATE_GRPC_LISTEN="127.0.0.1:$GRPC" \
	SRVGATE_GATEWAY="http://127.0.0.1:$HTTP" \
	timeout -k 5 300 bash "$TMP/driver.sh" </dev/null >"$TMP/driver.out" 2>&1
echo "    (the blocks ran: exit $?)"

# missing WANT OUT: the lines of WANT that no line of OUT matches.
missing() {
	python3 - "$1" "$2" <<'PY'
import re, sys
got = open(sys.argv[2]).read().split("\n")
for w in open(sys.argv[1]).read().split("\n"):
    if not w.strip():
        continue
    rx = re.escape(w).replace(re.escape("<token>"), "[0-9a-f]{32}").replace(re.escape("..."), ".*")
    if not any(re.fullmatch(rx, g) for g in got):
        print(w)
PY
}
show_block() {
	echo "    README line $(cat "$ST/$1.where"), as run:"
	sed 's/^/    | /' "$ST/$1.sh"
	echo "    its stdout (last lines):"; tail -8 "$ST/$1.out" 2>/dev/null | sed 's/^/    > /'
	echo "    its stderr (last lines):"; tail -8 "$ST/$1.err" 2>/dev/null | sed 's/^/    ! /'
}
for k in $(seq 1 "$N"); do
	first=$(head -1 "$ST/$k.sh" | cut -c1-60)
	name="README block $k (line $(cat "$ST/$k.where"): $first)"
	if [ ! -e "$ST/$k.out" ]; then
		fail "$name did not run: an earlier block failed"
	elif ! grep -qx "$k" "$ST/done" 2>/dev/null; then
		fail "$name ran to its end"; show_block "$k"
	elif [ -e "$ST/$k.want" ] && [ -n "$(missing "$ST/$k.want" "$ST/$k.out")" ]; then
		fail "$name printed what README says"
		missing "$ST/$k.want" "$ST/$k.out" | sed 's/^/    missing: /'
		show_block "$k"
	else
		pass "$name$([ -e "$ST/$k.want" ] && echo ": ran, printed what README says" || echo ": ran")"
	fi
done
left=$(for p in $(cat "$ST/jobs" 2>/dev/null); do kill -0 "$p" 2>/dev/null && echo "$p"; done)
expect_empty "no server the blocks started is left running" "$left"
# The servers' logs (sanitizer reports) went to their blocks' stderr.
cat "$ST"/*.err >"$TMP/readme-servers.log" 2>/dev/null
check_sanitizer_logs readme-servers
finish
