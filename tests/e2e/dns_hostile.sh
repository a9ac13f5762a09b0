#!/bin/bash
# tests/e2e/dns_hostile.sh -- srvgate's DNS against hostile clients (issue 9),
# asked with dig, kdig and raw python3 sockets (tests/e2e/dns_hostile.py):
#   1. TCP fair shares: 100 clients from 127.0.0.1 trickling a byte a second
#      are each cut at --dns-tcp-message-timeout (2 s) and hold no more than
#      --dns-tcp-max-per-address (8), while 127.0.0.2 is answered
#   2. response rate limiting: a flood from one source gets about
#      --rrl-rate answers plus slipped TC ones, a paced client in another
#      /24 gets every answer, one in the flood's /24 shares its limit; TCP
#      and clients with a valid cookie are never limited; cookie clients
#      that slip get BADCOOKIE with a cookie that works
#   3. DNS cookies: kdig +cookie gets an RFC 9018 server cookie (checked
#      with the secret by an independent SipHash), a second query with it
#      is valid, SIGHUP rotates the secret (the old one still verifies,
#      the one before that not), malformed cookies get FORMERR, and big
#      UDP answers only for clients with a valid cookie
#   4. protocol details: NOTIMP whatever the counts, no AA for QCLASS ANY,
#      OPT in FORMERR, FORMERR for truncated options and OPT outside the
#      additional section, a datagram over 4096 bytes dropped without
#      losing the query behind it, IXFR over UDP, TSIG-signed UDP answers
#      within the client's size
#   5. the token zone's serial rises when --ns-address (glue) changes and
#      never goes back across restarts
#   6. no sanitizer reports (SANITIZE=1 builds)
# Every query has a timeout; every loop is bounded; loopback only.
. "$(dirname "$0")/../lib.sh"

PY=$(cd "$(dirname "$0")" && pwd)/dns_hostile.py
ZONE=discovery.internal
for t in dig kdig python3 curl; do
	if ! command -v "$t" >/dev/null 2>&1; then
		fail "$t is installed (apt-get install bind9-dnsutils knot-dnsutils python3 curl)"
		finish; exit
	fi
done

# ---- helpers ----

# new_server NAME FLAGS...: a separate srvgate (own ports and data); sets
# SG_HTTP, SG_DNS_PORT, SG_PID.
new_server() {
	unset SG_HTTP_PORT SG_DNS_PORT SG_DATA
	alloc_port SG_HTTP_PORT && alloc_port SG_DNS_PORT || return 1
	start_srvgate "$@"
}
# py COMMAND ARGS...: the python side against the current server.
py() { python3 "$PY" "$SG_DNS_PORT" "$@" 2>&1; }
dq() { dig +time=2 +tries=1 -p "$SG_DNS_PORT" @127.0.0.1 "$@" 2>&1; }
kq() { kdig +time=2 +retry=0 -p "$SG_DNS_PORT" @127.0.0.1 "$@" 2>&1; }
# kv KEY LINE: the value of KEY=... in a line of key=value words.
kv() { printf '%s\n' "$2" | tr ' ' '\n' | sed -n "s/^$1=//p" | head -1; }
# metric NAME: its value in /metrics (NAME with its labels).
metric() { curl -s -m 5 "$SG_HTTP/metrics" | awk -v n="$1" '$1 == n { print $2 }'; }
flags_of() { printf '%s\n' "$1" | sed -n 's/^;; flags: \([^;]*\);.*/ \1 /p' | head -1; }
status_of() { printf '%s\n' "$1" | sed -n 's/.*status: \([A-Z0-9]*\)[,;].*/\1/p' | head -1; }
size_of() { printf '%s\n' "$1" | sed -n 's/^;; MSG SIZE  rcvd: \([0-9]*\)/\1/p'; }
cookie_of() { printf '%s\n' "$1" | sed -n 's/^;; COOKIE: \([0-9A-Fa-f]*\).*/\1/p' | head -1; }
# expect_range NAME GOT LOW HIGH (decimals allowed)
expect_range() {
	if [ -n "$2" ] && awk -v g="$2" -v l="$3" -v h="$4" 'BEGIN { exit !(g >= l && g <= h) }'; then
		pass "$1 ($2 in [$3, $4])"; else fail "$1 (want [$3, $4], got '$2')"; fi
}
# tsig_accepted OUT: dig reported no TSIG trouble.
tsig_accepted() { ! printf '%s' "$1" | grep -qiE 'verify|BADSIG|BADKEY|failure'; }
new_token() { local u; u=$(curl -sf -m 5 "$SG_HTTP/new?size=$1") && echo "${u##*/}"; }
# fill TOKEN N: N members with IP peers (SRV answers of N records + A).
fill() {
	local i
	for i in $(seq 1 "$2"); do
		curl -sf -m 5 -o /dev/null -XPUT "$SG_HTTP/$1/m$i" \
			-d "value=m$i=https://10.0.$((i / 200)).$((i % 200 + 1)):2380"
	done
}

