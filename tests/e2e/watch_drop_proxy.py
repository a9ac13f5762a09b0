#!/usr/bin/env python3
"""watch_drop_proxy.py -- a loopback proxy in front of etcd's JSON gateway
that makes a watch lose events, as etcd before 3.4.31 does to a slow
watcher at a compaction (etcd issue 17529).

Usage: watch_drop_proxy.py LISTEN_PORT ETCD_PORT MARKER

Every connection is passed through byte for byte, except the answer to a
POST /v3/watch: its chunked body is read line by line (one watch response
a line) and a response with an event whose key contains MARKER is left
out. Each dropped response is told on stdout ("dropped <key>").
Unary calls (Range, Txn, the ping's counts) are untouched, so a fresh
Range sees what the watch did not show.
"""
import base64
import json
import socket
import sys
import threading


def pipe(src, dst):
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            dst.sendall(data)
    except OSError:
        pass
    shut(src, dst)


def shut(*socks):
    for s in socks:
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


class Reader:
    """Buffered reads from a socket: lines and exact byte counts."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def fill(self):
        data = self.sock.recv(65536)
        if not data:
            raise EOFError
        self.buf += data

    def until(self, sep):
        while sep not in self.buf:
            self.fill()
        i = self.buf.index(sep) + len(sep)
        out, self.buf = self.buf[:i], self.buf[i:]
        return out

    def exactly(self, n):
        while len(self.buf) < n:
            self.fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out


def keys_of(line):
    try:
        msg = json.loads(line)
    except ValueError:
        return []
    evs = (msg.get("result") or {}).get("events") or []
    out = []
    for ev in evs:
        k = (ev.get("kv") or {}).get("key", "")
        try:
            out.append(base64.b64decode(k).decode("utf-8", "replace"))
        except ValueError:
            pass
    return out


def filter_watch(up, client, marker):
    """Passes the chunked answer of a watch, leaving out marked lines."""
    r = Reader(up)
    client.sendall(r.until(b"\r\n\r\n"))
    pending = b""
    while True:
        size = int(r.until(b"\r\n").split(b";")[0].strip(), 16)
        if size == 0:
            client.sendall(b"0\r\n\r\n")
            return
        pending += r.exactly(size)
        r.exactly(2)  # the chunk's CRLF
        while b"\n" in pending:
            i = pending.index(b"\n") + 1
            line, pending = pending[:i], pending[i:]
            hit = [k for k in keys_of(line) if marker in k]
            if hit:
                print("dropped " + " ".join(hit), flush=True)
                continue
            client.sendall(b"%x\r\n%s\r\n" % (len(line), line))


def serve(client, etcd_port, marker):
    up = socket.create_connection(("127.0.0.1", etcd_port))
    head = Reader(client)
    try:
        request = head.until(b"\r\n\r\n")
    except (EOFError, OSError):
        client.close()
        up.close()
        return
    up.sendall(request + head.buf)
    threading.Thread(target=pipe, args=(client, up), daemon=True).start()
    if request.startswith(b"POST /v3/watch "):
        try:
            filter_watch(up, client, marker)
        except (EOFError, OSError, ValueError):
            pass
        shut(client, up)
    else:
        pipe(up, client)


def main():
    listen_port, etcd_port, marker = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", listen_port))
    ls.listen(64)
    print("listening", flush=True)
    while True:
        c, _ = ls.accept()
        threading.Thread(target=serve, args=(c, etcd_port, marker),
                         daemon=True).start()


if __name__ == "__main__":
    main()
