//! Seeded synthetic graphs for benchmarks and tests, the same on every machine.

/// Marsaglia's xorshift64: a fast seeded generator (not for anything an adversary chooses).
#[derive(Clone, Debug)]
pub struct XorShift(pub u64);

impl XorShift {
    /// A uniform value in `[0, 1)` with 53 random bits.
    pub fn unit(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// R-MAT edges over `2^scale` particles, unit weights: each edge picks a quadrant per bit level
/// with probabilities a, b, c, d = 0.57, 0.19, 0.19, 0.05 (Graph500's), which gives a power-law
/// graph with hubs. `seed` must not be 0.
pub fn rmat(scale: u32, edges: usize, seed: u64) -> Vec<(u32, u32, f64)> {
    let (a, b, c) = (0.57, 0.19, 0.19);
    let mut rng = XorShift(seed);
    (0..edges)
        .map(|_| {
            let (mut from, mut to) = (0u32, 0u32);
            for _ in 0..scale {
                let r = rng.unit();
                let (bit_from, bit_to) = if r < a {
                    (0, 0)
                } else if r < a + b {
                    (0, 1)
                } else if r < a + b + c {
                    (1, 0)
                } else {
                    (1, 1)
                };
                from = from << 1 | bit_from;
                to = to << 1 | bit_to;
            }
            (from, to, 1.0)
        })
        .collect()
}
