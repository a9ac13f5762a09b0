#!/usr/bin/env python3
"""dns_hostile.py -- the raw-socket side of tests/e2e/dns_hostile.sh.

    dns_hostile.py PORT COMMAND [ARGS...]

Prints one line of key=value pairs (or a summary line) for the shell to
check. Every wait is bounded; only loopback addresses are used.
"""
import random
import selectors
import socket
import struct
import sys
import threading
import time

HOST = '127.0.0.1'
PORT = int(sys.argv[1])
ZONE = 'discovery.internal'
TYPES = {'A': 1, 'NS': 2, 'SOA': 6, 'AAAA': 28, 'SRV': 33, 'OPT': 41,
         'IXFR': 251, 'AXFR': 252, 'ANY': 255}
COOKIE = 10


# ---- wire ----

def wname(name):
    out = b''
    for label in name.rstrip('.').split('.'):
        if label:
            out += bytes([len(label)]) + label.encode()
    return out + b'\0'


def opt_rr(udp=1232, options=b'', rdlen=None):
    rdlen = len(options) if rdlen is None else rdlen
    return b'\0' + struct.pack('>HHIH', 41, udp, 0, rdlen) + options


def option(code, data):
    return struct.pack('>HH', code, len(data)) + data


def query(name=ZONE, qtype='SOA', qid=None, flags=0x0100, edns=None,
          qclass=1):
    """A query; edns is None (no OPT) or the OPT's options (bytes)."""
    qid = random.randrange(65536) if qid is None else qid
    p = struct.pack('>HHHHHH', qid, flags, 1, 0, 0, 0 if edns is None else 1)
    p += wname(name) + struct.pack('>HH', TYPES[qtype], qclass)
    if edns is not None:
        p += opt_rr(1232, edns)
    return p


def skip_name(r, o):
    while True:
        n = r[o]
        if n & 0xC0 == 0xC0:
            return o + 2
        o += 1 + n
        if n == 0:
            return o


class Reply:
    """The parts of an answer the checks look at."""

    def __init__(self, r):
        self.raw = r
        (self.id, fl, self.qd, self.an, self.ns,
         self.ar) = struct.unpack('>HHHHHH', r[:12])
        self.opcode = (fl >> 11) & 15
        self.aa = (fl >> 10) & 1
        self.tc = (fl >> 9) & 1
        self.rcode = fl & 15
        self.opt = None      # the OPT's options, {code: data}
        self.cookie = None
        self.soa_serials = []  # of the SOA records in the answer section
        o = 12
        for _ in range(self.qd):
            o = skip_name(r, o) + 4
        for i in range(self.an + self.ns + self.ar):
            o = skip_name(r, o)
            t, _, ttl, rdlen = struct.unpack('>HHIH', r[o:o + 10])
            if t == 6 and i < self.an:
                p = skip_name(r, skip_name(r, o + 10))
                self.soa_serials.append(struct.unpack('>I', r[p:p + 4])[0])
            if t == 41:
                self.rcode |= (ttl >> 24) << 4
                self.opt = {}
                p, end = o + 10, o + 10 + rdlen
                while p + 4 <= end:
                    code, olen = struct.unpack('>HH', r[p:p + 4])
                    self.opt[code] = r[p + 4:p + 4 + olen]
                    p += 4 + olen
                self.cookie = self.opt.get(COOKIE)
            o += 10 + rdlen

    def __str__(self):
        return ('rcode=%d opcode=%d aa=%d tc=%d qd=%d an=%d ns=%d ar=%d '
                'opt=%s cookie=%s size=%d' % (
                    self.rcode, self.opcode, self.aa, self.tc, self.qd,
                    self.an, self.ns, self.ar,
                    'yes' if self.opt is not None else 'no',
                    self.cookie.hex() if self.cookie else 'none',
                    len(self.raw)) +
                (' soa=%s' % ','.join(map(str, self.soa_serials))
                 if self.soa_serials else ''))


def with_opt(qid, opt):
    """A SOA query whose additional section is the OPT record given."""
    p = query(qid=qid)
    return p[:10] + b'\x00\x01' + p[12:] + opt


