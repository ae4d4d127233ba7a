//! The query, mutation and subscription roots.

use std::sync::Arc;

use async_graphql::{
    Context, Object, Subscription,
    connection::{Connection, Edge},
};
use engine::{Address, BlockEvent, ErrorCode};
use futures_util::{Stream, StreamExt};
use tokio_stream::wrappers::BroadcastStream;

use crate::{blocking::run_blocking, codes::ApiCode, search::SearchOrder as IndexOrder, wire::SignedTxBody};

use super::{
    coded, engine_error,
    objects::{
        Block, Cyberlink, CyberlinkFilter, FocusChange, FocusProof, GraphStats, MerkleProof, Neuron, NodeInfo,
        Particle, RankedParticle, RelatedAnswer, SearchHit, SearchOrder, TxInclusionProof, TxReceipt, Validator, links,
        parse_cid, related,
    },
    page_size,
};

fn node<'a>(context: &Context<'a>) -> &'a Arc<engine::Node> {
    &context.data_unchecked::<super::Context>().node
}

/// Deepest position a ranked list pages to: ranking past it is work no client needs, and an
/// offset must never size an allocation.
const MAX_OFFSET: usize = 10_000;

/// The offset an offset cursor resumes at, with room for `first` more entries within
/// [`MAX_OFFSET`].
fn offset(after: Option<&str>, first: usize) -> async_graphql::Result<usize> {
    let skip = match after {
        None => 0,
        Some(a) => a
            .parse::<usize>()
            .ok()
            .and_then(|n| n.checked_add(1))
            .ok_or_else(|| coded(ApiCode::BadRequest, format!("bad cursor {a:?}")))?,
    };
    if skip + first > MAX_OFFSET {
        return Err(coded(
            ApiCode::BadRequest,
            format!("cursor {skip} + first {first} pages past the {MAX_OFFSET}th entry; refine the query instead"),
        ));
    }
    Ok(skip)
}

/// Queries for apps and auditors.
pub(crate) struct QueryRoot;

#[Object]
impl QueryRoot {
    /// The chain id, height, version and validators (a client needs the chain id to sign).
    async fn node_info(&self, context: &Context<'_>) -> NodeInfo {
        let node = node(context);
        let status = node.query().status();
        let validators = node.validators().into_iter().map(Validator::from).collect();
        NodeInfo {
            chain_id: status.chain_id,
            height: status.counts.height,
            version: env!("CARGO_PKG_VERSION").into(),
            validators,
        }
    }

    /// A particle by CID (any CID is a particle; fields are null where nothing is known).
    async fn particle(&self, cid: String) -> async_graphql::Result<Particle> {
        Ok(Particle(parse_cid(&cid)?))
    }

