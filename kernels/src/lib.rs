//! Numeric kernels of the cybergraph node.
//!
//! This crate holds the data structures and loops that the focus computation runs on. It knows
//! nothing of CIDs, keys, blocks or storage: callers hand it dense `u32` indices.
//!
//! - [`LinkGraph`]: the cyberlink multigraph as a *transposed*, gapped CSR: one row per target
//!   particle listing its in-links `(source, neuron)` in ascending order. That is the layout a
//!   pull-based SpMV reads (spec/focus.md §4), and rows keep slack so a block's new links are
//!   inserted as a delta instead of rebuilding the matrix.
//!
//! Architecture invariant: kernels do no IO, read no clock and hold no locks.
//!
//! ```
//! use kernels::LinkGraph;
//! let mut g = LinkGraph::default();
//! assert!(g.insert(0, 1, 7));
//! assert!(!g.insert(0, 1, 7), "a (from, to, neuron) triple is stored once");
//! assert_eq!(g.in_links(1).len(), 1);
//! ```

mod graph;

pub use graph::{InLink, LinkGraph};
