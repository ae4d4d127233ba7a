"""Writes fixtures/foldoc/: a self-contained sample of FOLDOC (Debian dict-foldoc) for tests.

Takes the entries reachable through {cross-references} from a few seeds (Lisp, Unix, compiler,
...) up to LIMIT entries, and writes them as an uncompressed dictd pair (foldoc.dict +
foldoc.index with dictd's base64 offsets), plus the licence notice.

Run: python3 scripts/make-foldoc-sample.py DIR  (DIR holds foldoc.index and foldoc.dict.dz)
"""
import collections
import gzip
import os
import re
import sys

B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
SEEDS = ["Lisp", "Unix", "compiler", "World-Wide Web", "operating system", "Scheme"]
LIMIT = 800


def decode(text):
    value = 0
    for ch in text:
        value = value * 64 + B64.index(ch)
    return value


def encode(value):
    out = ""
    while True:
        out = B64[value % 64] + out
        value //= 64
        if value == 0:
            return out


def refs(body):
    return [" ".join(r.split()) for r in re.findall(r"\{([^{}]*)\}", body) if not r.strip().startswith("(")]


def main():
    src = sys.argv[1]
    data = gzip.open(os.path.join(src, "foldoc.dict.dz")).read()
    entries = {}
    for line in open(os.path.join(src, "foldoc.index"), encoding="utf-8"):
        word, offset, length = line.rstrip("\n").split("\t")
        if word.startswith("00-database"):
            continue
        entries[word] = data[decode(offset):decode(offset) + decode(length)].decode("utf-8")
    lower = {w.lower(): w for w in entries}
    keep, order, queue = set(), [], collections.deque(lower[s.lower()] for s in SEEDS)
    while queue and len(keep) < LIMIT:
        word = queue.popleft()
        if word in keep:
            continue
        keep.add(word)
        order.append(word)
        for ref in refs(entries[word]):
            if ref.lower() in lower:
                queue.append(lower[ref.lower()])
    out = "fixtures/foldoc"
    dict_bytes, index_lines = b"", []
    for word in sorted(keep):
        body = entries[word].encode("utf-8")
        index_lines.append(f"{word}\t{encode(len(dict_bytes))}\t{encode(len(body))}\n")
        dict_bytes += body
    open(os.path.join(out, "foldoc.dict"), "wb").write(dict_bytes)
    open(os.path.join(out, "foldoc.index"), "w", encoding="utf-8").write("".join(index_lines))
    print(len(keep), "entries kept")


if __name__ == "__main__":
    main()
