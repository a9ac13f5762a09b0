#!/usr/bin/env python3
"""visibility.py -- for scripts/bench-visibility (Python standard library only).

Subcommands:

  tokens   makes N fresh tokens of size SIZE (GET /new?size=SIZE) over one
           keep-alive connection; one name a line on stdout.

  load     registrations at a fixed rate: PUT /<token>/<id>?prevExist=false
           (value <id>=https://10.x.y.z:2380) spread round robin over the
           tokens of --tokens, for --secs seconds at --rate per second over
           --conns keep-alive connections (each request has its slot in a
           schedule; a connection that falls behind sends at once). Prints
           "sent ok secs rate" at the end; 201 counts as ok.

  probe    --probes times, --gap ms apart: registers one member into its
           own fresh token of size 1 (so the member is published), takes
           the time the acknowledgement (201) was read, then asks srvgate
           (UDP, the SRV name of the token) until the answer holds the
           member's target, and the secondary (when --secondary is given)
           the same in a second thread, every --poll-ms, until it does or
           --timeout seconds pass. Prints one line per probe on --out:
           "<ack-to-srvgate us> <ack-to-secondary us or -1>", and a summary
           on stdout: count, p50, p99, max for each, how many probes the
           secondary never answered within the timeout, how many srvgate
           answered with the member at the first question, and p50 p99 max
           of a plain round trip (before each probe's PUT, the previous
           probe's question again, already answered: the same client and
           server path without a commit to wait for).
"""
import argparse
import http.client
import random
import socket
import struct
import sys
import threading
import time
from urllib.parse import quote


def fail(msg):
    print(f"visibility.py: {msg}", file=sys.stderr)
    sys.exit(1)


def conn(port):
    return http.client.HTTPConnection("127.0.0.1", port, timeout=30)


def request(c, method, path, body=None):
    headers = {"Accept": "application/json"}
    if body is not None:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    c.request(method, path, body=body, headers=headers)
    r = c.getresponse()
    return r.status, r.read()


def new_tokens(port, n, size):
    c, out = conn(port), []
    for _ in range(n):
        st, body = request(c, "GET", f"/new?size={size}")
        if st != 200:
            fail(f"/new answered {st}: {body[:200]!r}")
        out.append(body.decode().strip().rstrip("/").rsplit("/", 1)[-1])
    return out


def cmd_tokens(a):
    sys.stdout.write("".join(t + "\n" for t in new_tokens(a.port, a.n, a.size)))


def member(rng, n):
    mid = "%016x" % rng.getrandbits(64)
    ip = f"10.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}"
    return mid, "value=" + quote(f"{mid}=https://{ip}:2380", safe="")


def cmd_load(a):
    tokens = [t for t in open(a.tokens).read().split() if t]
    if not tokens:
        fail(f"{a.tokens} has no tokens")
    lock = threading.Lock()
    state = {"next": 0, "ok": 0, "sent": 0, "err": None}
    start = time.monotonic() + 0.05
    total = int(a.rate * a.secs)

    def worker(k):
        c = conn(a.port)
        rng = random.Random(1000 + k)
        while True:
            with lock:
                i = state["next"]
                if i >= total or state["err"]:
                    return
                state["next"] += 1
            due = start + i / a.rate
            now = time.monotonic()
            if due > now:
                time.sleep(due - now)
            mid, body = member(rng, i)
            try:
                st, _ = request(c, "PUT", f"/{tokens[i % len(tokens)]}/{mid}?prevExist=false", body)
            except (http.client.HTTPException, OSError) as e:
                with lock:
                    state["err"] = f"PUT: {e}"
                return
            with lock:
                state["sent"] += 1
                state["ok"] += st == 201

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(a.conns)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    secs = time.monotonic() - start
    if state["err"]:
        fail(state["err"])
    print(state["sent"], state["ok"], "%.2f" % secs, "%.0f" % (state["ok"] / secs))


def dns_query(name, qid):
    q = struct.pack(">HHHHHH", qid, 0, 1, 0, 0, 0)
    for label in name.rstrip(".").split("."):
        q += bytes([len(label)]) + label.encode()
    return q + b"\0" + struct.pack(">HH", 33, 1)


def answered(sock, name, target, qid):
    """Asks once; True when the answer's records hold the target name."""
    sock.send(dns_query(name, qid))
    while True:
        data = sock.recv(65535)
        if len(data) >= 12 and struct.unpack(">H", data[:2])[0] == qid:
            break
    ancount = struct.unpack(">H", data[6:8])[0]
    return ancount > 0 and target in data


def target_wire(mid, tok, zone):
    out = b""
    for label in f"{mid}.{tok}.{zone}".split("."):
        out += bytes([len(label)]) + label.encode()
    return out