    /// Particles by focus, highest first.
    async fn top(
        &self,
        context: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<String, RankedParticle>> {
        let first = page_size(first)?;
        let skip = offset(after.as_deref(), first)?;
        let ranked = node(context).query().top(skip + first + 1);
        let has_next = ranked.len() > skip + first;
        let mut connection = Connection::new(skip > 0, has_next);
        connection.edges.extend(
            ranked
                .into_iter()
                .enumerate()
                .skip(skip)
                .take(first)
                .map(|(i, r)| Edge::new(i.to_string(), RankedParticle::from(r))),
        );
        Ok(connection)
    }

    /// Full-text search over particle content (BM25, English stemming); hits carry their text
    /// relevance and focus. `COMBINED` orders by `relevance × (1 + n·focus)`.
    async fn search(
        &self,
        context: &Context<'_>,
        text: String,
        first: Option<i32>,
        after: Option<String>,
        #[graphql(default)] order: SearchOrder,
    ) -> async_graphql::Result<Connection<String, SearchHit>> {
        let first = page_size(first)?;
        let skip = offset(after.as_deref(), first)?;
        crate::search::check_text(&text).map_err(|message| coded(ApiCode::BadRequest, message))?;
        let order = match order {
            SearchOrder::Combined => IndexOrder::Combined,
            SearchOrder::Relevance => IndexOrder::Relevance,
            SearchOrder::Focus => IndexOrder::Focus,
        };
        let node = node(context).clone();
        let search = Arc::clone(&context.data_unchecked::<super::Context>().search);
        let hits = run_blocking(move || search.search(&node, &text, order, skip, first + 1))
            .await?
            .map_err(|e| coded(ErrorCode::Internal, format!("search failed: {e:#}")))?;
        let mut connection = Connection::new(skip > 0, hits.len() > first);
        connection.edges.extend(hits.into_iter().take(first).enumerate().map(|(i, hit)| {
            Edge::new(
                (skip + i).to_string(),
                SearchHit { relevance: hit.relevance, focus: hit.focus, particle: hit.particle },
            )
        }));
        Ok(connection)
    }

    /// What is related to these particles: their conditional focus. With a compiled model in
    /// force the served hybrid answers (an exact push head, the model for the rest); `exact:
    /// true`, or no model, asks for the exact path (a local push). The answer says which path
    /// produced it, the model's CID and height, and an ℓ1 error bound.
    async fn related(
        &self,
        context: &Context<'_>,
        #[graphql(name = "context")] context_particles: Vec<String>,
        first: Option<i32>,
        #[graphql(default)] exact: bool,
    ) -> async_graphql::Result<RelatedAnswer> {
        if context_particles.is_empty() || context_particles.len() > super::MAX_PAGE {
            return Err(coded(ApiCode::BadRequest, format!("context takes 1 to {} particles", super::MAX_PAGE)));
        }
        let particles = context_particles.iter().map(|c| parse_cid(c)).collect::<async_graphql::Result<Vec<_>>>()?;
        related(context, particles, first, exact).await
    }

    /// Links by source, target, neuron and height range, in index order.
    async fn cyberlinks(
        &self,
        context: &Context<'_>,
        #[graphql(default)] filter: CyberlinkFilter,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<String, Cyberlink>> {
        links(context, filter.parse()?, first, after).await
    }

    /// A block by height.
    async fn block(&self, context: &Context<'_>, height: u64) -> async_graphql::Result<Option<Block>> {
        Ok(node(context).query().header(height).map_err(engine_error)?.map(Block))
    }

    /// A neuron by address.
    async fn neuron(&self, address: String) -> async_graphql::Result<Neuron> {
        Ok(Neuron(address.parse::<Address>().map_err(|e| engine_error(e.into()))?))
    }

    /// The Merkle path of a committed transaction to its block's `txsRoot`.
    async fn inclusion_proof(&self, context: &Context<'_>, tx: String) -> async_graphql::Result<TxInclusionProof> {
        let cid = tx.parse().map_err(|e| coded(ErrorCode::InvalidCid, format!("{tx:?}: {e}")))?;
        let query = node(context).query();
        let proof = run_blocking(move || query.inclusion_proof(&cid)).await?.map_err(engine_error)?;
        Ok(TxInclusionProof {
            tx,
            height: proof.height,
            block: proof.block.to_string(),
            txs_root: hex::encode(proof.txs_root),
            proof: proof.proof.into(),
        })
    }

    /// A particle's focus leaf at a height with its path to `focusRoot` of block `height + 1`.
    async fn focus_proof(&self, context: &Context<'_>, cid: String, height: u64) -> async_graphql::Result<FocusProof> {
        let particle = parse_cid(&cid)?;
        let node = node(context).clone();
        let proof = run_blocking(move || node.query().focus_proof(&particle, height)).await?.map_err(engine_error)?;
        Ok(FocusProof {
            cid,
            height: proof.height,
            focus: proof.focus,
            leaf: proof.leaf.to_string(),
            root: hex::encode(proof.root),
            anchor_height: proof.anchor_height,
            proof: MerkleProof::from(proof.proof),
        })
    }

    /// Graph-wide numbers.
    async fn graph_stats(&self, context: &Context<'_>) -> GraphStats {
        let node = node(context);
        let status = node.query().status();
        let focus = node.query().focus().summary;
        GraphStats {
            height: status.counts.height,
            particles: status.counts.particles,
            links: status.counts.links,
            neurons: status.counts.neurons,
            mempool: status.mempool as u64,
            focus_height: focus.height,
            syntropy_bits: focus.syntropy / std::f64::consts::LN_2,
            focus_iterations: focus.iterations,
        }
    }
}

/// Writes.
pub(crate) struct MutationRoot;

#[Object]
impl MutationRoot {
    /// Submits a signed transaction: `tx` is standard base64 of its canonical DAG-CBOR, and
    /// `signature` standard base64 of the ed25519 signature over exactly those bytes. Answers
    /// once the transaction is durable; the node then forwards it to its peers (`tx_peers`).
    async fn submit_transaction(
        &self,
        context: &Context<'_>,
        tx: String,
        signature: String,
    ) -> async_graphql::Result<TxReceipt> {
        let signed = SignedTxBody { tx, signature }.decode().map_err(|message| coded(ErrorCode::Malformed, message))?;
        let node = node(context).clone();
        let relay = &context.data_unchecked::<super::Context>().relay;
        let outgoing = relay.prepare(&signed);
        let receipt = run_blocking(move || node.submit(signed)).await?.map_err(engine_error)?;
        outgoing.into_iter().for_each(|body| relay.forward(receipt.cid, body, crate::relay::FIRST_RESEND));
        Ok(TxReceipt {
            cid: receipt.cid.to_string(),
            duplicates: receipt.duplicates.into_iter().map(|d| d as u32).collect(),
        })
    }

