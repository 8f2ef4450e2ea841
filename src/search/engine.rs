//! Text matching: the words of a query against the index, with the typo, prefix, joined-word
//! and synonym rules of the contract (§11), into per-product hits that carry what ranking
//! needs: how many query words matched, with how many typos, and a BM25 score weighted by
//! field.

use super::{
    index::SearchIndex,
    terms::{Expansion, expand},
    text,
};
use crate::domain::ids::{ProductId, StoreId};
use rustc_hash::FxHashMap;
use std::collections::{HashMap, HashSet};
use tantivy::{
    DocId, Score, SegmentOrdinal, SegmentReader,
    collector::{Collector, SegmentCollector},
    query::{BooleanQuery, BoostQuery, Occur, Query, TermQuery},
    schema::{IndexRecordOption, Term},
};

/// Query words beyond this many are ignored (each costs a few index lookups).
pub const MAX_QUERY_WORDS: usize = 10;

/// How a product matched a query.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct TextHit {
    /// Query words it matched (ranking's first rule: more first).
    pub words: u8,
    /// Typos summed over those words (second rule: fewer first).
    pub typos: u8,
    /// BM25 weighted by field (third rule).
    pub score: f32,
}

/// Every product a query matched, and what the words matched.
#[derive(Debug, Default)]
pub struct TextMatches {
    /// The products with at least one matched word.
    pub hits: FxHashMap<ProductId, TextHit>,
    /// Every indexed word some query word matched (for highlights).
    pub terms: HashSet<String>,
    /// The query with each word that only matched with a typo replaced by the indexed word
    /// it matched best; `None` when no word needed it.
    pub corrected: Option<String>,
    /// How many query words there were.
    pub words: usize,
}

/// A way to match one query word, or two neighbours written together.
struct Alternative {
    /// The query words it stands for (one, or two neighbours).
    covers: std::ops::RangeInclusive<usize>,
    /// The indexed words it matches.
    expansions: Vec<Expansion>,
}

/// Matches `words` (already folded by [`text::words`]) in the products of `store` (or all).
/// `synonyms` gives, for a folded word or joined pair, the folded forms that count as exact
/// matches of it.
pub fn match_words(
    index: &SearchIndex,
    words: &[String],
    store: Option<&StoreId>,
    synonyms: &dyn Fn(&str) -> Vec<String>,
) -> tantivy::Result<TextMatches> {
    let words = &words[..words.len().min(MAX_QUERY_WORDS)];
    let searcher = index.searcher();
    let fields: Vec<_> = index.fields.weighted().iter().map(|(f, _)| *f).collect();
    let last = words.len().saturating_sub(1);
    let mut alternatives = Vec::new();
    let alternative = |covers: std::ops::RangeInclusive<usize>,
                       form: &str,
                       prefix: bool|
     -> tantivy::Result<Alternative> {
        let mut expansions = expand(&searcher, &fields, form, text::typo_budget(form), prefix)?;
        for synonym in synonyms(form) {
            for found in expand(&searcher, &fields, &synonym, 0, false)? {
                if !expansions.iter().any(|e| e.term == found.term) {
                    expansions.push(found);
                }
            }
        }
        Ok(Alternative { covers, expansions })
    };
    for (i, word) in words.iter().enumerate() {
        alternatives.push(alternative(i..=i, word, i == last)?);
    }
    for i in 0..last {
        let joined = format!("{}{}", words[i], words[i + 1]);
        alternatives.push(alternative(i..=i + 1, &joined, i + 1 == last)?);
    }

    let weights: HashMap<_, _> = index.fields.weighted().into_iter().collect();
    let store_filter = store.map(|store| {
        Box::new(BoostQuery::new(
            Box::new(TermQuery::new(
                index.store_term(store),
                IndexRecordOption::Basic,
            )),
            0.0,
        )) as Box<dyn Query>
    });
    // Per document and query word: the best (typos, score) any alternative gave it.
    let mut best: FxHashMap<DocKey, [Option<(u8, f32)>; MAX_QUERY_WORDS]> = FxHashMap::default();
    for alternative in &alternatives {
        let mut classes: Vec<u8> = alternative.expansions.iter().map(|e| e.typos).collect();
        classes.sort_unstable();
        classes.dedup();
        for typos in classes {
            let clauses: Vec<(Occur, Box<dyn Query>)> = alternative
                .expansions
                .iter()
                .filter(|e| e.typos == typos)
                .flat_map(|e| {
                    e.fields.iter().map(|field| {
                        let term = TermQuery::new(
                            Term::from_field_text(*field, &e.term),
                            IndexRecordOption::WithFreqs,
                        );
                        let weight = weights.get(field).copied().unwrap_or(1.0);
                        (
                            Occur::Should,
                            Box::new(BoostQuery::new(Box::new(term), weight)) as Box<dyn Query>,
                        )
                    })
                })
                .collect();
            let words_query: Box<dyn Query> = Box::new(BooleanQuery::new(clauses));
            let query: Box<dyn Query> = match &store_filter {
                Some(filter) => Box::new(BooleanQuery::new(vec![
                    (Occur::Must, filter.box_clone()),
                    (Occur::Must, words_query),
                ])),
                None => words_query,
            };
            let span = alternative.covers.clone().count() as f32;
            for (doc, score) in searcher.search(&query, &AllScored)? {
                let slots = best.entry(doc).or_insert([None; MAX_QUERY_WORDS]);
                for slot in &mut slots[alternative.covers.clone()] {
                    let candidate = (typos, score / span);
                    let better = match slot {
                        None => true,
                        Some((t, s)) => (typos, -score / span) < (*t, -*s),
                    };
                    if better {
                        *slot = Some(candidate);
                    }
                }
            }
        }
    }

    let mut hits = FxHashMap::with_capacity_and_hasher(best.len(), Default::default());
    let mut columns = FxHashMap::default();
    for ((segment, doc), slots) in best {
        let (hi, lo) = match columns.entry(segment) {
            std::collections::hash_map::Entry::Occupied(entry) => entry.into_mut(),
            std::collections::hash_map::Entry::Vacant(entry) => {
                let reader = searcher.segment_reader(segment);
                let fast = reader.fast_fields();
                entry.insert((fast.u64("id_hi")?, fast.u64("id_lo")?))
            }
        };
        let Some(product) = index.product_of(hi, lo, doc) else {
            continue;
        };
        let mut hit = TextHit::default();
        for (typos, score) in slots.into_iter().flatten() {
            hit.words += 1;
            hit.typos += typos;
            hit.score += score;
        }
        hits.insert(product, hit);
    }

    let terms = alternatives
        .iter()
        .flat_map(|a| a.expansions.iter().map(|e| e.term.clone()))
        .collect();
    Ok(TextMatches {
        hits,
        terms,
        corrected: correction(words, &alternatives),
        words: words.len(),
    })
}

