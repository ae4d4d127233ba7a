//! Full-text search over particle content with tantivy, ranked with focus.
//!
//! The index lives in `DATA/search/` and holds one document per particle with content: its CID
//! (stored) and its text (English stemming, BM25). Content is added when posted and committed
//! with every block, so the searchable set moves with the chain. At start-up the index is
//! rebuilt from the store's content if their counts differ (a crash between a post and the
//! next commit, or a new node).
//!
//! Ordering (`SearchOrder`): `Combined` scores `bm25 × (1 + n·focus)`, where `n·focus` is the
//! particle's focus relative to uniform (an average particle doubles its text score; one without
//! links keeps it); `Relevance` is BM25 alone; `Focus` is focus alone. The best
//! [`CANDIDATES`] text matches are re-ranked, so focus reorders relevant hits but never promotes
//! an irrelevant one.

use std::{
    path::Path,
    sync::{
        Mutex,
        atomic::{AtomicUsize, Ordering},
    },
};

use anyhow::{Context, Result};
use engine::{BlockEvent, EngineError, Node, Particle};
use tantivy::{
    Index, IndexReader, IndexWriter, ReloadPolicy, TantivyDocument, Term,
    collector::TopDocs,
    directory::MmapDirectory,
    doc,
    query::QueryParser,
    schema::{Field, IndexRecordOption, STORED, STRING, Schema, TextFieldIndexing, TextOptions, Value},
};

/// Text matches re-ranked by focus.
pub(crate) const CANDIDATES: usize = 500;
/// Longest search text.
pub(crate) const MAX_TEXT_BYTES: usize = 1024;
/// Deepest parenthesis nesting in search text (tantivy's query parser recurses on it).
pub(crate) const MAX_TEXT_NESTING: usize = 16;

/// Refuses search text the query parser should not see: too long, or nested too deep.
pub(crate) fn check_text(text: &str) -> Result<(), String> {
    if text.len() > MAX_TEXT_BYTES {
        return Err(format!("search text is {} bytes, over the limit of {MAX_TEXT_BYTES}", text.len()));
    }
    let (mut depth, mut deepest) = (0usize, 0usize);
    for c in text.chars() {
        match c {
            '(' | '[' | '{' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            ')' | ']' | '}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    if deepest > MAX_TEXT_NESTING {
        return Err(format!("search text nests brackets {deepest} deep, over the limit of {MAX_TEXT_NESTING}"));
    }
    Ok(())
}

/// How hits are ordered.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum SearchOrder {
    #[default]
    Combined,
    Relevance,
    Focus,
}

/// A hit with both of its scores.
#[derive(Clone, Debug)]
pub(crate) struct SearchHit {
    pub(crate) particle: Particle,
    pub(crate) relevance: f64,
    pub(crate) focus: f64,
}

/// The search index of one data directory.
pub(crate) struct SearchIndex {
    index: Index,
    writer: Mutex<IndexWriter>,
    reader: IndexReader,
    cid: Field,
    text: Field,
    /// Documents added since the last commit.
    pending: AtomicUsize,
}

/// Documents added without a commit after which the index commits on its own: what the writer
/// holds for uncommitted documents stays bounded even while no block commits it (posts
/// without transactions make no blocks).
const MAX_PENDING: usize = 10_000;

/// Memory the index writer may buffer before flushing a segment.
const WRITER_MEMORY: usize = 64 << 20;

