#!/usr/bin/env python3
"""make_seeds.py -- writes the seed corpus of each harness under
tests/fuzz/corpus/<harness>/ (files named seed-*; other files there, found
by fuzzing and kept, are left alone).

DNS queries are built here byte by byte; the signed ones carry an
HMAC over the message as RFC 8945 says, with the keys of fuzz_dns_tsig.c,
signed at its fixed clock. Zone files come from zones/examples and the
harnesses' own static zone; paths and values from the unit tests.
Run from anywhere: python3 tests/fuzz/make_seeds.py
"""
import base64
import hashlib
import hmac
import json
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
CORPUS = os.path.join(HERE, "corpus")
NOW = 1700000000  # FUZZ_NOW in dns_fixture.h

ZONE = "discovery.internal"
T = "abc123"


def name(text):
    out = b""
    for label in text.split("."):
        if label:
            out += bytes([len(label)]) + label.encode()
    return out + b"\0"


def opt(udp=1232, version=0, do=False, options=b""):
    return (b"\0" + struct.pack(">HHBBHH", 41, udp, 0, version,
                                0x8000 if do else 0, len(options)) + options)


def query(qname, qtype, tcp=False, stranger=False, edns=None, flags=0x0100,
          qclass=1, qdcount=1, extra_ar=b"", n_extra_ar=0, tail=b"",
          ident=None):
    """A query; bit 0 of the ID's first byte asks for TCP, bit 0 of its
    second byte for a client outside the transfer rules."""
    if ident is None:
        ident = 0x5A00 | (0x0100 if tcp else 0) | (0x01 if stranger else 0)
    ar = (1 if edns is not None else 0) + n_extra_ar
    msg = struct.pack(">HHHHHH", ident, flags, qdcount, 0, 0, ar)
    msg += name(qname) + struct.pack(">HH", qtype, qclass)
    msg += tail
    if edns is not None:
        msg += edns
    return msg + extra_ar


# ---- cookies (RFC 7873, server cookies as RFC 9018 makes them) ----

COOKIE_SECRET = b"srvgate-fuzz-cky"  # FUZZ_COOKIE_SECRET in dns_fixture.h
CLIENT_COOKIE = bytes.fromhex("0102030405060708")


def siphash24(key, data):
    """SipHash-2-4, as its reference implementation."""
    mask = (1 << 64) - 1

    def rotl(x, b):
        return ((x << b) | (x >> (64 - b))) & mask

    k0 = int.from_bytes(key[:8], "little")
    k1 = int.from_bytes(key[8:16], "little")
    v = [k0 ^ 0x736f6d6570736575, k1 ^ 0x646f72616e646f6d,
         k0 ^ 0x6c7967656e657261, k1 ^ 0x7465646279746573]

    def rounds(n):
        for _ in range(n):
            v[0] = (v[0] + v[1]) & mask
            v[1] = rotl(v[1], 13) ^ v[0]
            v[0] = rotl(v[0], 32)
            v[2] = (v[2] + v[3]) & mask
            v[3] = rotl(v[3], 16) ^ v[2]
            v[0] = (v[0] + v[3]) & mask
            v[3] = rotl(v[3], 21) ^ v[0]
            v[2] = (v[2] + v[1]) & mask
            v[1] = rotl(v[1], 17) ^ v[2]
            v[2] = rotl(v[2], 32)

    end = len(data) - len(data) % 8
    for i in range(0, end, 8):
        m = int.from_bytes(data[i:i + 8], "little")
        v[3] ^= m
        rounds(2)
        v[0] ^= m
    last = (len(data) & 0xFF) << 56
    for i, b in enumerate(data[end:]):
        last |= b << (8 * i)
    v[3] ^= last
    rounds(2)
    v[0] ^= last
    v[2] ^= 0xFF
    rounds(4)
    return v[0] ^ v[1] ^ v[2] ^ v[3]


def server_cookie(when=NOW, ip=bytes([127, 0, 0, 1]), secret=COOKIE_SECRET,
                  client=CLIENT_COOKIE):
    head = bytes([1, 0, 0, 0]) + struct.pack(">I", when)
    h = siphash24(secret, client + head + ip)
    return head + h.to_bytes(8, "little")


def cookie_opt(data, udp=4096):
    return opt(udp, options=struct.pack(">HH", 10, len(data)) + data)