# ---- 1. TCP: shares per address and a deadline per message ----

if ! new_server tcp --rate-limit 0; then
	fail "srvgate starts (tcp)"; tail -20 "$TMP/tcp.log"; finish; exit
fi
check "TCP answers before the tricklers come (127.0.0.1)" \
	test "$(py tcp-alive 127.0.0.1)" = answered
mt0=$(metric 'srvgate_dns_tcp_timeouts_total{deadline="message"}')
rf0=$(metric srvgate_dns_tcp_refused_total)
id0=$(metric 'srvgate_dns_tcp_timeouts_total{deadline="idle"}')
# 100 clients, a byte a second each, for 6 s; cut ones come back 0.3 s
# later, refused ones too. Probes from 127.0.0.2 at 1 s and 3.5 s. The cut
# is measured by the client, so a loaded machine may add to it: up to 3 s
# (never 10 s, the idle timeout, nor never, as a per-byte timer would).
out=$(py trickle 100 1.0 6 2)
echo "    tricklers: $out"
mt1=$(metric 'srvgate_dns_tcp_timeouts_total{deadline="message"}')
rf1=$(metric srvgate_dns_tcp_refused_total)
id1=$(metric 'srvgate_dns_tcp_timeouts_total{deadline="idle"}')
cut=$(kv cut "$out")
expect_eq "a TCP query from 127.0.0.2 is answered while 127.0.0.1 trickles (two probes)" \
	"answered,answered" "$(kv probes "$out")"
expect_eq "127.0.0.1 holds exactly --dns-tcp-max-per-address (8) connections at each probe" \
	"8,8" "$(kv held "$out")"
expect_cmp "tricklers were cut, round after round (clients' count)" "$cut" -ge 16
expect_range "the first trickler cut at the 2 s message deadline (s after its first byte)" \
	"$(kv cut_min "$out")" 1.9 3.0
expect_range "the last trickler cut at the 2 s message deadline (s after its first byte)" \
	"$(kv cut_max "$out")" 1.9 3.0
expect_eq "no trickler outlived the deadline" 0 "$(kv left_open "$out")"
expect_eq "message deadlines in /metrics = tricklers cut (clients' count)" \
	"$cut" "$((mt1 - mt0))"
expect_eq "refusals in /metrics = connections closed at once (clients' count)" \
	"$(kv refused "$out")" "$((rf1 - rf0))"
expect_eq "no connection ended by the idle timeout meanwhile" 0 "$((id1 - id0))"
check "127.0.0.1 is answered over TCP again once its tricklers are gone" \
	test "$(py tcp-alive 127.0.0.1)" = answered
TCP_PID=$SG_PID

# ---- 2. response rate limiting ----

