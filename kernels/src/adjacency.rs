//! The weighted adjacency the focus operator iterates, stored so that a block inserts entries
//! and a weight change rewrites a table entry, never the matrix.
//!
//! Row `i` lists every particle `j` linked with `i` in either direction, ascending by `j` — the
//! structure of `W = A + Aᵀ`. Its [`Entry`] holds no weight, only a *kind*: the weight classes
//! of the two directions, `j → i` (in) and `i → j` (out), [`NO_LINK`] where there is none. A
//! weight class is the set of neurons that linked a directed pair, whose raw weight is the sum of
//! their link weights in ascending neuron order (or, for an operator built from weighted edges,
//! a raw weight itself). With `scaled = raw / max raw` (the spec's `max A = 1`):
//! `A[j,i] = scaled[in]`, `A[i,j] = scaled[out]`, `W[i,j] = A[j,i] + A[i,j]`, each computed once
//! per kind. These are the very operations the operator was first built with (per pair, sum in
//! neuron order, divide by the maximum, add the two directions), so the values have the same
//! bits however the entries got here.
//!
//! A direction without a link reads as `0.0`. A fold that starts at `+0.0` and adds non-negative
//! terms never holds `−0.0`, so adding `+0.0` (or `0.0·x` for a finite `x`) changes none of its
//! bits: row sums and SpMVs run over whole rows, and only the push, which counts what it reads,
//! skips those entries ([`Adjacency::positive`]).

use std::{
    collections::HashMap,
    hash::{BuildHasherDefault, Hasher},
};

use rayon::prelude::*;

use crate::{
    error::{KernelError, Result},
    rows::{SlackRows, WINDOW},
};

/// The class of a direction without a link: raw weight 0, in no pair.
pub(crate) const NO_LINK: u32 = 0;

/// One entry of a row: the other particle and the kind of the pair.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Entry {
    pub(crate) col: u32,
    pub(crate) kind: u32,
}

/// The in-links of one [`WINDOW`] of rows, in visiting order ([`Adjacency::in_rows`]).
#[derive(Clone, Debug)]
pub(crate) struct InRows {
    /// Row `k` of the window (its `k`-th in visiting order) is `entries[starts[k]..starts[k + 1]]`.
    starts: Vec<u32>,
    entries: Vec<Entry>,
}

impl InRows {
    /// The window's `k`-th row in visiting order.
    #[inline]
    pub(crate) fn row(&self, k: usize) -> &[Entry] {
        &self.entries[self.starts[k] as usize..self.starts[k + 1] as usize]
    }

    /// Bytes held.
    pub(crate) fn memory_bytes(&self) -> usize {
        self.starts.capacity() * size_of::<u32>() + self.entries.capacity() * size_of::<Entry>()
    }
}

/// Which direction of a pair, seen from a row.
#[derive(Clone, Copy, Debug)]
enum Side {
    /// `col → row`.
    In = 0,
    /// `row → col`.
    Out = 1,
}

/// Where the raw weights come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Weighting {
    /// Classes are neuron sets, weighed from per-neuron link weights.
    Neurons,
    /// Classes are fixed raw weights (an operator built from a weighted edge list).
    Edges,
}

/// A hasher for the `u64` keys of the kind table (two `u32` classes): a multiply and a rotate.
/// The keys are not chosen by anyone who gains from collisions (classes are interned in order).
#[derive(Clone, Copy, Debug, Default)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.write_u64(byte as u64);
        }
    }

    fn write_u64(&mut self, key: u64) {
        self.0 = (self.0 ^ key).wrapping_mul(0x9e37_79b9_7f4a_7c15).rotate_left(29);
    }
}

type KeyMap = HashMap<u64, u32, BuildHasherDefault<KeyHasher>>;

