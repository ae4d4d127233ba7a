//! The application side of Malachite: answers each [`AppMsg`] from the node — propose a block,
//! validate a peer's, commit what was decided, serve and take synced blocks.
//!
//! Every call into the node that touches the store or the focus runs on the blocking pool: a
//! commit computes the focus (seconds on a large graph) and must not stall the network tasks.

use std::{
    collections::HashMap,
    sync::Arc,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use bytes::Bytes;
use engine::{Node, ProposedBlock, focus::FocusTransfer};
use malachitebft_app_channel::{AppMsg, Channels, NetworkMsg};
use malachitebft_codec::Codec;
use malachitebft_core_consensus::{LocallyProposedValue, ProposedValue};
use malachitebft_core_types::{
    CommitCertificate, ExtendedCommitCertificate, HeightParams, LinearTimeouts, Round, Validity, VoteExtensions,
};
use malachitebft_engine::host::{Next, SyncedValueOutcome};
use malachitebft_sync::RawDecidedValue;

use crate::{
    codec::BorshCodec,
    context::{BlockId, Cybergraph, Height, ValidatorAddress, ValidatorSet},
    error::{ConsensusError, Result},
    parts::{self, Assembled, Reassembly},
    service::CERTIFICATE_ALLOWANCE,
    synced,
};

/// How this node takes part, beyond the validator set.
#[derive(Clone, Debug)]
pub struct Pace {
    /// Consensus timeouts (propose, prevote, precommit and their growth per round).
    pub timeouts: LinearTimeouts,
    /// The least time a height takes (Malachite's target time): the block interval.
    pub block_interval: Duration,
    /// How far a live proposal's time may stray from this node's clock.
    pub max_clock_drift: Duration,
    /// Most decided blocks served in one sync answer, and asked for in one sync request.
    pub max_sync_batch: u64,
}

impl Default for Pace {
    fn default() -> Self {
        Pace {
            timeouts: LinearTimeouts::default(),
            block_interval: Duration::from_secs(1),
            max_clock_drift: Duration::from_secs(10),
            max_sync_batch: 64,
        }
    }
}

/// Heights past the next one whose blocks are held until their height comes (a proposer a
/// little ahead of this node); blocks further ahead are dropped, and sync brings them.
const MAX_HEIGHTS_AHEAD: u64 = 4;

/// Undecided blocks held per height: one per round for several rounds. Past it a block is
/// dropped (a round change re-streams what consensus still needs).
const MAX_BLOCKS_PER_HEIGHT: usize = 16;

/// What this node's state machine made of a block.
enum Verdict {
    /// Not asked yet: its height is not the next one. A block is only vouched for once it is.
    Pending,
    /// Derived: the proposal commits as it is when decided.
    Valid(Box<engine::Proposal>),
    /// Refused.
    Invalid,
}

/// How a block reached this node.
enum Source {
    /// A proposal: live consensus, or this node's own.
    Proposal,
    /// Value sync, with the focus after the block where the serving peer sent it.
    Sync(Option<FocusTransfer>),
}

/// A block of the current or a later height seen but not decided: its proposer's value.
struct Undecided {
    round: Round,
    valid_round: Round,
    proposer: ValidatorAddress,
    block: ProposedBlock,
    verdict: Verdict,
    source: Source,
}

impl Undecided {
    /// The value consensus hears of, once the block has been judged.
    fn proposed_value(&self, id: BlockId) -> Option<ProposedValue<Cybergraph>> {
        let validity = match self.verdict {
            Verdict::Pending => return None,
            Verdict::Valid(_) => Validity::Valid,
            Verdict::Invalid => Validity::Invalid,
        };
        Some(ProposedValue {
            height: Height(self.block.header.height),
            round: self.round,
            valid_round: self.valid_round,
            proposer: self.proposer,
            value: id,
            validity,
        })
    }
}

/// The application's state between messages.
pub struct App {
    node: Arc<Node>,
    me: Option<ValidatorAddress>,
    pace: Pace,
    /// The most bytes one sync answer may carry (the network's limit).
    answer_limit: usize,
    reassembly: Reassembly,
    /// Blocks seen at heights not yet committed, by header CID.
    undecided: HashMap<BlockId, Undecided>,
}

fn now_millis() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// Runs a node call on the blocking pool.
async fn blocking<T: Send + 'static>(call: impl FnOnce() -> T + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(call).await.map_err(|e| ConsensusError::Stopped(e.to_string()))
}

