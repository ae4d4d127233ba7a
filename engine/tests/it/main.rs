//! Engine integration tests: a real node over a real RocksDB directory.

mod decode;
mod focus;
mod rules;
mod store;
mod uniqueness;
mod validators;
mod weights;

use engine::{Genesis, NeuronKey, Node, NodeConfig, Particle, SignedTx, Transaction};
use tempfile::TempDir;

/// A fresh chain whose neurons `keys[i]` have stake 1000, plus its directory.
pub(crate) struct Chain {
    pub(crate) dir: TempDir,
    pub(crate) node: Option<Node>,
    pub(crate) keys: Vec<NeuronKey>,
}

impl Chain {
    pub(crate) fn new(neurons: usize) -> Self {
        Self::with_genesis(neurons, |_| {})
    }

    pub(crate) fn with_genesis(neurons: usize, edit: impl FnOnce(&mut Genesis)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let keys: Vec<_> = (0..neurons).map(|i| NeuronKey::from_secret([i as u8 + 1; 32])).collect();
        let addresses: Vec<_> = keys.iter().map(NeuronKey::address).collect();
        let mut genesis = Genesis::development(&addresses, 1_000);
        genesis.chain_id = "it".into();
        edit(&mut genesis);
        Node::init(dir.path(), &genesis).unwrap();
        let node = Some(Node::open(dir.path(), NodeConfig::default()).unwrap());
        Chain { dir, node, keys }
    }

    pub(crate) fn node(&self) -> &Node {
        self.node.as_ref().unwrap()
    }

    /// Closes and reopens the node over the same directory.
    pub(crate) fn restart(&mut self) {
        self.node = None;
        self.node = Some(Node::open(self.dir.path(), NodeConfig::default()).unwrap());
    }

    pub(crate) fn tx(&self, neuron: usize, nonce: u64, links: &[(u32, u32)]) -> SignedTx {
        let links: Vec<_> = links.iter().map(|&(a, b)| (particle(a), particle(b))).collect();
        Transaction::new("it", &self.keys[neuron], nonce, &links).sign(&self.keys[neuron])
    }

    /// Everything an outside observer can see of the store, to assert "unchanged".
    pub(crate) fn fingerprint(&self) -> String {
        let node = self.node();
        let status = node.query().status();
        let mempool = node.query().store().mempool().unwrap();
        format!("{status:?} {:?}", mempool.iter().map(|(seq, tx)| (*seq, tx.bytes.len())).collect::<Vec<_>>())
    }
}

/// A deterministic particle per number.
pub(crate) fn particle(n: u32) -> Particle {
    Particle::of_content(format!("particle {n}").as_bytes())
}