def udp(pkt, src=HOST, timeout=1.0):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((src, 0))
    s.settimeout(timeout)
    s.sendto(pkt, (HOST, PORT))
    try:
        return Reply(s.recv(65535))
    except socket.timeout:
        return None
    finally:
        s.close()


def tcp_query(pkt, src=HOST, timeout=1.0):
    """One framed query on a new connection from src: the Reply or None."""
    try:
        s = socket.create_connection((HOST, PORT), timeout=timeout,
                                     source_address=(src, 0))
    except OSError:
        return None
    try:
        s.sendall(struct.pack('>H', len(pkt)) + pkt)
        h = b''
        while len(h) < 2:
            c = s.recv(2 - len(h))
            if not c:
                return None
            h += c
        n = struct.unpack('>H', h)[0]
        b = b''
        while len(b) < n:
            c = s.recv(n - len(b))
            if not c:
                return None
            b += c
        return Reply(b)
    except OSError:
        return None
    finally:
        s.close()


# ---- SipHash-2-4 and RFC 9018 server cookies, written from the papers ----

def siphash24(key, data):
    M = 0xFFFFFFFFFFFFFFFF
    k0, k1 = struct.unpack('<QQ', key)
    v = [k0 ^ 0x736f6d6570736575, k1 ^ 0x646f72616e646f6d,
         k0 ^ 0x6c7967656e657261, k1 ^ 0x7465646279746573]

    def rotl(x, b):
        return ((x << b) | (x >> (64 - b))) & M

    def rnd():
        v[0] = (v[0] + v[1]) & M; v[1] = rotl(v[1], 13); v[1] ^= v[0]
        v[0] = rotl(v[0], 32)
        v[2] = (v[2] + v[3]) & M; v[3] = rotl(v[3], 16); v[3] ^= v[2]
        v[0] = (v[0] + v[3]) & M; v[3] = rotl(v[3], 21); v[3] ^= v[0]
        v[2] = (v[2] + v[1]) & M; v[1] = rotl(v[1], 17); v[1] ^= v[2]
        v[2] = rotl(v[2], 32)

    n = len(data)
    full = n - n % 8
    for i in range(0, full, 8):
        m = struct.unpack('<Q', data[i:i + 8])[0]
        v[3] ^= m; rnd(); rnd(); v[0] ^= m
    last = (n & 0xFF) << 56
    for i, c in enumerate(data[full:]):
        last |= c << (8 * i)
    v[3] ^= last; rnd(); rnd(); v[0] ^= last
    v[2] ^= 0xFF
    for _ in range(4):
        rnd()
    return struct.pack('<Q', v[0] ^ v[1] ^ v[2] ^ v[3])


def server_cookie_ok(secret_hex, client_ip, cookie_hex):
    """The 24-byte cookie option data is client cookie | RFC 9018 server
    cookie made with this secret for this client address."""
    c = bytes.fromhex(cookie_hex)
    if len(c) != 24 or c[8] != 1:
        return False
    ip = socket.inet_aton(client_ip)
    return siphash24(bytes.fromhex(secret_hex), c[:16] + ip) == c[16:]


# ---- commands ----