/// The query with each word that matched only with typos replaced by its best indexed word.
fn correction(words: &[String], alternatives: &[Alternative]) -> Option<String> {
    let exact = |i: usize| {
        alternatives
            .iter()
            .filter(|a| a.covers.contains(&i))
            .any(|a| a.expansions.iter().any(|e| e.typos == 0))
    };
    let mut corrected = false;
    let replaced: Vec<&str> = words
        .iter()
        .enumerate()
        .map(|(i, word)| {
            if exact(i) {
                return word.as_str();
            }
            let single = alternatives.iter().find(|a| a.covers == (i..=i));
            match single.and_then(|a| a.expansions.first()) {
                Some(best) => {
                    corrected = true;
                    best.term.as_str()
                }
                None => word.as_str(),
            }
        })
        .collect();
    corrected.then(|| replaced.join(" "))
}

/// A document of the searcher: its segment and its id there.
type DocKey = (SegmentOrdinal, DocId);

/// Collects every matching document with its score (ranking, filters and facets need all of
/// them, not a top-k).
struct AllScored;

/// [`AllScored`] for one segment.
struct SegmentScored {
    segment: SegmentOrdinal,
    docs: Vec<(DocKey, Score)>,
}

impl Collector for AllScored {
    type Fruit = Vec<(DocKey, Score)>;
    type Child = SegmentScored;

    fn for_segment(
        &self,
        segment: SegmentOrdinal,
        _reader: &SegmentReader,
    ) -> tantivy::Result<SegmentScored> {
        Ok(SegmentScored {
            segment,
            docs: Vec::new(),
        })
    }

    fn requires_scoring(&self) -> bool {
        true
    }

    fn merge_fruits(&self, fruits: Vec<Self::Fruit>) -> tantivy::Result<Self::Fruit> {
        Ok(fruits.concat())
    }
}

impl SegmentCollector for SegmentScored {
    type Fruit = Vec<(DocKey, Score)>;

    fn collect(&mut self, doc: DocId, score: Score) {
        self.docs.push(((self.segment, doc), score));
    }

    fn harvest(self) -> Self::Fruit {
        self.docs
    }
}
