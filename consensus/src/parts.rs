//! Proposals as streams of parts: a block is cut into [`ProposalPart`]s to publish, and parts
//! received from peers are put back together, within bounds a hostile peer cannot push past.

use std::collections::{BTreeMap, HashMap, VecDeque};

use malachitebft_core_types::Round;
use malachitebft_engine::util::streaming::{StreamContent, StreamId, StreamMessage};
use malachitebft_peer::PeerId;

use crate::context::{Height, ProposalPart, ValidatorAddress};

/// Bytes of block per data part (gossip messages stay well under the network's 4 MiB cap).
const CHUNK: usize = 256 * 1024;

/// Streams being received at once; the oldest is dropped past this.
const MAX_STREAMS: usize = 64;

/// Bytes buffered across all streams, in blocks of the largest size: the oldest streams are
/// dropped past this, so many streams near the block limit cannot pile up.
const MAX_BUFFERED_BLOCKS: usize = 4;

/// Parts of a stream beyond its data chunks: Init, Fin, and the stream's end marker.
const FRAMING_PARTS: u64 = 3;

/// The parts of one proposal, in publishing order (the stream's end marker included).
pub fn cut(
    stream: StreamId,
    height: Height,
    round: Round,
    proposer: ValidatorAddress,
    valid_round: Round,
    block: &[u8],
) -> Vec<StreamMessage<ProposalPart>> {
    let mut parts = vec![ProposalPart::Init { height, round, proposer, valid_round }];
    parts.extend(block.chunks(CHUNK).map(|chunk| ProposalPart::Data(chunk.to_vec())));
    parts.push(ProposalPart::Fin);
    let mut messages: Vec<_> = parts
        .into_iter()
        .enumerate()
        .map(|(i, part)| StreamMessage::new(stream.clone(), i as u64, StreamContent::Data(part)))
        .collect();
    messages.push(StreamMessage::new(stream, messages.len() as u64, StreamContent::Fin));
    messages
}

/// A stream's id: height and round, which a proposer streams one block for.
pub fn stream_id(height: Height, round: Round) -> StreamId {
    let mut bytes = height.0.to_be_bytes().to_vec();
    bytes.extend_from_slice(&round.as_i64().to_be_bytes());
    StreamId::new(bytes.into())
}

/// A proposal put back together.
#[derive(Debug, PartialEq, Eq)]
pub struct Assembled {
    /// The height it is for.
    pub height: Height,
    /// The round.
    pub round: Round,
    /// Who claims to propose it (consensus checks the signed proposal against it).
    pub proposer: ValidatorAddress,
    /// The round of the polka behind a re-proposal, or nil.
    pub valid_round: Round,
    /// The block's canonical bytes.
    pub block: Vec<u8>,
}

#[derive(Default)]
struct Partial {
    parts: BTreeMap<u64, StreamContent<ProposalPart>>,
    bytes: usize,
}

/// Streams being received, by publisher and stream id.
pub struct Reassembly {
    max_block_bytes: usize,
    streams: HashMap<(PeerId, StreamId), Partial>,
    arrival: VecDeque<(PeerId, StreamId)>,
    /// Data bytes held across `streams`.
    buffered: usize,
}

impl Reassembly {
    /// Refuses (drops) any stream whose data passes `max_block_bytes`.
    pub fn new(max_block_bytes: usize) -> Self {
        Reassembly { max_block_bytes, streams: HashMap::new(), arrival: VecDeque::new(), buffered: 0 }
    }

    /// Takes one part; answers the proposal when this part completes its stream. A stream that
    /// grows past the block limit, repeats a sequence number or breaks the Init … Fin shape is
    /// dropped.
    pub fn receive(&mut self, publisher: PeerId, message: StreamMessage<ProposalPart>) -> Option<Assembled> {
        let key = (publisher, message.stream_id.clone());
        if !self.streams.contains_key(&key) {
            if self.streams.len() == MAX_STREAMS
                && let Some(oldest) = self.arrival.front().cloned()
            {
                self.forget(&oldest);
            }
            self.arrival.push_back(key.clone());
        }
        // A sequence number past the most parts a block of the limit needs is no part of it.
        let max_sequence = (self.max_block_bytes / CHUNK) as u64 + FRAMING_PARTS;
        let partial = self.streams.entry(key.clone()).or_default();
        if let StreamContent::Data(ProposalPart::Data(chunk)) = &message.content {
            partial.bytes += chunk.len();
            self.buffered += chunk.len();
        }
        let over = partial.bytes > self.max_block_bytes || message.sequence > max_sequence;
        let repeated = partial.parts.insert(message.sequence, message.content).is_some();
        if over || repeated {
            self.forget(&key);
            return None;
        }
        let complete = matches!(partial.parts.last_key_value(), Some((last, StreamContent::Fin)) if *last + 1 == partial.parts.len() as u64);
        if !complete {
            while self.buffered > MAX_BUFFERED_BLOCKS * self.max_block_bytes
                && let Some(oldest) = self.arrival.front().cloned()
            {
                self.forget(&oldest);
            }
            return None;
        }
        let partial = self.forget(&key)?;
        assemble(partial.parts.into_values())
    }