impl App {
    /// The application of `node`, signing as `me` (a validator) or following (`None`),
    /// reassembling blocks of up to `max_block_bytes` (see [`max_block_bytes`]) and answering
    /// sync requests within `answer_limit` bytes.
    pub fn new(
        node: Arc<Node>,
        me: Option<ValidatorAddress>,
        pace: Pace,
        max_block_bytes: usize,
        answer_limit: usize,
    ) -> Self {
        let reassembly = Reassembly::new(max_block_bytes);
        App { node, me, pace, answer_limit, reassembly, undecided: HashMap::new() }
    }

    /// The parameters of the height after the tip: the validators the committed state names
    /// for it (Sprint moves them at period boundaries).
    fn params(&self) -> Result<HeightParams<Cybergraph>> {
        let validators = ValidatorSet::of(&self.node.validators())?;
        Ok(HeightParams::new(validators, self.pace.timeouts, Some(self.pace.block_interval)))
    }

    /// The height after the node's tip.
    fn next_height(&self) -> Height {
        Height(self.node.query().status().counts.height + 1)
    }

    /// Answers consensus until its channel closes. A failed answer is logged and the loop goes
    /// on: the message's reply is dropped, which consensus treats as no answer (a timeout, a
    /// round change), not as the end of this validator.
    pub async fn run(mut self, channels: &mut Channels<Cybergraph>) -> Result<()> {
        while let Some(message) = channels.consensus.recv().await {
            if let Err(error) = self.handle(message, channels).await {
                tracing::error!(%error, "consensus message not answered");
            }
        }
        Err(ConsensusError::Stopped("consensus closed its channel".into()))
    }