# ---- TSIG (RFC 8945) ----

KEYS = {
    # name: (algorithm wire name, digest, secret) as in fuzz_dns_tsig.c
    "key1.fuzz.test": ("hmac-sha256", hashlib.sha256,
                       b"srvgate-fuzz-key-one-32-bytes!!!"),
    "key2": ("hmac-md5.sig-alg.reg.int", hashlib.md5, b"srvgate-fuzz-md5"),
    "key3": ("hmac-sha512", hashlib.sha512,
             b"srvgate-fuzz-key-three-sha512"),
}


def tsig_sign(msg, key, when=NOW, fudge=300, secret=None, alg=None):
    alg_name, digest, sec = KEYS.get(key, ("hmac-sha256", hashlib.sha256,
                                           b"unknown"))
    if secret is not None:
        sec = secret
    if alg is not None:
        alg_name = alg
    kname, aname = name(key.lower()), name(alg_name)
    timers = struct.pack(">HIH", when >> 32, when & 0xFFFFFFFF, fudge)
    variables = (kname + struct.pack(">HI", 255, 0) + aname + timers +
                 struct.pack(">HH", 0, 0))
    mac = hmac.new(sec, msg + variables, digest).digest()
    ident = msg[:2]
    rdata = aname + timers + struct.pack(">H", len(mac)) + mac + ident + \
        struct.pack(">HH", 0, 0)
    rr = kname + struct.pack(">HHIH", 250, 255, 0, len(rdata)) + rdata
    arcount = struct.unpack(">H", msg[10:12])[0] + 1
    return msg[:10] + struct.pack(">H", arcount) + msg[12:] + rr


# ---- the seeds ----

