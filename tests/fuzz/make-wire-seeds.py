#!/usr/bin/env python3
"""Writes the seed corpus of fuzz_wire: corpus/wire/*.bin.

One valid frame of every type (with its flag variants), a few multi-frame streams, and frames that
break one rule each, named after the error they must draw. The frame layout is the one in
driver/wire.h and docs/protocol.md. Run from anywhere; the outputs are committed:

    python3 tests/fuzz/make-wire-seeds.py
"""
import os
import struct

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "wire")

CONNECT, CONNACK, PING, PONG, PUB, PUBACK, SUB, UNSUB, MSG, REQ, REP, ACK, NACK, ERR = range(1, 15)
F_ACK_REQ, F_REQUEST, F_REDELIVERED, F_ACK_REQUIRED = 0x01, 0x02, 0x04, 0x08
F_ERROR, F_APP_ERROR, F_FATAL, F_NO_ECHO = 0x10, 0x20, 0x40, 0x80


def headers(entries):
    out = b""
    for key, val in entries:
        out += struct.pack("<HH", len(key), len(val)) + key + val
    return out


def frame(type_, flags=0, aux=0, id_=0, seq=0, topic=b"", hdrs=(), payload=b"",
          length=None, topic_len=None, hdr_len=None, block=None):
    """A frame; the keyword overrides let a seed lie about one field."""
    block = headers(hdrs) if block is None else block
    body = topic + block + payload
    length = 32 + len(body) if length is None else length
    topic_len = len(topic) if topic_len is None else topic_len
    hdr_len = len(block) if hdr_len is None else hdr_len
    fixed = struct.pack("<IBBHIIQQ", length, type_, flags, topic_len, hdr_len, aux, id_, seq)
    assert len(fixed) == 32
    return fixed + body


def connack_payload(extra=b""):
    # max_frame, max_header_bytes, max_topic, max_headers, keepalive_ms, client_id
    return struct.pack("<IIHHIQ", 1 << 20, 16 << 10, 256, 64, 30000, 0x1234) + extra


VERSIONS_1_1 = (1 << 16) | 1
TOPIC = b"shop.billing.charge"

VALID = {
    "connect": frame(CONNECT, aux=VERSIONS_1_1, hdrs=[(b":name", b"billing-svc")]),
    "connect-auth": frame(CONNECT, F_NO_ECHO, aux=(3 << 16) | 1,
                          hdrs=[(b":name", b"x"), (b":user", b"alice"), (b":password", b"s3cret")]),
    "connect-token": frame(CONNECT, aux=VERSIONS_1_1, hdrs=[(b":token", b"\x00\xff" * 8)]),
    "connack": frame(CONNACK, aux=1, hdrs=[(b":server", b"trpc 0.1.0")], payload=connack_payload()),
    "connack-longer": frame(CONNACK, aux=1, payload=connack_payload(b"\x01\x02\x03\x04")),
    "ping": frame(PING, id_=7),
    "pong": frame(PONG, id_=7),
    "pub": frame(PUB, topic=TOPIC, hdrs=[(b"content-type", b"application/protobuf")], payload=b"hello"),
    "pub-ack-req": frame(PUB, F_ACK_REQ, id_=1, topic=b"orders.created", payload=b"\x08\x96\x01"),
    "pub-bare": frame(PUB, topic=b"a"),
    "pub-utf8": frame(PUB, topic="café.menü".encode(), payload=b"\x00" * 16),
    "pub-repeated-headers": frame(PUB, topic=b"a.b", hdrs=[(b"k", b""), (b"k", b"v"), (b"k", b"\x00")]),
    "puback": frame(PUBACK, id_=1, seq=42),
    "puback-no-seq": frame(PUBACK, id_=1),
    "sub": frame(SUB, id_=3, aux=100, topic=b"shop.*.charge", hdrs=[(b":group", b"workers")]),
    "sub-gt": frame(SUB, id_=4, topic=b"shop.>"),
    "sub-durable": frame(SUB, id_=5, aux=16, topic=b"orders.>", hdrs=[(b":durable", b"billing")]),
    "unsub": frame(UNSUB, id_=3),
    "msg": frame(MSG, id_=3, topic=TOPIC, hdrs=[(b"content-type", b"text/plain")], payload=b"hello"),
    "msg-request": frame(MSG, F_REQUEST, id_=3, seq=0xDEADBEEFCAFE, aux=5000, topic=b"svc.echo", payload=b"ping"),
    "msg-durable": frame(MSG, F_ACK_REQUIRED, id_=3, seq=9, topic=b"orders.created", payload=b"x"),
    "msg-redelivered": frame(MSG, F_ACK_REQUIRED | F_REDELIVERED, id_=3, seq=9, topic=b"orders.created",
                             hdrs=[(b":deliveries", b"2")], payload=b"x"),
    "req": frame(REQ, id_=11, aux=1000, topic=b"svc.echo", hdrs=[(b"trace", b"abc")], payload=b"ping"),
    "rep": frame(REP, id_=11, seq=0xDEADBEEFCAFE, payload=b"pong"),
    "rep-error": frame(REP, F_ERROR, id_=11, aux=300),
    "rep-app-error": frame(REP, F_APP_ERROR, id_=11, aux=0, payload=b"not found"),
    "ack": frame(ACK, id_=3, seq=9),
    "nack": frame(NACK, id_=3, seq=9, aux=250),
    "err": frame(ERR, F_FATAL, id_=2, aux=109, payload=b"malformed topic"),
    "err-nonfatal": frame(ERR, aux=303),
}