    async fn handle(&mut self, message: AppMsg<Cybergraph>, channels: &mut Channels<Cybergraph>) -> Result<()> {
        match message {
            AppMsg::ConsensusReady { reply } => {
                let (height, params) = (self.next_height(), self.params()?);
                tracing::info!(%height, validators = params.validator_set.validators().len(), "consensus ready");
                let _ = reply.send((height, params));
            }
            AppMsg::StartedRound { height, round, proposer, reply_value, .. } => {
                tracing::debug!(%height, %round, %proposer, "round started");
                // Blocks of this height that arrived early are judged now that it is next.
                let early: Vec<BlockId> = self
                    .undecided
                    .iter()
                    .filter(|(_, u)| u.block.header.height == height.0 && matches!(u.verdict, Verdict::Pending))
                    .map(|(id, _)| *id)
                    .collect();
                for id in early {
                    let early = &self.undecided[&id];
                    let synced = matches!(early.source, Source::Sync(_));
                    let verdict = self.judge(early.block.clone(), false, synced).await?;
                    if let Some(undecided) = self.undecided.get_mut(&id) {
                        undecided.verdict = verdict;
                    }
                }
                let seen = self
                    .undecided
                    .iter()
                    .filter(|(_, u)| u.round == round && u.block.header.height == height.0)
                    .filter_map(|(id, u)| u.proposed_value(*id))
                    .collect();
                let _ = reply_value.send(seen);
            }
            AppMsg::GetValue { height, round, reply, .. } => {
                let me = self.me.ok_or_else(|| ConsensusError::Protocol("asked to propose without a key".into()))?;
                // Catching up, the height is decided already: sync brought its block, or a peer
                // sent the tip's focus because it held the height decided. A proposal would
                // cost a block's derivation, a synced write and its broadcast (and the solve
                // the peer saved) for a value nobody decides. The request goes unanswered
                // (Malachite logs that), so the round's proposal times out; a later round (the
                // peer was wrong) proposes.
                let synced_here = self
                    .undecided
                    .values()
                    .any(|u| matches!(u.source, Source::Sync(_)) && u.block.header.height == height.0);
                if round == Round::new(0) && (synced_here || self.node.awaits_peers_focus()) {
                    tracing::info!(%height, "not proposing while catching up: peers hold this height decided");
                    drop(reply);
                    return Ok(());
                }
                let (proposal, block) = self.own_proposal(height, round).await?;
                let id = BlockId(block.header.cid());
                publish(channels, height, round, me, Round::Nil, &block).await?;
                let verdict = Verdict::Valid(Box::new(proposal));
                let undecided = Undecided {
                    round,
                    valid_round: Round::Nil,
                    proposer: me,
                    block,
                    verdict,
                    source: Source::Proposal,
                };
                self.undecided.insert(id, undecided);
                let _ = reply.send(LocallyProposedValue::new(height, round, id));
            }
            AppMsg::ReceivedProposalPart { from, published_by, part, reply } => {
                let value = match self.reassembly.receive(published_by.unwrap_or(from), part) {
                    Some(assembled) => self.received(assembled, Source::Proposal).await?,
                    None => None,
                };
                let _ = reply.send(value);
            }
            AppMsg::RestreamProposal { height, round, valid_round, address, value_id } => {
                if let Some(undecided) = self.undecided.get(&value_id) {
                    publish(channels, height, round, address, valid_round, &undecided.block).await?;
                }
            }
            AppMsg::Decided { certificate, reply, .. } => {
                self.commit(&certificate).await?;
                let _ = reply.send(());
            }
            AppMsg::Finalized { certificate, reply, .. } => {
                let params = self.params()?;
                let next = match self.next_height() > certificate.height {
                    true => {
                        let committed = certificate.height.0;
                        self.undecided.retain(|_, u| u.block.header.height > committed);
                        Next::Start(Height(committed + 1), params)
                    }
                    false => Next::Restart(certificate.height, params),
                };
                let _ = reply.send(next);
            }
            AppMsg::GetHistoryMinHeight { reply } => {
                let _ = reply.send(Height(1));
            }
            AppMsg::GetDecidedValues { range, reply } => {
                let (start, end) = (range.start().0, range.end().0.min(range.start().0 + self.pace.max_sync_batch - 1));
                let (node, limit) = (Arc::clone(&self.node), self.answer_limit);
                let values = blocking(move || decided_values(&node, start, end, limit)).await??;
                let _ = reply.send(values);
            }
            AppMsg::ProcessSyncedValue { height, round, proposer, value_bytes, reply } => {
                let value = match synced::decode(&value_bytes) {
                    Ok((block, focus)) => {
                        let assembled = Assembled { height, round, proposer, valid_round: Round::Nil, block };
                        self.received(assembled, Source::Sync(focus)).await?
                    }
                    Err(error) => {
                        tracing::warn!(%height, %error, "a synced value is no block");
                        None
                    }
                };
                let outcome = match value {
                    Some(value) => SyncedValueOutcome::Verdict(value),
                    None => SyncedValueOutcome::PeerFault,
                };
                let _ = reply.send(outcome);
            }
            AppMsg::ExtendVote { reply, .. } => {
                let _ = reply.send(None);
            }
            AppMsg::VerifyVoteExtensions { extensions, reply, .. } => {
                // This chain's votes carry none; any that arrive are refused.
                let verdicts = extensions
                    .into_iter()
                    .map(|(address, _)| {
                        (address, Err(malachitebft_core_consensus::VoteExtensionError::InvalidVoteExtension))
                    })
                    .collect();
                let _ = reply.send(verdicts);
            }
        }
        Ok(())
    }

    /// The block this node proposes at `height` and `round`, derived and as it travels: the one
    /// it proposed there before (kept across restarts, derived again on this tip), or a new one
    /// from its mempool, kept before it is published.
    async fn own_proposal(&self, height: Height, round: Round) -> Result<(engine::Proposal, ProposedBlock)> {
        let node = Arc::clone(&self.node);
        let round = round.as_u32().ok_or_else(|| ConsensusError::Protocol("asked to propose in no round".into()))?;
        blocking(move || -> Result<_> {
            if let Some(block) = node.own_proposal(height.0, round)? {
                return Ok((node.validate_proposal(block.clone())?, block));
            }
            let proposal = node.propose_block(now_millis())?;
            let block = proposal.to_proposed();
            node.keep_own_proposal(height.0, round, &block)?;
            Ok((proposal, block))
        })
        .await?
    }