/// The weight classes: interned neuron sets (or raw weights) and their weights.
#[derive(Clone, Debug)]
struct Classes {
    /// Each class's neurons, ascending (empty for [`NO_LINK`] and for raw-weight classes).
    members: Vec<Box<[u32]>>,
    raw: Vec<f64>,
    scaled: Vec<f64>,
    /// Directed pairs in each class: only classes in use count towards the maximum.
    pairs: Vec<u64>,
    by_members: HashMap<Box<[u32]>, u32>,
    /// The class `{ν}` of each neuron seen alone (most pairs have one neuron).
    single: KeyMap,
    by_raw: KeyMap,
    /// One more than the largest neuron in any class: the weights a reweigh reads.
    neurons: usize,
}

impl Classes {
    fn new() -> Self {
        Classes {
            members: vec![Box::default()],
            raw: vec![0.0],
            scaled: vec![0.0],
            pairs: vec![0],
            by_members: HashMap::new(),
            single: KeyMap::default(),
            by_raw: KeyMap::default(),
            neurons: 0,
        }
    }

    fn push(&mut self, members: Box<[u32]>, raw: f64) -> u32 {
        let class = self.members.len() as u32;
        self.neurons = self.neurons.max(members.last().map_or(0, |&last| last as usize + 1));
        self.members.push(members);
        self.raw.push(raw);
        self.scaled.push(0.0);
        self.pairs.push(0);
        class
    }

    /// The class of an ascending, non-empty neuron set.
    fn of_neurons(&mut self, members: &[u32]) -> u32 {
        if let [neuron] = members {
            if let Some(&class) = self.single.get(&(*neuron as u64)) {
                return class;
            }
            let class = self.push(Box::new([*neuron]), 0.0);
            self.single.insert(*neuron as u64, class);
            return class;
        }
        if let Some(&class) = self.by_members.get(members) {
            return class;
        }
        let class = self.push(members.into(), 0.0);
        self.by_members.insert(members.into(), class);
        class
    }

    /// The class of `class`'s neurons and `added` (any order, repeats allowed).
    fn with_neurons(&mut self, class: u32, mut added: Vec<u32>) -> u32 {
        added.extend_from_slice(&self.members[class as usize]);
        added.sort_unstable();
        added.dedup();
        if *added == *self.members[class as usize] { class } else { self.of_neurons(&added) }
    }

    /// The class of a fixed raw weight.
    fn of_raw(&mut self, raw: f64) -> u32 {
        if let Some(&class) = self.by_raw.get(&raw.to_bits()) {
            return class;
        }
        let class = self.push(Box::default(), raw);
        self.by_raw.insert(raw.to_bits(), class);
        class
    }
}

/// The kinds: interned `(in, out)` class pairs and the three weights each stands for.
#[derive(Clone, Debug)]
struct Kinds {
    sides: Vec<[u32; 2]>,
    by_sides: KeyMap,
    /// Row entries of each kind.
    entries: Vec<u64>,
    /// `A[col,row]` of each kind.
    a_in: Vec<f64>,
    /// `A[row,col]`.
    a_out: Vec<f64>,
    /// `W[row,col] = a_in + a_out`.
    w: Vec<f64>,
}

impl Kinds {
    fn new() -> Self {
        Kinds {
            sides: vec![[NO_LINK; 2]],
            by_sides: KeyMap::default(),
            entries: vec![0],
            a_in: vec![0.0],
            a_out: vec![0.0],
            w: vec![0.0],
        }
    }

    /// The kind of an entry with these sides, interned on first use. A new kind weighs nothing
    /// until the next [`Kinds::revalue`]: every caller reweighs once its entries are placed.
    fn of(&mut self, sides: [u32; 2]) -> u32 {
        let key = (sides[0] as u64) << 32 | sides[1] as u64;
        if let Some(&kind) = self.by_sides.get(&key) {
            return kind;
        }
        let kind = self.sides.len() as u32;
        self.sides.push(sides);
        self.entries.push(0);
        self.a_in.push(0.0);
        self.a_out.push(0.0);
        self.w.push(0.0);
        self.by_sides.insert(key, kind);
        kind
    }

