//! The store's side of a block: `RocksStore::commit_block` (every index a block's links touch,
//! one synced batch), timed per block of 800, 2,400 and 9,600 links.
//!
//! Data: links between random particles, about one new particle per link and eight neurons, as
//! the testnet bench's workload makes them; the store first takes `STORE_COMMIT_PRELOAD` links
//! (default 100,000, a catch-up's graph) so that each block lands in memtables and files that
//! already hold a graph. Every size commits `STORE_COMMIT_BLOCKS` blocks (default 15), in turn,
//! and reports the median milliseconds per block and microseconds per link.
//!
//! Run: `cargo bench -p engine --bench store_commit`.

use std::time::Instant;

use engine::{
    BlockHeader, Particle,
    ids::{Height, LinkIdx, NeuronIdx, ParticleIdx},
    particle::dag_cbor_cid,
    records::{BlockDiff, LinkRecord},
    store::{RocksStore, StoreWriter},
};

const NEURONS: u32 = 8;
const LINKS_PER_TX: usize = 100;
const SIZES: [usize; 3] = [800, 2_400, 9_600];

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// splitmix64: seeded, so every run commits the same blocks.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }
}

/// Makes the chain's next blocks: each link joins a random known particle to a new one or, one
/// time in two, to another known one.
struct Chain {
    random: Random,
    height: u64,
    particles: u32,
    links: u64,
}

impl Chain {
    fn block(&mut self, links: usize) -> BlockDiff {
        self.height += 1;
        let first_particle = ParticleIdx(self.particles);
        let first_link = LinkIdx(self.links);
        let mut new_particles = Vec::new();
        let mut records = Vec::with_capacity(links);
        for i in 0..links {
            let known = |random: &mut Random, particles: u32| ParticleIdx(random.below(particles.max(1) as u64) as u32);
            let from = known(&mut self.random, self.particles);
            let to = if self.particles < 2 || self.random.below(2) == 0 {
                let idx = ParticleIdx(self.particles);
                new_particles.push((idx, Particle::of_content(&self.random.next().to_le_bytes())));
                self.particles += 1;
                idx
            } else {
                known(&mut self.random, self.particles)
            };
            let tx_index = (i / LINKS_PER_TX) as u32;
            records.push(LinkRecord {
                from,
                to,
                neuron: NeuronIdx(tx_index % NEURONS),
                height: Height(self.height),
                tx_index,
            });
        }
        self.links += links as u64;
        BlockDiff {
            header: BlockHeader {
                height: self.height,
                time: self.height * 1_000,
                parent: dag_cbor_cid(&self.height.to_be_bytes()),
                txs_root: [0; 32],
                graph_root: [0; 32],
                focus_root: [0; 32],
                model: None,
                sprint: None,
            },
            first_particle,
            new_particles,
            new_neurons: Vec::new(),
            neurons: Vec::new(),
            first_link,
            links: records,
            txs: Vec::new(),
            mempool_done: Vec::new(),
            sprint: None,
        }
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn main() {
    let preload = env_or("STORE_COMMIT_PRELOAD", 100_000);
    let blocks = env_or("STORE_COMMIT_BLOCKS", 15);
    let dir = tempfile::tempdir().unwrap();
    let store = RocksStore::open(dir.path()).unwrap();
    let mut chain = Chain { random: Random(7), height: 0, particles: 0, links: 0 };
    while (chain.links as usize) < preload {
        store.commit_block(&chain.block(10_000), None).unwrap();
    }
    println!("store commit bench: {} links preloaded, {blocks} blocks per size, in turn", chain.links);
    let mut millis = vec![Vec::new(); SIZES.len()];
    for _ in 0..blocks {
        for (size, times) in SIZES.iter().zip(&mut millis) {
            let block = chain.block(*size);
            let start = Instant::now();
            store.commit_block(&block, None).unwrap();
            times.push(start.elapsed().as_secs_f64() * 1e3);
        }
    }
    for (size, times) in SIZES.iter().zip(millis) {
        let ms = median(times);
        println!("{size:>6} links/block  {ms:8.2} ms/block (median)  {:6.2} µs/link", ms * 1e3 / *size as f64);
    }
}
