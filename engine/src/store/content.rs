//! Reading posted content.

use crate::{error::Result, particle::Particle};

/// Content posted through the API, by particle (not consensus state).
pub trait ContentReader {
    /// The content of a particle, if posted.
    fn content(&self, particle: &Particle) -> Result<Option<Vec<u8>>>;

    /// Visits every stored content with its particle, in the order of the particles' bytes,
    /// while `visit` returns `true`.
    fn for_each_content(&self, visit: &mut dyn FnMut(Particle, &[u8]) -> Result<bool>) -> Result<()>;
}
