//! Fixed binary layouts of the records in RocksDB values.

use super::tables::be;
use crate::{
    block::BlockHeader,
    error::{EngineError, Result},
    ids::{Height, LinkIdx, NeuronIdx, ParticleIdx},
    records::{BlockRecord, FocusSummary, LinkRecord, NeuronRecord, TxRecord},
};

fn short(what: &str) -> EngineError {
    EngineError::Corruption(format!("{what} record is truncated"))
}

fn u32_at(bytes: &[u8], at: usize, what: &str) -> Result<u32> {
    be(bytes, at).map(u32::from_be_bytes).ok_or_else(|| short(what))
}

fn u64_at(bytes: &[u8], at: usize, what: &str) -> Result<u64> {
    be(bytes, at).map(u64::from_be_bytes).ok_or_else(|| short(what))
}

impl NeuronRecord {
    pub(crate) fn encode(&self) -> [u8; 28] {
        let mut out = [0; 28];
        out[..4].copy_from_slice(&self.idx.to_be_bytes());
        out[4..12].copy_from_slice(&self.nonce.to_be_bytes());
        out[12..20].copy_from_slice(&self.stake.to_be_bytes());
        out[20..].copy_from_slice(&self.links.to_be_bytes());
        out
    }

    pub(crate) fn decode(bytes: &[u8]) -> Result<Self> {
        Ok(NeuronRecord {
            idx: NeuronIdx(u32_at(bytes, 0, "neuron")?),
            nonce: u64_at(bytes, 4, "neuron")?,
            stake: u64_at(bytes, 12, "neuron")?,
            links: u64_at(bytes, 20, "neuron")?,
        })
    }
}

impl LinkRecord {
    pub(crate) fn encode(&self) -> [u8; 24] {
        let mut out = [0; 24];
        out[..4].copy_from_slice(&self.from.to_be_bytes());
        out[4..8].copy_from_slice(&self.to.to_be_bytes());
        out[8..12].copy_from_slice(&self.neuron.to_be_bytes());
        out[12..20].copy_from_slice(&self.height.to_be_bytes());
        out[20..].copy_from_slice(&self.tx_index.to_be_bytes());
        out
    }

    pub(crate) fn decode(bytes: &[u8]) -> Result<Self> {
        Ok(LinkRecord {
            from: ParticleIdx(u32_at(bytes, 0, "link")?),
            to: ParticleIdx(u32_at(bytes, 4, "link")?),
            neuron: NeuronIdx(u32_at(bytes, 8, "link")?),
            height: Height(u64_at(bytes, 12, "link")?),
            tx_index: u32_at(bytes, 20, "link")?,
        })
    }
}

/// `neuron ‖ nonce ‖ signature ‖ tail`. A link transaction's tail is its links, 8 bytes each; a
/// Sprint transaction's is the step's DAG-CBOR, zero bytes and one byte counting them, padded so
/// that its length is 7 modulo 8 and never reads as links (records written before Sprint
/// transactions existed decode unchanged).
impl TxRecord {
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(76 + 8 * self.links.len());
        out.extend_from_slice(&self.neuron.to_be_bytes());
        out.extend_from_slice(&self.nonce.to_be_bytes());
        out.extend_from_slice(&self.signature);
        for (from, to) in &self.links {
            out.extend_from_slice(&from.to_be_bytes());
            out.extend_from_slice(&to.to_be_bytes());
        }
        if let Some(step) = &self.sprint {
            let step = serde_ipld_dagcbor::to_vec(step).expect("a Sprint step always encodes");
            let padding = (7 + 8 - (step.len() + 1) % 8) % 8;
            out.extend_from_slice(&step);
            out.extend(std::iter::repeat_n(0, padding));
            out.push(padding as u8);
        }
        out
    }

    pub(crate) fn decode(bytes: &[u8]) -> Result<Self> {
        let signature = be::<64>(bytes, 12).ok_or_else(|| short("transaction"))?;
        let (neuron, nonce) = (NeuronIdx(u32_at(bytes, 0, "transaction")?), u64_at(bytes, 4, "transaction")?);
        let tail = &bytes[76..];
        if tail.len() % 8 == 7 {
            let padding = usize::from(tail[tail.len() - 1]) + 1;
            let step = tail.get(..tail.len().saturating_sub(padding)).ok_or_else(|| short("transaction"))?;
            let step = serde_ipld_dagcbor::from_slice(step)
                .map_err(|e| EngineError::Corruption(format!("Sprint step: {e}")))?;
            return Ok(TxRecord { neuron, nonce, signature, links: Vec::new(), sprint: Some(step) });
        }
        if !tail.len().is_multiple_of(8) {
            return Err(short("transaction"));
        }
        let links = tail
            .chunks_exact(8)
            .map(|pair| {
                let n = |at| ParticleIdx(u32::from_be_bytes(pair[at..at + 4].try_into().expect("4 bytes")));
                (n(0), n(4))
            })
            .collect();
        Ok(TxRecord { neuron, nonce, signature, links, sprint: None })
    }
}

