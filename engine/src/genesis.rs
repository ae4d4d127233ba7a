//! Genesis: the chain id, the consensus parameters and the initial neuron stakes.

use std::{collections::HashSet, path::Path};

use ipld_core::cid::Cid;
use serde::{Deserialize, Serialize};

use crate::{
    error::{EngineError, Result},
    neuron::Address,
    particle::dag_cbor_cid,
    tx::{SIGNATURE_BYTES, TxLimits},
    voting::SprintParams,
};

/// Consensus parameters fixed at genesis.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ChainParams {
    /// A neuron's quota is `stake × links_per_block_per_stake` links per block.
    pub links_per_block_per_stake: u64,
    /// Largest transaction encoding in bytes.
    pub max_tx_bytes: usize,
    /// Most links per transaction.
    pub max_links_per_tx: usize,
    /// Most bytes of signed transactions (each one's encoding and signature) in one block: what
    /// bounds a block on the wire and in a peer's memory. Left out of the encoding at its
    /// default, so a chain made before it keeps its genesis CID.
    #[serde(skip_serializing_if = "ChainParams::is_default_block_size")]
    pub max_block_tx_bytes: usize,
    /// The focus parameters (spec/focus.md; consensus: every node must use the same).
    pub focus: kernels::FocusParams,
}

impl Default for ChainParams {
    fn default() -> Self {
        let limits = TxLimits::default();
        ChainParams {
            links_per_block_per_stake: 1000,
            max_tx_bytes: limits.max_tx_bytes,
            max_links_per_tx: limits.max_links_per_tx,
            max_block_tx_bytes: ChainParams::DEFAULT_MAX_BLOCK_TX_BYTES,
            focus: kernels::FocusParams::default(),
        }
    }
}

impl ChainParams {
    /// 4 MiB of transactions: a block, with its CBOR framing and a commit certificate, stays
    /// well under the 10 MiB a peer's sync answer may carry.
    pub const DEFAULT_MAX_BLOCK_TX_BYTES: usize = 4 << 20;

    fn is_default_block_size(bytes: &usize) -> bool {
        *bytes == Self::DEFAULT_MAX_BLOCK_TX_BYTES
    }

    /// The transaction size limits.
    pub fn tx_limits(&self) -> TxLimits {
        TxLimits { max_tx_bytes: self.max_tx_bytes, max_links_per_tx: self.max_links_per_tx }
    }

    /// Links per block a neuron of `stake` may add.
    pub fn link_quota(&self, stake: u64) -> u64 {
        u64::try_from(u128::from(stake) * u128::from(self.links_per_block_per_stake)).unwrap_or(u64::MAX)
    }
}

/// A neuron's allocation at genesis.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenesisNeuron {
    /// The neuron.
    pub address: Address,
    /// Its stake, in the chain's unit.
    pub stake: u64,
}

/// A validator of a chain that several nodes run, with its voting power until Sprint's
/// weights take over.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenesisValidator {
    /// Its ed25519 public key (it signs votes and proposals with it).
    pub address: Address,
    /// Its voting power (≥ 1).
    pub power: u64,
}

/// The genesis document, read from TOML or JSON.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Genesis {
    /// The chain's name; every transaction signs it.
    pub chain_id: String,
    /// Unix time of the genesis block in milliseconds.
    #[serde(default)]
    pub genesis_time: u64,
    /// Stake of a neuron not listed in `neurons` (0 on a production chain: such a neuron may
    /// not link; a development chain sets 1 so that any fresh key can post).
    #[serde(default)]
    pub default_stake: u64,
    /// Consensus parameters.
    #[serde(default)]
    pub params: ChainParams,
    /// Initial stakes.
    #[serde(default)]
    pub neurons: Vec<GenesisNeuron>,
    /// The initial validators when several nodes run the chain through consensus; none for a
    /// chain one node produces. (Left out of the encoding when empty, so a single-node chain's
    /// genesis CID does not depend on it.)
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub validators: Vec<GenesisValidator>,
    /// Sprint on chain: its proofs set the validators' powers from the first Sprint on (see
    /// `voting.rs`). None keeps the genesis validators for good. (Left out when absent.)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sprint: Option<SprintParams>,
}