    fn forget(&mut self, key: &(PeerId, StreamId)) -> Option<Partial> {
        self.arrival.retain(|k| k != key);
        let partial = self.streams.remove(key)?;
        self.buffered -= partial.bytes;
        Some(partial)
    }
}

/// A complete stream's parts, in order: Init, Data…, Fin (part), Fin (stream).
fn assemble(parts: impl Iterator<Item = StreamContent<ProposalPart>>) -> Option<Assembled> {
    let mut parts = parts.map(|content| content.into_data());
    let Some(Some(ProposalPart::Init { height, round, proposer, valid_round })) = parts.next() else {
        return None;
    };
    let mut block = Vec::new();
    let mut finished = false;
    for part in parts {
        match (finished, part) {
            (false, Some(ProposalPart::Data(chunk))) => block.extend_from_slice(&chunk),
            (false, Some(ProposalPart::Fin)) => finished = true,
            (true, None) => return Some(Assembled { height, round, proposer, valid_round, block }),
            _ => return None,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A peer id: the identity multihash of 32 bytes.
    fn peer(n: u8) -> PeerId {
        PeerId::from_bytes(&[[0u8, 32].as_slice(), &[n; 32]].concat()).unwrap()
    }

    fn proposer() -> ValidatorAddress {
        ValidatorAddress([3; 32])
    }

    #[test]
    fn parts_received_in_any_order_give_the_block_back() {
        let block: Vec<u8> = (0..(CHUNK * 2 + 17)).map(|i| (i % 251) as u8).collect();
        let (height, round) = (Height(7), Round::new(2));
        let mut parts = cut(stream_id(height, round), height, round, proposer(), Round::Nil, &block);
        assert_eq!(parts.len(), 1 + 3 + 1 + 1);
        parts.reverse();
        let mut reassembly = Reassembly::new(block.len());
        let from = peer(1);
        let last = parts.pop().unwrap();
        for part in parts {
            assert_eq!(reassembly.receive(from, part), None);
        }
        let assembled = reassembly.receive(from, last).unwrap();
        assert_eq!(assembled, Assembled { height, round, proposer: proposer(), valid_round: Round::Nil, block });
    }

    #[test]
    fn a_stream_past_the_block_limit_or_with_a_repeated_part_is_dropped() {
        let block = vec![1u8; 1000];
        let (height, round) = (Height(1), Round::new(0));
        let parts = cut(stream_id(height, round), height, round, proposer(), Round::Nil, &block);
        let mut small = Reassembly::new(999);
        assert!(parts.iter().cloned().all(|p| small.receive(peer(1), p).is_none()), "over the limit");

        let mut reassembly = Reassembly::new(1000);
        let from = peer(2);
        assert!(reassembly.receive(from, parts[0].clone()).is_none());
        assert!(reassembly.receive(from, parts[0].clone()).is_none(), "a repeat drops the stream");
        assert!(parts[1..].iter().cloned().all(|p| reassembly.receive(from, p).is_none()), "no Init any more");

        let mut reassembly = Reassembly::new(1000);
        let mut hostile = parts.last().unwrap().clone();
        hostile.sequence = u64::MAX;
        assert!(reassembly.receive(from, hostile).is_none(), "a sequence past any block's parts is refused");
    }

    #[test]
    fn many_streams_near_the_block_limit_keep_only_the_newest_few_buffered() {
        let block = vec![5u8; CHUNK * 2];
        let mut reassembly = Reassembly::new(block.len());
        // Each stream sends all but its last part: its whole data stays buffered.
        for n in 0..(MAX_BUFFERED_BLOCKS as u8 * 3) {
            let (height, round) = (Height(u64::from(n) + 1), Round::new(0));
            let parts = cut(stream_id(height, round), height, round, proposer(), Round::Nil, &block);
            for part in &parts[..parts.len() - 1] {
                assert!(reassembly.receive(peer(n), part.clone()).is_none());
            }
            assert!(reassembly.buffered <= MAX_BUFFERED_BLOCKS * block.len(), "{} buffered", reassembly.buffered);
        }
        assert_eq!(reassembly.buffered, reassembly.streams.values().map(|p| p.bytes).sum::<usize>());
        // The newest stream is still whole.
        let n = MAX_BUFFERED_BLOCKS as u8 * 3 - 1;
        let (height, round) = (Height(u64::from(n) + 1), Round::new(0));
        let last = cut(stream_id(height, round), height, round, proposer(), Round::Nil, &block).pop().unwrap();
        assert_eq!(reassembly.receive(peer(n), last).unwrap().block, block);
    }
}
