#!/usr/bin/env python3
"""An independent re-implementation of the Sprint function (spec/sprint.md §2–3 with the residual
decay of sprint/src/model.rs), written from the spec in plain Python floats (f64), with
its own ChaCha20 — no code shared with the Rust engine.

It checks the engine's golden vectors: the Rust reference computes in f32, so the two agree to
about 1e-5, not bit for bit; the bits are pinned by the Rust test.

    scripts/sprint_reference.py --profile tiny --seed-material golden --key-byte 9 --nonce 42
"""
import argparse
import hashlib
import math
import struct

PROFILES = {
    # name: (width, layers, heads, vocab, hidden, seq, hit_odds, radius)
    "tiny": (64, 2, 4, 256, 192, 4, 16, 1.3447062623323844),
    "small": (128, 4, 8, 1024, 512, 4, 50, 1.36807919839661),
}
RESIDUAL_DECAY = 0.125


def sha256(*parts):
    return hashlib.sha256(b"".join(parts)).digest()


def rotl(v, n):
    return ((v << n) | (v >> (32 - n))) & 0xFFFFFFFF


def chacha20_block(key_words, counter):
    """DJB ChaCha20: 64-bit block counter in words 12–13, 64-bit stream id 0 in words 14–15."""
    state = [0x61707865, 0x3320646E, 0x79622D32, 0x6B206574, *key_words,
             counter & 0xFFFFFFFF, counter >> 32, 0, 0]
    x = list(state)

    def quarter(a, b, c, d):
        x[a] = (x[a] + x[b]) & 0xFFFFFFFF; x[d] = rotl(x[d] ^ x[a], 16)
        x[c] = (x[c] + x[d]) & 0xFFFFFFFF; x[b] = rotl(x[b] ^ x[c], 12)
        x[a] = (x[a] + x[b]) & 0xFFFFFFFF; x[d] = rotl(x[d] ^ x[a], 8)
        x[c] = (x[c] + x[d]) & 0xFFFFFFFF; x[b] = rotl(x[b] ^ x[c], 7)

    for _ in range(10):
        quarter(0, 4, 8, 12); quarter(1, 5, 9, 13); quarter(2, 6, 10, 14); quarter(3, 7, 11, 15)
        quarter(0, 5, 10, 15); quarter(1, 6, 11, 12); quarter(2, 7, 8, 13); quarter(3, 4, 9, 14)
    return [(a + b) & 0xFFFFFFFF for a, b in zip(x, state)]


class Stream:
    def __init__(self, seed):
        self.key = list(struct.unpack("<8I", seed))
        self.counter = 0
        self.words = []
        self.spare = None

    def u32(self):
        if not self.words:
            self.words = chacha20_block(self.key, self.counter)
            self.counter += 1
        return self.words.pop(0)

    def uniform(self):
        return (self.u32() >> 8) * 2.0 ** -24

    def normal(self):
        if self.spare is not None:
            z, self.spare = self.spare, None
            return z
        u1 = max(self.uniform(), 1e-10)
        u2 = self.uniform()
        radius = math.sqrt(-2.0 * math.log(u1))
        self.spare = radius * math.sin(2.0 * math.pi * u2)
        return radius * math.cos(2.0 * math.pi * u2)

    def below(self, n):
        zone = (1 << 32) // n * n
        while True:
            draw = self.u32()
            if draw < zone:
                return draw % n

    def permutation(self, n):
        items = list(range(n))
        for i in range(n - 1, 0, -1):
            j = self.below(i + 1)
            items[i], items[j] = items[j], items[i]
        return items


def matrix(sprint, name, rows, cols):
    stream = Stream(sha256(b"w/v1", sprint, name.encode()))
    std = math.sqrt(1.0 / rows)
    return [[stream.normal() * std for _ in range(cols)] for _ in range(rows)]


def times(x, w):
    return [sum(x[i] * w[i][j] for i in range(len(x))) for j in range(len(w[0]))]


