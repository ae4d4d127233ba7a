//! Typed ids: the dense indices (assigned in commit order, never reused, and identical on every
//! node that applies the same blocks) and a neuron's [`Address`].

use std::{fmt, str::FromStr};

use bech32::{Bech32, Hrp};
use serde::{Deserialize, Serialize};

macro_rules! dense_id {
    ($(#[$doc:meta])* $name:ident($inner:ty)) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(pub $inner);

        impl $name {
            /// Big-endian bytes: keys sort in index order in the store.
            pub fn to_be_bytes(self) -> [u8; std::mem::size_of::<$inner>()] {
                self.0.to_be_bytes()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

dense_id!(
    /// A particle's position in the graph, `0..particles`. `u32`: the CSR uses `u32` columns.
    ParticleIdx(u32)
);
dense_id!(
    /// A neuron's position, `0..neurons`, assigned when its first transaction commits.
    NeuronIdx(u32)
);
dense_id!(
    /// A block height; the genesis block is height 0.
    Height(u64)
);
dense_id!(
    /// A committed link's position in commit order; a block's links are one contiguous range.
    LinkIdx(u64)
);

/// The human-readable part of every neuron address.
pub const ADDRESS_PREFIX: &str = "neuron";

/// A neuron's identity: its 32-byte ed25519 public key, shown as bech32 `neuron1…`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Address(pub [u8; 32]);

impl Address {
    /// The raw public key.
    pub fn public_key(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hrp = Hrp::parse(ADDRESS_PREFIX).expect("the prefix is a valid human-readable part");
        bech32::encode_lower_to_fmt::<Bech32, _>(f, hrp, &self.0).map_err(|_| fmt::Error)
    }
}

impl fmt::Debug for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Address({self})")
    }
}

/// An address that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("address {input:?}: {reason}")]
pub struct AddressError {
    input: String,
    reason: String,
}

impl FromStr for Address {
    type Err = AddressError;

    fn from_str(s: &str) -> Result<Self, AddressError> {
        let invalid = |reason: String| AddressError { input: s.to_owned(), reason };
        let (hrp, data) = bech32::decode(s).map_err(|e| invalid(e.to_string()))?;
        if hrp.as_str() != ADDRESS_PREFIX {
            return Err(invalid(format!("prefix is {hrp:?}, expected {ADDRESS_PREFIX:?}")));
        }
        let key: [u8; 32] = data.try_into().map_err(|d: Vec<u8>| invalid(format!("{} bytes, expected 32", d.len())))?;
        Ok(Address(key))
    }
}

impl Serialize for Address {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Address {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(|e: AddressError| serde::de::Error::custom(format!("invalid key: {e}")))
    }
}
