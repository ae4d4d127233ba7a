//! The compiler distils focus π* into a small transformer that answers "what is related to
//! these particles" in milliseconds (spec/compiled-transformer.md). Its work is tracked by its
//! own issue; nothing else in the workspace depends on this crate yet.
