//! Our [`Context`] for Malachite: what a height, an address, a value, a vote and a proposal are
//! on this chain, and how a proposer is chosen.
//!
//! The value consensus decides is a block header's CID ([`BlockId`]); the block itself travels
//! beside the proposal as parts ([`ProposalPart`]) and every validator derives its header again
//! before voting for it (`engine::Node::validate_proposal`).

use std::fmt;

use borsh::{BorshDeserialize, BorshSerialize};
use ipld_core::cid::Cid;
use malachitebft_core_types::{self as core, LinearTimeouts, NilOrVal, Round, SignedExtension, VoteType, VotingPower};
use sha2::{Digest, Sha256};

use crate::{
    error::{ConsensusError, Result},
    signing::{Ed25519, PublicKey},
};

/// A chain height (block number); consensus starts at 1, block 0 is the genesis block.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, BorshSerialize, BorshDeserialize)]
pub struct Height(pub u64);

impl fmt::Display for Height {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl core::Height for Height {
    const ZERO: Self = Height(0);
    const INITIAL: Self = Height(1);

    fn increment_by(&self, n: u64) -> Self {
        Height(self.0 + n)
    }

    fn decrement_by(&self, n: u64) -> Option<Self> {
        self.0.checked_sub(n).map(Height)
    }

    fn as_u64(&self) -> u64 {
        self.0
    }
}

/// A validator: its ed25519 public key, shown as the neuron address of that key.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, BorshSerialize, BorshDeserialize)]
pub struct ValidatorAddress(pub [u8; 32]);

impl ValidatorAddress {
    /// The engine's (bech32) form of the same key.
    pub fn neuron(&self) -> engine::Address {
        engine::Address(self.0)
    }
}

impl From<engine::Address> for ValidatorAddress {
    fn from(address: engine::Address) -> Self {
        ValidatorAddress(address.0)
    }
}

impl fmt::Display for ValidatorAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.neuron().fmt(f)
    }
}

impl fmt::Debug for ValidatorAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Validator({self})")
    }
}

impl core::Address for ValidatorAddress {}

/// The value consensus decides: the CID of a block header (which commits to the block's
/// transactions, links and the focus of its parent's state).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BlockId(pub Cid);

impl fmt::Display for BlockId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl fmt::Debug for BlockId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BlockId({})", self.0)
    }
}

impl BorshSerialize for BlockId {
    fn serialize<W: borsh::io::Write>(&self, writer: &mut W) -> borsh::io::Result<()> {
        self.0.to_bytes().serialize(writer)
    }
}

impl BorshDeserialize for BlockId {
    fn deserialize_reader<R: borsh::io::Read>(reader: &mut R) -> borsh::io::Result<Self> {
        let bytes = Vec::<u8>::deserialize_reader(reader)?;
        let cid = Cid::try_from(bytes.as_slice())
            .map_err(|e| borsh::io::Error::new(borsh::io::ErrorKind::InvalidData, e.to_string()))?;
        Ok(BlockId(cid))
    }
}

impl core::Value for BlockId {
    type Id = BlockId;

    fn id(&self) -> BlockId {
        *self
    }
}

/// A validator with its voting power at some height.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Validator {
    /// Its key as an address.
    pub address: ValidatorAddress,
    /// Its key.
    pub public_key: PublicKey,
    /// Its voting power.
    pub power: VotingPower,
}

impl Validator {
    /// A validator of `power` whose key is `address`; `None` when the bytes are not an ed25519
    /// point.
    pub fn new(address: ValidatorAddress, power: VotingPower) -> Option<Self> {
        Some(Validator { address, public_key: PublicKey::from_bytes(&address.0)?, power })
    }
}

impl core::Validator<Cybergraph> for Validator {
    fn address(&self) -> &ValidatorAddress {
        &self.address
    }

    fn public_key(&self) -> &PublicKey {
        &self.public_key
    }

    fn voting_power(&self) -> VotingPower {
        self.power
    }
}

/// The validators of one height, sorted by address, none with zero power.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidatorSet {
    validators: Vec<Validator>,
    total: VotingPower,
}

impl ValidatorSet {
    /// A set of these validators: sorted by address, zero powers dropped. `None` when an
    /// address is listed twice, none has power, or `3 × total` overflows 64 bits.
    pub fn new(validators: impl IntoIterator<Item = Validator>) -> Option<Self> {
        let mut validators: Vec<Validator> = validators.into_iter().filter(|v| v.power > 0).collect();
        validators.sort_by_key(|v| v.address);
        if validators.is_empty() || validators.windows(2).any(|w| w[0].address == w[1].address) {
            return None;
        }
        let total = validators.iter().try_fold(0u64, |sum, v| sum.checked_add(v.power))?;
        total.checked_mul(3)?;
        Some(ValidatorSet { validators, total })
    }