def cmd_raw(case):
    """Protocol cases no tool sends."""
    if case == 'notimp-qd0':  # opcode 2 (STATUS), no question
        r = udp(struct.pack('>HHHHHH', 0x1001, 2 << 11, 0, 0, 0, 0))
    elif case == 'notimp-counts':  # opcode 5 (UPDATE), counts that lie
        r = udp(struct.pack('>HHHHHH', 0x1002, 5 << 11, 3, 7, 0, 9) + b'\x07')
    elif case == 'formerr-qd0-opt':  # no question, a good OPT
        r = udp(struct.pack('>HHHHHH', 0x1003, 0x0100, 0, 0, 0, 1) + opt_rr())
    elif case == 'formerr-qd0':  # no question, no OPT
        r = udp(struct.pack('>HHHHHH', 0x1004, 0x0100, 0, 0, 0, 0))
    elif case == 'formerr-qd2-opt':
        q = wname(ZONE) + struct.pack('>HH', 6, 1)
        r = udp(struct.pack('>HHHHHH', 0x1005, 0x0100, 2, 0, 0, 1) + q + q +
                opt_rr())
    elif case == 'truncated-option':  # says 8 bytes, has 2
        r = udp(with_opt(0x1006, opt_rr(1232, struct.pack('>HH', 3, 8) +
                                        b'ab', 6)))
    elif case == 'half-option':  # an option header cut in two
        r = udp(with_opt(0x1007, opt_rr(1232, b'\x00\x03', 2)))
    elif case == 'whole-option':  # the control: the same, well-formed
        r = udp(with_opt(0x100d, opt_rr(1232, struct.pack('>HH', 3, 2) +
                                        b'ab', 6)))
    elif case == 'opt-in-answer':
        p = query(qid=0x1008)
        r = udp(p[:6] + b'\x00\x01' + p[8:] + opt_rr())
    elif case == 'cookie-5':  # RFC 7873 5.2.2: malformed
        r = udp(query(qid=0x1009, edns=option(COOKIE, b'12345')))
    elif case == 'cookie-12':
        r = udp(query(qid=0x100a, edns=option(COOKIE, b'x' * 12)))
    elif case == 'cookie-8':
        r = udp(query(qid=0x100b, edns=option(COOKIE, b'clientck')))
    elif case == 'alive':
        r = udp(query(qid=0x100c))
    elif case == 'oversize':
        # A datagram longer than the server reads (4096 bytes), then a
        # query, back to back from one socket (one worker, most likely
        # one recvmmsg batch): the IDs of the answers that came.
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((HOST, 0))
        s.settimeout(1.0)
        s.sendto(query(qid=0x100e) + b'\0' * 5000, (HOST, PORT))
        s.sendto(query(qid=0x100f), (HOST, PORT))
        ids = []
        try:
            while len(ids) < 4:
                ids.append('%04x' % struct.unpack('>H', s.recv(65535)[:2])[0])
        except socket.timeout:
            pass
        s.close()
        return 'answered=' + (','.join(ids) or 'none')
    else:
        return 'unknown case ' + case
    return str(r) if r else 'none'


def cmd_ixfr_udp(src, serial):
    """IXFR over UDP with the client's SOA (serial) in authority."""
    p = query(ZONE, 'IXFR', 0x2001, flags=0)
    soa = (wname(ZONE) + struct.pack('>HHIH', 6, 1, 0, 22) + b'\0\0' +
           struct.pack('>IIIII', serial, 0, 0, 0, 0))
    r = udp(p[:8] + b'\x00\x01' + p[10:] + soa, src)
    return str(r) if r else 'none'


def cmd_tcp_alive(src):
    r = tcp_query(query(), src, timeout=3.0)  # generous: a loaded machine
    return 'answered' if r and r.rcode == 0 and r.an == 1 else 'no answer'


class Trickler:
    """One client that holds a TCP connection by sending one byte of a
    query every `every` seconds, and connects again when cut."""

    def __init__(self, msg, every):
        self.msg, self.every = msg, every
        self.sock = None

    def start(self, sel, now):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind((HOST, 0))
        s.setblocking(False)
        try:
            s.connect((HOST, PORT))
        except BlockingIOError:
            pass
        self.sock, self.sent, self.t0, self.next = s, 0, now, now
        self.first = None
        sel.register(s, selectors.EVENT_READ, self)

    def tick(self, now):
        if self.sock is None or now < self.next or self.sent >= len(self.msg):
            return
        try:
            self.sock.send(self.msg[self.sent:self.sent + 1])
        except BlockingIOError:
            return
        except OSError:
            return  # closed under us: the read side sees it
        if self.first is None:
            self.first = now
        self.sent += 1
        self.next = now + self.every

    def closed(self, sel, now):
        sel.unregister(self.sock)
        self.sock.close()
        self.sock = None
        return now - (self.first if self.first is not None else self.t0)