def percentile(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(len(v) * p))] if v else -1


def cmd_probe(a):
    tokens = new_tokens(a.port, a.probes, 1)
    c = conn(a.port)
    rng = random.Random(7)
    sg = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sg.connect(("127.0.0.1", a.dns_port))
    sg.settimeout(1)
    results = [[-1, -1] for _ in tokens]
    pending, lock = [], threading.Lock()
    done = threading.Event()

    def secondary():
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.connect(("127.0.0.1", a.secondary))
        s.settimeout(1)
        qid = 0
        while True:
            with lock:
                work = list(pending)
            if not work and done.is_set():
                return
            for item in work:
                i, name, target, t_ack = item
                qid = (qid + 1) & 0xFFFF
                try:
                    ok = answered(s, name, target, qid)
                except socket.timeout:
                    ok = False
                now = time.monotonic()
                if ok or now - t_ack > a.timeout:
                    results[i][1] = int((now - t_ack) * 1e6) if ok else -1
                    with lock:
                        pending.remove(item)
            time.sleep(a.poll_ms / 1000)

    th = None
    if a.secondary:
        th = threading.Thread(target=secondary)
        th.start()
    qid = first = 0
    rtt, prev = [], None
    for i, tok in enumerate(tokens):
        mid, body = member(rng, i)
        name = f"_etcd-server-ssl._tcp.{tok}.{a.zone}"
        target = target_wire(mid, tok, a.zone)
        if i > 0:  # the same question about a name already in: a plain round trip
            qid = (qid + 1) & 0xFFFF
            t0 = time.monotonic()
            try:
                if answered(sg, prev[0], prev[1], qid):
                    rtt.append(int((time.monotonic() - t0) * 1e6))
            except socket.timeout:
                pass
        st, text = request(c, "PUT", f"/{tok}/{mid}?prevExist=false", body)
        t_ack = time.monotonic()
        if st != 201:
            fail(f"probe PUT answered {st}: {text[:200]!r}")
        asks = 0
        while True:
            qid = (qid + 1) & 0xFFFF
            asks += 1
            try:
                if answered(sg, name, target, qid):
                    break
            except socket.timeout:
                pass
            if time.monotonic() - t_ack > a.timeout:
                fail(f"srvgate does not answer {name} {a.timeout} s after the ack")
        results[i][0] = int((time.monotonic() - t_ack) * 1e6)
        first += asks == 1
        prev = (name, target)
        if th:
            with lock:
                pending.append((i, name, target, t_ack))
        time.sleep(a.gap / 1000)
    done.set()
    if th:
        th.join()
    with open(a.out, "w") as f:
        f.write("".join(f"{x} {y}\n" for x, y in results))
    sgv = [r[0] for r in results]
    sec = [r[1] for r in results if r[1] >= 0]
    missing = sum(1 for r in results if r[1] < 0) if a.secondary else 0
    print(len(sgv), percentile(sgv, 0.5), percentile(sgv, 0.99), max(sgv),
          len(sec), percentile(sec, 0.5), percentile(sec, 0.99),
          max(sec) if sec else -1, missing, first,
          percentile(rtt, 0.5), percentile(rtt, 0.99), max(rtt) if rtt else -1)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--port", type=int, required=True, help="srvgate HTTP")
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("tokens")
    s.add_argument("--n", type=int, required=True)
    s.add_argument("--size", type=int, default=3)
    s = sub.add_parser("load")
    s.add_argument("--tokens", required=True)
    s.add_argument("--rate", type=float, required=True)
    s.add_argument("--secs", type=float, required=True)
    s.add_argument("--conns", type=int, default=16)
    s = sub.add_parser("probe")
    s.add_argument("--dns-port", type=int, required=True)
    s.add_argument("--secondary", type=int, default=0, help="its DNS port")
    s.add_argument("--zone", default="discovery.internal")
    s.add_argument("--probes", type=int, default=300)
    s.add_argument("--gap", type=float, default=20, help="ms between probes")
    s.add_argument("--poll-ms", type=float, default=1)
    s.add_argument("--timeout", type=float, default=5)
    s.add_argument("--out", required=True)
    a = p.parse_args()
    if a.cmd == "load" and (a.rate <= 0 or a.secs <= 0 or a.secs > 600):
        fail("--rate must be > 0, --secs 0..600")
    if a.cmd == "probe" and not (1 <= a.probes <= 100000 and 0 < a.timeout <= 60):
        fail("--probes 1..100000, --timeout 0..60")
    {"tokens": cmd_tokens, "load": cmd_load, "probe": cmd_probe}[a.cmd](a)


if __name__ == "__main__":
    main()
