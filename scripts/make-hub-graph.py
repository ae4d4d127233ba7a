#!/usr/bin/env python3
"""A synthetic graph of Bostrom's shape for `cybergraph import jsonl`: 3.1M particles, 2.7M links,
with hubs of 10^5 in-links each (where a push from a hub gets expensive).

- HUBS hubs; 2.0M leaves, each linking to one hub (100,000 in-links per hub with 20 hubs);
- 0.7M links from fresh particles into a core of 1.1M, targets skewed toward low indices
  (index = n·u³), so the core has its own smaller hubs.

Prints the particle and link counts.

Particles are CIDs (v1, raw, sha2-256 of "hub-graph/<kind>/<i>"), so the import stores no
content. Links alternate between two of the fixture genesis's WordNet neurons, whose stakes let a
block carry the importer's 50,000 links. Seeded: the same file every run. Writes OUT (JSON lines)
and OUT.hubs (the hubs' CIDs, one per line).

Usage: scripts/make-hub-graph.py OUT
"""
import base64, hashlib, json, random, sys

HUBS, LEAVES, CORE, CORE_LINKS = 20, 2_000_000, 1_100_000, 700_000


def cid(kind, i):
    digest = hashlib.sha256(f"hub-graph/{kind}/{i}".encode()).digest()
    raw = bytes([0x01, 0x55, 0x12, 0x20]) + digest
    return "b" + base64.b32encode(raw).decode().lower().rstrip("=")


def main(out):
    rng = random.Random(20261124)
    neurons = ("wordnet/hypernym", "wordnet/hyponym")
    with open(out, "w") as f:
        for i in range(LEAVES):
            link = {"from_cid": cid("leaf", i), "to_cid": cid("hub", i % HUBS), "neuron": neurons[i % 2]}
            f.write(json.dumps(link) + "\n")
        targets = set()
        for i in range(CORE_LINKS):
            target = int(CORE * rng.random() ** 3)
            targets.add(target)
            link = {"from_cid": cid("source", i), "to_cid": cid("core", target), "neuron": neurons[i % 2]}
            f.write(json.dumps(link) + "\n")
    with open(out + ".hubs", "w") as f:
        f.write("\n".join(cid("hub", h) for h in range(HUBS)) + "\n")
    particles = HUBS + LEAVES + CORE_LINKS + len(targets)
    print(f"{particles} particles, {LEAVES + CORE_LINKS} links, {HUBS} hubs of {LEAVES // HUBS} in-links")


if __name__ == "__main__":
    main(sys.argv[1])