if ! new_server rrl --rate-limit 0 --rrl-rate 20 --rrl-slip 2; then
	fail "srvgate starts (rrl)"; tail -20 "$TMP/rrl.log"; finish; exit
fi
RRL_HTTP=$SG_HTTP
lim0=$(metric srvgate_dns_rrl_limited_total)
slp0=$(metric srvgate_dns_rrl_slipped_total)
out=$(py rrl 500 2)
echo "    rrl: $out"
lim1=$(metric srvgate_dns_rrl_limited_total)
slp1=$(metric srvgate_dns_rrl_slipped_total)
took=$(kv took "$out")
sent=$(kv flood_sent "$out")
full=$(kv flood_full "$out")
low=$(awk -v t="$took" 'BEGIN { printf "%d", 20 * t * 0.8 }')
high=$(awk -v t="$took" 'BEGIN { printf "%d", 20 * (t + 1.5) + 5 }')
expect_cmp "the flood sent its 1000 queries" "$sent" -ge 990
expect_range "the flood got about --rrl-rate 20/s full answers (burst 20 + 20/s)" \
	"$full" "$low" "$high"
expect_eq "no flood answer was an error" 0 "$(kv flood_other "$out")"
limited=$(kv limited "$out")
expect_range "--rrl-slip 2: half the limited answers came back with TC (127.0.0.0/24's bucket)" \
	"$(kv slipped "$out")" "$(( limited / 2 - 1 ))" "$(( limited / 2 + 1 ))"
expect_eq "127.0.1.1 (another /24), 10 queries a second meanwhile: every one answered in full" \
	"$(kv other_sent "$out")" "$(kv other_full "$out")"
# With a bucket of its own, 127.0.0.2 (10/s, under --rrl-rate) would get all
# 20 answers in full. Sharing the flood's bucket it gets a token only when
# its query reaches the bucket before the flood's next one; the two arrive on
# different workers, and a worker napping to coalesce a burst lets the other
# one in first, so a loaded machine gives it a few more than an idle one
# (CI saw 7). Half is the line between sharing and not.
expect_cmp "127.0.0.2 (the flood's /24) shares its limit: at most half of 20 in full" \
	"$(kv near_full "$out")" -le 10
expect_eq "srvgate_dns_rrl_limited_total = limited answers the clients saw" \
	"$(kv limited "$out")" "$((lim1 - lim0))"
expect_eq "srvgate_dns_rrl_slipped_total = TC answers the clients saw" \
	"$(kv slipped "$out")" "$((slp1 - slp0))"
out=$(py rrl-tcp 500 1)
echo "    rrl, TCP: $out"
expect_eq "TCP is never limited: answered from 127.0.0.1 during its flood" \
	answered "$(kv tcp "$out")"
expect_cmp "... while its UDP answers were limited" "$(kv flood_full "$out")" -le 45
out=$(py rrl-cookies 300 1)
echo "    rrl, cookies: $out"
expect_eq "a client with a valid cookie is not limited: 300 of 300 answered in full" \
	"300/0/0" "$(kv valid_full "$out")/$(kv valid_tc "$out")/$(kv valid_none "$out")"
expect_cmp "a client cookie alone is limited" "$(kv only_full "$out")" -le 45
expect_cmp "... and its slipped answers are BADCOOKIE with a server cookie" \
	"$(kv only_badcookie "$out")" -ge 50
expect_eq "... never TC (BADCOOKIE instead)" 0 "$(kv only_tc "$out")"
expect_eq "... and the cookie it got is answered in full" "rcode=0,an=1,tc=0" \
	"$(kv with_learnt "$out")"

# ---- 3. DNS cookies ----

