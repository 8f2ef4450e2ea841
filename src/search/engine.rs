//! Text matching: the words of a query against the index, with the typo, prefix, joined-word
//! and synonym rules of the contract (§11), into per-product hits that carry what ranking
//! needs: how many query words matched, with how many typos, and a BM25 score weighted by
//! field.

use super::{
    facts::Facts,
    index::SearchIndex,
    segments::{NO_SLOT, SegmentSlots},
    terms::{Expansion, expand},
    text,
};
use std::collections::{HashMap, HashSet};
use tantivy::{
    DocId,
    query::{BooleanQuery, BoostQuery, EnableScoring, Occur, Query, TermQuery},
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
    /// The products with at least one matched word: their slots in the live facts (see
    /// [`super::facts`]), each once.
    pub hits: Vec<(u32, TextHit)>,
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

/// Matches `words` (already folded by [`text::words`]) in every product of the index (the
/// caller keeps those in scope, from their live facts). `synonyms` gives, for a folded word
/// or joined pair, the folded forms that count as exact matches of it. Each hit is the slot
/// of its product in `facts`, reached through `slots`.
pub fn match_words(
    index: &SearchIndex,
    words: &[String],
    synonyms: &dyn Fn(&str) -> Vec<String>,
    facts: &Facts,
    slots: &SegmentSlots,
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
    let n = words.len();
    let segments = searcher.segment_readers();
    // At most this many documents match (each expansion's documents, summed over fields and
    // segments): reserved up front, so the arrays below never grow and copy while matching.
    let expected: u64 = alternatives
        .iter()
        .flat_map(|a| a.expansions.iter().map(|e| e.doc_freq))
        .sum();
    // Per segment and matched document: the best (typos, score) any alternative gave each
    // query word, in dense arrays (a hit costs an array write, no hashing).
    let mut matched: Vec<SegmentMatches> = segments
        .iter()
        .map(|reader| SegmentMatches::new(reader.max_doc(), expected, n))
        .collect();
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
            let query = BooleanQuery::new(clauses);
            let weight = query.weight(EnableScoring::enabled_from_searcher(&searcher))?;
            let span = alternative.covers.clone().count() as f32;
            let covers = alternative.covers.clone();
            for (reader, segment) in segments.iter().zip(&mut matched) {
                weight.for_each(reader, &mut |doc, score| {
                    let row = segment.row(doc, n);
                    let candidate = score / span;
                    for slot in &mut row[covers.clone()] {
                        let better =
                            slot.0 == NOT_MATCHED || (typos, -candidate) < (slot.0, -slot.1);
                        if better {
                            *slot = (typos, candidate);
                        }
                    }
                })?;
            }
        }
    }

    let mut hits = Vec::with_capacity(matched.iter().map(|m| m.docs.len()).sum());
    for (reader, segment) in segments.iter().zip(&matched) {
        let table = slots.of(reader, facts)?;
        let alive = reader.alive_bitset();
        for (i, &doc) in segment.docs.iter().enumerate() {
            if alive.is_some_and(|a| !a.is_alive(doc)) {
                continue;
            }
            let Some(&slot) = table.get(doc as usize) else {
                continue;
            };
            if slot == NO_SLOT {
                continue;
            }
            let mut hit = TextHit::default();
            for &(typos, score) in &segment.best[i * n..(i + 1) * n] {
                if typos != NOT_MATCHED {
                    hit.words += 1;
                    hit.typos += typos;
                    hit.score += score;
                }
            }
            hits.push((slot, hit));
        }
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

/// A query word no alternative matched (in [`SegmentMatches::best`]).
const NOT_MATCHED: u8 = u8::MAX;

/// The documents of one segment that some alternative matched.
struct SegmentMatches {
    /// Document → its row in `docs`, `u32::MAX` when unmatched.
    rows: Vec<u32>,
    /// The matched documents, in the order first matched.
    docs: Vec<DocId>,
    /// Per matched document, per query word: (typos, score), typos [`NOT_MATCHED`] if none.
    best: Vec<(u8, f32)>,
}

impl SegmentMatches {
    /// For a segment of `max_doc` documents, room for `expected` matches (capped at the
    /// segment's size) of `words` query words.
    fn new(max_doc: DocId, expected: u64, words: usize) -> Self {
        let room = expected.min(u64::from(max_doc)) as usize;
        Self {
            rows: vec![u32::MAX; max_doc as usize],
            docs: Vec::with_capacity(room),
            best: Vec::with_capacity(room * words),
        }
    }

    /// The per-word cells of `doc` (added when first matched).
    #[inline]
    fn row(&mut self, doc: DocId, words: usize) -> &mut [(u8, f32)] {
        let row = match self.rows.get(doc as usize) {
            Some(&row) if row != u32::MAX => row as usize,
            _ => {
                let row = self.docs.len();
                if let Some(cell) = self.rows.get_mut(doc as usize) {
                    *cell = row as u32;
                }
                self.docs.push(doc);
                self.best
                    .extend(std::iter::repeat_n((NOT_MATCHED, 0.0), words));
                row
            }
        };
        &mut self.best[row * words..(row + 1) * words]
    }
}
