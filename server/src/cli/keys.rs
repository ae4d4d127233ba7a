//! `cybergraph key new|show` and `cybergraph link`.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use engine::{NeuronKey, Particle};

#[derive(Subcommand, Debug)]
pub(super) enum KeyCommand {
    /// Generate a new ed25519 key and write it (never overwrites).
    New {
        /// Where to write the key.
        #[arg(long)]
        out: PathBuf,
    },
    /// Print a key file's address.
    Show {
        /// The key file.
        #[arg(long)]
        key: PathBuf,
    },
}

impl KeyCommand {
    pub(super) fn run(self) -> Result<()> {
        match self {
            KeyCommand::New { out } => {
                let key = NeuronKey::generate();
                key.write(&out).with_context(|| format!("writing {}", out.display()))?;
                println!("{}", key.address());
            }
            KeyCommand::Show { key } => println!("{}", NeuronKey::read(&key)?.address()),
        }
        Ok(())
    }
}

/// Signs `pairs` (FROM TO FROM TO …) with the key in `key` and submits them to `node`.
pub(super) fn link(key: &std::path::Path, node: &str, pairs: &[String]) -> Result<()> {
    if !pairs.len().is_multiple_of(2) {
        bail!("particles come in FROM TO pairs; got {} CIDs", pairs.len());
    }
    let key = NeuronKey::read(key)?;
    let pairs = pairs
        .chunks(2)
        .map(|pair| Ok((Particle::parse(&pair[0])?, Particle::parse(&pair[1])?)))
        .collect::<Result<Vec<_>>>()?;
    for receipt in crate::client::link(node, &key, &pairs)? {
        println!("{}", serde_json::to_string(&receipt)?);
    }
    Ok(())
}
