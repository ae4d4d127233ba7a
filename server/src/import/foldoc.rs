//! FOLDOC (the Free On-line Dictionary of Computing, Debian `dict-foldoc`) as a dataset: each
//! entry's text is a particle, each `{cross-reference}` to another entry a link made by the
//! neuron `foldoc/see-also`. References to terms without an entry (FOLDOC's to-do list, by its
//! editor's rule) and to URLs are dropped and counted. GNU FDL: `fixtures/foldoc/COPYRIGHT`.
//!
//! Format: dictd. `foldoc.index` lines are `headword TAB offset TAB length`, numbers in dictd's
//! base64 (most significant digit first); `foldoc.dict.dz` is dictzip (gzip-compatible).

use std::{collections::HashMap, io::Read, path::Path};

use anyhow::{Context, Result, bail};

use super::Dataset;

/// The neuron that signs FOLDOC's cross-references.
pub(crate) const NEURON: &str = "foldoc/see-also";

const SAMPLE_INDEX: &str = include_str!("../../../fixtures/foldoc/foldoc.index");
const SAMPLE_DICT: &[u8] = include_bytes!("../../../fixtures/foldoc/foldoc.dict");

const BASE64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn dictd_number(text: &str) -> Option<usize> {
    text.bytes().try_fold(0usize, |value, digit| {
        let d = BASE64.iter().position(|&b| b == digit)?;
        value.checked_mul(64)?.checked_add(d)
    })
}

/// Reads `foldoc.index` and `foldoc.dict.dz` (or an uncompressed `foldoc.dict`) from `dir`.
pub(crate) fn load(dir: &Path) -> Result<Dataset> {
    let index_path = dir.join("foldoc.index");
    let index = std::fs::read_to_string(&index_path).with_context(|| format!("reading {}", index_path.display()))?;
    let compressed = dir.join("foldoc.dict.dz");
    let dict = if compressed.exists() {
        let mut bytes = Vec::new();
        flate2::read::GzDecoder::new(std::fs::File::open(&compressed)?)
            .read_to_end(&mut bytes)
            .with_context(|| format!("decompressing {} (truncated or corrupt?)", compressed.display()))?;
        bytes
    } else {
        let plain = dir.join("foldoc.dict");
        std::fs::read(&plain).with_context(|| format!("reading {}", plain.display()))?
    };
    parse(&index_path.display().to_string(), &index, &dict)
}

/// The committed sample (`fixtures/foldoc/`).
pub(crate) fn sample() -> Dataset {
    parse("fixtures/foldoc/foldoc.index", SAMPLE_INDEX, SAMPLE_DICT).expect("the committed sample parses")
}

/// Parses an index and its dictionary; an index line that is malformed or points outside the
/// dictionary is an error naming the line, and nothing is returned.
fn parse(index_name: &str, index: &str, dict: &[u8]) -> Result<Dataset> {
    let mut dataset = Dataset::default();
    let mut by_headword: HashMap<String, usize> = HashMap::new();
    for (number, line) in index.lines().enumerate() {
        let at = || format!("{index_name}:{}", number + 1);
        let mut fields = line.split('\t');
        let (Some(headword), Some(offset), Some(length), None) =
            (fields.next(), fields.next(), fields.next(), fields.next())
        else {
            bail!("{}: expected `headword TAB offset TAB length`", at());
        };
        if headword.starts_with("00-database") {
            continue;
        }
        let (offset, length) = match (dictd_number(offset), dictd_number(length)) {
            (Some(o), Some(l)) => (o, l),
            _ => bail!("{}: offset or length is not dictd base64", at()),
        };
        let body = dict.get(offset..offset + length).with_context(|| {
            format!("{}: entry at {offset}+{length} is past the dictionary's end (truncated?)", at())
        })?;
        let text = String::from_utf8_lossy(body).trim().to_owned();
        by_headword.insert(headword.to_lowercase(), dataset.texts.len());
        dataset.texts.push(text);
    }
    for from in 0..dataset.texts.len() {
        for reference in cross_references(&dataset.texts[from]) {
            match by_headword.get(&reference.to_lowercase()) {
                Some(&to) => dataset.links.push((from, to, NEURON.to_owned())),
                None => dataset.unresolved += 1,
            }
        }
    }
    Ok(dataset)
}

/// The `{…}` references of an entry, whitespace-normalised; `{(url)}` links are not terms.
fn cross_references(text: &str) -> Vec<String> {
    let mut references = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find('{') {
        let Some(end) = rest[start + 1..].find(['{', '}']) else { break };
        let inner = &rest[start + 1..start + 1 + end];
        if rest.as_bytes()[start + 1 + end] == b'}' && !inner.trim_start().starts_with('(') {
            references.push(inner.split_whitespace().collect::<Vec<_>>().join(" "));
        }
        rest = &rest[start + 1 + end..];
    }
    references
}

/// Fetches `dict-foldoc` with `apt-get download` into `cache` once; `None` when unavailable.
pub(crate) fn fetch(cache: &Path) -> Option<std::path::PathBuf> {
    super::fetch_once(cache, "dict-foldoc/usr/share/dictd", "foldoc.index", |run| {
        if !run("apt-get", &["download", "dict-foldoc"]) {
            return false;
        }
        let debs = std::fs::read_dir(cache).into_iter().flatten().filter_map(|e| e.ok());
        let deb = debs
            .filter_map(|e| e.file_name().into_string().ok())
            .find(|name| name.starts_with("dict-foldoc") && name.ends_with(".deb"));
        deb.is_some_and(|deb| run("dpkg-deb", &["-x", &deb, "dict-foldoc"]))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dictd_numbers_and_references() {
        assert_eq!(dictd_number("K5"), Some(10 * 64 + 57));
        assert_eq!(dictd_number("Gb9L"), Some(((6 * 64 + 27) * 64 + 61) * 64 + 11));
        assert_eq!(dictd_number("!"), None);
        let refs = cross_references("A {portable} {object-oriented\n   language} see {(ftp://x/)} and {Scheme}.");
        assert_eq!(refs, ["portable", "object-oriented language", "Scheme"]);
    }

    #[test]
    fn the_sample_parses_and_links_resolve() {
        let sample = sample();
        assert_eq!(sample.texts.len(), 800);
        assert!(sample.links.len() > 3000, "{}", sample.links.len());
        assert!(sample.texts.iter().any(|t| t.starts_with("Lisp")));
    }

    #[test]
    fn an_index_past_the_dictionary_is_refused() {
        let cut = &SAMPLE_DICT[..SAMPLE_DICT.len() / 2];
        let error = parse("index", SAMPLE_INDEX, cut).unwrap_err().to_string();
        assert!(error.contains("past the dictionary's end"), "{error}");
        assert!(parse("index", "word\tA\n", SAMPLE_DICT).unwrap_err().to_string().contains("index:1"));
    }
}
