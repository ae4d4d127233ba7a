//! Several nodes, one chain: Malachite's BFT engine decides each block; the node proposes,
//! validates and commits it. The only crate that depends on Malachite.

pub mod codec;
pub mod context;
pub mod parts;
pub mod signing;