    /// The set of the engine's validators (those the committed state names for a height).
    pub fn of(validators: &[engine::GenesisValidator]) -> Result<Self> {
        let validators = validators
            .iter()
            .map(|v| {
                Validator::new(v.address.into(), v.power)
                    .ok_or_else(|| ConsensusError::Config(format!("validator {} is not an ed25519 key", v.address)))
            })
            .collect::<Result<Vec<_>>>()?;
        ValidatorSet::new(validators)
            .ok_or_else(|| ConsensusError::Config("the chain has no validators (or an invalid set)".into()))
    }

    /// The validators, by address.
    pub fn validators(&self) -> &[Validator] {
        &self.validators
    }

    /// The proposer of `height` and `round`: a point in `[0, total)` drawn from
    /// `sha256(height ‖ round)`, walked over the cumulative powers. Stateless, so every node
    /// (and one that restarts) computes the same, and a validator proposes in proportion to
    /// its power.
    pub fn proposer(&self, height: Height, round: Round) -> &Validator {
        let round = round.as_i64();
        let digest = Sha256::new().chain_update(height.0.to_be_bytes()).chain_update(round.to_be_bytes()).finalize();
        let draw = u128::from_be_bytes(digest[..16].try_into().expect("16 bytes"));
        let mut point = (draw % u128::from(self.total)) as u64;
        for validator in &self.validators {
            if point < validator.power {
                return validator;
            }
            point -= validator.power;
        }
        unreachable!("the point lies below the total power")
    }
}

impl core::ValidatorSet<Cybergraph> for ValidatorSet {
    fn count(&self) -> usize {
        self.validators.len()
    }

    fn total_voting_power(&self) -> VotingPower {
        self.total
    }

    fn get_by_address(&self, address: &ValidatorAddress) -> Option<&Validator> {
        self.validators.binary_search_by_key(address, |v| v.address).ok().map(|i| &self.validators[i])
    }

    fn get_by_index(&self, index: usize) -> Option<&Validator> {
        self.validators.get(index)
    }
}

/// A prevote or precommit.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Vote {
    /// Prevote or precommit.
    pub kind: VoteType,
    /// The height voted on.
    pub height: Height,
    /// The round voted in.
    pub round: Round,
    /// The block voted for, or nil.
    pub value: NilOrVal<BlockId>,
    /// Who votes.
    pub validator: ValidatorAddress,
    /// Unused: this chain's votes carry no extension.
    pub extension: Option<SignedExtension<Cybergraph>>,
}

impl Vote {
    /// The bytes a validator signs: a domain tag, then the vote without its extension.
    pub fn signing_bytes(&self) -> Vec<u8> {
        let fields = (self.kind, self.height, self.round, self.value, self.validator);
        [b"cybergraph/vote/1".as_slice(), &borsh::to_vec(&fields).expect("a vote encodes")].concat()
    }
}

impl core::Vote<Cybergraph> for Vote {
    fn height(&self) -> Height {
        self.height
    }

    fn round(&self) -> Round {
        self.round
    }

    fn value(&self) -> &NilOrVal<BlockId> {
        &self.value
    }

    fn take_value(self) -> NilOrVal<BlockId> {
        self.value
    }

    fn vote_type(&self) -> VoteType {
        self.kind
    }

    fn validator_address(&self) -> &ValidatorAddress {
        &self.validator
    }

    fn extension(&self) -> Option<&SignedExtension<Cybergraph>> {
        self.extension.as_ref()
    }

    fn take_extension(&mut self) -> Option<SignedExtension<Cybergraph>> {
        self.extension.take()
    }

    fn extend(self, extension: SignedExtension<Cybergraph>) -> Self {
        Vote { extension: Some(extension), ..self }
    }
}

/// A proposer's signed claim: this block for this height and round.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Proposal {
    /// The height.
    pub height: Height,
    /// The round.
    pub round: Round,
    /// The block.
    pub value: BlockId,
    /// The round the proposer saw a polka for this block in (re-proposal), or nil.
    pub pol_round: Round,
    /// The proposer.
    pub proposer: ValidatorAddress,
}

impl Proposal {
    /// The bytes the proposer signs: a domain tag, then the proposal.
    pub fn signing_bytes(&self) -> Vec<u8> {
        [b"cybergraph/proposal/1".as_slice(), &borsh::to_vec(self).expect("a proposal encodes")].concat()
    }
}

impl core::Proposal<Cybergraph> for Proposal {
    fn height(&self) -> Height {
        self.height
    }

    fn round(&self) -> Round {
        self.round
    }

    fn value(&self) -> &BlockId {
        &self.value
    }

