//! The object types of the schema.

use async_graphql::{
    ComplexObject, Context, Enum, InputObject, Object, SimpleObject,
    connection::{Connection, Edge},
};
use engine::{
    Address, BlockHeader, Particle as Cid,
    views::{LinkFilter, LinkView, Ranked},
};

use super::{engine_error, page_size};
use crate::blocking::run_blocking;

fn ctx<'a>(context: &Context<'a>) -> &'a super::Context {
    context.data_unchecked::<super::Context>()
}

/// Parses a CID argument.
pub(crate) fn parse_cid(text: &str) -> async_graphql::Result<Cid> {
    Cid::parse(text).map_err(engine_error)
}

/// A content-addressed particle.
pub(crate) struct Particle(pub(crate) Cid);

#[Object]
impl Particle {
    /// Its CID.
    async fn cid(&self) -> String {
        self.0.to_string()
    }

    /// Its focus at the tip (null when no link uses it).
    async fn focus(&self, context: &Context<'_>) -> Option<f64> {
        let node = &ctx(context).node;
        let idx = node.query().particle_index(&self.0)?;
        node.query().focus().pi.get(idx.0 as usize).copied()
    }

    /// Its 1-based position in focus order at the tip.
    async fn rank(&self, context: &Context<'_>) -> Option<u32> {
        let node = &ctx(context).node;
        let idx = node.query().particle_index(&self.0)?;
        node.query().focus().rank.get(idx.0 as usize).copied()
    }

    /// Its content, if posted (UTF-8; invalid sequences replaced).
    async fn content(&self, context: &Context<'_>) -> async_graphql::Result<Option<String>> {
        let (query, particle) = (ctx(context).node.query(), self.0);
        let content = run_blocking(move || query.content(&particle)).await?.map_err(engine_error)?;
        Ok(content.map(|bytes| String::from_utf8_lossy(&bytes).into_owned()))
    }

    /// The height of the block that first linked it.
    async fn first_seen(&self, context: &Context<'_>) -> async_graphql::Result<Option<u64>> {
        let query = ctx(context).node.query();
        match query.particle_index(&self.0) {
            Some(idx) => run_blocking(move || query.first_seen(idx)).await?.map_err(engine_error),
            None => Ok(None),
        }
    }

    /// Its exact focus in the state after block `height`.
    async fn focus_at(&self, context: &Context<'_>, height: u64) -> async_graphql::Result<Option<f64>> {
        let query = ctx(context).node.query();
        match query.particle_index(&self.0) {
            Some(idx) => run_blocking(move || query.focus_of_at(idx, height)).await?.map_err(engine_error),
            None => Ok(None),
        }
    }

