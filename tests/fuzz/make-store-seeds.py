#!/usr/bin/env python3
"""Writes the seed corpus of fuzz_store_file (tests/fuzz/corpus/store_file/): embedded store files
in the format at the top of src/store_file.c, valid ones and a few damaged ones.

    tests/fuzz/make-store-seeds.py [DIR]
"""
import os
import struct
import sys


def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def image(recs, version=1):
    body = b"".join(struct.pack("<HI", len(k), len(v)) + k + v for k, v in sorted(recs))
    head = b"TRPCSTOR" + struct.pack("<IIQI", version, len(recs), len(body), crc32c(body))
    return head + struct.pack("<I", crc32c(head)) + body


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "corpus", "store_file")
    os.makedirs(out, exist_ok=True)
    settings = [(b"keepalive", b"30s"), (b"log-level", b"debug"), (b"max-connections", b"100000")]
    good = image(settings)
    seeds = {
        "empty-store.db": image([]),
        "settings.db": good,
        "one-empty-value.db": image([(b"k", b"")]),
        "binary.db": image([(b"bin", bytes(range(256))), (b"b", b"\0\0")]),
        "prefix-keys.db": image([(b"a", b"1"), (b"ab", b"2"), (b"abc", b"3")]),
        "version-2.db": image(settings, version=2),
        "truncated.db": good[:-4],
        "header-only.db": good[:32],
    }
    for name, data in seeds.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)


main()