    /// Stores content (UTF-8 text) and answers its CID (CIDv1, raw, sha2-256).
    async fn post_particle(&self, context: &Context<'_>, content: String) -> async_graphql::Result<String> {
        let node = node(context).clone();
        let search = Arc::clone(&context.data_unchecked::<super::Context>().search);
        let particle = run_blocking(move || search.post(&node, content.as_bytes())).await?.map_err(engine_error)?;
        Ok(particle.to_string())
    }
}

/// Streams over WebSocket (graphql-transport-ws).
pub(crate) struct SubscriptionRoot;

fn events(context: &Context<'_>) -> impl Stream<Item = Arc<BlockEvent>> + use<> {
    let receiver = context.data_unchecked::<super::Context>().blocks.subscribe();
    // A subscriber that lags behind loses the oldest events rather than stalling the node.
    BroadcastStream::new(receiver).filter_map(|event| async move { event.ok() })
}

#[Subscription]
impl SubscriptionRoot {
    /// Every committed block.
    async fn blocks(&self, context: &Context<'_>) -> impl Stream<Item = Block> + use<> {
        events(context).map(|event| Block(event.header.clone()))
    }

    /// Links as blocks commit them, filtered.
    async fn cyberlinks(
        &self,
        context: &Context<'_>,
        #[graphql(default)] filter: CyberlinkFilter,
    ) -> async_graphql::Result<impl Stream<Item = Cyberlink> + use<>> {
        let filter = filter.parse()?;
        Ok(events(context).flat_map(move |event| {
            let matching: Vec<Cyberlink> =
                event.links.iter().filter(|l| filter.matches(l)).cloned().map(Cyberlink).collect();
            futures_util::stream::iter(matching)
        }))
    }

    /// The focus of the given particles whenever a block changes it.
    async fn focus_changed(
        &self,
        context: &Context<'_>,
        cids: Vec<String>,
    ) -> async_graphql::Result<impl Stream<Item = FocusChange> + use<>> {
        if cids.is_empty() || cids.len() > super::MAX_PAGE {
            return Err(coded(ApiCode::BadRequest, format!("cids takes 1 to {} particles", super::MAX_PAGE)));
        }
        let particles = cids.iter().map(|c| parse_cid(c)).collect::<async_graphql::Result<Vec<_>>>()?;
        let node = node(context).clone();
        let mut last: Vec<Option<f64>> = particles
            .iter()
            .map(|p| node.query().particle_index(p).and_then(|i| node.query().focus().pi.get(i.0 as usize).copied()))
            .collect();
        Ok(events(context).flat_map(move |event| {
            let focus = node.query().focus();
            let mut changes = Vec::new();
            for (k, particle) in particles.iter().enumerate() {
                let now = node.query().particle_index(particle).and_then(|i| focus.pi.get(i.0 as usize).copied());
                if let Some(value) = now.filter(|v| Some(*v) != last[k]) {
                    changes.push(FocusChange {
                        cid: particle.to_string(),
                        height: event.focus.height,
                        focus: value,
                        previous: last[k],
                    });
                    last[k] = Some(value);
                }
            }
            futures_util::stream::iter(changes)
        }))
    }
}