    /// Sets every kind's three weights from the classes' scaled weights.
    fn revalue(&mut self, scaled: &[f64]) {
        for (kind, [class_in, class_out]) in self.sides.iter().enumerate() {
            let (a_in, a_out) = (scaled[*class_in as usize], scaled[*class_out as usize]);
            self.a_in[kind] = a_in;
            self.a_out[kind] = a_out;
            self.w[kind] = a_in + a_out;
        }
    }
}

/// The scaled weight of every class in use, to tell after a block whether any changed.
pub(crate) struct ScaleBefore {
    /// The bits of each class's scaled weight, `None` for a class no pair used.
    scaled: Vec<Option<u64>>,
}

/// The operator's adjacency (see the module documentation).
#[derive(Clone, Debug)]
pub(crate) struct Adjacency {
    rows: SlackRows<Entry>,
    classes: Classes,
    kinds: Kinds,
    weighting: Weighting,
}

impl Adjacency {
    /// From a link graph: `in_links(q)` of every target, with `neuron_weight` per neuron.
    pub(crate) fn from_link_graph(graph: &crate::LinkGraph, neuron_weight: &[f64]) -> Result<Self> {
        let mut classes = Classes::new();
        let n = graph.node_count() as usize;
        let mut offsets = Vec::with_capacity(n + 1);
        let mut pairs: Vec<(u32, u32)> = Vec::with_capacity(graph.link_count());
        let mut members = Vec::new();
        offsets.push(0);
        for q in 0..n as u32 {
            let links = graph.in_links(q);
            for (k, link) in links.iter().enumerate() {
                if link.neuron as usize >= neuron_weight.len() {
                    return Err(KernelError::InvalidWeight(format!("no weight for neuron {}", link.neuron)));
                }
                members.push(link.neuron);
                if links.get(k + 1).is_none_or(|next| next.source != link.source) {
                    pairs.push((link.source, classes.of_neurons(&members)));
                    members.clear();
                }
            }
            offsets.push(pairs.len());
        }
        let mut adjacency = Self::from_in_pairs(&offsets, &pairs, classes, Weighting::Neurons);
        adjacency.reweigh(neuron_weight);
        Ok(adjacency)
    }

    /// From pairs `(source, target, raw weight)` sorted by `(target, source)`, distinct, with
    /// positive weights, over `n` particles.
    pub(crate) fn from_weighted_pairs(n: usize, sorted: &[(u32, u32, f64)]) -> Self {
        let mut classes = Classes::new();
        let mut offsets = Vec::with_capacity(n + 1);
        let mut pairs = Vec::with_capacity(sorted.len());
        offsets.push(0);
        let mut at = 0;
        for q in 0..n as u32 {
            while let Some(&(p, _, raw)) = sorted.get(at).filter(|&&(_, to, _)| to == q) {
                pairs.push((p, classes.of_raw(raw)));
                at += 1;
            }
            offsets.push(pairs.len());
        }
        let mut adjacency = Self::from_in_pairs(&offsets, &pairs, classes, Weighting::Edges);
        adjacency.reweigh(&[]);
        adjacency
    }