def cmd_trickle(n, every, run_secs, deadline):
    """n tricklers from 127.0.0.1 for run_secs; probes from 127.0.0.2 while
    they hold their slots. Counts what each trickler saw."""
    q = query(ZONE, 'SOA', edns=b'')
    msg = struct.pack('>H', len(q)) + q
    sel = selectors.DefaultSelector()
    ts = [Trickler(msg, every) for _ in range(n)]
    t0 = time.monotonic()
    retry = {t: t0 for t in ts}
    cuts, refused, probes, held = [], 0, [], []
    probe_at = [t0 + 1.0, t0 + 3.5]

    def probe():
        probes.append(cmd_tcp_alive('127.0.0.2'))

    threads = []
    while True:
        now = time.monotonic()
        running = now - t0 < run_secs
        for t in ts:
            if t.sock is None and running and now >= retry[t]:
                t.start(sel, now)
            t.tick(now)
        if probe_at and now >= probe_at[0]:
            probe_at.pop(0)
            held.append(sum(1 for t in ts if t.sock is not None and
                            t.first is not None and now - t.first >= 0.5))
            th = threading.Thread(target=probe)
            th.start()
            threads.append(th)
        if not running and all(t.sock is None for t in ts):
            break
        if now - t0 > run_secs + deadline + 3:
            break  # bounded: whatever is still open was not cut
        for key, _ in sel.select(0.02):
            t = key.data
            try:
                data = t.sock.recv(4096)
            except (ConnectionResetError, BrokenPipeError):
                data = b''
            except BlockingIOError:
                continue
            if data:
                continue  # an answer would mean a whole message: none is
            life = t.closed(sel, time.monotonic())
            if life < 0.5:
                refused += 1
            else:
                cuts.append(life)
            retry[t] = time.monotonic() + 0.3
    left = sum(1 for t in ts if t.sock is not None)
    for th in threads:
        th.join(3)
    cuts.sort()
    return ('cut=%d refused=%d left_open=%d cut_min=%.2f cut_max=%.2f '
            'held=%s probes=%s' % (
                len(cuts), refused, left, cuts[0] if cuts else -1,
                cuts[-1] if cuts else -1, ','.join(map(str, held)),
                ','.join(p.replace(' ', '-') for p in probes)))


class Counter:
    """Responses to a stream of UDP queries from one source address."""

    def __init__(self, src, edns=None):
        self.s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.s.bind((src, 0))
        self.s.setblocking(False)
        self.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
        self.edns = edns
        self.sent = self.full = self.tc = self.badcookie = self.other = 0
        self.cookies = set()
        self.qid = 0

    def send(self, name=ZONE):
        self.qid = (self.qid + 1) & 0xFFFF
        self.s.sendto(query(name, 'SOA', self.qid, edns=self.edns),
                      (HOST, PORT))
        self.sent += 1

    def drain(self):
        while True:
            try:
                r = Reply(self.s.recv(65535))
            except BlockingIOError:
                return
            if r.tc:
                self.tc += 1
            elif r.rcode == 23:
                self.badcookie += 1
                if r.cookie:
                    self.cookies.add(r.cookie)
            elif r.rcode == 0 and r.an >= 1:
                self.full += 1
            else:
                self.other += 1

    def lost(self):
        return self.sent - self.full - self.tc - self.badcookie - self.other

    def kv(self, prefix):
        return ' '.join('%s_%s=%d' % (prefix, k, v) for k, v in (
            ('sent', self.sent), ('full', self.full), ('tc', self.tc),
            ('badcookie', self.badcookie), ('other', self.other),
            ('none', self.lost())))


def flood(counters, pps, secs, paced=(), paced_every=0.1):
    """Sends from counters[0] at pps for secs, and from each of `paced`
    once every paced_every seconds; then drains for half a second."""
    every = list(counters) + list(paced)
    t0 = time.monotonic()
    n = 0
    next_paced = t0
    while True:
        now = time.monotonic()
        if now - t0 >= secs:
            break
        while n < (now - t0) * pps:
            counters[0].send()
            n += 1
        if paced and now >= next_paced:
            for c in paced:
                c.send()
            next_paced += paced_every
        for c in every:
            c.drain()
        time.sleep(0.001)
    took = time.monotonic() - t0
    end = time.monotonic() + 0.5
    while time.monotonic() < end:
        for c in every:
            c.drain()
        time.sleep(0.01)
    return took