    /// Links from it.
    async fn out_links(
        &self,
        context: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<String, Cyberlink>> {
        links(context, LinkFilter { from: Some(self.0), ..LinkFilter::default() }, first, after).await
    }

    /// Links to it.
    async fn in_links(
        &self,
        context: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<String, Cyberlink>> {
        links(context, LinkFilter { to: Some(self.0), ..LinkFilter::default() }, first, after).await
    }

    /// The particles most related to this one: its conditional focus (the served hybrid when a
    /// compiled model is in force, else or with `exact: true` the exact path).
    async fn related(
        &self,
        context: &Context<'_>,
        first: Option<i32>,
        #[graphql(default)] exact: bool,
    ) -> async_graphql::Result<RelatedAnswer> {
        related(context, vec![self.0], first, exact).await
    }
}

/// Lists links by filter as a connection (a store scan: on the blocking pool).
pub(crate) async fn links(
    context: &Context<'_>,
    filter: LinkFilter,
    first: Option<i32>,
    after: Option<String>,
) -> async_graphql::Result<Connection<String, Cyberlink>> {
    let first = page_size(first)?;
    let query = ctx(context).node.query();
    let has_previous = after.is_some();
    let page = run_blocking(move || query.links(&filter, after.as_deref(), first)).await?.map_err(engine_error)?;
    let mut connection = Connection::new(has_previous, page.has_next);
    connection.edges.extend(page.links.into_iter().map(|(link, cursor)| Edge::new(cursor, Cyberlink(link))));
    Ok(connection)
}

/// The conditional focus of a context, best particles first.
pub(crate) async fn related(
    context: &Context<'_>,
    particles: Vec<Cid>,
    first: Option<i32>,
    exact: bool,
) -> async_graphql::Result<RelatedAnswer> {
    let first = page_size(first)?;
    let node = ctx(context).node.clone();
    let answer = run_blocking(move || node.query().related(&particles, first, exact)).await?.map_err(engine_error)?;
    Ok(RelatedAnswer {
        path: match answer.path {
            compiler::Path::Exact => AnswerPath::ExactConditionalFocus,
            compiler::Path::Hybrid => AnswerPath::Hybrid,
            compiler::Path::ModelOnly => AnswerPath::CompiledTransformer,
        },
        height: answer.height,
        model: answer.model.map(|(cid, _)| cid.to_string()),
        model_height: answer.model.map(|(_, height)| height),
        error_bound: answer.error_bound,
        particles: answer.particles.into_iter().map(RankedParticle::from).collect(),
    })
}

/// A cyberlink.
pub(crate) struct Cyberlink(pub(crate) LinkView);

#[Object]
impl Cyberlink {
    /// Source particle.
    async fn from(&self) -> Particle {
        Particle(self.0.from)
    }
    /// Target particle.
    async fn to(&self) -> Particle {
        Particle(self.0.to)
    }
    /// The neuron's address.
    async fn neuron(&self) -> String {
        self.0.neuron.to_string()
    }
    /// The block that added it.
    async fn height(&self) -> u64 {
        self.0.height
    }
    /// The position of its transaction in that block.
    async fn tx_index(&self) -> u32 {
        self.0.tx_index
    }
}

/// Filters for `cyberlinks`; all given fields must match.
#[derive(InputObject, Default)]
pub(crate) struct CyberlinkFilter {
    /// Source particle CID.
    pub(crate) from: Option<String>,
    /// Target particle CID.
    pub(crate) to: Option<String>,
    /// Neuron address.
    pub(crate) neuron: Option<String>,
    /// Lowest block height (inclusive).
    pub(crate) height_from: Option<u64>,
    /// Highest block height (inclusive).
    pub(crate) height_to: Option<u64>,
}

impl CyberlinkFilter {
    pub(crate) fn parse(&self) -> async_graphql::Result<LinkFilter> {
        let cid = |c: &Option<String>| c.as_deref().map(parse_cid).transpose();
        Ok(LinkFilter {
            from: cid(&self.from)?,
            to: cid(&self.to)?,
            neuron: self
                .neuron
                .as_deref()
                .map(str::parse::<Address>)
                .transpose()
                .map_err(|e| engine_error(e.into()))?,
            height_from: self.height_from,
            height_to: self.height_to,
        })
    }
}

/// Which path produced an answer.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub(crate) enum AnswerPath {
    /// The exact conditional focus (a local forward push on the focus operator).
    ExactConditionalFocus,
    /// The compiled transformer's hybrid: an exact push head, the model for the remainder.
    Hybrid,
    /// The compiled transformer alone.
    CompiledTransformer,
}

/// Particles related to a context.
#[derive(SimpleObject)]
pub(crate) struct RelatedAnswer {
    /// Which path produced the answer.
    pub(crate) path: AnswerPath,
    /// The focus height it was computed on.
    pub(crate) height: u64,
    /// The compiled model's CID, when a model answered (`GET /model/{cid}` serves its file).
    pub(crate) model: Option<String>,
    /// The height whose focus that model was compiled from.
    pub(crate) model_height: Option<u64>,
    /// The ℓ1 error bound of the scores.
    pub(crate) error_bound: f64,
    /// The best particles, the context excluded.
    pub(crate) particles: Vec<RankedParticle>,
}

/// A particle with a score.
#[derive(SimpleObject)]
#[graphql(complex)]
pub(crate) struct RankedParticle {
    /// The score (focus, or conditional focus in `related`).
    pub(crate) score: f64,
    #[graphql(skip)]
    pub(crate) particle: Cid,
}

#[ComplexObject]
impl RankedParticle {
    /// The particle.
    async fn particle(&self) -> Particle {
        Particle(self.particle)
    }
}

impl From<Ranked> for RankedParticle {
    fn from(ranked: Ranked) -> Self {
        RankedParticle { score: ranked.score, particle: ranked.particle }
    }
}

/// A search hit with both of its scores.
#[derive(SimpleObject)]
#[graphql(complex)]
pub(crate) struct SearchHit {
    /// Text relevance (BM25).
    pub(crate) relevance: f64,
    /// Focus at the tip (0 for particles without links).
    pub(crate) focus: f64,
    #[graphql(skip)]
    pub(crate) particle: Cid,
}

#[ComplexObject]
impl SearchHit {
    /// The particle.
    async fn particle(&self) -> Particle {
        Particle(self.particle)
    }
}

/// A block.
pub(crate) struct Block(pub(crate) BlockHeader);

#[Object]
impl Block {
    /// Its height.
    async fn height(&self) -> u64 {
        self.0.height
    }
    /// Its CID.
    async fn cid(&self) -> String {
        self.0.cid().to_string()
    }
    /// Proposer time, Unix milliseconds.
    async fn time(&self) -> u64 {
        self.0.time
    }
    /// The parent's CID (the genesis document's at height 0).
    async fn parent(&self) -> String {
        self.0.parent.to_string()
    }
    /// Merkle root of the transaction CIDs (hex).
    async fn txs_root(&self) -> String {
        hex::encode(self.0.txs_root)
    }
    /// Link-set commitment (hex).
    async fn graph_root(&self) -> String {
        hex::encode(self.0.graph_root)
    }
    /// Merkle root of the parent state's quantised focus (hex).
    async fn focus_root(&self) -> String {
        hex::encode(self.0.focus_root)
    }
    /// The adopted compiled transformer.
    async fn model(&self) -> Option<String> {
        self.0.model.map(|c| c.to_string())
    }
    /// CID of the Sprint ledger after this block (its validators, seed, proofs and votes),
    /// when Sprint runs on this chain.
    async fn sprint(&self) -> Option<String> {
        self.0.sprint.map(|c| c.to_string())
    }
    /// The commit certificate that decided this block, when validators decided it (null for a
    /// block one node produced alone).
    async fn certificate(&self, context: &Context<'_>) -> async_graphql::Result<Option<Certificate>> {
        let (query, height) = (ctx(context).node.query(), self.0.height);
        // The validators are read only for a block that has a certificate.
        let stored = run_blocking(move || match query.certificate(height)? {
            Some(bytes) => Ok::<_, engine::EngineError>(Some((query.validators_at(height)?, bytes))),
            None => Ok(None),
        });
        let Some((validators, bytes)) = stored.await?.map_err(engine_error)? else { return Ok(None) };
        let summary = consensus::codec::CertificateSummary::decode(&bytes)
            .map_err(|e| engine_error(engine::EngineError::Corruption(format!("certificate at {height}: {e}"))))?;
        let power_of = |address: &Address| {
            validators.binary_search_by_key(address, |v| v.address).map_or(0, |at| validators[at].power)
        };
        let signers: Vec<Validator> =
            summary.signers.iter().map(|a| Validator { address: a.to_string(), power: power_of(a) }).collect();
        Ok(Some(Certificate {
            round: summary.round,
            power: signers.iter().map(|s| s.power).sum(),
            total_power: validators.iter().map(|v| v.power).sum(),
            signers,
            bytes: hex::encode(&bytes),
        }))
    }
    /// Its transactions in order.
    async fn transactions(&self, context: &Context<'_>) -> async_graphql::Result<Vec<Transaction>> {
        let (query, height) = (ctx(context).node.query(), self.0.height);
        let txs = run_blocking(move || query.block_transactions(height)).await?.map_err(engine_error)?;
        Ok(txs
            .into_iter()
            .map(|tx| Transaction {
                cid: tx.cid.to_string(),
                neuron: tx.neuron.to_string(),
                nonce: tx.nonce,
                links: tx
                    .links
                    .into_iter()
                    .map(|(from, to)| LinkPair { from: from.to_string(), to: to.to_string() })
                    .collect(),
            })
            .collect())
    }
}

/// A signed transaction.
#[derive(SimpleObject)]
pub(crate) struct Transaction {
    /// Its CID.
    pub(crate) cid: String,
    /// The signer.
    pub(crate) neuron: String,
    /// Its nonce.
    pub(crate) nonce: u64,
    /// Its links as signed (duplicates included).
    pub(crate) links: Vec<LinkPair>,
}

/// A link as a transaction carries it.
#[derive(SimpleObject)]
pub(crate) struct LinkPair {
    /// Source CID.
    pub(crate) from: String,
    /// Target CID.
    pub(crate) to: String,
}

/// A neuron.
pub(crate) struct Neuron(pub(crate) Address);

#[Object]
impl Neuron {
    /// Its bech32 address.
    async fn address(&self) -> String {
        self.0.to_string()
    }
    /// Its stake.
    async fn stake(&self, context: &Context<'_>) -> u64 {
        ctx(context).node.query().neuron(&self.0).stake
    }
    /// Links per block it may add.
    async fn quota(&self, context: &Context<'_>) -> u64 {
        ctx(context).node.query().neuron(&self.0).quota
    }
    /// The nonce its next transaction must carry.
    async fn next_nonce(&self, context: &Context<'_>) -> u64 {
        ctx(context).node.query().neuron(&self.0).next_nonce
    }
    /// Its karma: the share of focus its links carry.
    async fn karma(&self, context: &Context<'_>) -> f64 {
        ctx(context).node.query().karma(&self.0)
    }
    /// Its links in commit order.
    async fn links(
        &self,
        context: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<String, Cyberlink>> {
        links(context, LinkFilter { neuron: Some(self.0), ..LinkFilter::default() }, first, after).await
    }
}

/// A Merkle inclusion proof.
#[derive(SimpleObject)]
pub(crate) struct MerkleProof {
    /// The leaf's position.
    pub(crate) index: u64,
    /// Leaves in the tree.
    pub(crate) size: u64,
    /// Sibling hashes, leaf level first (hex).
    pub(crate) path: Vec<String>,
}

impl From<engine::merkle::InclusionProof> for MerkleProof {
    fn from(proof: engine::merkle::InclusionProof) -> Self {
        MerkleProof {
            index: proof.index as u64,
            size: proof.size as u64,
            path: proof.path.iter().map(hex::encode).collect(),
        }
    }
}

/// A transaction's inclusion in a block header.
#[derive(SimpleObject)]
pub(crate) struct TxInclusionProof {
    /// The transaction CID (its bytes are the leaf).
    pub(crate) tx: String,
    /// The block.
    pub(crate) height: u64,
    /// The block's CID.
    pub(crate) block: String,
    /// The header's `txs_root` (hex).
    pub(crate) txs_root: String,
    /// The path.
    pub(crate) proof: MerkleProof,
}

/// A particle's focus leaf in a header's `focus_root`.
#[derive(SimpleObject)]
pub(crate) struct FocusProof {
    /// The particle.
    pub(crate) cid: String,
    /// The state (block height) whose focus this is.
    pub(crate) height: u64,
    /// Its focus then.
    pub(crate) focus: f64,
    /// The leaf `round(focus·2^60)` as a decimal string (leaf bytes: u64 little-endian).
    pub(crate) leaf: String,
    /// The root (hex), in the header of `anchorHeight`.
    pub(crate) root: String,
    /// The block whose header commits to this focus (`height + 1`).
    pub(crate) anchor_height: u64,
    /// The path.
    pub(crate) proof: MerkleProof,
}

/// The answer to `submitTransaction`.
#[derive(SimpleObject)]
pub(crate) struct TxReceipt {
    /// The transaction CID.
    pub(crate) cid: String,
    /// Positions of links that are duplicates (no-ops).
    pub(crate) duplicates: Vec<u32>,
}

/// The node at a glance.
#[derive(SimpleObject)]
pub(crate) struct NodeInfo {
    /// The chain id every transaction signs.
    pub(crate) chain_id: String,
    /// The tip's height.
    pub(crate) height: u64,
    /// The node's version.
    pub(crate) version: String,
    /// The validators that decide the next height, by address (none on a chain one node
    /// produces); Sprint's accepted proofs replace them at period boundaries.
    pub(crate) validators: Vec<Validator>,
}

/// A validator and its voting power.
#[derive(SimpleObject)]
pub(crate) struct Validator {
    /// Its key, as a neuron address.
    pub(crate) address: String,
    /// Its voting power.
    pub(crate) power: u64,
}

impl From<engine::GenesisValidator> for Validator {
    fn from(validator: engine::GenesisValidator) -> Self {
        Validator { address: validator.address.to_string(), power: validator.power }
    }
}

/// The precommits that decided a block.
#[derive(SimpleObject)]
pub(crate) struct Certificate {
    /// The round that decided it.
    pub(crate) round: u32,
    /// The validators whose signed precommits it carries, with their powers at that height.
    pub(crate) signers: Vec<Validator>,
    /// Their power together (more than 2/3 of `totalPower`).
    pub(crate) power: u64,
    /// The power of every validator at that height.
    pub(crate) total_power: u64,
    /// The certificate as the node stores it (hex of the consensus crate's borsh encoding).
    pub(crate) bytes: String,
}

/// Graph-wide numbers.
#[derive(SimpleObject)]
pub(crate) struct GraphStats {
    /// The tip's height.
    pub(crate) height: u64,
    /// Particles with links.
    pub(crate) particles: u64,
    /// Distinct links.
    pub(crate) links: u64,
    /// Known neurons.
    pub(crate) neurons: u64,
    /// Transactions waiting for a block.
    pub(crate) mempool: u64,
    /// The height of the latest focus.
    pub(crate) focus_height: u64,
    /// Syntropy of the latest focus in bits.
    pub(crate) syntropy_bits: f64,
    /// Solver iterations of the latest focus.
    pub(crate) focus_iterations: u32,
}

/// A subscribed particle's focus moved.
#[derive(SimpleObject)]
pub(crate) struct FocusChange {
    /// The particle.
    pub(crate) cid: String,
    /// The state (block height) of the new focus.
    pub(crate) height: u64,
    /// The new focus.
    pub(crate) focus: f64,
    /// The focus before (null the first time the particle has any).
    pub(crate) previous: Option<f64>,
}

/// How `search` orders hits.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Default)]
pub(crate) enum SearchOrder {
    /// `relevance × (1 + n·focus)`: focus relative to uniform lifts relevant hits (the default).
    #[default]
    Combined,
    /// Text relevance only.
    Relevance,
    /// Focus only.
    Focus,
}
