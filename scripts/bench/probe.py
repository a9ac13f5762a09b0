#!/usr/bin/env python3
"""probe.py -- the slowest answers while something else runs (scripts/bench-scale).

Usage: probe.py --channel udp|tcp|http --dns-port P --http-port H --name QNAME
                --secs S [--until FILE] [--ready FILE]

Asks, one at a time, a millisecond apart, --channel udp: SRV QNAME over UDP;
tcp: the same over one TCP connection (reopened when the server closes it);
http: GET /health over one keep-alive connection -- for at most S seconds
or until FILE exists. One channel per process, so that no thread waits for
Python's lock. Prints: channel, count, p50, p99 and max latency in ms, and
how many got no answer within 10 s (counted as 10 s).
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


def query(name, qid):
    q = b"".join(bytes([len(p)]) + p.encode() for p in name.rstrip(".").split("."))
    return struct.pack(">HHHHHH", qid, 0, 1, 0, 0, 0) + q + b"\0" + struct.pack(">HH", 33, 1)


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


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--channel", choices=("udp", "tcp", "http"), required=True)
    p.add_argument("--dns-port", type=int, required=True)
    p.add_argument("--http-port", type=int, required=True)
    p.add_argument("--name", required=True)
    p.add_argument("--secs", type=float, default=60)
    p.add_argument("--until", default="")
    p.add_argument("--ready", default="", help="file made after the first answer")
    a = p.parse_args()
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
    main()