def dns_seeds():
    s = {}
    tok = "%s.%s" % (T, ZONE)
    names = [
        ("srv-ssl", "_etcd-server-ssl._tcp." + tok, 33),
        ("srv-plain", "_etcd-server._tcp.def456." + ZONE, 33),
        ("srv-name", "_etcd-server-ssl-fz._tcp." + tok, 33),
        ("srv-client", "_etcd-client-ssl._tcp." + tok, 33),
        ("srv-client-plain", "_etcd-client._tcp." + tok, 33),
        ("srv-alias", "_etcd-server-ssl._tcp.prod." + ZONE, 33),
        ("a-member", "m1." + tok, 1),
        ("aaaa-member", "m2." + tok, 28),
        ("a-client", "m1.client." + tok, 1),
        ("token-ent", tok, 1),
        ("soa", ZONE, 6),
        ("ns", ZONE, 2),
        ("ns-glue", "ns1." + ZONE, 1),
        ("any", ZONE, 255),
        ("nxdomain", "nothere." + ZONE, 1),
        ("nodata", "m1." + tok, 16),
        ("empty-token", "_etcd-server-ssl._tcp.empty." + ZONE, 33),
        ("static-www", "www.static.test", 1),
        ("static-cname", "alias.static.test", 1),
        ("static-mx", "static.test", 15),
        ("static-txt", "static.test", 16),
        ("static-ent", "b.c.static.test", 1),
        ("static-deep", "a.b.c.static.test", 1),
        ("referral", "host.sub.static.test", 1),
        ("referral-apex", "sub.static.test", 2),
        ("ds-at-cut", "sub.static.test", 43),
        ("static-srv", "_etcd-server-ssl._tcp.static.test", 33),
        ("refused", "example.com", 1),
        ("root", "", 2),
        ("case", "_ETCD-Server-SSL._tcp.ABC123.Discovery.Internal", 33),
    ]
    for label, qn, qt in names:
        s["%s-udp" % label] = query(qn, qt)
        s["%s-edns-do" % label] = query(qn, qt, edns=opt(4096, do=True))
        s["%s-tcp" % label] = query(qn, qt, tcp=True, edns=opt())
    s["edns-512"] = query("_etcd-server-ssl._tcp." + tok, 33, edns=opt(512))
    s["edns-small"] = query("_etcd-server-ssl._tcp." + tok, 33,
                            edns=opt(100))
    s["edns-v1"] = query(ZONE, 6, edns=opt(version=1))
    s["edns-options"] = query(ZONE, 6, edns=opt(options=b"\x00\x0a\x00\x08"
                                               b"\x01\x02\x03\x04\x05\x06"
                                               b"\x07\x08"))
    s["edns-truncated-option"] = query(ZONE, 6,
                                       edns=opt(options=b"\x00\x0a\x00"))
    s["axfr-tcp"] = query(ZONE, 252, tcp=True)
    s["axfr-static-tcp"] = query("static.test", 252, tcp=True)
    s["axfr-stranger"] = query(ZONE, 252, tcp=True, stranger=True)
    s["axfr-udp"] = query(ZONE, 252)
    def ixfr(serial, tcp):
        q = query(ZONE, 251, tcp=tcp)
        rd = name("ns1." + ZONE) + name("hostmaster." + ZONE) + \
            struct.pack(">IIIII", serial, 3600, 600, 86400, 30)
        soa = b"\xc0\x0c" + struct.pack(">HHIH", 6, 1, 0, len(rd)) + rd
        return q[:8] + struct.pack(">H", 1) + q[10:] + soa  # NSCOUNT 1
    s["ixfr-tcp"] = ixfr(3, True)
    s["ixfr-udp"] = ixfr(3, False)
    s["ixfr-old"] = ixfr(1, True)
    s["ixfr-current"] = ixfr(13, True)
    s["notify"] = query(ZONE, 6, flags=0x2000 | 0x0400)
    s["opcode-unknown-qd0"] = query(ZONE, 6, flags=0x7800, qdcount=0)[:12]
    s["status-opcode"] = query(ZONE, 6, flags=0x1000)
    s["qclass-any"] = query("m1." + tok, 1, qclass=255)
    s["qclass-chaos"] = query("version.bind", 16, qclass=3)
    s["qr-set"] = query(ZONE, 6, flags=0x8100)
    s["qdcount-2"] = query(ZONE, 6, qdcount=2) + name(ZONE) + b"\0\x06\0\x01"
    s["qdcount-0"] = query(ZONE, 6, qdcount=0)
    s["short"] = query(ZONE, 6)[:11]
    s["cut-question"] = query(ZONE, 6)[:-3]
    s["pointer-qname"] = (struct.pack(">HHHHHH", 0x5A00, 0x100, 1, 0, 0, 0)
                          + b"\xc0\x0c" + b"\0\x01\0\x01")
    s["label-64"] = query("x" * 63 + "." + ZONE, 1)[:12] + b"\x40" + \
        b"x" * 64 + name(ZONE) + b"\0\x01\0\x01"
    s["opt-in-answer"] = query(ZONE, 6)[:6] + b"\0\x01" + \
        query(ZONE, 6)[8:] + opt()
    s["two-opt"] = query(ZONE, 6, edns=opt(), n_extra_ar=1,
                         extra_ar=opt())
    s["trailing-garbage"] = query(ZONE, 6) + b"\x01\x02\x03"
    # cookies: a client cookie alone, a valid server cookie (fresh, old
    # enough to be remade, stale), one for another address, a bad length
    srv = "_etcd-server-ssl._tcp." + tok
    s["cookie-client"] = query(srv, 33, edns=cookie_opt(CLIENT_COOKIE))
    s["cookie-valid"] = query(srv, 33, edns=cookie_opt(
        CLIENT_COOKIE + server_cookie()))
    s["cookie-valid-tcp"] = query(srv, 33, tcp=True, edns=cookie_opt(
        CLIENT_COOKIE + server_cookie()))
    s["cookie-valid-flood"] = query(srv, 33, ident=0x5A10, edns=cookie_opt(
        CLIENT_COOKIE + server_cookie()))
    s["cookie-old"] = query(srv, 33, edns=cookie_opt(
        CLIENT_COOKIE + server_cookie(NOW - 2000)))
    s["cookie-stale"] = query(srv, 33, edns=cookie_opt(
        CLIENT_COOKIE + server_cookie(NOW - 5000)))
    s["cookie-stranger"] = query(srv, 33, stranger=True, edns=cookie_opt(
        CLIENT_COOKIE + server_cookie()))
    s["cookie-bad-length"] = query(srv, 33, edns=cookie_opt(b"\1" * 12))
    s["cookie-long"] = query(srv, 33, edns=cookie_opt(
        CLIENT_COOKIE + server_cookie() + b"\0" * 16))
    # a UDP flood: the message three times, rate limited after the first
    s["flood-nxdomain"] = query("nothere." + ZONE, 1, ident=0x5A10)
    s["flood-srv"] = query(srv, 33, ident=0x5A10, edns=opt())
    s["flood-cookie-client"] = query(srv, 33, ident=0x5A10,
                                     edns=cookie_opt(CLIENT_COOKIE))
    s["flood-refused"] = query("example.com", 1, ident=0x5A10)
    s["wildcard-name"] = query("*." + tok, 33)
    s["long-name"] = query(".".join(["a" * 60] * 4)[:240] + "." + ZONE, 1)
    return s