impl BlockRecord {
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(256);
        out.extend_from_slice(&self.first_link.to_be_bytes());
        out.extend_from_slice(&self.link_count.to_be_bytes());
        out.extend_from_slice(&self.first_particle.to_be_bytes());
        out.extend_from_slice(&self.tx_count.to_be_bytes());
        out.extend_from_slice(&self.header.encode());
        out
    }

    pub(crate) fn decode(bytes: &[u8]) -> Result<Self> {
        Ok(BlockRecord {
            first_link: LinkIdx(u64_at(bytes, 0, "block")?),
            link_count: u64_at(bytes, 8, "block")?,
            first_particle: ParticleIdx(u32_at(bytes, 16, "block")?),
            tx_count: u32_at(bytes, 20, "block")?,
            header: BlockHeader::decode(bytes.get(24..).ok_or_else(|| short("block"))?)?,
        })
    }
}

impl FocusSummary {
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(72);
        out.extend_from_slice(&self.height.to_be_bytes());
        out.extend_from_slice(&self.particles.to_be_bytes());
        out.extend_from_slice(&self.iterations.to_be_bytes());
        out.extend_from_slice(&self.bound.to_bits().to_be_bytes());
        out.extend_from_slice(&self.syntropy.to_bits().to_be_bytes());
        out.extend_from_slice(&self.root);
        out.extend_from_slice(&self.solve_micros.to_be_bytes());
        out
    }

    pub(crate) fn decode(bytes: &[u8]) -> Result<Self> {
        const WHAT: &str = "focus summary";
        Ok(FocusSummary {
            height: u64_at(bytes, 0, WHAT)?,
            particles: u32_at(bytes, 8, WHAT)?,
            iterations: u32_at(bytes, 12, WHAT)?,
            bound: f64::from_bits(u64_at(bytes, 16, WHAT)?),
            syntropy: f64::from_bits(u64_at(bytes, 24, WHAT)?),
            root: be::<32>(bytes, 32).ok_or_else(|| short(WHAT))?,
            solve_micros: u64_at(bytes, 64, WHAT)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ids::Address, voting::SprintTx};

    #[test]
    fn link_and_sprint_transaction_records_round_trip_and_never_read_as_each_other() {
        let record = |links: Vec<(ParticleIdx, ParticleIdx)>, sprint| TxRecord {
            neuron: NeuronIdx(3),
            nonce: 9,
            signature: [5; 64],
            links,
            sprint,
        };
        let links = |n: u32| (0..n).map(|i| (ParticleIdx(i), ParticleIdx(i + 1))).collect::<Vec<_>>();
        for n in [1, 2, 7, 1000] {
            let links = record(links(n), None);
            assert_eq!(TxRecord::decode(&links.encode()).unwrap(), links);
        }
        // Steps of every length modulo 8 (the claim's byte length moves the encoding's).
        for claim_bytes in 0..16 {
            let steps = [
                SprintTx::Proof { claim: vec![1; claim_bytes], signature: [2; 64] },
                SprintTx::Verdict { sprint: claim_bytes as u64, prover: Address([4; 32]), valid: true },
            ];
            for step in steps {
                let sprint = record(Vec::new(), Some(step));
                let bytes = sprint.encode();
                assert_eq!((bytes.len() - 76) % 8, 7);
                assert_eq!(TxRecord::decode(&bytes).unwrap(), sprint);
            }
        }
    }
}