impl Genesis {
    /// A development chain: the given neurons get stake 1000, any other neuron stake 1.
    pub fn development(neurons: &[Address], genesis_time: u64) -> Self {
        Genesis {
            chain_id: "cybergraph-dev".into(),
            genesis_time,
            default_stake: 1,
            params: ChainParams::default(),
            neurons: neurons.iter().map(|&address| GenesisNeuron { address, stake: 1000 }).collect(),
            validators: Vec::new(),
            sprint: None,
        }
    }

    /// Reads a genesis file: JSON if the name ends in `.json`, TOML otherwise.
    pub fn read(path: &Path) -> Result<Self> {
        let fail = |e: String| EngineError::Genesis(format!("{}: {e}", path.display()));
        let text = std::fs::read_to_string(path).map_err(|e| fail(e.to_string()))?;
        let genesis: Genesis = if path.extension().is_some_and(|e| e == "json") {
            serde_json::from_str(&text).map_err(|e| fail(e.to_string()))?
        } else {
            toml::from_str(&text).map_err(|e| fail(e.to_string()))?
        };
        genesis.validate().map_err(|e| fail(e.to_string()))?;
        Ok(genesis)
    }

    /// Checks the document's own consistency.
    pub fn validate(&self) -> Result<()> {
        let fail = |m: String| Err(EngineError::Genesis(m));
        let id = &self.chain_id;
        if id.is_empty() || id.len() > 64 || !id.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) {
            return fail(format!("chain_id {id:?} must be 1-64 characters of [A-Za-z0-9-_.]"));
        }
        let p = &self.params;
        if p.max_tx_bytes < 256 || p.max_links_per_tx == 0 || p.links_per_block_per_stake == 0 {
            return fail("params: max_tx_bytes >= 256, max_links_per_tx >= 1, links_per_block_per_stake >= 1".into());
        }
        if p.max_block_tx_bytes < p.max_tx_bytes + SIGNATURE_BYTES {
            return fail(format!(
                "params: max_block_tx_bytes {} must hold one transaction of max_tx_bytes {} and its signature",
                p.max_block_tx_bytes, p.max_tx_bytes
            ));
        }
        p.focus.validate().map_err(|e| EngineError::Genesis(e.to_string()))?;
        let mut seen = HashSet::new();
        for n in &self.neurons {
            if !seen.insert(n.address) {
                return fail(format!("neuron {} is listed twice", n.address));
            }
        }
        let mut validators = HashSet::new();
        let mut total = 0u64;
        for v in &self.validators {
            if !validators.insert(v.address) {
                return fail(format!("validator {} is listed twice", v.address));
            }
            if v.power == 0 {
                return fail(format!("validator {} has power 0", v.address));
            }
            total = total.saturating_add(v.power);
        }
        // Consensus sums powers and compares 3 × a sum with 2 × the total.
        if total.checked_mul(3).is_none() {
            return fail(format!("validator powers sum to {total}: 3 × the total must fit in 64 bits"));
        }
        if let Some(sprint) = &self.sprint {
            sprint.validate()?;
            if self.validators.is_empty() {
                return fail("sprint: Sprint on chain needs genesis validators to commit its first seed".into());
            }
        }
        Ok(())
    }

    /// Canonical DAG-CBOR of the document.
    pub fn encode(&self) -> Vec<u8> {
        serde_ipld_dagcbor::to_vec(self).expect("genesis always encodes")
    }

    /// The document's CID: the parent of block 0.
    pub fn cid(&self) -> Cid {
        dag_cbor_cid(&self.encode())
    }

    /// The genesis validators sorted by address (the order consensus and the Sprint ledger
    /// keep; the document keeps its own).
    pub fn sorted_validators(&self) -> Vec<GenesisValidator> {
        let mut validators = self.validators.clone();
        validators.sort_unstable_by_key(|v| v.address);
        validators
    }

    /// The stake of a neuron at genesis.
    pub fn stake_of(&self, address: &Address) -> u64 {
        self.neurons.iter().find(|n| n.address == *address).map_or(self.default_stake, |n| n.stake)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::neuron::NeuronKey;

    #[test]
    fn reads_toml_and_json_alike() {
        let dir = tempfile::tempdir().unwrap();
        let a = NeuronKey::from_secret([1; 32]).address();
        let toml_path = dir.path().join("g.toml");
        std::fs::write(
            &toml_path,
            format!("chain_id = \"c-1\"\n[params]\nlinks_per_block_per_stake = 5\n[[neurons]]\naddress = \"{a}\"\nstake = 7\n"),
        )
        .unwrap();
        let g = Genesis::read(&toml_path).unwrap();
        assert_eq!(g.stake_of(&a), 7);
        assert_eq!(g.params.link_quota(7), 35);
        let json_path = dir.path().join("g.json");
        std::fs::write(&json_path, serde_json::to_string(&g).unwrap()).unwrap();
        assert_eq!(Genesis::read(&json_path).unwrap(), g);
    }

    const PINNED_DEVELOPMENT_CID: &str = "bafyreiea66unbsb7rhmxumqkmsdiodi7ojosq5vjduuscpalf4h3uezury";

    #[test]
    fn a_genesis_without_validators_or_a_block_budget_keeps_its_cid() {
        let a = NeuronKey::from_secret([1; 32]).address();
        let single = Genesis::development(&[a], 7);
        // Pinned before validators existed: a single-node chain's block 0 parent must not move.
        assert_eq!(single.cid().to_string(), PINNED_DEVELOPMENT_CID);
        let with = Genesis { validators: vec![GenesisValidator { address: a, power: 3 }], ..single.clone() };
        assert_ne!(with.cid(), single.cid());
        with.validate().unwrap();
        let mut smaller_blocks = single.clone();
        smaller_blocks.params.max_block_tx_bytes /= 2;
        assert_ne!(smaller_blocks.cid(), single.cid(), "a block budget other than the default is part of the chain");
    }

    #[test]
    fn rejects_bad_documents() {
        let dir = tempfile::tempdir().unwrap();
        let a = NeuronKey::from_secret([1; 32]).address();
        for (text, why) in [
            ("chain_id = \"\"".to_string(), "chain_id"),
            ("chain_id = \"a b\"".to_string(), "chain_id"),
            ("chain_id = \"c\"\nbogus = 1".to_string(), "unknown field"),
            (
                format!(
                    "chain_id = \"c\"\n[[neurons]]\naddress = \"{a}\"\nstake = 1\n[[neurons]]\naddress = \"{a}\"\nstake = 2"
                ),
                "twice",
            ),
            ("chain_id = \"c\"\n[[neurons]]\naddress = \"neuron1xyz\"\nstake = 1".to_string(), "address"),
            (format!("chain_id = \"c\"\n[[validators]]\naddress = \"{a}\"\npower = 0"), "power 0"),
            (
                format!(
                    "chain_id = \"c\"\n[[validators]]\naddress = \"{a}\"\npower = 1\n[[validators]]\naddress = \"{a}\"\npower = 2"
                ),
                "validator",
            ),
            (format!("chain_id = \"c\"\n[[validators]]\naddress = \"{a}\"\npower = {}", u64::MAX / 2), "64 bits"),
            ("chain_id = \"c\"\n[params]\nmax_tx_bytes = 4096\nmax_block_tx_bytes = 4100".to_string(), "hold one"),
        ] {
            let path = dir.path().join("bad.toml");
            std::fs::write(&path, &text).unwrap();
            let err = Genesis::read(&path).unwrap_err().to_string();
            assert!(err.contains(why), "{text:?}: {err}");
        }
    }
}
