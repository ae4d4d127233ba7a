//! The compiler: distils the focus into a small transformer that answers "what is related to
//! these particles" in one forward pass (spec/compiled-transformer.md).

mod linalg;
pub mod model;

pub use model::{Contexts, Model, Shape};
