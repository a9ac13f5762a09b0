#!/usr/bin/env python3
"""xfr_slices.py -- helpers of tests/e2e/xfr_slices.sh (standard library only).

  load PORT ADMIN PREFIX COUNT MEMBERS THREADS
      imports COUNT tokens named PREFIX<n> (PUT /_admin/tokens/..?mode=import)
      with MEMBERS members each, id m<j>, peer https://10.<n/256>.<n%256>.<j+1>
      :2380, over THREADS keep-alive connections; tokens of one thread go in
      order, so the last of each thread are made last.

  change PORT ADMIN PREFIX
      the changes made while the slow AXFR waits: for the tail tokens
      PREFIXtail<n> (n < 100): n%4 == 0 deletes the token, 1 deletes member
      m1, 2 deletes m1 and registers m9 (its own address), 3 registers
      nothing new but deletes m0 and m2; for the head tokens
      PREFIX<n> (n < 20) of the load, member m0 goes; and 30 new tokens
      PREFIXnew<n> of 3 members come. Prints how many requests it made.

  slow HOST PORT ZONE READY GO OUT
      asks an AXFR over TCP with a 16 KB receive buffer, reads its first
      64 KB, makes file READY and waits (at most 20 s) for file GO, then
      reads the rest until the second SOA; writes every record but the SOAs to OUT as
      "owner type rdata" lines (rdata as hex), then the SOA serial on the
      first line. Exits 1 when the stream ends early.

  dig FILE
      the records of `dig AXFR` output (no SOA, no TSIG) in the same
      "owner type rdata-hex" form, for comparing with slow's OUT. Only the
      types a token zone holds (NS, A, AAAA, SRV).
"""
import http.client
import json
import os
import socket
import struct
import sys
import threading
import time


def conn(port):
    return http.client.HTTPConnection("127.0.0.1", port, timeout=30)


def request(c, method, path, admin, body=None):
    h = {"Authorization": "Bearer " + admin}
    if body is not None:
        h["Content-Type"] = "application/json"
    c.request(method, path, body=body, headers=h)
    r = c.getresponse()
    data = r.read()
    if r.status // 100 != 2:
        sys.exit("%s %s: %d %s" % (method, path, r.status, data[:200]))