impl SearchIndex {
    /// Opens (or creates) the index in `dir` and makes it hold exactly the node's content.
    pub(crate) fn open(dir: &Path, node: &Node) -> Result<Self> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let mut schema = Schema::builder();
        let cid = schema.add_text_field("cid", STRING | STORED);
        let indexing = TextFieldIndexing::default()
            .set_tokenizer("en_stem")
            .set_index_option(IndexRecordOption::WithFreqsAndPositions);
        let text = schema.add_text_field("text", TextOptions::default().set_indexing_options(indexing));
        let directory = MmapDirectory::open(dir).with_context(|| format!("opening {}", dir.display()))?;
        let index = Index::open_or_create(directory, schema.build()).context("opening the search index")?;
        let writer = index.writer(WRITER_MEMORY).context("opening the search index writer")?;
        let reader = index.reader_builder().reload_policy(ReloadPolicy::Manual).try_into()?;
        let search = SearchIndex { index, writer: Mutex::new(writer), reader, cid, text, pending: AtomicUsize::new(0) };
        search.reconcile(node)?;
        Ok(search)
    }

    /// Rebuilds from the store when the document count differs from the count of content that
    /// is text (compiled model files are content too, served by `/model/{cid}`, never indexed).
    fn reconcile(&self, node: &Node) -> Result<()> {
        let indexed = |content: &[u8]| !compiler::file::is_model_file(content);
        let mut stored = 0u64;
        node.query().store().for_each_content(&mut |_, content| {
            stored += u64::from(indexed(content));
            Ok(true)
        })?;
        if self.reader.searcher().num_docs() == stored {
            return Ok(());
        }
        tracing::info!(documents = stored, "rebuilding the search index from the store");
        self.writer().delete_all_documents()?;
        let mut batch = Vec::new();
        node.query().store().for_each_content(&mut |particle, content| {
            if indexed(content) {
                batch.push((particle, String::from_utf8_lossy(content).into_owned()));
            }
            Ok(true)
        })?;
        self.add_all(batch.iter().map(|(p, t)| (*p, t.as_str())))?;
        self.commit()
    }

    fn writer(&self) -> std::sync::MutexGuard<'_, IndexWriter> {
        self.writer.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds (or replaces) the documents of particles; visible after the next [`Self::commit`].
    pub(crate) fn add_all<'a>(&self, documents: impl IntoIterator<Item = (Particle, &'a str)>) -> Result<()> {
        let added = {
            let writer = self.writer();
            let mut added = 0;
            for (particle, content) in documents {
                let cid = particle.to_string();
                writer.delete_term(Term::from_field_text(self.cid, &cid));
                writer.add_document(doc!(self.cid => cid, self.text => content))?;
                added += 1;
            }
            added
        };
        if self.pending.fetch_add(added, Ordering::AcqRel) + added >= MAX_PENDING {
            self.commit()?;
        }
        Ok(())
    }

    /// Stores posted content in the node, then indexes it (searchable after the next block). A
    /// failure to index is logged, not returned: the content is durable, and the next start
    /// rebuilds the index from the store.
    pub(crate) fn post(&self, node: &Node, content: &[u8]) -> Result<Particle, EngineError> {
        let particle = node.post_content(content)?;
        if let Err(error) = self.add_all([(particle, String::from_utf8_lossy(content).as_ref())]) {
            tracing::error!(%error, "indexing posted content failed; the next start rebuilds the index");
        }
        Ok(particle)
    }

    /// Follows the node's blocks with one listener: each block first commits the index (what
    /// was posted before it becomes searchable), then goes to `subscribers` (GraphQL
    /// subscriptions), so a subscriber that hears of a block can already search its content.
    pub(crate) fn follow(
        self: &std::sync::Arc<Self>,
        node: &Node,
        subscribers: tokio::sync::broadcast::Sender<std::sync::Arc<BlockEvent>>,
    ) {
        let search = std::sync::Arc::clone(self);
        node.on_block(move |event| {
            if let Err(error) = search.commit() {
                tracing::error!(%error, "committing the search index failed");
            }
            // No receivers (no subscription open) is not an error.
            let _ = subscribers.send(std::sync::Arc::new(event.clone()));
        });
    }

    /// Commits pending documents and makes them searchable (no-op when none are pending).
    pub(crate) fn commit(&self) -> Result<()> {
        let pending = self.pending.swap(0, Ordering::AcqRel);
        if pending > 0 {
            if let Err(error) = self.writer().commit() {
                // Still uncommitted: the next commit tries again.
                self.pending.fetch_add(pending, Ordering::AcqRel);
                return Err(error).context("committing the search index");
            }
            self.reader.reload()?;
        }
        Ok(())
    }

    /// The best `first` hits for `text` after `skip`, ordered by `order`.
    pub(crate) fn search(
        &self,
        node: &Node,
        text: &str,
        order: SearchOrder,
        skip: usize,
        first: usize,
    ) -> Result<Vec<SearchHit>> {
        check_text(text).map_err(anyhow::Error::msg)?;
        let searcher = self.reader.searcher();
        let parser = QueryParser::for_index(&self.index, vec![self.text]);
        // Lenient: a stray quote or colon in user text still searches the rest.
        let (query, _) = parser.parse_query_lenient(text);
        let matches = searcher.search(&query, &TopDocs::with_limit(CANDIDATES.max(skip + first)))?;
        let focus = node.query().focus();
        let n = focus.pi.len().max(1) as f64;
        let mut found = Vec::with_capacity(matches.len());
        for (score, address) in matches {
            let document: TantivyDocument = searcher.doc(address)?;
            let Some(cid) = document.get_first(self.cid).and_then(|v| v.as_str()) else { continue };
            found.push((Particle::parse(cid)?, f64::from(score)));
        }
        // One lock for all candidates: the node's lock is shared with admission and blocks.
        let mut hits: Vec<SearchHit> = node.query().with_state(|state| {
            found
                .into_iter()
                .map(|(particle, relevance)| {
                    let focus =
                        state.particle_idx(&particle).and_then(|i| focus.pi.get(i.0 as usize)).copied().unwrap_or(0.0);
                    SearchHit { particle, relevance, focus }
                })
                .collect()
        });
        let key = |hit: &SearchHit| match order {
            SearchOrder::Combined => hit.relevance * (1.0 + n * hit.focus),
            SearchOrder::Relevance => hit.relevance,
            SearchOrder::Focus => hit.focus,
        };
        hits.sort_by(|a, b| key(b).total_cmp(&key(a)).then(a.particle.cmp(&b.particle)));
        Ok(hits.into_iter().skip(skip).take(first).collect())
    }
}