VALID["stream-session"] = (VALID["connect"] + VALID["sub"] + VALID["pub-ack-req"] + VALID["ping"]
                           + VALID["unsub"])
VALID["stream-broker"] = VALID["connack"] + VALID["puback"] + VALID["msg"] + VALID["msg-request"] + VALID["pong"]
VALID["stream-large-frames"] = (frame(PUB, topic=TOPIC, hdrs=[(b"k", b"v" * 200)], payload=bytes(range(256)) * 2)
                                + VALID["msg"] + frame(REQ, id_=12, topic=b"svc.echo", payload=b"\xab" * 300)
                                + VALID["ping"])
VALID["stream-partial-tail"] = VALID["pub"] + VALID["msg"][:40]
VALID["stream-partial-fixed"] = VALID["pub"] + VALID["msg"][:20]
VALID["partial-length-only"] = VALID["pub"][:4]

bad_block = headers([(b"k", b"v")])
MALFORMED = {
    "bad-length": frame(PING, length=16)[:16],
    "bad-length-prefix": struct.pack("<I", 31),
    "frame-too-large": frame(PUB, topic=b"a", length=(1 << 20) + 1),
    "frame-too-large-prefix": struct.pack("<I", 64 << 20),
    "unknown-type-0": frame(0),
    "unknown-type-15": frame(15),
    "bad-flags": frame(PUB, F_FATAL, topic=b"a"),
    "bad-flags-request-durable": frame(MSG, F_REQUEST | F_ACK_REQUIRED, id_=1, seq=1, topic=b"a"),
    "bad-flags-redelivered-alone": frame(MSG, F_REDELIVERED, id_=1, seq=1, topic=b"a"),
    "bad-flags-both-errors": frame(REP, F_ERROR | F_APP_ERROR, aux=1),
    "topic-too-long": frame(PUB, topic=b"t" * 257),
    "headers-too-large": frame(PUB, topic=b"a", hdrs=[(b"k", b"v")], hdr_len=(16 << 10) + 1),
    "section-overrun": frame(PUB, topic=b"a.b", topic_len=200),
    "topic-required": frame(PUB, payload=b"x"),
    "topic-not-allowed": frame(PING, topic=b"a"),
    "headers-not-allowed": frame(PING, hdrs=[(b"k", b"v")]),
    "payload-not-allowed": frame(SUB, id_=1, topic=b"a", payload=b"x"),
    "connack-short-payload": frame(CONNACK, aux=1, payload=b"\x00" * 23),
    "bad-id": frame(PUBACK),
    "bad-id-pub-ack-req": frame(PUB, F_ACK_REQ, topic=b"a"),
    "bad-seq": frame(ACK, id_=1),
    "bad-code": frame(ERR, F_FATAL),
    "connack-no-version": frame(CONNACK, payload=connack_payload()),
    "reserved-not-zero": frame(PING, seq=1),
    "reserved-aux-msg": frame(MSG, id_=1, aux=5, topic=b"a"),
    "bad-topic-empty-token": frame(PUB, topic=b"a..b"),
    "bad-topic-space": frame(REQ, id_=1, topic=b"a b"),
    "wildcard-not-allowed": frame(PUB, topic=b"a.*"),
    "bad-wildcard": frame(SUB, id_=1, topic=b"a.>.b"),
    "bad-wildcard-inner": frame(SUB, id_=1, topic=b"a*"),
    "bad-header-empty-key": frame(PUB, topic=b"a", block=b"\x00\x00\x01\x00v"),
    "bad-header-key-byte": frame(PUB, topic=b"a", hdrs=[(b"a b", b"v")]),
    "bad-header-overrun": frame(PUB, topic=b"a", block=struct.pack("<HH", 1, 10) + b"kv", payload=b"x" * 16),
    "bad-header-short-entry": frame(PUB, topic=b"a", block=bad_block + b"\x01\x00"),
    "too-many-headers": frame(PUB, topic=b"a", hdrs=[(b"k", b"")] * 65),
    "valid-then-garbage": VALID["ping"] + b"\x10\x00\x00\x00" + b"\xff" * 28,
}


def main():
    os.makedirs(OUT, exist_ok=True)
    for name in os.listdir(OUT):
        if name.endswith(".bin"):
            os.unlink(os.path.join(OUT, name))
    for name, data in sorted({**VALID, **MALFORMED}.items()):
        with open(os.path.join(OUT, name + ".bin"), "wb") as f:
            f.write(data)
    print(f"{len(VALID) + len(MALFORMED)} seeds in {OUT}")


if __name__ == "__main__":
    main()
