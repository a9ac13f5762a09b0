#!/usr/bin/env python3
"""dns_data.py -- data for scripts/bench-dns (Python standard library only).

Subcommands:

  load     make TOKENS tokens with GET /new?size=SIZE and register MEMBERS
           members in each with PUT /<token>/<id> value=<name>=https://IP:2380,
           over THREADS keep-alive connections (registrations are durable;
           concurrent ones share srvgate's group commits). Member ids are 16
           hex digits like etcd's, from a seeded generator; addresses are
           10.<t/256>.<t%256>.<m+1>, so every answer is distinct. Writes
           one line per member: token, id, value (tab separated). With
           --big N, one more token of size N gets N members (a large SRV
           set: --max-published must allow N).

  zone     dumps the token zone "directly", from the HTTP API: GET /<token>
           (and /<token>/_config/size) for each token, then the records
           srvgate publishes for it: _etcd-server-ssl._tcp (https peers) or
           _etcd-server._tcp (http peers) SRV 0 0 <port> <target>, where the
           target is <id>.<token>.<zone> with an A/AAAA record when the peer
           host is an IP literal, else the host itself; only the first
           `size` members by createdIndex. The SOA and NS lines come from
           --head (dig +noall +answer output of srvgate). Writes an RFC 1035
           master file, one absolute record per line.

  queries  writes a shuffled dnsperf input of N lines from the zone file:
           70% SRV of _etcd-server-ssl._tcp.<token>.<zone>, 10% SOA of the
           apex, 10% A of <id>.<token>.<zone>, 10% SRV under random tokens
           that do not exist (NXDOMAIN); and a stratified sample (14/2/2/2)
           for the answer comparison. With --big-share P (percent), P% of
           the queries (taken from the SRV share) ask the SRV set of the
           token(s) with at least 10 SRV records, and the sample has 2 of
           them among its 14 SRV lines.

  canon    prints the records of master-format / dig files normalised (one
           per line: lower-case owner, TTL, class, type, rdata; sorted,
           duplicates dropped) for comparing a dump with an AXFR.
"""
import argparse
import http.client
import ipaddress
import json
import random
import sys
import threading
from urllib.parse import quote, urlsplit


def fail(msg):
    print(f"dns_data.py: {msg}", file=sys.stderr)
    sys.exit(1)


class Client:
    """One keep-alive HTTP/1.1 connection, reopened if the server closes."""

    def __init__(self, host, port, timeout=30):
        self.host, self.port, self.timeout = host, port, timeout
        self.conn = None

    def request(self, method, path, body=None):
        headers = {"Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        for attempt in (1, 2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(
                    self.host, self.port, timeout=self.timeout)
            try:
                self.conn.request(method, path, body=body, headers=headers)
                r = self.conn.getresponse()
                data = r.read()
                if r.getheader("Connection", "").lower() == "close":
                    self.conn.close()
                    self.conn = None
                return r.status, data
            except (http.client.HTTPException, ConnectionError):
                self.conn.close()
                self.conn = None
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")