def tsig_seeds():
    s = {}
    tok = "%s.%s" % (T, ZONE)
    for label, qn, qt, tcp in [
            ("srv-ssl", "_etcd-server-ssl._tcp." + tok, 33, False),
            ("soa", ZONE, 6, False),
            ("nxdomain", "nothere." + ZONE, 1, False),
            ("referral", "host.sub.static.test", 1, False),
            ("axfr", ZONE, 252, True),
            ("axfr-static", "static.test", 252, True),
            ("big-srv-tcp", "_etcd-server-ssl._tcp." + tok, 33, True)]:
        for key in KEYS:
            k = key.split(".")[0]
            s["%s-%s" % (label, k)] = tsig_sign(query(qn, qt, tcp=tcp), key)
            s["%s-%s-edns" % (label, k)] = tsig_sign(
                query(qn, qt, tcp=tcp, edns=opt(4096)), key)
    q = query("_etcd-server-ssl._tcp." + tok, 33)
    s["badsig"] = tsig_sign(q, "key1.fuzz.test", secret=b"wrong")
    s["badkey"] = tsig_sign(q, "nokey")
    s["badalg"] = tsig_sign(q, "key1.fuzz.test", alg="hmac-sha1")
    s["badtime"] = tsig_sign(q, "key1.fuzz.test", when=NOW - 100000)
    s["future"] = tsig_sign(q, "key3", when=NOW + 100000)
    s["axfr-stranger"] = tsig_sign(query(ZONE, 252, tcp=True,
                                         stranger=True), "key1.fuzz.test")
    s["axfr-wrong-key"] = tsig_sign(query(ZONE, 252, tcp=True), "key2")
    s["tsig-not-last"] = tsig_sign(q, "key2")[:10] + b"\0\x02" + \
        tsig_sign(q, "key2")[12:] + opt()[:11]
    good = tsig_sign(q, "key1.fuzz.test")
    s["tsig-cut"] = good[:-5]
    s["tsig-mac-long"] = good[:-40]
    # unsigned queries: the harness signs them itself
    s["unsigned-srv"] = q
    s["unsigned-axfr-tcp"] = query(ZONE, 252, tcp=True)
    s["unsigned-key3-edns"] = query(ZONE, 6, edns=opt(), ident=0x5A04)
    s["unsigned-badtime"] = query(ZONE, 6, ident=0x5A0E)
    return s


STATIC_ZONE = open(os.path.join(HERE, "dns_fixture.h")).read()


def fixture_zone():
    """The static zone of dns_fixture.h, as the file it writes."""
    start = STATIC_ZONE.index("fuzz_static_zone[] =")
    end = STATIC_ZONE.index(";\n", start)
    text = ""
    for line in STATIC_ZONE[start:end].splitlines()[1:]:
        line = line.strip()
        if line.startswith('"'):
            text += json.loads(line.split("/*")[0].strip())
    return text


