//! The compiler's errors.

/// What compiling, reading or serving a model can fail with.
#[derive(Debug, thiserror::Error)]
pub enum CompileError {
    /// A model file that is not one of ours (truncated, corrupt, another format).
    #[error("model file: {0}")]
    ModelFile(String),
}

/// The compiler's result type.
pub type Result<T, E = CompileError> = std::result::Result<T, E>;
