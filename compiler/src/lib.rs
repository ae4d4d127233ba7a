//! The compiler: distils the focus into a small transformer that answers "what is related to
//! these particles" in one forward pass (spec/compiled-transformer.md).
//!
//! - [`conditional`]: the conditional focus by local push, ranked sparsely — the exact path of
//!   `related`, the teacher, and the hybrid's push head.
//! - [`teacher`]: held-out particles, training queries, targets.
//! - [`model`]: the transformer and its hand-written backward pass.
//! - [`train`]: the analytic initialisation (randomised SVD) and AdamW on the forward KL.
//! - [`file`]: the safetensors model file.
//! - `scan`: the int8 output scan, over every row or the clusters an index picks
//!   (clustered by `kmeans`).
//! - [`serve`]: the model alone and the served hybrid.
//! - [`eval`]: tie-aware recall@10, NDCG@10 and KL against the exact conditional.
//!
//! Invariant: the same graph, focus and [`Settings`] give the same model file, byte for byte, on
//! any thread count (every sum runs in a fixed order; `libm` gives every platform the same
//! `exp`/`log`).

pub mod conditional;
mod error;
pub mod eval;
pub mod file;
mod kmeans;
mod linalg;
pub mod model;
mod scan;
pub mod serve;
pub mod teacher;
pub mod train;

pub use conditional::{Graph, ScratchPool};
pub use error::{CompileError, Result};
pub use file::ModelFile;
pub use model::{Contexts, Model, Shape};
pub use scan::Scan;
pub use serve::{Answer, Path, Served};
pub use train::{Compiled, Proceed, Progress, Settings, compile};
