#!/bin/bash
# tests/e2e/grpc_auth.sh -- gRPC logins (--users-file, crypt(3) hashes),
# as etcd's --discovery-user/--discovery-password and etcdctl --user use
# them: Auth.Authenticate, the `token` metadata on every call, refusals,
# SIGHUP reloading the users; without a users file, FailedPrecondition.
. "$(dirname "$0")/../lib.sh"

etcd_test_env etcdctl openssl

printf '# srvgate users\nalice:%s\n' "$(openssl passwd -6 'alice secret')" >"$TMP/users"
alloc_port GP && alloc_port SG_HTTP_PORT && alloc_port SG_DNS_PORT
start_srvgate auth --grpc-listen 127.0.0.1:$GP --users-file "$TMP/users" ||
	fail "srvgate starts with --users-file"
ectl() { etcdctl --endpoints=127.0.0.1:$GP --command-timeout=5s "$@"; }
T=$(curl -sf "$SG_HTTP/new?size=3" | sed 's|.*/||')
P=/_etcd/registry/$T

expect_eq "a user who logs in registers" OK \
	"$(ectl --user 'alice:alice secret' put "$P/members/a1" 'a1=http://10.0.0.1:2380' 2>&1)"
expect_eq "... and reads" "a1=http://10.0.0.1:2380" \
	"$(ectl --user 'alice:alice secret' get "$P/members/a1" --print-value-only 2>&1)"
expect_match "a wrong password is refused" 'authentication failed, invalid user ID or password' \
	"$(ectl --user 'alice:wrong' get "$P/members/a1" 2>&1)"
expect_match "an unknown user is refused the same way" 'authentication failed, invalid user ID or password' \
	"$(ectl --user 'mallory:alice secret' get "$P/members/a1" 2>&1)"
expect_match "no login: refused as etcd refuses it" 'user name is empty' \
	"$(ectl get "$P/members/a1" 2>&1)"
expect_match "no login: no registration either" 'user name is empty' \
	"$(ectl put "$P/members/a2" 'a2=http://10.0.0.2:2380' 2>&1)"
expect_eq "... so there is only the one" 1 \
	"$(curl -sf "$SG_HTTP/$T" | jq '.node.nodes | length')"
printf '\0\0\0\0\0' >"$TMP/empty.bin"
expect_eq "a made-up token: Unauthenticated (etcd's client then logs in again)" 16 \
	"$(curl -s -v --http2-prior-knowledge -m 5 -H 'content-type: application/grpc' \
		-H 'token: 0123456789abcdef0123456789abcdef' --data-binary @"$TMP/empty.bin" \
		"http://127.0.0.1:$GP/etcdserverpb.KV/Range" 2>&1 | tr -d '\r' |
		sed -n 's/^< grpc-status: //p')"
check "endpoint status needs no login" ectl endpoint status

printf 'bob:%s\n' "$(openssl passwd -6 'bob secret')" >"$TMP/users"
kill -HUP "$SG_PID"
check "SIGHUP reloads the users" wait_for grep -q "SIGHUP: reloaded $TMP/users" "$TMP/auth.log"
expect_eq "... a new user logs in" "a1=http://10.0.0.1:2380" \
	"$(ectl --user 'bob:bob secret' get "$P/members/a1" --print-value-only 2>&1)"
expect_match "... a removed one no longer" 'authentication failed' \
	"$(ectl --user 'alice:alice secret' get "$P/members/a1" 2>&1)"
echo "garbage" >"$TMP/users"
kill -HUP "$SG_PID"
check "a broken users file is not loaded" wait_for grep -q "users not reloaded" "$TMP/auth.log"
expect_eq "... and the users before stay" "a1=http://10.0.0.1:2380" \
	"$(ectl --user 'bob:bob secret' get "$P/members/a1" --print-value-only 2>&1)"
expect_match "srvgate will not start on a broken users file" 'not name:\$crypt-hash' \
	"$(alloc_port p1; alloc_port p2; "$SRVGATE" serve --grpc-listen off --http-listen 127.0.0.1:$p1 \
		--dns-listen 127.0.0.1:$p2 --data-dir "$TMP/broken.data" --users-file "$TMP/users" 2>&1)"
stop_pid "$SG_PID"

alloc_port GP && alloc_port SG_HTTP_PORT && alloc_port SG_DNS_PORT
unset SG_DATA
start_srvgate noauth --grpc-listen 127.0.0.1:$GP || fail "srvgate starts without users"
expect_match "without --users-file, a login is FailedPrecondition" \
	'code = FailedPrecondition desc = etcdserver: authentication is not enabled' \
	"$(ectl --user 'bob:bob secret' get /x 2>&1)"
check "... and calls need none" ectl get /x
check_sanitizer_logs auth noauth
finish