    /// Rows from each target's in-pairs `(source, class)` (ascending by source; target `q`'s in
    /// `pairs[offsets[q]..offsets[q + 1]]`): the out-pairs by a counting transpose, then each
    /// row merged from the two.
    fn from_in_pairs(offsets: &[usize], pairs: &[(u32, u32)], mut classes: Classes, weighting: Weighting) -> Self {
        let n = offsets.len() - 1;
        let mut out_offsets = vec![0usize; n + 1];
        for &(p, _) in pairs {
            out_offsets[p as usize + 1] += 1;
        }
        for i in 0..n {
            out_offsets[i + 1] += out_offsets[i];
        }
        let mut next = out_offsets.clone();
        let mut out_pairs = vec![(0u32, NO_LINK); pairs.len()];
        for q in 0..n {
            for &(p, class) in &pairs[offsets[q]..offsets[q + 1]] {
                out_pairs[next[p as usize]] = (q as u32, class);
                next[p as usize] += 1;
                classes.pairs[class as usize] += 1;
            }
        }
        drop(next);
        let mut kinds = Kinds::new();
        let mut entries = Vec::with_capacity(2 * pairs.len());
        let mut lens = Vec::with_capacity(n);
        for i in 0..n {
            let (ins, outs) = (&pairs[offsets[i]..offsets[i + 1]], &out_pairs[out_offsets[i]..out_offsets[i + 1]]);
            let first = entries.len();
            let (mut x, mut y) = (0, 0);
            while x < ins.len() || y < outs.len() {
                let next_in = ins.get(x).map_or(u32::MAX, |e| e.0);
                let next_out = outs.get(y).map_or(u32::MAX, |e| e.0);
                let col = next_in.min(next_out);
                let mut sides = [NO_LINK; 2];
                if next_in == col {
                    sides[Side::In as usize] = ins[x].1;
                    x += 1;
                }
                if next_out == col {
                    sides[Side::Out as usize] = outs[y].1;
                    y += 1;
                }
                let kind = kinds.of(sides);
                kinds.entries[kind as usize] += 1;
                entries.push(Entry { col, kind });
            }
            lens.push((entries.len() - first) as u32);
        }
        let mut rows = SlackRows::packed(lens, entries);
        rows.place_by_length();
        Adjacency { rows, classes, kinds, weighting }
    }

    /// Number of rows (particles).
    pub(crate) fn len(&self) -> usize {
        self.rows.len()
    }

    /// The order the focus step visits rows in: all rows, each [`crate::rows::WINDOW`] of ids
    /// together (position `p` holds a row of ids `p / WINDOW · WINDOW ..`), in the order the
    /// build stored them. A row's result never depends on when it is visited, so neither do the
    /// bits.
    pub(crate) fn visit_order(&self) -> &[u32] {
        self.rows.placement().expect("an adjacency places its rows when built")
    }

    /// Row `i`: the particles linked with `i` in either direction, ascending.
    #[inline]
    pub(crate) fn row(&self, i: usize) -> &[Entry] {
        self.rows.row(i)
    }

    /// `Σ_e value[kind_e]·x[col_e]` over row `i`, folded in column order.
    #[inline]
    pub(crate) fn row_dot(&self, i: usize, value: &[f64], x: &[f64]) -> f64 {
        self.row(i).iter().fold(0.0, |acc, e| acc + value[e.kind as usize] * x[e.col as usize])
    }

    /// Each row's entries with a positive in-weight (`A[col,row] > 0`), window by window of the
    /// [`Adjacency::visit_order`]: what a pass that pulls `Aᵀ` alone (PageRank mode) reads —
    /// about half of `W`'s entries where few links are reciprocated. The entries left out add
    /// `+0.0` to such a pull, so skipping them changes no bit (module docs).
    pub(crate) fn in_rows(&self) -> Vec<InRows> {
        let a_in = self.a_in();
        self.visit_order()
            .par_chunks(WINDOW)
            .map(|rows| {
                let is_in = |e: &&Entry| a_in[e.kind as usize] > 0.0;
                let count = rows.iter().map(|&i| self.row(i as usize).iter().filter(is_in).count()).sum();
                let mut window =
                    InRows { starts: Vec::with_capacity(rows.len() + 1), entries: Vec::with_capacity(count) };
                window.starts.push(0);
                for &i in rows {
                    window.entries.extend(self.row(i as usize).iter().filter(is_in));
                    window.starts.push(window.entries.len() as u32);
                }
                window
            })
            .collect()
    }

    /// `A[col,row]` per kind.
    #[inline]
    pub(crate) fn a_in(&self) -> &[f64] {
        &self.kinds.a_in
    }

    /// `A[row,col]` per kind.
    #[inline]
    pub(crate) fn a_out(&self) -> &[f64] {
        &self.kinds.a_out
    }

    /// `W[row,col]` per kind.
    #[inline]
    pub(crate) fn w(&self) -> &[f64] {
        &self.kinds.w
    }