def cmd_rrl(pps, secs):
    """A flood from 127.0.0.1; meanwhile a client at 10 queries a second
    from 127.0.1.1 (another /24) and one from 127.0.0.2 (the flood's
    /24, so the flood's bucket)."""
    fl, other, near = (Counter('127.0.0.1'), Counter('127.0.1.1'),
                       Counter('127.0.0.2'))
    took = flood([fl], pps, secs, [other, near])
    limited = sum(c.tc + c.badcookie + c.lost() for c in (fl, other, near))
    slipped = sum(c.tc + c.badcookie for c in (fl, other, near))
    return 'took=%.2f %s %s %s limited=%d slipped=%d' % (
        took, fl.kv('flood'), other.kv('other'), near.kv('near'), limited,
        slipped)


def cmd_rrl_tcp(pps, secs):
    """A flood from 127.0.0.1, and halfway through a TCP query from the
    same address: TCP is never limited."""
    fl = Counter('127.0.0.1')
    got = []
    th = threading.Timer(secs / 2, lambda: got.append(cmd_tcp_alive(HOST)))
    th.start()
    flood([fl], pps, secs)
    th.join(3)
    return '%s tcp=%s' % (fl.kv('flood'), got[0].replace(' ', '-')
                          if got else 'none')


def learn_cookie(src, client):
    r = udp(query(edns=option(COOKIE, client)), src)
    return r.cookie if r and r.cookie and len(r.cookie) == 24 else None


def cmd_rrl_cookies(pps, secs):
    """From 127.0.2.1: a client with a valid cookie is never limited; one
    that sends a client cookie alone gets BADCOOKIE (with a server cookie)
    when its answers slip, and the cookie it learns gets it answered."""
    full = learn_cookie('127.0.2.1', b'validcok')
    valid = Counter('127.0.2.1', option(COOKIE, full or b'x' * 24))
    flood([valid], pps, secs)
    only = Counter('127.0.3.1', option(COOKIE, b'clientck'))
    flood([only], pps, secs)
    after = 'none'
    if only.cookies:
        learnt = sorted(only.cookies)[0]
        retry = udp(query(edns=option(COOKIE, learnt)), '127.0.3.1')
        after = 'rcode=%d,an=%d,tc=%d' % (retry.rcode, retry.an,
                                          retry.tc) if retry else 'none'
    return '%s %s with_learnt=%s' % (valid.kv('valid'), only.kv('only'),
                                     after)


def cmd_cookie_check(secret_hex, client_ip, cookie_hex):
    return 'valid' if server_cookie_ok(secret_hex, client_ip,
                                       cookie_hex) else 'invalid'


def main():
    cmd, args = sys.argv[2], sys.argv[3:]
    if cmd == 'raw':
        out = cmd_raw(args[0])
    elif cmd == 'ixfr-udp':
        out = cmd_ixfr_udp(args[0], int(args[1]))
    elif cmd == 'tcp-alive':
        out = cmd_tcp_alive(args[0])
    elif cmd == 'trickle':
        out = cmd_trickle(int(args[0]), float(args[1]), float(args[2]),
                          float(args[3]))
    elif cmd == 'rrl':
        out = cmd_rrl(int(args[0]), float(args[1]))
    elif cmd == 'rrl-tcp':
        out = cmd_rrl_tcp(int(args[0]), float(args[1]))
    elif cmd == 'rrl-cookies':
        out = cmd_rrl_cookies(int(args[0]), float(args[1]))
    elif cmd == 'cookie-check':
        out = cmd_cookie_check(*args)
    else:
        out = 'unknown command ' + cmd
    print(out)


if __name__ == '__main__':
    main()
