#!/usr/bin/env python3
"""fill.py -- registers members into tokens for scripts/bench-http.

Usage: fill.py --port P --prefix PREFIX --tokens FILE --count N [--threads T]
PUTs PREFIX/<token>/f<i>?prevExist=false (value f<i>=http://10.<i>:2380) for
i in 1..N into every token of FILE over keep-alive connections, T threads
per run. Exits 1 on any answer but 201. Loopback only; bounded by N.
"""
import argparse
import http.client
import sys
import threading
import urllib.parse


def fill(port, prefix, tokens, count, errors):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    hdrs = {"Content-Type": "application/x-www-form-urlencoded"}
    for tok in tokens:
        for i in range(1, count + 1):
            ip = "10.%d.%d.%d" % (i >> 16 & 255, i >> 8 & 255, i & 255)
            body = urllib.parse.urlencode({"value": "f%d=http://%s:2380" % (i, ip)})
            conn.request("PUT", "%s/%s/f%d?prevExist=false" % (prefix, tok, i),
                         body, hdrs)
            r = conn.getresponse()
            r.read()
            if r.status != 201:
                errors.append("%s/f%d: %d" % (tok, i, r.status))
                return


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--prefix", default="")
    ap.add_argument("--tokens", required=True)
    ap.add_argument("--count", type=int, required=True)
    ap.add_argument("--threads", type=int, default=4)
    a = ap.parse_args()
    tokens = [t.strip() for t in open(a.tokens) if t.strip()]
    errors = []
    parts = [tokens[i::a.threads] for i in range(a.threads)]
    ts = [threading.Thread(target=fill, args=(a.port, a.prefix, p, a.count, errors))
          for p in parts if p]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    if errors:
        print("fill.py: " + errors[0], file=sys.stderr)
        sys.exit(1)


main()
