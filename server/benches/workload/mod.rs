//! The benches' signed workload: links between particles drawn from a pool of 100,000 (seeded,
//! so particles repeat as in a real graph), made by a few neurons, signed before any clock
//! starts.

use engine::{NeuronKey, Particle, SignedTx, Transaction};

const PARTICLE_POOL: u64 = 100_000;

pub(crate) struct Workload {
    chain_id: String,
    pub(crate) keys: Vec<NeuronKey>,
    pool: Vec<Particle>,
    rng: u64,
}

impl Workload {
    /// `neurons` neurons signing for chain `chain_id`.
    pub(crate) fn new(chain_id: &str, neurons: usize) -> Self {
        Workload {
            chain_id: chain_id.to_owned(),
            keys: (0..neurons).map(|i| NeuronKey::from_secret([i as u8 + 1; 32])).collect(),
            pool: (0..PARTICLE_POOL).map(|i| Particle::of_content(format!("particle {i}").as_bytes())).collect(),
            rng: 0x2545_f491_4f6c_dd1d,
        }
    }

    fn pick(&mut self) -> Particle {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        self.pool[(self.rng % PARTICLE_POOL) as usize]
    }

    /// Per neuron, `txs_per_neuron` transactions of `per_tx` links each, in nonce order.
    pub(crate) fn sign(&mut self, txs_per_neuron: usize, per_tx: usize) -> Vec<Vec<SignedTx>> {
        let mut lanes: Vec<Vec<SignedTx>> = (0..self.keys.len()).map(|_| Vec::with_capacity(txs_per_neuron)).collect();
        for (neuron, lane) in lanes.iter_mut().enumerate() {
            for nonce in 1..=txs_per_neuron as u64 {
                let pairs: Vec<_> = (0..per_tx)
                    .map(|_| {
                        loop {
                            let (a, b) = (self.pick(), self.pick());
                            if a != b {
                                break (a, b);
                            }
                        }
                    })
                    .collect();
                let key = &self.keys[neuron];
                lane.push(Transaction::new(&self.chain_id, key, nonce, &pairs).sign(key));
            }
        }
        lanes
    }
}
