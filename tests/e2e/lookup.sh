#!/bin/bash
# tests/e2e/lookup.sh -- `srvgate lookup` prints an --initial-cluster that
# can be pasted into etcd: the member names come from the values the
# members registered (name=url) at the srvgate that holds the token, for
# hostname targets and for IP peers' <member-id> targets alike. Without a
# gateway that knows the token, etcd's stand-ins 0, 1, ... are printed and
# a note on stderr says what they are and where the names come from.
. "$(dirname "$0")/../lib.sh"

if ! start_srvgate lk --grpc-listen off; then
	fail "srvgate starts"; tail -5 "$TMP/lk.log"; finish; exit
fi
T=$(curl -sf -m 5 "$SG_HTTP/new?size=3"); T=${T##*/}
reg() { curl -sf -m 5 -o /dev/null -XPUT "$SG_HTTP/$T/$1" -d "value=$2"; }
check "three members register (an IPv4, a hostname and an IPv6 peer)" bash -c \
	"$(declare -f reg); SG_HTTP=$SG_HTTP T=$T; reg 8e9e05c52164694d m1=https://10.0.0.1:2380 &&
	 reg 2f1a0c3e4d5b6a79 etcd-b=https://localhost:2380 && reg 0c1d2e3f40516273 m3=https://[fd00::3]:2380"
D=$T.discovery.internal
# Each lookup's stderr is kept in lk-client.log too, for sanitizer reports.
lk() {
	local rc=0
	"$SRVGATE" lookup "$D" --dns "127.0.0.1:$SG_DNS_PORT" "$@" >"$TMP/lk.out" 2>"$TMP/lk.err" || rc=$?
	cat "$TMP/lk.err" >>"$TMP/lk-client.log"
	echo "$rc"
}

expect_eq "lookup --gateway exits 0" 0 "$(lk --gateway "$SG_HTTP")"
want=$(printf '%s\n' "m1=https://8e9e05c52164694d.$D:2380" "etcd-b=https://localhost:2380" \
	"m3=https://0c1d2e3f40516273.$D:2380" | sort)
expect_eq "--initial-cluster carries the registered names" "$want" \
	"$(sed -n 's/^--initial-cluster=//p' "$TMP/lk.out" | tr ',' '\n' | sort)"
expect_eq "... and no note about stand-in names" 0 "$(grep -c 'stand in' "$TMP/lk.err")"

expect_eq "lookup with SRVGATE_GATEWAY exits 0" 0 "$(SRVGATE_GATEWAY=$SG_HTTP lk)"
expect_eq "SRVGATE_GATEWAY gives the same names" "$want" \
	"$(sed -n 's/^--initial-cluster=//p' "$TMP/lk.out" | tr ',' '\n' | sort)"

alloc_port DEAD
expect_eq "lookup with a gateway where nothing listens still exits 0" 0 "$(lk --gateway "http://127.0.0.1:$DEAD")"
expect_eq "... and numbers the members as etcd does" "0 1 2" \
	"$(sed -n 's/^--initial-cluster=//p' "$TMP/lk.out" | tr ',' '\n' | cut -d= -f1 | sort | tr '\n' ' ' | sed 's/ $//')"
expect_match "... with a note that says what 0, 1, ... are and why the names are missing" \
	"0, 1, \.\.\. stand in for them.*replace each with that member's --name.*127\.0\.0\.1:$DEAD.*(refused|connect)" \
	"$(cat "$TMP/lk.err")"

# A second srvgate that does not hold the token: no names either.
SAVE=("$SG_HTTP_PORT" "$SG_DNS_PORT" "$SG_DATA" "$SG_PID")
unset SG_HTTP_PORT SG_DNS_PORT SG_DATA
if start_srvgate other --grpc-listen off; then
	OTHER=$SG_HTTP
	SG_HTTP_PORT=${SAVE[0]} SG_DNS_PORT=${SAVE[1]} SG_DATA=${SAVE[2]}
	expect_eq "lookup against a gateway without the token exits 0" 0 "$(lk --gateway "$OTHER")"
	expect_match "... the note names the gateway's answer" "stand in for them.*$OTHER/$T: HTTP status" \
		"$(cat "$TMP/lk.err")"
else
	fail "a second srvgate starts"
fi
check_sanitizer_logs lk other lk-client
finish
