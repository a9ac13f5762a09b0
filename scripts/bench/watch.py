#!/usr/bin/env python3
"""watch.py -- watch wake-up benchmark for scripts/bench-http.

N watchers each hold one keep-alive connection and loop
    GET <prefix>/<token>?recursive=true&wait=true&waitIndex=<next>
re-arming on (returned modifiedIndex + 1), the way etcd's discovery client
watches a token. One writer, on its own connection, does rounds of: PUT a
fresh member key (prevExist=false, must answer 201), then wait until every
watcher has received the event of that write. A round is thus one durable
write plus N delivered wake-ups, and the rate is

    wake-ups/s = N * rounds / elapsed

The first round is a warm-up (it also proves all watchers are armed) and is
not timed. Everything is bounded: at most --puts rounds, at most --secs
seconds of rounds, at most --round-timeout seconds for any one round (the
run fails then), and connect/IO each under the same timeout.

Prints one line:
    WATCH ok=<rounds> watchers=<N> secs=<s> wakeups_per_s=<r> rounds_per_s=<w>
Exits non-zero on any error (non-201 write, bad watch answer, timeout).
Only the Python standard library is used.
"""
import argparse
import asyncio
import json
import os
import sys
import time


class Conn:
    def __init__(self, host, port, timeout):
        self.host, self.port, self.timeout = host, port, timeout
        self.r = self.w = None

    async def open(self):
        self.r, self.w = await asyncio.wait_for(
            asyncio.open_connection(self.host, self.port), self.timeout)

    def close(self):
        if self.w is not None:
            self.w.close()

    def send(self, method, path, body=None):
        head = (f"{method} {path} HTTP/1.1\r\nHost: {self.host}:{self.port}"
                "\r\nAccept: application/json\r\n")
        if body is not None:
            data = body.encode()
            head += ("Content-Type: application/x-www-form-urlencoded\r\n"
                     f"Content-Length: {len(data)}\r\n\r\n")
            self.w.write(head.encode() + data)
        else:
            self.w.write((head + "\r\n").encode())

    async def read_response(self, timeout=None):
        """Returns (status, headers, body bytes); waits at most timeout."""
        return await asyncio.wait_for(self._read(), timeout)

    async def _read(self):
        line = await self.r.readuntil(b"\r\n")
        parts = line.split(None, 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/1."):
            raise RuntimeError(f"bad status line {line!r}")
        status = int(parts[1])
        headers = {}
        while True:
            line = await self.r.readuntil(b"\r\n")
            if line == b"\r\n":
                break
            k, _, v = line.decode("latin-1").partition(":")
            headers[k.strip().lower()] = v.strip()
        if "content-length" in headers:
            body = await self.r.readexactly(int(headers["content-length"]))
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int((await self.r.readuntil(b"\r\n")).split(b";")[0],
                           16)
                if size == 0:
                    # trailers end with an empty line
                    while (await self.r.readuntil(b"\r\n")) != b"\r\n":
                        pass
                    break
                chunks.append(await self.r.readexactly(size))
                await self.r.readexactly(2)
            body = b"".join(chunks)
        else:
            raise RuntimeError("response without length (connection close "
                               "is not supported)")
        return status, headers, body


class Bench:
    def __init__(self, a):
        self.a = a
        self.seen = {}       # index -> watchers that got it
        self.events = {}     # index -> asyncio.Event set when all got it
        self.failure = None

    def got(self, index):
        n = self.seen.get(index, 0) + 1
        self.seen[index] = n
        if n >= self.a.watchers:
            ev = self.events.get(index)
            if ev is not None:
                ev.set()

    def event_for(self, index):
        ev = self.events.setdefault(index, asyncio.Event())
        if self.seen.get(index, 0) >= self.a.watchers:
            ev.set()
        return ev

    async def watcher(self, conn, start):
        a = self.a
        nxt = start
        base = f"{a.prefix}/{a.token}?recursive=true&wait=true&waitIndex="
        try:
            while True:
                conn.send("GET", base + str(nxt))
                # a watch may legitimately wait until the writer's next PUT;
                # the writer's round timeout bounds the whole run
                status, _, body = await conn.read_response()
                if status != 200:
                    raise RuntimeError(f"watch answered {status}: {body!r}")
                if not body.strip():
                    continue  # server-side watch timeout: poll again
                node = json.loads(body)["node"]
                idx = int(node["modifiedIndex"])
                if idx < nxt:
                    raise RuntimeError(f"watch for {nxt} got index {idx}")
                self.got(idx)
                nxt = idx + 1
        except asyncio.CancelledError:
            raise
        except Exception as e:  # noqa: BLE001 -- reported by the writer
            self.failure = self.failure or f"watcher: {e!r}"
            for ev in self.events.values():
                ev.set()

    async def round(self, conn, i):
        a = self.a
        conn.send("PUT", f"{a.prefix}/{a.token}/{a.tag}{i}?prevExist=false",
                  "value=m1=http://10.0.0.1:2380")
        status, _, body = await conn.read_response(a.round_timeout)
        if status != 201:
            raise RuntimeError(f"PUT answered {status}: {body!r}")
        idx = int(json.loads(body)["node"]["modifiedIndex"])
        await asyncio.wait_for(self.event_for(idx).wait(), a.round_timeout)
        if self.failure:
            raise RuntimeError(self.failure)
        self.events.pop(idx, None)
        self.seen.pop(idx, None)

    async def run(self):
        a = self.a
        writer = Conn(a.host, a.port, a.round_timeout)
        await writer.open()
        writer.send("GET", f"{a.prefix}/{a.token}")
        status, headers, body = await writer.read_response(a.round_timeout)
        if status != 200 or "x-etcd-index" not in headers:
            raise RuntimeError(f"GET token answered {status}: {body!r}")
        start = int(headers["x-etcd-index"]) + 1
        conns = [Conn(a.host, a.port, a.round_timeout)
                 for _ in range(a.watchers)]
        await asyncio.gather(*(c.open() for c in conns))
        tasks = [asyncio.ensure_future(self.watcher(c, start))
                 for c in conns]
        try:
            await self.round(writer, 0)  # warm-up, untimed
            rounds = 0
            t0 = time.monotonic()
            deadline = t0 + a.secs
            for i in range(1, a.puts + 1):
                await self.round(writer, i)
                rounds += 1
                if time.monotonic() >= deadline:
                    break
            secs = time.monotonic() - t0
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for c in conns + [writer]:
                c.close()
        print(f"WATCH ok={rounds} watchers={a.watchers} secs={secs:.3f} "
              f"wakeups_per_s={a.watchers * rounds / secs:.1f} "
              f"rounds_per_s={rounds / secs:.1f}")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--prefix", default="",
                   help='"" for srvgate, /v2/keys/_etcd/registry for etcd')
    p.add_argument("--token", required=True)
    p.add_argument("--tag", default=f"w{os.getpid()}-",
                   help="member id prefix, unique per run [w<pid>-]")
    p.add_argument("--watchers", type=int, default=32)
    p.add_argument("--puts", type=int, default=500)
    p.add_argument("--secs", type=float, default=10.0)
    p.add_argument("--round-timeout", type=float, default=10.0)
    a = p.parse_args()
    if a.host not in ("127.0.0.1", "::1", "localhost"):
        sys.exit("watch.py: loopback only")
    try:
        asyncio.run(Bench(a).run())
    except Exception as e:  # noqa: BLE001
        print(f"watch.py: {e!r}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
