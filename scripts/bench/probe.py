#!/usr/bin/env python3
"""probe.py -- the slowest answers while something else runs (scripts/bench-scale).

Usage: probe.py --channel udp|tcp|http --dns-port P --http-port H --name QNAME
                --secs S [--until FILE] [--ready FILE]
       probe.py --channel start --dns-port P [--http-port H] --name QNAME --secs S
                --pid PID

Asks, one at a time, a millisecond apart, --channel udp: SRV QNAME over UDP;
tcp: the same over one TCP connection (reopened when the server closes it);
http: GET /health over one keep-alive connection -- for at most S seconds
or until FILE exists. One channel per process, so that no thread waits for
Python's lock. Prints: channel, count, p50, p99 and max latency in ms, and
how many got no answer within 10 s (counted as 10 s).

--channel start waits (every 10 ms, at most S seconds) until the server is
ready: GET /health answers 200 on a new connection (when --http-port is
given) and SRV QNAME over UDP has an answer record; then prints the Unix
time it was ready at and exits 0 (1 if it never was, 2 if process PID
ended first). One process that
sleeps between tries, instead of a shell loop that starts curl and dig
each time: those start slowly when the server being timed keeps both
CPUs busy, which added up to half a second to the start-up measured.
Loopback only; every wait is bounded.
"""
import argparse
import http.client
import os
import random
import socket
import struct
import time

TIMEOUT = 10.0


def query(name, qid, edns=False):
    """SRV name; with edns, an OPT record for 4096-byte answers (without
    one a 5-member set does not fit in 512 bytes: TC and no records)."""
    q = b"".join(bytes([len(p)]) + p.encode() for p in name.rstrip(".").split("."))
    opt = b"\0" + struct.pack(">HHIH", 41, 4096, 0, 0) if edns else b""
    return (struct.pack(">HHHHHH", qid, 0, 1, 0, 0, 1 if edns else 0) + q + b"\0" +
            struct.pack(">HH", 33, 1) + opt)


def recv_exact(s, n):
    b = b""
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c:
            raise ConnectionError("closed")
        b += c
    return b


def udp(a, done, out):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(TIMEOUT)
    while not done():
        qid = random.getrandbits(16)
        t = time.monotonic()
        s.sendto(query(a.name, qid), ("127.0.0.1", a.dns_port))
        try:
            while True:
                r = s.recv(65535)
                if struct.unpack(">H", r[:2])[0] == qid:
                    break
            out.append(time.monotonic() - t)
            a.on_answer()
        except socket.timeout:
            out.append(None)
        time.sleep(0.001)


def tcp(a, done, out):
    s = None
    while not done():
        qid = random.getrandbits(16)
        t = time.monotonic()
        try:
            if s is None:
                s = socket.create_connection(("127.0.0.1", a.dns_port), timeout=TIMEOUT)
            m = query(a.name, qid)
            s.sendall(struct.pack(">H", len(m)) + m)
            n = struct.unpack(">H", recv_exact(s, 2))[0]
            recv_exact(s, n)
            out.append(time.monotonic() - t)
            a.on_answer()
        except socket.timeout:
            out.append(None)
            s.close()
            s = None
        except (ConnectionError, OSError):
            if s is not None:
                s.close()
            s = None
        time.sleep(0.001)


def web(a, done, out):
    c = http.client.HTTPConnection("127.0.0.1", a.http_port, timeout=TIMEOUT)
    while not done():
        t = time.monotonic()
        try:
            c.request("GET", "/health")
            c.getresponse().read()
            out.append(time.monotonic() - t)
            a.on_answer()
        except socket.timeout:
            out.append(None)
            c.close()
        except (http.client.HTTPException, OSError):
            c.close()
            time.sleep(0.001)
        time.sleep(0.001)


def answered(a):
    """An SRV answer for a.name over UDP within 50 ms."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(0.05)
    try:
        qid = random.getrandbits(16)
        s.sendto(query(a.name, qid, edns=True), ("127.0.0.1", a.dns_port))
        while True:
            r = s.recv(65535)
            if len(r) >= 12 and struct.unpack(">H", r[:2])[0] == qid:
                return struct.unpack(">H", r[6:8])[0] > 0
    except OSError:
        return False
    finally:
        s.close()


def healthy(a):
    c = http.client.HTTPConnection("127.0.0.1", a.http_port, timeout=1)
    try:
        c.request("GET", "/health")
        return c.getresponse().status == 200
    except (http.client.HTTPException, OSError):
        return False
    finally:
        c.close()


def wait_start(a):
    end = time.monotonic() + a.secs
    while time.monotonic() < end:
        try:
            os.kill(a.pid, 0)
        except ProcessLookupError:
            return 2
        if (not a.http_port or healthy(a)) and answered(a):
            print(f"{time.time():.3f}")
            return 0
        time.sleep(0.01)
    return 1


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--channel", choices=("udp", "tcp", "http", "start"), required=True)
    p.add_argument("--dns-port", type=int, required=True)
    p.add_argument("--http-port", type=int, default=0)
    p.add_argument("--name", required=True)
    p.add_argument("--secs", type=float, default=60)
    p.add_argument("--until", default="")
    p.add_argument("--ready", default="", help="file made after the first answer")
    p.add_argument("--pid", type=int, default=0, help="--channel start: the server")
    a = p.parse_args()
    if a.channel == "start":
        return wait_start(a)
    end = time.monotonic() + a.secs

    def done():
        return time.monotonic() > end or (a.until and os.path.exists(a.until))

    v = []

    def note_ready():
        # the bench starts what it measures once every probe has an answer
        if a.ready and len(v) == 1:
            open(a.ready, "w").close()

    a.on_answer = note_ready
    {"udp": udp, "tcp": tcp, "http": web}[a.channel](a, done, v)
    for k in (a.channel,):
        lost = sum(1 for x in v if x is None)
        ms = sorted((TIMEOUT if x is None else x) * 1000 for x in v)
        if not ms:
            print(f"{k} n=0 p50=nan p99=nan max=nan lost=0")
            continue
        print(f"{k} n={len(ms)} p50={ms[len(ms) // 2]:.2f} "
              f"p99={ms[min(len(ms) - 1, len(ms) * 99 // 100)]:.2f} max={ms[-1]:.2f} lost={lost}")


if __name__ == "__main__":
    raise SystemExit(main())