mkdir -p "$TMP/secret"
S1=e5e973e5a6b2a43f48e7dc849e37bfcf
S2=445536bcd2513298075a5d379663c962
S3=dd3bdf9344b678b185a6f5cb60fca715
echo "$S1" >"$TMP/secret/cookie"
XFR_SECRET=$(head -c 32 /dev/urandom | base64)
KEY="hmac-sha256:xfr:$XFR_SECRET"
if ! new_server cookie --rate-limit 0 --cookie-secret-file "$TMP/secret/cookie" \
	--edns-buffer 4096 --edns-buffer-nocookie 1232 \
	--tsig-key "xfr:hmac-sha256:$XFR_SECRET" --allow-transfer 127.0.0.1/32; then
	fail "srvgate starts (cookie)"; tail -20 "$TMP/cookie.log"; finish; exit
fi
COOKIE_PID=$SG_PID
valid() { metric 'srvgate_dns_cookies_total{server_cookie="valid"}'; }
invalid() { metric 'srvgate_dns_cookies_total{server_cookie="invalid"}'; }

out=$(kq +cookie "$ZONE" SOA)
C1=$(cookie_of "$out")
expect_eq "kdig +cookie: NOERROR with a client and a server cookie (8 + 16 bytes)" \
	"NOERROR 48" "$(status_of "$out") ${#C1}"
expect_eq "the server cookie is RFC 9018's (SipHash-2-4 under --cookie-secret-file, checked in python)" \
	valid "$(py cookie-check "$S1" 127.0.0.1 "$C1")"
v0=$(valid)
out=$(kq +cookie="$C1" "$ZONE" SOA)
expect_eq "kdig +cookie=<the cookie it got>: NOERROR, the same cookie back (young)" \
	"NOERROR $C1" "$(status_of "$out") $(cookie_of "$out")"
expect_eq "... counted as a valid server cookie" "$((v0 + 1))" "$(valid)"
i0=$(invalid)
out=$(kq +cookie="${C1:0:16}01000000$(printf '%s' "${C1:24:8}")00000000000000ff" "$ZONE" SOA)
C1b=$(cookie_of "$out")
expect_eq "a server cookie we did not make: answered (cookies not required) with a fresh one" \
	"NOERROR valid" "$(status_of "$out") $(py cookie-check "$S1" 127.0.0.1 "$C1b")"
expect_eq "... counted as invalid" "$((i0 + 1))" "$(invalid)"
expect_match "a COOKIE option of 5 bytes: FORMERR, with OPT" 'rcode=1 .*opt=yes' "$(py raw cookie-5)"
expect_match "a COOKIE option of 12 bytes: FORMERR" 'rcode=1 ' "$(py raw cookie-12)"
expect_match "a client cookie alone: answered, with a cookie of 24 bytes" \
	'rcode=0 .*an=1 .*cookie=636c69656e74636b[0-9a-f]{32} ' "$(py raw cookie-8)"

# Rotation: the new secret makes cookies, the old one still verifies.
echo "$S2" >"$TMP/secret/cookie"
kill -HUP "$COOKIE_PID"
check "SIGHUP: the new cookie secret is taken" \
	wait_for grep -q "new DNS cookie secret" "$TMP/cookie.log"
v0=$(valid)
out=$(kq +cookie="$C1" "$ZONE" SOA)
C2=$(cookie_of "$out")
expect_eq "after a rotation the old cookie still verifies" "$((v0 + 1))" "$(valid)"
expect_eq "... and the answer carries a cookie of the new secret" \
	"NOERROR valid" "$(status_of "$out") $(py cookie-check "$S2" 127.0.0.1 "$C2")"
echo "$S3" >"$TMP/secret/cookie"
kill -HUP "$COOKIE_PID"
check "SIGHUP: a third secret is taken" \
	wait_for test "$(grep -c "new DNS cookie secret" "$TMP/cookie.log")" -ge 2
i0=$(invalid)
kq +cookie="$C1" "$ZONE" SOA >/dev/null
expect_eq "two rotations later the first cookie is no longer valid" "$((i0 + 1))" "$(invalid)"
echo "not hex" >"$TMP/secret/cookie"
kill -HUP "$COOKIE_PID"
check "SIGHUP with a broken secret file: logged, the secret stays" \
	wait_for grep -q "cookie secret not changed: --cookie-secret-file" "$TMP/cookie.log"