    /// A block received from a peer (live) or from sync: decoded and, at the next height,
    /// validated by the node. `None` when the bytes are no block or no value for consensus.
    async fn received(&mut self, assembled: Assembled, source: Source) -> Result<Option<ProposedValue<Cybergraph>>> {
        let Assembled { height, round, proposer, valid_round, block } = assembled;
        let live = matches!(source, Source::Proposal);
        let block = match ProposedBlock::decode(&block) {
            Ok(block) if block.header.height == height.0 => block,
            Ok(_) | Err(_) => {
                tracing::warn!(%height, %round, %proposer, "a proposal's parts are no block of its height");
                return Ok(None);
            }
        };
        let next = self.next_height();
        if height < next {
            return Ok(None);
        }
        if height.0 > next.0 + MAX_HEIGHTS_AHEAD {
            tracing::warn!(%height, %next, %proposer, "a proposal too far ahead of this node's tip dropped");
            return Ok(None);
        }
        // At the next height the validator set is known: a live block must come from the
        // round's proposer (consensus checks the signed proposal; this keeps a peer from making
        // this node validate blocks no proposer stands behind).
        if live && height == next && self.params()?.validator_set.proposer(height, round).address != proposer {
            tracing::warn!(%height, %round, %proposer, "a proposal from a validator that does not propose this round");
            return Ok(None);
        }
        let id = BlockId(block.header.cid());
        let held_at_height = self.undecided.values().filter(|u| u.block.header.height == height.0).count();
        if !self.undecided.contains_key(&id) && held_at_height >= MAX_BLOCKS_PER_HEIGHT {
            tracing::warn!(%height, %round, %proposer, "too many undecided blocks at one height; this one dropped");
            return Ok(None);
        }
        // A later height's block waits, unanswered, until that height is next (`StartedRound`).
        let verdict = match height == next {
            true => self.judge(block.clone(), live && valid_round == Round::Nil, !live).await?,
            false => Verdict::Pending,
        };
        let undecided = Undecided { round, valid_round, proposer, block, verdict, source };
        let value = undecided.proposed_value(id);
        self.undecided.insert(id, undecided);
        Ok(value)
    }

    /// Whether this node's state machine derives the block. `fresh`: a new proposal, whose time
    /// may not run ahead of this node's clock by more than the drift allowance (a re-proposal
    /// of a locked block keeps its old time, and the parent's time bounds it from below).
    /// `synced`: the block came by sync, so it may build on the focus a peer sent
    /// ([`Node::validate_synced`]).
    async fn judge(&self, block: ProposedBlock, fresh: bool, synced: bool) -> Result<Verdict> {
        let height = block.header.height;
        if fresh {
            let ahead = block.header.time.saturating_sub(now_millis());
            if ahead > self.pace.max_clock_drift.as_millis() as u64 {
                tracing::warn!(height, ahead_ms = ahead, "a proposal's time runs ahead of this node's clock");
                return Ok(Verdict::Invalid);
            }
        }
        let node = Arc::clone(&self.node);
        let validate = move || if synced { node.validate_synced(block) } else { node.validate_proposal(block) };
        Ok(match blocking(validate).await? {
            Ok(proposal) => Verdict::Valid(Box::new(proposal)),
            Err(error) => {
                tracing::warn!(height, %error, "proposal refused");
                Verdict::Invalid
            }
        })
    }