def run_parallel(nthreads, items, work):
    """Calls work(client, item) for every item over nthreads connections;
    returns results in item order. Any exception fails the whole run."""
    results = [None] * len(items)
    errors = []
    lock = threading.Lock()
    pos = [0]

    def worker():
        c = Client(ARGS.host, ARGS.port)
        while True:
            with lock:
                if errors or pos[0] >= len(items):
                    return
                i = pos[0]
                pos[0] += 1
            try:
                results[i] = work(c, items[i])
            except Exception as e:  # noqa: BLE001 -- reported below
                with lock:
                    errors.append(f"{items[i]!r}: {e}")
                return

    threads = [threading.Thread(target=worker) for _ in range(nthreads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        fail(errors[0])
    return results


def cmd_load(a):
    rng = random.Random(a.seed)

    def new_token(c, _):
        st, body = c.request("GET", f"/new?size={a.size}")
        text = body.decode().strip()
        if st != 200:
            raise RuntimeError(f"/new answered {st}: {text[:200]}")
        tok = text.rstrip("/").rsplit("/", 1)[-1]
        if not tok or not all(ch.isalnum() or ch == "-" for ch in tok):
            raise RuntimeError(f"/new gave {text[:200]!r}")
        return tok

    tokens = run_parallel(a.threads, list(range(a.tokens)), new_token)
    sizes = [a.members] * len(tokens)
    if a.big > 0:
        a.size = a.big
        tokens += run_parallel(1, [0], new_token)
        sizes.append(a.big)
    members = []
    for t, tok in enumerate(tokens):
        for m in range(sizes[t]):
            mid = "%016x" % rng.getrandbits(64)
            ip = f"10.{(t >> 8) & 255}.{t & 255}.{m + 1}"
            members.append((tok, mid, f"{mid}=https://{ip}:2380"))

    def put(c, item):
        tok, mid, value = item
        st, body = c.request("PUT", f"/{tok}/{mid}?prevExist=false",
                             "value=" + quote(value, safe=""))
        if st != 201:
            raise RuntimeError(f"PUT answered {st}: {body[:200]!r}")

    run_parallel(a.threads, members, put)
    with open(a.out, "w") as f:
        for tok, mid, value in members:
            f.write(f"{tok}\t{mid}\t{value}\n")


def peer_records(zone, tok, mid, value):
    """The records srvgate makes of one member's value name=url[,name=url]."""
    out = []
    for part in value.split(","):
        if "=" not in part:
            continue
        url = urlsplit(part.split("=", 1)[1])
        if url.scheme not in ("http", "https") or url.hostname is None:
            continue
        port = url.port or 2380
        srv = "_etcd-server-ssl" if url.scheme == "https" else "_etcd-server"
        try:
            ip = ipaddress.ip_address(url.hostname)
        except ValueError:
            ip = None
        if ip is not None:
            target = f"{mid}.{tok}.{zone}.".lower()
            out.append((target, "AAAA" if ip.version == 6 else "A", str(ip)))
        else:
            target = url.hostname.rstrip(".").lower() + "."
        out.append((f"{srv}._tcp.{tok}.{zone}.", "SRV", f"0 0 {port} {target}"))
    return out


def cmd_zone(a):
    zone = a.zone.rstrip(".").lower()
    tokens = []
    with open(a.tokens) as f:
        for line in f:
            tok = line.split("\t", 1)[0]
            if not tokens or tokens[-1] != tok:
                tokens.append(tok)

    def dump(c, tok):
        st, body = c.request("GET", f"/{tok}?recursive=true&sorted=true")
        if st != 200:
            raise RuntimeError(f"GET /{tok} answered {st}")
        nodes = json.loads(body)["node"].get("nodes", [])
        size = None
        st, body = c.request("GET", f"/{tok}/_config/size")
        if st == 200:
            size = int(json.loads(body)["node"]["value"])
        members = sorted((n for n in nodes if not n.get("dir") and
                          not n["key"].rsplit("/", 1)[-1].startswith("_")),
                         key=lambda n: n["createdIndex"])
        if size is not None:
            members = members[:size]
        rrs = []
        for n in members:
            rrs += peer_records(zone, tok, n["key"].rsplit("/", 1)[-1],
                                n.get("value", ""))
        return rrs

    per_token = run_parallel(a.threads, tokens, dump)
    head = [ln.rstrip("\n") for ln in open(a.head)
            if ln.strip() and not ln.startswith(";")]
    if not any("\tSOA\t" in ln or " SOA " in ln for ln in head):
        fail(f"{a.head} has no SOA")
    seen = set()
    n = 0
    with open(a.out, "w") as f:
        f.write(f"; {zone} as srvgate serves it, dumped by scripts/bench-dns\n")
        f.write(f"$ORIGIN {zone}.\n")
        for ln in head:  # SOA first, as dig printed it
            f.write(ln + "\n")
        for rrs in per_token:
            for owner, typ, rdata in rrs:
                if (owner, typ, rdata) in seen:
                    continue
                seen.add((owner, typ, rdata))
                f.write(f"{owner}\t{a.ttl}\tIN\t{typ}\t{rdata}\n")
                n += 1
    print(f"dns_data.py: {len(tokens)} tokens, {n} token records", file=sys.stderr)


def zone_names(path, zone):
    """SRV owners (small sets, then sets of 10 or more) and addresses."""
    srv, addr = {}, []
    for ln in open(path):
        f = ln.split()
        if len(f) >= 5 and not ln.startswith((";", "$")):
            if f[3] == "SRV" and f[0].startswith("_etcd-server-ssl._tcp."):
                srv[f[0]] = srv.get(f[0], 0) + 1
            elif f[3] in ("A", "AAAA"):
                addr.append((f[0], f[3]))
    if not srv or not addr:
        fail(f"{path} has no SRV or A records")
    small = sorted(o for o, n in srv.items() if n < 10)
    big = sorted(o for o, n in srv.items() if n >= 10)
    return small, big, sorted(set(addr))


def cmd_queries(a):
    zone = a.zone.rstrip(".").lower()
    srv, big, addr = zone_names(a.zone_file, zone)
    if a.big_share > 0 and not big:
        fail(f"{a.zone_file} has no SRV set of 10 or more records")
    rng = random.Random(a.seed)
    n_big = a.n * a.big_share // 100
    n_soa = n_a = n_nx = a.n * 10 // 100
    n_srv = a.n - (n_big + n_soa + n_a + n_nx)
    existing = {s.split(".")[2] for s in srv + big}

    def nx_name():
        while True:
            tok = "%032x" % rng.getrandbits(128)
            if tok not in existing:
                return f"_etcd-server-ssl._tcp.{tok}.{zone}. SRV"

    kinds = {
        "srv": lambda: f"{rng.choice(srv)} SRV",
        "big": lambda: f"{rng.choice(big)} SRV",
        "soa": lambda: f"{zone}. SOA",
        "a": lambda: "%s %s" % rng.choice(addr),
        "nx": nx_name,
    }
    lines = ([kinds["srv"]() for _ in range(n_srv)] +
             [kinds["big"]() for _ in range(n_big)] +
             [kinds["soa"]() for _ in range(n_soa)] +
             [kinds["a"]() for _ in range(n_a)] +
             [kinds["nx"]() for _ in range(n_nx)])
    rng.shuffle(lines)
    with open(a.out, "w") as f:
        f.write("\n".join(lines) + "\n")
    nb = 2 if n_big else 0
    sample = ([kinds["srv"]() for _ in range(14 - nb)] +
              [kinds["big"]() for _ in range(nb)] +
              [kinds["soa"]() for _ in range(2)] +
              [kinds["a"]() for _ in range(2)] +
              [kinds["nx"]() for _ in range(2)])
    with open(a.sample, "w") as f:
        f.write("\n".join(sample) + "\n")


def cmd_canon(a):
    out = set()
    for path in a.files:
        origin = ""
        for ln in open(path):
            ln = ln.split(";", 1)[0].strip()
            if not ln:
                continue
            if ln.startswith("$ORIGIN"):
                origin = ln.split()[1]
                continue
            if ln.startswith("$"):
                continue
            f = ln.split()
            if len(f) < 5:
                continue
            owner = f[0].lower()
            if not owner.endswith("."):
                owner = owner + "." + origin
            typ = f[3].upper()
            rdata = " ".join(f[4:])
            if typ in ("SRV", "SOA", "NS", "CNAME", "MX", "PTR"):
                rdata = rdata.lower()
            out.add(f"{owner} {f[1]} {f[2].upper()} {typ} {rdata}")
    sys.stdout.write("".join(s + "\n" for s in sorted(out)))


def main():
    global ARGS
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8087)
    p.add_argument("--threads", type=int, default=8)
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("load")
    s.add_argument("--tokens", type=int, default=1000)
    s.add_argument("--members", type=int, default=3)
    s.add_argument("--size", type=int, default=3)
    s.add_argument("--big", type=int, default=0)
    s.add_argument("--seed", type=int, default=1)
    s.add_argument("--out", required=True)
    s = sub.add_parser("zone")
    s.add_argument("--tokens", required=True, help="file written by load")
    s.add_argument("--zone", default="discovery.internal")
    s.add_argument("--head", required=True, help="SOA and NS, dig output")
    s.add_argument("--ttl", type=int, default=60)
    s.add_argument("--out", required=True)
    s = sub.add_parser("queries")
    s.add_argument("--zone-file", required=True)
    s.add_argument("--zone", default="discovery.internal")
    s.add_argument("--n", type=int, default=100000)
    s.add_argument("--big-share", type=int, default=0)
    s.add_argument("--seed", type=int, default=1)
    s.add_argument("--out", required=True)
    s.add_argument("--sample", required=True)
    s = sub.add_parser("canon")
    s.add_argument("files", nargs="+")
    ARGS = p.parse_args()
    {"load": cmd_load, "zone": cmd_zone, "queries": cmd_queries,
     "canon": cmd_canon}[ARGS.cmd](ARGS)


ARGS = None
if __name__ == "__main__":
    main()