def zone_seeds():
    s = {}
    ex = os.path.join(ROOT, "zones", "examples")
    for f in sorted(os.listdir(ex)):
        if f.endswith(".zone"):
            s["example-" + f[:-5]] = open(os.path.join(ex, f), "rb").read()
    # loaded as fuzz.test, one of the names the harness tries
    s["fixture-static"] = fixture_zone().replace("static.test.",
                                                 "fuzz.test.").encode()
    s["relative"] = b"""$TTL 60
@ IN SOA ns1 hostmaster 1 3600 600 86400 300
@ IN NS ns1
ns1 IN A 192.0.2.1
www 300 IN AAAA 2001:db8::80
_etcd-server-ssl._tcp IN SRV 0 0 2380 www
mx IN MX 10 www
txt IN TXT "a b" c
ptr IN PTR www
caa IN CAA 0 issue "ca.example"
sub IN NS ns.sub
ns.sub IN A 192.0.2.2
cname IN CNAME www
"""
    s["no-soa"] = b"$TTL 60\n@ NS ns1.example.\n"
    s["soa-below-apex"] = b"$TTL 60\nx SOA a. b. 1 2 3 4 5\n"
    s["outside-zone"] = (b"$TTL 60\n@ SOA a. b. 1 2 3 4 5\n"
                         b"other.example. A 192.0.2.1\n")
    s["include"] = b"$TTL 60\n@ SOA a. b. 1 2 3 4 5\n$INCLUDE /etc/passwd\n"
    s["syntax-error"] = b"$TTL 60\n@ SOA a. b. 1 2 3 4 5\nwww A 300.1.1.1\n"
    s["parens-comments"] = b"""$TTL 1h ; comment
@ SOA ( ns1 ; primary
        hostmaster 2024010101 ; serial
        1h 10m 1w 5m )
  NS ns1
ns1 A 192.0.2.1
"""
    s["generic-rr"] = (b"$TTL 60\n@ SOA a. b. 1 2 3 4 5\n"
                       b"x TYPE65534 \\# 3 010203\nx CLASS1 TYPE1 \\# 4 "
                       b"c0000201\n")
    s["crlf"] = (b"$TTL 60\r\n@ SOA a. b. 1 2 3 4 5\r\n@ NS a.\r\n"
                 b"w A 192.0.2.3\r\n")
    s["long-txt"] = (b"$TTL 60\n@ SOA a. b. 1 2 3 4 5\nt TXT " +
                     b" ".join([b'"' + b"x" * 255 + b'"'] * 8) + b"\n")
    s["escapes"] = (b"$TTL 60\n@ SOA a. b. 1 2 3 4 5\n"
                    b"a\\.b\\065 A 192.0.2.4\n\\@ TXT \"q\\\"uote\"\n")
    return s


def http_seeds():
    vals = [
        "/abc", "/abc/", "/abc/m1", "/abc/m1/", "/abc/_config",
        "/abc/_config/size", "/abc/_config/size/", "/abc/a/b", "/abc/..",
        "/v2/keys/_etcd/registry/abc/m1", "/v2/keys/_etcd/registry",
        "/v2/keys/_etcd/registryabc/m1", "//abc", "/ABC", "/a_b",
        "/6c007a14875d53d9bf0ef5a6fc0257c8/8e9e05c52164694d",
        "/t/_config/x",
        "m1=http://10.0.0.1:2380", "m1=https://[2001:db8::1]:2380",
        "a=http://h:1,b=http://h:2", "m1=unix://sock:0",
        "infra0=http://10.0.0.1:2380,infra0=https://10.0.0.2:2381",
        "m1=http://10.0.0.1:2380/x", "m1=http://10.0.0.1:2380?x=1",
        "m1=http://user@h:1", "m1=ftp://10.0.0.1:2380", "=http://h:1",
        "m1=http://10.0.0.1:65536",
        "90s", "5m", "1h30m", "250ms", "7d", "1d1h1m1s1ms", "0",
        "106751991167d106751991167d51951616ms90s", "9999999999999999999",
        "99999999999999999999",
        "127.0.0.1:8087", "[::1]:5300", ":53", "*:53", "localhost:53",
        "[fd00::1]:0", "[::ffff:192.0.2.1]:53", "example.com:53",
        "::1:53", "[::1]53",
        "xfr-key:hmac-sha256:c2VjcmV0c2VjcmV0",
        "k:hmac-md5:c2VjcmV0", "k:HMAC-SHA512:YQ==", "k:hmac-sha999:YQ==",
        "127.0.0.1", "10.0.0.0/8", "2001:db8::/32", "0.0.0.0/0@known",
        "192.0.2.1/33", "::/0@nokey",
    ]
    return {"%02d" % i: v.encode() for i, v in enumerate(vals)}


