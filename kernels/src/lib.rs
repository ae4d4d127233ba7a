//! Numeric kernels of the cybergraph node.
//!
//! This crate holds the data structures and loops that the focus computation runs on. It knows
//! nothing of CIDs, keys, blocks or storage: callers hand it dense `u32` indices.
//!
//! - [`LinkGraph`]: the cyberlink multigraph as a *transposed*, gapped CSR: one row per target
//!   particle listing its in-links `(source, neuron)` in ascending order, with slack so a block's
//!   links are inserted as a delta instead of rebuilding the matrix.
//! - [`FocusOperator`]: the tri-kernel operator `M = λ_d(1−α)P + λ_s S + λ_h H_τ` of a weighted
//!   graph and its fixed-point solver ([`FocusOperator::solve`]), the conditional focus and the
//!   incremental update by forward push ([`push`]).
//! - [`reduce`]: the fixed reduction tree that makes every sum bit-identical on any thread count.
//! - [`Csr`]: `u32`/`f64` CSR with the pull SpMV and its naive reference loop.
//! - [`synthetic`]: seeded R-MAT graphs for benchmarks and tests; [`edge_list`]: the plain
//!   `src dst [weight]` format graphs are exported and read in.
//! - [`dense`]: f32 matrices and their product, with a reference walk and a tiled one.
//! - [`backend`]: the [`Backend`] trait those operations run behind, on the [`Cpu`] and, in
//!   builds with the `cuda` feature, on a GPU ([`Cuda`]); [`Device`] is the node's choice.
//!
//! Architecture invariant: kernels do no IO, read no clock and hold no locks; every result is
//! a deterministic function of the inputs, whatever rayon's thread count.
//!
//! ```
//! use kernels::{FocusOperator, FocusParams};
//! // A directed triangle plus a dangling particle 3.
//! let edges = [(0, 1, 1.0), (1, 2, 1.0), (2, 0, 1.0), (2, 3, 1.0)];
//! let op = FocusOperator::from_edges(4, &edges, FocusParams::default()).unwrap();
//! let focus = op.solve(None);
//! assert!(focus.converged);
//! assert!((focus.pi.iter().sum::<f64>() - 1.0).abs() < 1e-12);
//! assert!(focus.pi.iter().all(|&p| p > 0.0));
//! ```

mod adjacency;
pub mod backend;
mod csr;
pub mod dense;
pub mod edge_list;
mod error;
mod focus;
mod graph;
pub mod push;
pub mod reduce;
mod rows;
pub mod synthetic;

pub use backend::{Backend, Cpu, Cuda, Device, Gpu};
pub use csr::Csr;
pub use error::{KernelError, Result};
pub use focus::{FocusOperator, FocusParams, FocusSolution, syntropy};
pub use graph::{InLink, LinkGraph};
pub use push::{LocalPush, PushLimits, PushResult, PushScratch};