out=$(kq +cookie "$ZONE" SOA)
expect_eq "... cookies still come from the last good secret" \
	valid "$(py cookie-check "$S3" 127.0.0.1 "$(cookie_of "$out")")"

# Big answers: --edns-buffer 4096 only for a valid cookie.
T=$(new_token 40)
fill "$T" 40
S40=_etcd-server-ssl._tcp.$T.$ZONE
out=$(kq +cookie +bufsize=4096 +ignore "$S40" SRV)
CB=$(cookie_of "$out")
size=$(printf '%s' "$out" | sed -n 's/.*Received \([0-9]*\) B.*/\1/p' | head -1)
expect_cmp "no valid cookie, +bufsize=4096: at most --edns-buffer-nocookie 1232 bytes" "$size" -le 1232
expect_match "... with TC" 'Flags: qr aa tc' "$out"
out=$(kq +cookie="$CB" +bufsize=4096 +ignore "$S40" SRV)
size=$(printf '%s' "$out" | sed -n 's/.*Received \([0-9]*\) B.*/\1/p' | head -1)
expect_cmp "a valid cookie, +bufsize=4096: the whole answer over UDP" "$size" -gt 1232
expect_match "... without TC, 40 SRV records" 'Flags: qr aa rd; QUERY: 1; ANSWER: 40;' "$out"
out=$("$SRVGATE" serve --edns-buffer 4097 --data-dir "$TMP/none" 2>&1; echo "exit $?")
expect_match "--edns-buffer above 4096 is refused (exit 2)" \
	"edns-buffer: '4097' is not a whole number from 512 to 4096.*exit 2" "$(printf '%s' "$out" | tr '\n' ' ')"

# ---- 4. protocol details ----

expect_match "opcode 2 (STATUS) with QDCOUNT 0: NOTIMP, not FORMERR" \
	'^rcode=4 opcode=2 ' "$(py raw notimp-qd0)"
expect_match "opcode 5 (UPDATE) with counts that lie: NOTIMP" \
	'^rcode=4 opcode=5 ' "$(py raw notimp-counts)"
out=$(dq -c ANY "$ZONE" SOA)
expect_eq "QCLASS ANY: answered, without AA (RFC 1034 3.7.1)" \
	"NOERROR  qr rd " "$(status_of "$out") $(flags_of "$out")"
out=$(dq "$ZONE" SOA)
expect_eq "QCLASS IN: with AA (the control)" \
	"NOERROR  qr aa rd " "$(status_of "$out") $(flags_of "$out")"
expect_match "QDCOUNT 0 with a valid OPT: FORMERR with OPT" \
	'^rcode=1 .*ar=1 opt=yes' "$(py raw formerr-qd0-opt)"
expect_match "QDCOUNT 2 with a valid OPT: FORMERR with OPT" \
	'^rcode=1 .*ar=1 opt=yes' "$(py raw formerr-qd2-opt)"
expect_match "QDCOUNT 0 without OPT: FORMERR without (the control)" \
	'^rcode=1 .*ar=0 opt=no' "$(py raw formerr-qd0)"
expect_match "an EDNS option running past the OPT: FORMERR" \
	'^rcode=1 .*opt=no' "$(py raw truncated-option)"
expect_match "half an option header: FORMERR" '^rcode=1 ' "$(py raw half-option)"
expect_match "the same option whole: answered (the control)" '^rcode=0 .*an=1 .*opt=yes' \
	"$(py raw whole-option)"
expect_match "OPT in the answer section: FORMERR" '^rcode=1 ' "$(py raw opt-in-answer)"
expect_eq "a datagram over 4096 bytes is dropped; the query behind it is answered" \
	"answered=100f" "$(py raw oversize)"
