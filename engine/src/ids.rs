//! Typed dense indices. Indices are assigned in commit order, never reused, and identical on
//! every node that applies the same blocks.

use std::fmt;

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