def json_seeds():
    member = {"id": "m1", "value": "m1=https://10.0.0.1:2380"}
    docs = {
        "admin-import": {"size": 3, "members": [
            member, {"id": "m2", "value": "m2=http://m2.example:2380",
                     "clients": "http://m2.example:2379"}]},
        "admin-same": {"size": 3, "members": [
            member, {"id": "m2", "value": "m2=http://m2.example:2380"}]},
        "admin-no-size": {"members": [member]},
        "admin-dup-ids": {"members": [member, member]},
        "admin-bad-value": {"members": [{"id": "m1", "value": "nope"}]},
        "admin-empty": {"members": []},
        "admin-sync": {"cluster_id": "c1", "members": [
            member, {"id": "m2", "value": "m2=http://m2.example:2380"}]},
        "admin-sync-bad-cluster": {"cluster_id": "Not-Hex",
                                   "members": [member]},
        "alias": {"token": "abc123"},
        "alias-missing": {"token": "nosuch"},
        "size-node": {"action": "get", "node": {
            "key": "/_etcd/registry/abc123/_config/size", "value": "3",
            "modifiedIndex": 5, "createdIndex": 5}},
        "listing": {"action": "get", "node": {
            "key": "/_etcd/registry/abc123", "dir": True, "nodes": [
                {"key": "/_etcd/registry/abc123/8e9e05c52164694d",
                 "value": "infra0=http://10.0.0.1:2380",
                 "modifiedIndex": 7, "createdIndex": 7},
                {"key": "/_etcd/registry/abc123/_config", "dir": True},
                {"key": "/_etcd/registry/abc123/2f6f1f6e1d11f1a1",
                 "value": "infra1=https://[2001:db8::2]:2380",
                 "modifiedIndex": 6, "createdIndex": 6}],
            "modifiedIndex": 4, "createdIndex": 4}},
        "v2-members": {"members": [
            {"id": "8e9e05c52164694d", "name": "infra0",
             "peerURLs": ["http://10.0.0.1:2380"],
             "clientURLs": ["http://10.0.0.1:2379"]},
            {"id": "2f6f1f6e1d11f1a1", "name": "",
             "peerURLs": ["http://10.0.0.2:2380", "http://10.0.0.3:2380"],
             "clientURLs": []}]},
        "v3-members": {"header": {"cluster_id": "14841639068965178418"},
                       "members": [
            {"ID": "10276657743932975437", "name": "infra0",
             "peerURLs": ["https://10.0.0.1:2380"],
             "clientURLs": ["https://10.0.0.1:2379"]},
            {"ID": 12345, "peerURLs": ["https://10.0.0.9:2380"]}]},
        "error": {"errorCode": 100, "message": "Key not found",
                  "cause": "/abc", "index": 7},
    }
    s = {k: json.dumps(v).encode() for k, v in docs.items()}
    s["not-json"] = b"{\"members\": [\xff\xfe"
    s["unicode"] = '{"token":"\u00e9t\u00e9","members":[{"id":"m1","value":"m1=http://h\u00e9:1"}]}'.encode()
    return s


# ---- gRPC requests (fuzz_grpc.c): protobuf encoded here, field numbers
# as in src/grpc/etcd.proto ----

def pb_varint(n):
    n &= (1 << 64) - 1
    out = b""
    while n >= 0x80:
        out += bytes([n & 0x7F | 0x80])
        n >>= 7
    return out + bytes([n])


def pb(*fields):
    """A message from (number, value) pairs: ints and bools as varints,
    bytes and str length-delimited (nested messages are bytes)."""
    out = b""
    for num, v in fields:
        if isinstance(v, (bool, int)):
            out += pb_varint(num << 3) + pb_varint(int(v))
        else:
            v = v.encode() if isinstance(v, str) else v
            out += pb_varint(num << 3 | 2) + pb_varint(len(v)) + v
    return out


def grpc_frame(msg, flag=0, length=None):
    return bytes([flag]) + struct.pack(">I", len(msg) if length is None
                                       else length) + msg


# The first byte of an input: method, then flag bits (fuzz_grpc.c).
RANGE, PUT, DELETE, TXN, WATCH, STATUS, MEMBERS, AUTH = range(8)
G_ADMIN, G_USERS, G_FRAMED, G_FAILS, G_HANG_UP = 0x08, 0x10, 0x20, 0x40, 0x80

REG = "/_etcd/registry/"
MEMBERS_ABC = REG + "abc123/members/"
SIZE_ABC = REG + "abc123/_config/size"


def prefix_end(key):
    return key[:-1] + chr(ord(key[-1]) + 1)


