#!/usr/bin/env python3
"""Builds the committed seed corpora of the fuzz targets from the golden
vectors Apache Kafka's Java code wrote (crates/rill-protocol/tests/golden).

Each message seed is prefixed the way the targets read input: a selector byte
(which message of the target's family) and a 2-byte little-endian version seed
(version - lowest valid version). Deterministic: running it twice writes the
same files.
"""
import hashlib
import os
import re
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
PROTO = os.path.join(HERE, "..", "crates", "rill-protocol")
GOLDEN = os.path.join(PROTO, "tests", "golden")


def target_families():
    """Parse `match sel ... { N => message::<Name>(...)` arms of each target."""
    families = {}
    for f in sorted(os.listdir(os.path.join(HERE, "fuzz_targets"))):
        src = open(os.path.join(HERE, "fuzz_targets", f)).read()
        for sel, name in re.findall(r"(\d+) => message::<(\w+)>", src):
            families[name] = (f[:-3], int(sel))
    return families


def min_versions():
    mins = {}
    for f in os.listdir(os.path.join(PROTO, "schema")):
        for line in open(os.path.join(PROTO, "schema", f)):
            m = re.match(r"^(request|response|header|data) (\w+) .*versions=(\d+)-", line)
            if m:
                mins[m.group(2)] = int(m.group(3))
    return mins


def camel(snake):
    return "".join(p.capitalize() for p in snake.split("_"))


def write(target, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    name = hashlib.sha1(data).hexdigest()
    with open(os.path.join(d, name), "wb") as out:
        out.write(data)


def read_committed_fetch_seed(min_version):
    """A FetchResponse v4 whose partition holds what read_committed filters:
    the Java-written transactional batch (producer 4001, offsets 1000-1002),
    its ABORT marker (1005), the batch again at 1006 and a COMMIT marker
    (1011), with (4001, 1000) among the aborted transactions. Moving a batch
    changes only its base offset, which the CRC does not cover."""
    def golden(name):
        return open(os.path.join(GOLDEN, name + ".bin"), "rb").read()

    def at(batch, base_offset):
        return struct.pack(">q", base_offset) + batch[8:]

    txn = golden("records_v2_transactional")
    records = (at(txn, 1000) + at(golden("records_v2_control_abort"), 1005)
               + at(txn, 1006) + at(golden("records_v2_control_commit"), 1011))
    topic = b"t"
    partition = (struct.pack(">ihqq", 0, 0, 1012, 1012)
                 + struct.pack(">i", 1) + struct.pack(">qq", 4001, 1000)
                 + struct.pack(">i", len(records)) + records)
    body = (struct.pack(">i", 0) + struct.pack(">i", 1)
            + struct.pack(">h", len(topic)) + topic + struct.pack(">i", 1) + partition)
    write("response_fetch", b"\0" + struct.pack("<H", 4 - min_version) + body)


def main():
    families = target_families()
    mins = min_versions()
    for line in open(os.path.join(GOLDEN, "manifest.txt")):
        if line.startswith("#") or not line.strip():
            continue
        name, kind, api_key, version, file = line.split()[:5]
        data = open(os.path.join(GOLDEN, file), "rb").read()
        version = int(version)
        if kind == "records":
            write("record_batch", data)
            continue
        if kind == "request_frame":
            write("request", data[4:])  # the target takes a frame without its size prefix
            continue
        if kind == "response_frame":
            continue
        msg = camel(re.sub(r"_v\d+$", "", file[:-4]))
        if kind == "response" and api_key.lstrip("-").isdigit():
            seed = ((int(api_key) % 80) << 8) | (version & 0x1F)
            write("response_any", b"\0" + struct.pack("<H", seed) + data)
        if msg == "FetchResponse":
            families[msg] = ("response_fetch", 0)
        fam = families.get(msg)
        if fam is None or msg not in mins:
            continue
        target, sel = fam
        write(target, bytes([sel]) + struct.pack("<H", version - mins[msg]) + data)
    read_committed_fetch_seed(mins["FetchResponse"])
    # A frame stream for the frame target: chunk size 7, two frames.
    write("frame", bytes([7]) + b"\0\0\0\x03abc" + b"\0\0\0\x01z")


if __name__ == "__main__":
    main()