def import_token(c, admin, name, n, members):
    ms = [{"id": "m%d" % j,
           "value": "m%d=https://10.%d.%d.%d:2380" % (j, n // 256 % 256, n % 256, j + 1)}
          for j in range(members)]
    request(c, "PUT", "/_admin/tokens/%s?mode=import" % name, admin,
            json.dumps({"size": members, "members": ms}))


def load(port, admin, prefix, count, members, threads):
    def run(k):
        c = conn(port)
        for n in range(k, count, threads):
            import_token(c, admin, "%s%d" % (prefix, n), n, members)

    on_threads(run, threads)


def on_threads(fn, threads):
    """fn(0) .. fn(threads - 1) at once; the first failure ends the test."""
    errors = []

    def guarded(k):
        try:
            fn(k)
        except BaseException as e:  # SystemExit too
            errors.append(str(e))

    ts = [threading.Thread(target=guarded, args=(k,)) for k in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    if errors:
        sys.exit(errors[0])


def member_put(c, token, mid, ip):
    c.request("PUT", "/%s/%s" % (token, mid), body="value=%s=https://%s:2380" % (mid, ip),
              headers={"Content-Type": "application/x-www-form-urlencoded"})
    r = c.getresponse()
    data = r.read()
    if r.status // 100 != 2:
        sys.exit("PUT %s/%s: %d %s" % (token, mid, r.status, data[:200]))


def change_one(c, admin, prefix, k):
    """The k-th of the 150 changes (one token's); returns its requests."""
    if k >= 120:
        import_token(c, admin, "%snew%d" % (prefix, k - 120), 60000 + k, 3)
        return 1
    if k >= 100:
        request(c, "DELETE", "/%s%d/m0" % (prefix, k - 100), admin)
        return 1
    t = "%stail%d" % (prefix, k)
    if k % 4 == 0:
        request(c, "DELETE", "/_admin/tokens/" + t, admin)
        return 1
    if k % 4 == 1:
        request(c, "DELETE", "/%s/m1" % t, admin)
        return 1
    if k % 4 == 2:
        request(c, "DELETE", "/%s/m1" % t, admin)
        member_put(c, t, "m9", "10.250.%d.9" % k)
        return 2
    request(c, "DELETE", "/%s/m0" % t, admin)
    request(c, "DELETE", "/%s/m2" % t, admin)
    return 2


def change(port, admin, prefix, threads=10):
    """Over THREADS connections, so that commits are shared."""
    counts = [0] * threads

    def run(j):
        c = conn(port)
        for k in range(j, 150, threads):
            counts[j] += change_one(c, admin, prefix, k)

    on_threads(run, threads)
    print(sum(counts))


def name_text(msg, off):
    """The name at off (compressed or not) as text, and the offset after it."""
    labels, end, jumps = [], None, 0
    while True:
        ln = msg[off]
        if ln & 0xC0 == 0xC0:
            if end is None:
                end = off + 2
            off = ((ln & 0x3F) << 8) | msg[off + 1]
            jumps += 1
            if jumps > 64:
                raise ValueError("pointer loop")
            continue
        off += 1
        if ln == 0:
            break
        labels.append(msg[off:off + ln].decode("ascii").lower())
        off += ln
    return ".".join(labels) + ".", end if end is not None else off


def recv_exact(s, n):
    b = b""
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c:
            raise ConnectionError("the stream ended early")
        b += c
    return b


def slow(host, port, zone, ready, go, out):
    qname = b"".join(bytes([len(p)]) + p.encode() for p in zone.rstrip(".").split(".")) + b"\0"
    q = struct.pack(">HHHHHH", 0x5151, 0, 1, 0, 0, 0) + qname + struct.pack(">HH", 252, 1)
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
    s.settimeout(30)
    s.connect((host, port))
    s.sendall(struct.pack(">H", len(q)) + q)
    got, paused, soas, serial = 0, False, 0, None
    recs = []
    while soas < 2:
        if not paused and got >= 65536:
            open(ready, "w").close()
            end = time.monotonic() + 20
            while not os.path.exists(go) and time.monotonic() < end:
                time.sleep(0.05)
            paused = True
        ln = struct.unpack(">H", recv_exact(s, 2))[0]
        msg = recv_exact(s, ln)
        got += 2 + ln
        if msg[3] & 0x0F != 0:
            sys.exit("rcode %d" % (msg[3] & 0x0F))
        qd, an = struct.unpack(">HH", msg[4:8])
        off = 12
        for _ in range(qd):
            off = name_text(msg, off)[1] + 4
        for _ in range(an):
            owner, off = name_text(msg, off)
            typ, _cls, _ttl, rdlen = struct.unpack(">HHIH", msg[off:off + 10])
            off += 10
            rdata = msg[off:off + rdlen]
            off += rdlen
            if typ == 6:
                soas += 1
                mn, off2 = name_text(msg, off - rdlen)
                rn, off2 = name_text(msg, off2)
                ser = struct.unpack(">I", msg[off2:off2 + 4])[0]
                if serial is None:
                    serial = ser
                elif ser != serial:
                    sys.exit("first SOA serial %d, last %d" % (serial, ser))
                continue
            if soas != 1:
                sys.exit("a record after the last SOA")
            recs.append("%s %d %s" % (owner, typ, rdata_text(msg, off - rdlen, typ, rdata)))
    s.close()
    with open(out, "w") as f:
        f.write("%d\n" % serial)
        for r in recs:
            f.write(r + "\n")


def rdata_text(msg, off, typ, rdata):
    if typ == 33:  # SRV: the target may not be compressed, but be safe
        pr, w, p = struct.unpack(">HHH", rdata[:6])
        return "%d %d %d %s" % (pr, w, p, name_text(msg, off + 6)[0])
    if typ in (2, 5):
        return name_text(msg, off)[0]
    return rdata.hex()


def dig(path):
    types = {"NS": 2, "A": 1, "AAAA": 28, "SRV": 33, "CNAME": 5}
    for line in open(path):
        f = line.split()
        if not f or f[0].startswith(";") or len(f) < 5 or f[3] not in types:
            continue
        owner, typ = f[0].lower(), f[3]
        if typ == "SRV":
            rd = "%s %s %s %s" % (f[4], f[5], f[6], f[7].lower())
        elif typ in ("NS", "CNAME"):
            rd = f[4].lower()
        elif typ == "A":
            rd = socket.inet_aton(f[4]).hex()
        else:
            rd = socket.inet_pton(socket.AF_INET6, f[4]).hex()
        print("%s %d %s" % (owner, types[typ], rd))


def main():
    a = sys.argv[1:]
    if a[0] == "load":
        load(int(a[1]), a[2], a[3], int(a[4]), int(a[5]), int(a[6]))
    elif a[0] == "change":
        change(int(a[1]), a[2], a[3])
    elif a[0] == "slow":
        try:
            slow(a[1], int(a[2]), a[3], a[4], a[5], a[6])
        except (ConnectionError, socket.timeout, OSError) as e:
            sys.exit("slow AXFR: %s" % e)
    elif a[0] == "dig":
        dig(a[1])
    else:
        sys.exit("usage: see the top of the file")


if __name__ == "__main__":
    main()
