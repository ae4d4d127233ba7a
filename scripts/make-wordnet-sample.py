"""Writes fixtures/wordnet/: a self-contained sample of WordNet 3.1 for fast tests.

Takes the synsets within a few pointer hops of a handful of seed synsets (tree, oak, plant,
computer, language, ...), keeps only the pointers between kept synsets, and writes them in the
WordNet data-file format (pointer counts rewritten). Also prints, for fixtures/genesis.toml, each
pointer type's count in the full data (the fixture neurons' stakes).

Run: python3 scripts/make-wordnet-sample.py target/fixtures/wordnet/dict
"""
import collections
import os
import sys

FILES = {"n": "data.noun", "v": "data.verb", "a": "data.adj", "r": "data.adv"}
SEEDS = [("n", "tree"), ("n", "oak"), ("n", "plant"), ("n", "computer"), ("n", "language"), ("v", "run"), ("a", "green")]
LIMIT = 2500


def norm(pos):
    return "a" if pos == "s" else pos


def parse(src):
    synsets = {}
    for pos, name in FILES.items():
        for line in open(os.path.join(src, name), encoding="latin-1"):
            if line.startswith("  "):
                continue
            head, _, gloss = line.rstrip("\n").partition(" | ")
            f = head.split()
            words = [f[4 + 2 * i] for i in range(int(f[3], 16))]
            i = 4 + 2 * len(words)
            ptrs = []
            for _ in range(int(f[i])):
                ptrs.append(f[i + 1:i + 5])
                i += 4
            synsets[(pos, f[0])] = (f, words, ptrs, i + 1, gloss)
    return synsets


def main():
    src = sys.argv[1]
    synsets = parse(src)
    counts = collections.Counter(p[0] for s in synsets.values() for p in s[2])
    print("# pointer counts in the full data:", dict(counts.most_common()))
    keep, queue = set(), collections.deque()
    for pos, word in SEEDS:
        for key, (_, words, _, _, _) in synsets.items():
            if key[0] == pos and word in words:
                queue.append(key)
                break
    while queue and len(keep) < LIMIT:
        key = queue.popleft()
        if key in keep:
            continue
        keep.add(key)
        for sym, off, tpos, _ in synsets[key][2]:
            queue.append((norm(tpos), off))
    out = "fixtures/wordnet"
    for pos, name in FILES.items():
        with open(os.path.join(out, name), "w", encoding="latin-1") as f:
            for key in sorted(k for k in keep if k[0] == pos):
                fields, words, ptrs, rest_at, gloss = synsets[key]
                kept = [p for p in ptrs if (norm(p[2]), p[1]) in keep]
                head = fields[:4 + 2 * len(words)] + ["%03d" % len(kept)] + [x for p in kept for x in p] + fields[rest_at:]
                f.write(" ".join(head) + " | " + gloss + "\n")
    print(len(keep), "synsets kept")


if __name__ == "__main__":
    main()