def grpc_seeds():
    rng_all = pb((1, b"\0"), (2, b"\0"))
    ranges = {
        "size": pb((1, SIZE_ABC)),
        "prefix": pb((1, MEMBERS_ABC), (2, prefix_end(MEMBERS_ABC))),
        "all": rng_all,
        "registry": pb((1, REG), (2, prefix_end(REG)), (5, 2), (6, 2)),
        "old-rev": pb((1, MEMBERS_ABC), (2, prefix_end(MEMBERS_ABC)),
                      (4, 3), (3, 1)),
        "future-rev": pb((1, SIZE_ABC), (4, 999)),
        "count-keys": pb((1, REG), (2, b"\0"), (8, True), (9, True)),
        "sort-value": pb((1, REG), (2, b"\0"), (5, 1), (6, 4), (3, 2)),
        "filters": pb((1, REG), (2, b"\0"), (10, 2), (11, 9), (12, 1),
                      (13, 8)),
        "negative": pb((1, REG), (2, b"\0"), (3, -1), (4, -5)),
        "no-key": pb((3, 1)),
    }
    m3 = MEMBERS_ABC + "m3"
    puts = {
        "member": pb((1, m3), (2, "m3=http://10.0.0.3:2380"), (4, True)),
        "same": pb((1, MEMBERS_ABC + "m1"), (2, "m1=https://10.0.0.1:2380")),
        "other": pb((1, MEMBERS_ABC + "m1"), (2, "m1=http://x:1"),
                    (4, True)),
        "size": pb((1, SIZE_ABC), (2, "5"), (4, True)),
        "new-token": pb((1, REG + "newtok/_config/size"), (2, "3")),
        "outside": pb((1, "/foo"), (2, "bar")),
        "no-token": pb((1, REG + "nosuch/members/a"), (2, "a=http://a:1")),
        "lease": pb((1, m3), (2, "m3=http://h:1"), (3, 7)),
        "bad-value": pb((1, m3), (2, "not a peer")),
        "zero-byte": pb((1, m3), (2, b"m3=http://h:1\0")),
        "ignore-value": pb((1, m3), (5, True)),
        "full": pb((1, REG + "def456/members/n9"), (2, "n9=http://h:9")),
    }
    deletes = {
        "member": pb((1, MEMBERS_ABC + "m1"), (3, True)),
        "token": pb((1, SIZE_ABC), (3, True)),
        "prefix": pb((1, MEMBERS_ABC), (2, prefix_end(MEMBERS_ABC))),
        "all": pb((1, b"\0"), (2, b"\0"), (3, True)),
        "none": pb((1, "/nothing")),
    }
    op_put = pb((2, puts["member"]))
    op_range = pb((1, ranges["prefix"]))
    op_del = pb((3, deletes["member"]))
    absent = pb((1, 0), (2, 1), (3, m3), (5, 0))
    txns = {
        "create-if-absent": pb((1, absent), (2, op_put), (3, op_range)),
        "value": pb((1, pb((2, 3), (3, MEMBERS_ABC + "m1"),
                           (7, "m1=https://10.0.0.1:2380"))),
                    (2, op_range), (3, op_put)),
        "version": pb((1, pb((1, 1), (2, 0), (3, SIZE_ABC), (4, 0))),
                      (2, op_del), (2, op_range)),
        "mod-range": pb((1, pb((1, 2), (2, 2), (3, REG), (6, 100),
                               (64, b"\0"))), (2, op_range)),
        "lease": pb((1, pb((1, 3), (2, 4), (3, m3), (8, 1))), (3, op_put)),
        "nested": pb((2, pb((4, b"")))),
        "duplicate": pb((2, op_put), (2, op_put)),
        "empty-op": pb((2, b"")),
        "no-key": pb((1, pb((1, 0), (2, 1)))),
    }
    create = pb((1, MEMBERS_ABC), (2, prefix_end(MEMBERS_ABC)), (6, True))
    watches = {
        "prefix": [pb((1, create))],
        "from-1": [pb((1, pb((1, MEMBERS_ABC), (2, prefix_end(MEMBERS_ABC)),
                          (3, 1), (6, True))))],
        "from-5": [pb((1, pb((1, REG), (2, b"\0"), (3, 5))))],
        "key-filters": [pb((1, pb((1, MEMBERS_ABC + "m1"), (5, 0), (5, 1))))],
        "named-twice": [pb((1, pb((1, SIZE_ABC), (7, 7)))),
                        pb((1, pb((1, SIZE_ABC), (7, 7))))],
        "cancel": [pb((1, create)), pb((2, pb((1, 0)))),
                   pb((2, pb((1, 42))))],
        "progress": [pb((1, create)), pb((3, b""))],
        "other-token": [pb((1, pb((1, REG + "ghi789/"), (2, b"\0"))))],
        "no-key": [pb((1, pb((2, b"\0"))))],
        "empty": [b""],
    }
    s = {}

    def add(name, method, msg, flags=0):
        s[name] = bytes([method | G_FRAMED | flags]) + msg

    def add_raw(name, method, body, flags=0):
        s[name] = bytes([method | flags]) + body

    for k, v in ranges.items():
        add("range-" + k, RANGE, v)
    add_raw("range-raw-prefix", RANGE, grpc_frame(ranges["prefix"]))
    for k, v in puts.items():
        add("put-" + k, PUT, v)
    for k in ("other", "size", "new-token"):
        add("put-admin-" + k, PUT, puts[k], G_ADMIN)
    add("put-store-fails", PUT, puts["member"], G_FAILS)
    add("put-hang-up", PUT, puts["member"], G_HANG_UP)
    for k, v in deletes.items():
        add("delete-admin-" + k, DELETE, v, G_ADMIN)
    add("delete-not-admin", DELETE, deletes["member"])
    add("delete-store-fails", DELETE, deletes["token"], G_ADMIN | G_FAILS)
    add("delete-hang-up", DELETE, deletes["all"], G_ADMIN | G_HANG_UP)
    for k, v in txns.items():
        add("txn-" + k, TXN, v)
    add("txn-admin-delete", TXN, txns["version"], G_ADMIN)
    add("txn-store-fails", TXN, txns["create-if-absent"], G_FAILS)
    for k, v in watches.items():
        add_raw("watch-" + k, WATCH, b"".join(grpc_frame(m) for m in v))
    add_raw("watch-hang-up", WATCH, grpc_frame(watches["prefix"][0]),
            G_HANG_UP)
    add("status", STATUS, b"")
    add("status-store-full", STATUS, b"", G_FAILS)
    add("members", MEMBERS, pb((1, True)))
    add("auth-off", AUTH, pb((1, "fuzz"), (2, "secret")))
    add("auth-ok", AUTH, pb((1, "fuzz"), (2, "secret")), G_USERS)
    add("auth-wrong", AUTH, pb((1, "fuzz"), (2, "nope")), G_USERS)
    add("auth-range", RANGE, ranges["prefix"], G_USERS)
    add("auth-admin-range", RANGE, ranges["prefix"], G_USERS | G_ADMIN)
    # the framing itself
    good = grpc_frame(ranges["size"])
    add_raw("frame-empty", RANGE, b"")
    add_raw("frame-compressed", RANGE, grpc_frame(ranges["size"], flag=1))
    add_raw("frame-bad-flag", RANGE, grpc_frame(ranges["size"], flag=7))
    add_raw("frame-too-big", PUT, grpc_frame(b"", length=0x7FFFFFFF))
    add_raw("frame-cut", RANGE, good[:-3])
    add_raw("frame-half-prefix", RANGE, good[:3])
    add_raw("frame-two-on-unary", RANGE, good + good)
    add_raw("frame-malformed", PUT, grpc_frame(b"\x0a\xff\xff\xff"))
    add_raw("frame-garbage", TXN, b"\xff" * 24)
    return s


def write(harness, seeds):
    d = os.path.join(CORPUS, harness)
    os.makedirs(d, exist_ok=True)
    for f in os.listdir(d):
        if f.startswith("seed-"):
            os.unlink(os.path.join(d, f))
    for k, v in seeds.items():
        with open(os.path.join(d, "seed-" + k), "wb") as fp:
            fp.write(v)
    print("%s: %d seeds" % (harness, len(seeds)))


def main():
    dns = dns_seeds()
    write("dns_query", dns)
    tsig = tsig_seeds()
    tsig.update({"plain-" + k: v for k, v in list(dns.items())[::6]})
    write("dns_tsig", tsig)
    write("zonefile", zone_seeds())
    write("http_parse", http_seeds())
    write("etcdjson", json_seeds())
    write("grpc", grpc_seeds())


if __name__ == "__main__":
    main()