    /// Row `i`'s `(col, value)` where `value` (one of the per-kind tables) is positive: the row
    /// of the matrix of only positive weights, ascending.
    #[inline]
    pub(crate) fn positive<'a>(&'a self, i: usize, value: &'a [f64]) -> impl Iterator<Item = (u32, f64)> + 'a {
        self.row(i).iter().map(move |e| (e.col, value[e.kind as usize])).filter(|&(_, v)| v > 0.0)
    }

    /// Entries whose kind has a positive `value`: the entries a matrix of only positive
    /// weights would store.
    pub(crate) fn positive_entries(&self, value: &[f64]) -> usize {
        self.kinds.entries.iter().zip(value).filter(|&(_, &v)| v > 0.0).map(|(&count, _)| count as usize).sum()
    }

    /// Bytes held: rows, slack included, and the class and kind tables (their hash maps
    /// counted by entries, not buckets).
    pub(crate) fn memory_bytes(&self) -> usize {
        let classes = &self.classes;
        let members: usize = classes.members.iter().map(|m| m.len() * size_of::<u32>()).sum();
        let class_bytes = classes.members.capacity() * (size_of::<Box<[u32]>>() + 3 * size_of::<f64>())
            + members
            + (classes.by_members.len() + classes.single.len() + classes.by_raw.len()) * 24;
        let kind_bytes = self.kinds.sides.capacity() * (size_of::<[u32; 2]>() + 4 * size_of::<f64>())
            + self.kinds.by_sides.len() * 16;
        self.rows.memory_bytes() + class_bytes + kind_bytes
    }

    /// Checks that a block of links can be applied to this adjacency grown to `particles`,
    /// before anything changes.
    pub(crate) fn check_links(&self, particles: u32, links: &[(u32, u32, u32)], neurons: usize) -> Result<()> {
        if self.weighting == Weighting::Edges {
            return Err(KernelError::InvalidWeight("an operator built from weighted edges has no neurons".into()));
        }
        if neurons < self.classes.neurons {
            return Err(KernelError::InvalidWeight(format!(
                "weights for {neurons} neurons, the graph has links of {}",
                self.classes.neurons
            )));
        }
        if (particles as usize) < self.len() {
            return Err(KernelError::InvalidWeight(format!("{particles} particles, the graph has {}", self.len())));
        }
        match links
            .iter()
            .find(|&&(from, to, neuron)| from >= particles || to >= particles || neuron as usize >= neurons)
        {
            Some((from, to, neuron)) => Err(KernelError::InvalidWeight(format!(
                "link {from} → {to} by neuron {neuron} outside {particles} particles and {neurons} neurons"
            ))),
            None => Ok(()),
        }
    }

    /// Grows to `count` rows; new rows are empty.
    pub(crate) fn ensure_rows(&mut self, count: usize) {
        self.rows.ensure_rows(count);
    }

    /// The scaled weights now, for [`Adjacency::reweigh`] to compare against.
    pub(crate) fn scale_before(&self) -> ScaleBefore {
        let used = self.classes.pairs.iter().zip(&self.classes.scaled);
        ScaleBefore { scaled: used.map(|(&pairs, s)| (pairs > 0).then(|| s.to_bits())).collect() }
    }

    /// Applies a block's links `(from, to, neuron)`: each directed pair's class grows by the
    /// neurons that linked it (a neuron already in it changes nothing) and each row gets its
    /// changes in one merge. Returns the rows whose entries changed, ascending.
    pub(crate) fn link(&mut self, links: &[(u32, u32, u32)]) -> Vec<u32> {
        // Each pair's class before the block and the neurons the block adds, in link order;
        // the class after is interned once per pair.
        let mut pairs: Vec<((u32, u32), u32, Vec<u32>)> = Vec::new();
        let mut at = KeyMap::default();
        for &(from, to, neuron) in links {
            let key = (u64::from(from) << 32) | u64::from(to);
            let k = *at.entry(key).or_insert_with(|| {
                pairs.push(((from, to), self.class_of(from, to), Vec::new()));
                pairs.len() as u32 - 1
            }) as usize;
            pairs[k].2.push(neuron);
        }
        let mut sides: Vec<(u32, u32, Side, u32)> = Vec::with_capacity(2 * pairs.len());
        for ((from, to), before, added) in pairs {
            let after = self.classes.with_neurons(before, added);
            if before == after {
                continue;
            }
            if before != NO_LINK {
                self.classes.pairs[before as usize] -= 1;
            }
            self.classes.pairs[after as usize] += 1;
            sides.push((to, from, Side::In, after));
            sides.push((from, to, Side::Out, after));
        }
        sides.sort_unstable_by_key(|&(row, col, side, _)| (row, col, side as u8));
        let (mut touched, mut inserted) = (Vec::new(), Vec::new());
        for changes in sides.chunk_by(|a, b| a.0 == b.0) {
            let row = changes[0].0;
            self.change_row(row, changes, &mut inserted);
            touched.push(row);
        }
        touched
    }

