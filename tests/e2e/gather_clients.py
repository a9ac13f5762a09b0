#!/usr/bin/env python3
"""gather_clients.py PORT TOKEN CLIENTS ROUNDS LAG_MS -- closed-loop
registration clients for wal.sh: CLIENTS keep-alive connections, each
sending its next PUT as soon as its last one is answered, ROUNDS each.
Client 0 starts at once, the others LAG_MS later, so that they land in the
commit after client 0's. One thread and select(), so that a client's next
request follows its answer within microseconds. Prints
"sent=N ok=N other=N secs=S" (ok: answered 201)."""
import select
import socket
import sys
import time


def request(token, client, n):
    body = 'value=g%d-%d=http://10.9.%d.%d:2380' % (client, n, client, n)
    return ('PUT /%s/g%d-%d?prevExist=false HTTP/1.1\r\nHost: x\r\n'
            'Content-Type: application/x-www-form-urlencoded\r\n'
            'Content-Length: %d\r\n\r\n%s' % (token, client, n, len(body),
                                              body)).encode()


def answer_end(buf):
    """The length of the first whole HTTP answer in buf, or 0."""
    head_end = buf.find(b'\r\n\r\n')
    if head_end < 0:
        return 0
    length = 0
    for line in buf[:head_end].split(b'\r\n')[1:]:
        name, _, value = line.partition(b':')
        if name.strip().lower() == b'content-length':
            length = int(value)
    end = head_end + 4 + length
    return end if len(buf) >= end else 0


def main():
    port, token = int(sys.argv[1]), sys.argv[2]
    clients, rounds, lag = int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
    socks = [socket.create_connection(('127.0.0.1', port), timeout=10)
             for _ in range(clients)]
    for s in socks:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    done = [0] * clients
    bufs = [b''] * clients
    sent = ok = other = 0
    t0 = time.monotonic()
    socks[0].sendall(request(token, 0, 0))
    sent += 1
    late = list(range(1, clients))
    deadline = t0 + 60
    while any(d < rounds for d in done) and time.monotonic() < deadline:
        if late and time.monotonic() - t0 >= lag / 1000:
            for c in late:
                socks[c].sendall(request(token, c, 0))
                sent += 1
            late = []
        readable, _, _ = select.select(socks, [], [], 0.001)
        for s in readable:
            c = socks.index(s)
            data = s.recv(65536)
            if not data:
                print('client %d: connection closed' % c, file=sys.stderr)
                return 1
            bufs[c] += data
            end = answer_end(bufs[c])
            if not end:
                continue
            status = bufs[c].split(b' ', 2)[1]
            bufs[c] = bufs[c][end:]
            ok += status == b'201'
            other += status != b'201'
            done[c] += 1
            if done[c] < rounds:
                s.sendall(request(token, c, done[c]))
                sent += 1
    print('sent=%d ok=%d other=%d secs=%.2f' % (sent, ok, other,
                                                time.monotonic() - t0))
    return 0


if __name__ == '__main__':
    sys.exit(main())
