//! Random streams: ChaCha20 keyed by a 32-byte seed, with the mappings of spec/sprint.md §2
//! written out here so that no library's distribution code (which may change between versions)
//! decides a proof.

use rand_chacha::{
    ChaCha20Rng,
    rand_core::{RngCore, SeedableRng},
};

use crate::Seed;

/// A deterministic stream of `u32`, uniform `f32`, normal `f32` and permutations.
pub struct Stream {
    chacha: ChaCha20Rng,
    spare_normal: Option<f32>,
}

/// `2^-24`: the spacing of the uniform floats.
const UNIT: f32 = 1.0 / (1u32 << 24) as f32;

impl Stream {
    /// The stream of a seed.
    pub fn new(seed: &Seed) -> Self {
        Stream { chacha: ChaCha20Rng::from_seed(*seed), spare_normal: None }
    }

    /// The next 32 bits of the ChaCha20 keystream (little-endian words).
    pub fn next_u32(&mut self) -> u32 {
        self.chacha.next_u32()
    }

    /// Uniform in `[0, 1)`: the top 24 bits, exactly representable in `f32`.
    pub fn uniform(&mut self) -> f32 {
        (self.next_u32() >> 8) as f32 * UNIT
    }

    /// Standard normal by Box–Muller (`u1` clamped to ≥ 1e-10), both values of each pair used.
    pub fn normal(&mut self) -> f32 {
        if let Some(z) = self.spare_normal.take() {
            return z;
        }
        let u1 = self.uniform().max(1e-10);
        let u2 = self.uniform();
        let radius = (-2.0 * u1.ln()).sqrt();
        let angle = 2.0 * std::f32::consts::PI * u2;
        self.spare_normal = Some(radius * angle.sin());
        radius * angle.cos()
    }

    /// Uniform in `0..n` without bias: draws above the largest multiple of `n` are rejected.
    pub fn below(&mut self, n: u32) -> u32 {
        assert!(n > 0);
        // The largest multiple of n that fits in 2^32 draws: above it, `% n` would favour small values.
        let zone = (1u64 << 32) / u64::from(n) * u64::from(n);
        loop {
            let draw = u64::from(self.next_u32());
            if draw < zone {
                return (draw % u64::from(n)) as u32;
            }
        }
    }

    /// A uniform permutation of `0..n` by Fisher–Yates (from the last position down).
    pub fn permutation(&mut self, n: usize) -> Vec<u32> {
        let mut items: Vec<u32> = (0..n as u32).collect();
        for i in (1..n).rev() {
            let j = self.below(i as u32 + 1) as usize;
            items.swap(i, j);
        }
        items
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stream_is_chacha20_and_the_mappings_are_pinned() {
        // RFC 8439 §2.3.2 block function test vector words are for the IETF variant; rand_chacha
        // is the original 64-bit-counter ChaCha20 with nonce 0, whose keystream for the all-zero
        // key starts with 0xade0b876 (the well-known first word of ChaCha20(0, 0)).
        let mut zero = Stream::new(&[0; 32]);
        assert_eq!(zero.next_u32(), u32::from_le_bytes([0x76, 0xb8, 0xe0, 0xad]));
        let mut s = Stream::new(&[7; 32]);
        let first = s.next_u32();
        let mut again = Stream::new(&[7; 32]);
        assert_eq!(again.next_u32(), first);
        assert_eq!(again.uniform(), (s.next_u32() >> 8) as f32 / 16_777_216.0);
    }

    #[test]
    fn uniforms_normals_and_permutations_are_well_formed() {
        let mut s = Stream::new(&[1; 32]);
        let n = 20_000;
        let normals: Vec<f32> = (0..n).map(|_| s.normal()).collect();
        let mean = normals.iter().sum::<f32>() / n as f32;
        let var = normals.iter().map(|z| (z - mean) * (z - mean)).sum::<f32>() / n as f32;
        assert!(mean.abs() < 0.03 && (var - 1.0).abs() < 0.05, "{mean} {var}");
        let uniforms: Vec<f32> = (0..n).map(|_| s.uniform()).collect();
        assert!(uniforms.iter().all(|u| (0.0..1.0).contains(u)));
        let mut perm = s.permutation(1000);
        assert_ne!(perm, (0..1000).collect::<Vec<_>>());
        perm.sort_unstable();
        assert_eq!(perm, (0..1000).collect::<Vec<_>>());
        let mut counts = [0u32; 3];
        (0..30_000).for_each(|_| counts[s.below(3) as usize] += 1);
        assert!(counts.iter().all(|&c| (9_500..10_500).contains(&c)), "{counts:?}");
    }
}