    /// The class of the directed pair `from → to` ([`NO_LINK`] if it has no link).
    fn class_of(&self, from: u32, to: u32) -> u32 {
        let row = self.rows.row(to as usize);
        match row.binary_search_by_key(&from, |e| e.col) {
            Ok(at) => self.kinds.sides[row[at].kind as usize][Side::In as usize],
            Err(_) => NO_LINK,
        }
    }

    /// Sets the sides `(row, col, side, class)` of one row (ascending by column; a self-link
    /// sets both sides of one entry): entries present change kind, the rest merge in (`new`:
    /// a buffer the caller lends for every row of a block).
    fn change_row(&mut self, row: u32, changes: &[(u32, u32, Side, u32)], new: &mut Vec<Entry>) {
        new.clear();
        for same_col in changes.chunk_by(|a, b| a.1 == b.1) {
            let col = same_col[0].1;
            let found = self.rows.row(row as usize).binary_search_by_key(&col, |e| e.col);
            let old = found.map_or(0, |at| self.rows.row(row as usize)[at].kind);
            let mut sides = self.kinds.sides[old as usize];
            for &(_, _, side, class) in same_col {
                sides[side as usize] = class;
            }
            let kind = self.kinds.of(sides);
            self.kinds.entries[kind as usize] += 1;
            match found {
                Ok(at) => {
                    self.kinds.entries[old as usize] -= 1;
                    self.rows.row_mut(row as usize)[at].kind = kind;
                }
                Err(_) => new.push(Entry { col, kind }),
            }
        }
        self.rows.merge(row as usize, new, |e| e.col);
    }

    /// Recomputes the raw weight of every class in use (neuron classes from `neuron_weight`:
    /// the members' weights summed in ascending neuron order), the maximum over classes in use, every scaled
    /// weight and every kind's values.
    pub(crate) fn reweigh(&mut self, neuron_weight: &[f64]) {
        let classes = &mut self.classes;
        if self.weighting == Weighting::Neurons {
            // A class no pair uses any more (its pairs gained a neuron) weighs nothing here.
            let live = classes.raw.iter_mut().zip(&classes.members).zip(&classes.pairs).skip(1);
            for ((raw, members), _) in live.filter(|&(_, &pairs)| pairs > 0) {
                *raw = members.iter().fold(0.0, |sum, &neuron| sum + neuron_weight[neuron as usize]);
            }
        }
        let max = classes
            .raw
            .iter()
            .zip(&classes.pairs)
            .filter(|&(_, &pairs)| pairs > 0)
            .fold(0.0, |m, (&r, _)| f64::max(m, r));
        for (scaled, &raw) in classes.scaled.iter_mut().zip(&classes.raw) {
            *scaled = if max > 0.0 { raw / max } else { raw };
        }
        self.kinds.revalue(&classes.scaled);
    }

    /// Whether a class that was in use before has another scaled weight now: then entries
    /// outside the rows a block touched changed value too.
    pub(crate) fn rescaled_since(&self, before: &ScaleBefore) -> bool {
        before
            .scaled
            .iter()
            .zip(&self.classes.scaled)
            .any(|(before, now)| before.is_some_and(|bits| bits != now.to_bits()))
    }
}