serial=$(dq +short "$ZONE" SOA | awk '{print $3}')
expect_match "IXFR over UDP from an allowed client: the current SOA alone (RFC 1995)" \
	"^rcode=0 .*aa=1 tc=0 qd=1 an=1 ns=0 .* soa=$serial\$" "$(py ixfr-udp 127.0.0.1 1)"
expect_match "... also when the client is up to date" \
	"^rcode=0 .*an=1 .* soa=$serial\$" "$(py ixfr-udp 127.0.0.1 "$serial")"
expect_match "IXFR over UDP from 127.0.0.2 (no --allow-transfer rule): REFUSED" \
	'^rcode=5 .*an=0 ' "$(py ixfr-udp 127.0.0.2 1)"
T4=$(new_token 4)
fill "$T4" 4
for args in "+noedns:$T4:512" "+noedns:$T:512" "+bufsize=1232:$T:1232"; do
	opt=${args%%:*} tok=${args#*:}; lim=${tok#*:}; tok=${tok%%:*}
	out=$(dq +ignore "$opt" -y "$KEY" "_etcd-server-ssl._tcp.$tok.$ZONE" SRV)
	n=$([ "$tok" = "$T4" ] && echo 4 || echo 40)
	expect_cmp "TSIG-signed UDP answer, $opt, $n SRV: within $lim bytes" "$(size_of "$out")" -le "$lim"
	if [ "$n" = 40 ]; then
		expect_match "... with TC" 'flags: qr aa tc' "$out"
	else
		expect_match "... whole (additional dropped, no TC)" 'flags: qr aa rd; QUERY: 1, ANSWER: 4,' "$out"
	fi
	expect_match "... and signed (dig checks the TSIG)" 'TSIG PSEUDOSECTION' "$out"
	check "... with a signature dig accepts" tsig_accepted "$out"
done
out=$(dq +tcp -y "$KEY" "$S40" SRV)
expect_match "the same over TCP: all 40, signed" 'ANSWER: 40,.*' "$(printf '%s' "$out" | tr '\n' ' ')"

# ---- 5. the serial follows the glue, and never goes back ----

unset SG_HTTP_PORT SG_DNS_PORT SG_DATA
alloc_port SG_HTTP_PORT && alloc_port SG_DNS_PORT
serial() { dq +short "$ZONE" SOA | awk '{print $3}'; }
glue() { dq +short "ns1.$ZONE" A; }
restart_serial() {
	[ -n "${SERIAL_PID:-}" ] && stop_pid "$SERIAL_PID"
	start_srvgate serial --rate-limit 0 --ns-address "$1" && SERIAL_PID=$SG_PID
}
restart_serial 192.0.2.1
s1=$(serial)
expect_eq "glue from --ns-address 192.0.2.1" 192.0.2.1 "$(glue)"
restart_serial 192.0.2.2
s2=$(serial)
expect_eq "restarted with --ns-address 192.0.2.2: the new glue" 192.0.2.2 "$(glue)"
expect_cmp "... and a higher serial than before ($s1)" "$s2" -gt "$s1"
restart_serial 192.0.2.2
expect_eq "restarted with the same flags: the same serial" "$s2" "$(serial)"
restart_serial 192.0.2.1
s4=$(serial)
expect_cmp "back to --ns-address 192.0.2.1: the serial still goes up" "$s4" -gt "$s2"
expect_match "the serial base is kept in --data-dir/dns-serial" '^content [0-9a-f]{16} base [0-9]+$' \
	"$(cat "$SG_DATA/dns-serial" 2>&1)"

# ---- 6. sanitizers ----

check "srvgate (tcp) still serves" kill -0 "$TCP_PID"
check "srvgate (cookie) still serves" kill -0 "$COOKIE_PID"
check_sanitizer_logs tcp rrl cookie serial
finish