def rms_norm(x):
    scale = 1.0 / math.sqrt(sum(v * v for v in x) / len(x) + 1e-6)
    return [v * scale for v in x]


def rope(v, position):
    out = list(v)
    for i in range(len(v) // 2):
        theta = position * 10000.0 ** (-2.0 * i / len(v))
        a, b = v[2 * i], v[2 * i + 1]
        out[2 * i] = a * math.cos(theta) - b * math.sin(theta)
        out[2 * i + 1] = a * math.sin(theta) + b * math.cos(theta)
    return out


def forward(profile, seed_material, public_key, nonce):
    d, layers, heads, vocab, hidden, seq, _, radius = PROFILES[profile]
    sprint = sha256(b"sprint/v1", seed_material)
    node = sha256(b"node/v1", public_key)
    input_seed = sha256(b"input/v1", sprint, node, struct.pack("<Q", nonce))
    stream = Stream(input_seed)
    x = [[stream.normal() for _ in range(d)] for _ in range(seq)]
    size = d // heads
    for layer in range(layers):
        w = {name: matrix(sprint, f"layer{layer}.{name}", rows, cols)
             for name, rows, cols in [("wq", d, d), ("wk", d, d), ("wv", d, d), ("wo", d, d),
                                      ("w1", d, hidden), ("w3", d, hidden), ("w2", hidden, d)]}
        normed = [rms_norm(row) for row in x]
        heads_of = lambda rows, rotate: [
            [rope(v[h * size:(h + 1) * size], t) if rotate else v[h * size:(h + 1) * size]
             for h in range(heads)] for t, v in enumerate(rows)]
        q = heads_of([times(r, w["wq"]) for r in normed], True)
        k = heads_of([times(r, w["wk"]) for r in normed], True)
        v = heads_of([times(r, w["wv"]) for r in normed], False)
        for t in range(seq):
            attended = []
            for h in range(heads):
                scores = [sum(a * b for a, b in zip(q[t][h], k[s][h])) / math.sqrt(size) for s in range(t + 1)]
                top = max(scores)
                weights = [math.exp(s - top) for s in scores]
                total = sum(weights)
                attended += [sum(weights[s] / total * v[s][h][i] for s in range(t + 1)) for i in range(size)]
            x[t] = [a * RESIDUAL_DECAY + b for a, b in zip(x[t], times(attended, w["wo"]))]
        for t in range(seq):
            h = rms_norm(x[t])
            gate, up = times(h, w["w1"]), times(h, w["w3"])
            mixed = [g / (1.0 + math.exp(-g)) * u for g, u in zip(gate, up)]
            x[t] = [a * RESIDUAL_DECAY + b for a, b in zip(x[t], times(mixed, w["w2"]))]
    logits = times(rms_norm(x[seq - 1]), matrix(sprint, "output", d, vocab))
    perm = Stream(sha256(b"perm/v1", input_seed)).permutation(vocab)
    z = [logits[i] for i in perm]
    norm = math.sqrt(sum(v * v for v in z))
    target_stream = Stream(sha256(b"target/v1", sprint))
    target = [target_stream.normal() for _ in range(vocab)]
    target_norm = math.sqrt(sum(v * v for v in target))
    distance = math.sqrt(sum((a / norm - b / target_norm) ** 2 for a, b in zip(z, target)))
    return logits, distance, distance < radius


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="tiny", choices=PROFILES)
    parser.add_argument("--seed-material", default="golden")
    parser.add_argument("--key-byte", type=int, default=9, help="the public key is 32 copies of it")
    parser.add_argument("--nonce", type=int, default=42)
    args = parser.parse_args()
    logits, distance, hit = forward(args.profile, args.seed_material.encode(), bytes([args.key_byte] * 32), args.nonce)
    print("first 8 logits:", " ".join(f"{v:.6f}" for v in logits[:8]))
    print(f"distance: {distance:.6f}  hit: {hit}")


if __name__ == "__main__":
    main()