    /// Commits the decided block with its certificate: as this node derived it, or — decided
    /// without this node's vote for it — derived now. One this node never saw cannot be
    /// committed, and consensus restarts the height (sync then brings it).
    async fn commit(&mut self, certificate: &CommitCertificate<Cybergraph>) -> Result<()> {
        let Some(undecided) = self.undecided.get_mut(&certificate.value_id) else {
            tracing::error!(height = %certificate.height, value = %certificate.value_id, "decided a block this node does not hold");
            return Ok(());
        };
        let derived = match &undecided.verdict {
            Verdict::Valid(proposal) => Ok(proposal.as_ref().clone()),
            Verdict::Pending | Verdict::Invalid => Err(undecided.block.clone()),
        };
        let next_focus = match &mut undecided.source {
            Source::Sync(focus) => focus.take(),
            Source::Proposal => None,
        };
        let encoded = BorshCodec.encode(certificate)?;
        let node = Arc::clone(&self.node);
        let height = certificate.height;
        let summary = blocking(move || -> engine::Result<_> {
            let proposal = match derived {
                Ok(proposal) => proposal,
                Err(block) => node.validate_proposal(block)?,
            };
            node.commit_decided(proposal, &encoded, next_focus)
        })
        .await?;
        match summary {
            Ok(summary) => tracing::info!(%height, txs = summary.txs, links = summary.links, "decided block committed"),
            Err(error) => tracing::error!(%height, %error, "a decided block does not commit here"),
        }
        Ok(())
    }
}

/// Streams a block as proposal parts.
async fn publish(
    channels: &mut Channels<Cybergraph>,
    height: Height,
    round: Round,
    proposer: ValidatorAddress,
    valid_round: Round,
    block: &ProposedBlock,
) -> Result<()> {
    for part in parts::cut(parts::stream_id(height, round), height, round, proposer, valid_round, &block.encode()) {
        channels
            .network
            .send(NetworkMsg::PublishProposalPart(part))
            .await
            .map_err(|e| ConsensusError::Stopped(format!("network: {e}")))?;
    }
    Ok(())
}

/// The largest encoding of a block the engine accepts: its transactions' byte budget plus each
/// one's CBOR framing (at most 24 bytes: a map of `bytes` and `signature` with their headers; a
/// transaction takes at least its 64-byte signature of the budget) and the header.
pub(crate) fn max_block_bytes(node: &Node) -> usize {
    const TX_FRAMING: usize = 24;
    const HEADER: usize = 4096;
    let budget = node.params().max_block_tx_bytes;
    budget + budget / engine::SIGNATURE_BYTES * TX_FRAMING + HEADER
}

/// Decided blocks `start..=end` with their certificates, as far as this node holds them and
/// they fit in `limit` bytes (the first always does: `service::start` checks the largest block).
/// Each carries the focus after it where the next block is here to certify it, and while the
/// answer has room: a node catching up then stores it instead of solving. A value whose focus
/// does not fit ends the answer, so the next request asks for it first; alone in an answer it
/// goes without (its receiver solves).
fn decided_values(node: &Node, start: u64, end: u64, limit: usize) -> Result<Vec<RawDecidedValue<Cybergraph>>> {
    let tip = node.query().status().counts.height;
    let mut values = Vec::new();
    let mut bytes = 0;
    for height in start..=end {
        let Some((block, Some(certificate))) = node.decided_block(height)? else {
            break;
        };
        let certificate: CommitCertificate<Cybergraph> = BorshCodec.decode(Bytes::from(certificate))?;
        let block = block.encode();
        let plain = block.len() + CERTIFICATE_ALLOWANCE;
        if !values.is_empty() && bytes + plain > limit {
            break;
        }
        let focus = match height < tip {
            true => node.focus_transfer(height)?,
            false => None,
        };
        let focus = match focus {
            Some(focus) if bytes + plain + synced::focus_bytes(focus.leaves.len()) > limit => {
                if !values.is_empty() {
                    break;
                }
                None
            }
            focus => focus,
        };
        let value = Bytes::from(synced::encode(block, focus)?);
        bytes += value.len() + CERTIFICATE_ALLOWANCE;
        let certificate =
            ExtendedCommitCertificate::from_commit_certificate_and_extensions(certificate, VoteExtensions::default());
        values.push(RawDecidedValue::new(value, certificate));
    }
    Ok(values)
}