    fn take_value(self) -> BlockId {
        self.value
    }

    fn pol_round(&self) -> Round {
        self.pol_round
    }

    fn validator_address(&self) -> &ValidatorAddress {
        &self.proposer
    }
}

/// One part of a streamed proposal: who proposes what where, then the block's canonical bytes
/// in chunks, then the end. The block's header CID is the value the signed [`Proposal`] names,
/// so the parts need no signature of their own: bytes that hash to another header are another
/// value, which no proposal of the round's proposer vouches for.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum ProposalPart {
    /// The first part.
    Init {
        /// The height.
        height: Height,
        /// The round.
        round: Round,
        /// The round's proposer.
        proposer: ValidatorAddress,
        /// The round of the polka behind a re-proposal, or nil.
        valid_round: Round,
    },
    /// A chunk of `engine::ProposedBlock`'s canonical bytes.
    Data(Vec<u8>),
    /// The last part.
    Fin,
}

impl core::ProposalPart<Cybergraph> for ProposalPart {
    fn is_first(&self) -> bool {
        matches!(self, ProposalPart::Init { .. })
    }

    fn is_last(&self) -> bool {
        matches!(self, ProposalPart::Fin)
    }
}

/// This chain's consensus context. Carries nothing: what differs between chains (the chain id)
/// is in the signing domain of the keys' holder ([`crate::signing::Keys`]).
#[derive(Clone, Copy, Debug, Default)]
pub struct Cybergraph;

impl core::Context for Cybergraph {
    type Address = ValidatorAddress;
    type Height = Height;
    type ProposalPart = ProposalPart;
    type Proposal = Proposal;
    type Validator = Validator;
    type ValidatorSet = ValidatorSet;
    type Timeouts = LinearTimeouts;
    type Value = BlockId;
    type Vote = Vote;
    type Extension = ();
    type SigningScheme = Ed25519;

    fn select_proposer<'a>(&self, validator_set: &'a ValidatorSet, height: Height, round: Round) -> &'a Validator {
        validator_set.proposer(height, round)
    }

    fn new_proposal(
        &self,
        height: Height,
        round: Round,
        value: BlockId,
        pol_round: Round,
        proposer: ValidatorAddress,
    ) -> Proposal {
        Proposal { height, round, value, pol_round, proposer }
    }

    fn new_prevote(&self, height: Height, round: Round, value: NilOrVal<BlockId>, validator: ValidatorAddress) -> Vote {
        Vote { kind: VoteType::Prevote, height, round, value, validator, extension: None }
    }

    fn new_precommit(
        &self,
        height: Height,
        round: Round,
        value: NilOrVal<BlockId>,
        validator: ValidatorAddress,
    ) -> Vote {
        Vote { kind: VoteType::Precommit, height, round, value, validator, extension: None }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn validator(seed: u8, power: u64) -> Validator {
        let key = ed25519_dalek::SigningKey::from_bytes(&[seed; 32]);
        Validator::new(ValidatorAddress(key.verifying_key().to_bytes()), power).unwrap()
    }

    #[test]
    fn proposers_are_drawn_in_proportion_to_power_and_agree_everywhere() {
        let set = ValidatorSet::new([validator(1, 35), validator(2, 25), validator(3, 25), validator(4, 15)]).unwrap();
        let mut counts = std::collections::HashMap::new();
        for height in 1..=4_000 {
            *counts.entry(set.proposer(Height(height), Round::new(0)).address).or_insert(0u32) += 1;
        }
        for v in set.validators() {
            let share = f64::from(counts[&v.address]) / 4_000.0;
            let expected = v.power as f64 / 100.0;
            assert!((share - expected).abs() < 0.03, "{}: {share} vs {expected}", v.address);
        }
        let again =
            ValidatorSet::new([validator(4, 15), validator(3, 25), validator(2, 25), validator(1, 35)]).unwrap();
        assert_eq!(again, set, "the order validators are listed in does not matter");
        assert_ne!(
            (0..8)
                .map(|r| set.proposer(Height(9), Round::new(r)).address)
                .collect::<std::collections::HashSet<_>>()
                .len(),
            1,
            "later rounds move to other proposers"
        );
    }

    #[test]
    fn a_set_refuses_duplicates_no_power_and_overflow() {
        assert!(ValidatorSet::new([validator(1, 1), validator(1, 2)]).is_none());
        assert!(ValidatorSet::new([validator(1, 0)]).is_none());
        assert!(ValidatorSet::new([validator(1, u64::MAX / 2), validator(2, 1)]).is_none());
        let set = ValidatorSet::new([validator(1, 0), validator(2, 5)]).unwrap();
        assert_eq!(set.validators().len(), 1, "zero power is dropped");
    }
}
