# pb_encode.py -- protobuf encoding for the gRPC tests (e2e/grpc.sh,
# e2e/grpc_abuse.sh): each puts this file in front of its own script
# (cat pb_encode.py - >"$TMP/x.py" <<'EOF').
def varint(n):
    out = b''
    while True:
        b = n & 0x7f; n >>= 7
        if n: out += bytes([b | 0x80])
        else: return out + bytes([b])
def field(num, data):
    if isinstance(data, int): return varint(num << 3) + varint(data)
    return varint(num << 3 | 2) + varint(len(data)) + data
