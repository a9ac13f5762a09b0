#!/bin/bash
# tests/e2e/install.sh -- `make install` puts the binary, the man page, the
# systemd units and the EnvironmentFile example in place; the units pass
# `systemd-analyze verify` (no warning either) and the man page renders
# with every flag `srvgate serve --help` lists; `make uninstall` removes
# them all. Then the same as a package builds it: PREFIX=/usr DESTDIR=DIR.
. "$(dirname "$0")/../lib.sh"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)

for t in systemd-analyze man make; do
	command -v "$t" >/dev/null || { fail "$t is installed"; finish; exit; }
done
P=$TMP/root/usr
# The same build as the tests run (SANITIZE=1 builds into build-san).
if make -C "$ROOT" --no-print-directory install PREFIX="$P" SANITIZE="${SANITIZE:-0}" \
	>"$TMP/install.log" 2>&1; then
	pass "make install PREFIX=$P"
else
	fail "make install"; tail -5 "$TMP/install.log"; finish; exit
fi
FILES="bin/srvgate share/man/man8/srvgate.8 lib/systemd/system/srvgate.service
	lib/systemd/system/srvgate-sync@.service share/doc/srvgate/srvgate.env.example"
for f in $FILES; do check "installed: $f" test -s "$P/$f"; done
check "the installed binary runs" "$P/bin/srvgate" version
U=$P/lib/systemd/system
cp "$U/srvgate-sync@.service" "$U/srvgate-sync@t1.service"
for u in srvgate.service srvgate-sync@t1.service; do
	if MANPATH=$P/share/man systemd-analyze verify "$U/$u" >"$TMP/verify.out" 2>&1 &&
		[ ! -s "$TMP/verify.out" ]; then
		pass "systemd-analyze verify $u: clean"
	else
		fail "systemd-analyze verify $u"; sed 's/^/    /' "$TMP/verify.out" | head
	fi
done
rm -f "$U/srvgate-sync@t1.service"
check "the unit starts the installed binary" grep -q "^ExecStart=$P/bin/srvgate serve" "$U/srvgate.service"
check "the unit is hardened" grep -q '^ProtectSystem=strict' "$U/srvgate.service"
check "the unit may bind port 53" grep -q '^AmbientCapabilities=CAP_NET_BIND_SERVICE' "$U/srvgate.service"
page=$(MANWIDTH=120 man -l "$P/share/man/man8/srvgate.8" 2>"$TMP/man.err")
check "man -l renders the page" test -n "$page"
check "... without a warning" test ! -s "$TMP/man.err"
missing=""
for f in $("$P/bin/srvgate" serve --help | awk '/^  --/ { print $1 }'); do
	grep -q -- "$f" <<<"$page" || missing="$missing $f"
done
nflags=$("$P/bin/srvgate" serve --help | grep -c '^  --')
if [ "$nflags" -gt 20 ] && [ -z "$missing" ]; then
	pass "the man page lists all $nflags flags of srvgate serve"
else
	fail "the man page lists every flag ($nflags flags; missing:$missing)"
fi
if make -C "$ROOT" --no-print-directory uninstall PREFIX="$P" >"$TMP/uninstall.log" 2>&1; then
	pass "make uninstall"
else
	fail "make uninstall"; tail -5 "$TMP/uninstall.log"
fi
check "the install root is still there" test -d "$TMP/root/usr"
left=$(find "$TMP/root" -type f | sed "s|$TMP/root||")
expect_empty "nothing is left behind" "$left"

# A package build: PREFIX=/usr into DESTDIR. Files land under DESTDIR, the
# units name /usr/bin/srvgate (never the DESTDIR), and make uninstall with
# the same DESTDIR removes them.
D=$TMP/dest
if make -C "$ROOT" --no-print-directory install PREFIX=/usr DESTDIR="$D" SANITIZE="${SANITIZE:-0}" \
	>"$TMP/install-d.log" 2>&1; then
	pass "make install PREFIX=/usr DESTDIR=$D"
else
	fail "make install PREFIX=/usr DESTDIR=..."; tail -5 "$TMP/install-d.log"; finish; exit
fi
for f in $FILES; do check "installed under DESTDIR: /usr/$f" test -s "$D/usr/$f"; done
check "the binary under DESTDIR runs" "$D/usr/bin/srvgate" version
for u in srvgate.service srvgate-sync@.service; do
	expect_eq "$u starts /usr/bin/srvgate (no DESTDIR in the unit)" /usr/bin/srvgate \
		"$(sed -n 's/^ExecStart=\([^ ]*\).*/\1/p' "$D/usr/lib/systemd/system/$u")"
done
# systemd-analyze checks that ExecStart exists: verify copies that point
# into DESTDIR, the units otherwise as installed.
mkdir -p "$TMP/verify-d"
for u in srvgate.service srvgate-sync@.service; do
	sed "s|^ExecStart=/usr/bin/srvgate|ExecStart=$D/usr/bin/srvgate|" "$D/usr/lib/systemd/system/$u" \
		>"$TMP/verify-d/${u/@./@t1.}"
done
for u in srvgate.service srvgate-sync@t1.service; do
	if MANPATH=$D/usr/share/man systemd-analyze verify "$TMP/verify-d/$u" >"$TMP/verify-d.out" 2>&1 &&
		[ ! -s "$TMP/verify-d.out" ]; then
		pass "systemd-analyze verify of the DESTDIR $u: clean"
	else
		fail "systemd-analyze verify of the DESTDIR $u"; sed 's/^/    /' "$TMP/verify-d.out" | head
	fi
done
page=$(MANWIDTH=120 man -l "$D/usr/share/man/man8/srvgate.8" 2>"$TMP/man-d.err")
expect_match "man -l renders the DESTDIR page (its NAME line)" 'srvgate .*etcd' "$(grep -A1 '^NAME' <<<"$page")"
check "... without a warning" test ! -s "$TMP/man-d.err"
if make -C "$ROOT" --no-print-directory uninstall PREFIX=/usr DESTDIR="$D" >"$TMP/uninstall-d.log" 2>&1; then
	pass "make uninstall PREFIX=/usr DESTDIR=..."
else
	fail "make uninstall PREFIX=/usr DESTDIR=..."; tail -5 "$TMP/uninstall-d.log"
fi
left=$(find "$D" -type f | sed "s|$D||")
expect_empty "nothing is left under DESTDIR" "$left"
finish
