# tests/knot.sh -- Knot DNS as a secondary of srvgate, for the shell tests
# (sourced after lib.sh). Needs ZONE set.

# kq PORT ARGS...: kdig at one server.
kq() { local p=$1; shift; kdig +time=2 +retry=0 -p "$p" @127.0.0.1 "$@" 2>&1; }

# start_knot NAME PORT PRIMARY_PORT [KEYNAME SECRET]: knotd in the
# foreground as a secondary of srvgate; sets KNOT_PID. Log: $TMP/NAME.log.
start_knot() {
	local name=$1 port=$2 primary=$3 key=${4:-} secret=${5:-} d=$TMP/$1
	local keyconf="" remotekey="" aclkey=""
	mkdir -p "$d/run" "$d/storage" "$d/journal" "$d/timer" "$d/kasp" "$d/catalog"
	if [ -n "$key" ]; then
		keyconf="key:
  - id: $key
    algorithm: hmac-sha256
    secret: $secret"
		remotekey="    key: $key"
		aclkey="    key: $key"
	fi
	cat >"$d/knot.conf" <<KNOTCONF
server:
    rundir: "$d/run"
    pidfile: "$d/run/knot.pid"
    listen: 127.0.0.1@$port
    udp-workers: 1
    tcp-workers: 1
    background-workers: 1
log:
  - target: stderr
    any: info
database:
    storage: "$d/storage"
    journal-db: "$d/journal"
    timer-db: "$d/timer"
    kasp-db: "$d/kasp"
    catalog-db: "$d/catalog"
control:
    listen: "$d/run/knot.sock"
$keyconf
remote:
  - id: srvgate
    address: 127.0.0.1@$primary
    block-notify-after-transfer: on
$remotekey
acl:
  - id: notify_from_srvgate
    address: 127.0.0.1
    action: notify
$aclkey
template:
  - id: default
    storage: "$d/storage"
    zonefile-sync: -1
zone:
  - domain: $ZONE
    master: srvgate
    acl: notify_from_srvgate
KNOTCONF
	knotd -c "$d/knot.conf" >>"$TMP/$name.log" 2>&1 &
	KNOT_PID=$!
	PIDS="$PIDS $KNOT_PID"
	WAIT_SECS=10 wait_for kq "$port" "$ZONE" SOA +short
}
