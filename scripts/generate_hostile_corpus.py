#!/usr/bin/env python3
"""Writes tests/fixtures/hostile/: the hostile inputs of issue 19, replayed by
crates/titlesim/tests/hostile.rs (each must give the error its manifest line names, or be
read as the manifest says).

Only the standard library: `python3 scripts/generate_hostile_corpus.py`. The GT store rows
carry valid checksums (SHA-256 over the title, a zero byte and the little-endian f32 bytes,
first 4 bytes in hex), so the reader's refusal can only come from the vector itself.
"""

import hashlib
import json
import pathlib
import struct

OUT = pathlib.Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "hostile"

HEADER = {
    "format": "titlesim-gt-store",
    "version": 1,
    "fingerprint": "ts1-hostile",
    "dim": 3,
    "model": "hostile",
    "backend": "candle",
    "prompt": None,
    "created": "2026-12-04T10:00:00.000Z",
}


def f32(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]


def row(title, vector):
    v = [f32(x) for x in vector]
    h = hashlib.sha256(title.encode() + b"\0" + b"".join(struct.pack("<f", x) for x in v))
    # repr of a Python float that is exactly an f32 parses back to the same f32.
    return json.dumps({"t": title, "v": v, "c": h.hexdigest()[:8]}, separators=(",", ":"))


def store(rows):
    return "\n".join([json.dumps(HEADER, separators=(",", ":"))] + rows) + "\n"


FILES = {
    # Pairs files.
    "torn_quoted_field.csv": 'id,product,gt\n1,iPhone 15,iPhone 15\n2,Apple iPhone 15,"iPhone 1',
    "duplicate_column.csv": "id,product,gt,product\n1,a,b,c\n",
    "duplicate_key.jsonl": '{"id":1,"product":"a","gt":"b","product":"c"}\n',
    "nul_in_title.csv": "id,product,gt\n1,iPhone\x0015,iPhone 15\n",
    "nul_in_title.jsonl": '{"id":1,"product":"iPhone\\u000015","gt":"iPhone 15"}\n',
    "bom.jsonl": '\ufeff{"id":1,"product":"iPhone 15","gt":"Apple iPhone 15"}\n',
    "bom.csv": "\ufeffid,product,gt\n1,iPhone 15,Apple iPhone 15\n",
    "header_only.csv": "id,product,gt\n",
    "duplicate_id.csv": "id,product,gt\n7,a,b\n8,c,d\n7,e,f\n",
    "array.jsonl": '[{"id":1,"product":"a","gt":"b"}]\n',
    # GT stores.
    "zero_vector.gtstore": store([row("Apple iPhone 15", [0.0, 0.0, 0.0])]),
    "huge_vector.gtstore": store([row("Apple iPhone 15", [3e38, 3e38, 1.0])]),
    "empty.gtstore": "",
    "torn_header.gtstore": json.dumps(HEADER)[:40],
}


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    for name, text in FILES.items():
        (OUT / name).write_bytes(text.encode("utf-8"))
    print(f"wrote {len(FILES)} files to {OUT}")


if __name__ == "__main__":
    main()
