//! Query words expanded to the indexed words they match: the same word, a word it is the
//! beginning of (the last query word only: search as you type), or a word within the query
//! word's typo budget. The expansion walks tantivy's term dictionaries (finite-state
//! transducers) with Levenshtein automata, so it costs a few term lookups rather than a scan
//! of the vocabulary.

use levenshtein_automata::{DFA, Distance, LevenshteinAutomatonBuilder, SINK_STATE};
use std::{collections::HashMap, sync::OnceLock};
use tantivy::{Searcher, schema::Field};
use tantivy_fst::Automaton;

/// The most indexed words one query word expands to (a one-letter prefix could otherwise
/// name thousands); the most frequent are kept.
pub const MAX_EXPANSIONS: usize = 48;

/// The automaton builders for 0, 1 and 2 edits with transpositions costing one (building
/// one takes milliseconds, so they are built once).
fn builder(distance: u8) -> &'static LevenshteinAutomatonBuilder {
    static BUILDERS: OnceLock<[LevenshteinAutomatonBuilder; 3]> = OnceLock::new();
    let builders = BUILDERS
        .get_or_init(|| [0, 1, 2].map(|distance| LevenshteinAutomatonBuilder::new(distance, true)));
    &builders[usize::from(distance.min(2))]
}

/// A DFA as the automaton tantivy's term dictionary streams with.
struct Matcher<'a>(&'a DFA);

impl Automaton for Matcher<'_> {
    type State = u32;

    fn start(&self) -> u32 {
        self.0.initial_state()
    }

    fn is_match(&self, state: &u32) -> bool {
        matches!(self.0.distance(*state), Distance::Exact(_))
    }

    fn can_match(&self, state: &u32) -> bool {
        *state != SINK_STATE
    }

    fn accept(&self, state: &u32, byte: u8) -> u32 {
        self.0.transition(*state, byte)
    }
}

/// One indexed word a query word matched.
#[derive(Clone, Debug, PartialEq)]
pub struct Expansion {
    /// The indexed word.
    pub term: String,
    /// Edits between the query word and it (for a prefix: its closest beginning).
    pub typos: u8,
    /// Documents holding it, summed over fields and segments (ranks expansions).
    pub doc_freq: u64,
    /// The fields holding it.
    pub fields: Vec<Field>,
}

/// The indexed words of `fields` that `word` matches with at most `budget` typos, as a
/// prefix when `prefix`; closest first, then most frequent; at most [`MAX_EXPANSIONS`].
pub fn expand(
    searcher: &Searcher,
    fields: &[Field],
    word: &str,
    budget: u8,
    prefix: bool,
) -> tantivy::Result<Vec<Expansion>> {
    let builder = builder(budget);
    let dfa = if prefix {
        builder.build_prefix_dfa(word)
    } else {
        builder.build_dfa(word)
    };
    let mut found: HashMap<Vec<u8>, Expansion> = HashMap::new();
    for segment in searcher.segment_readers() {
        for &field in fields {
            let index = segment.inverted_index(field)?;
            let mut stream = index.terms().search(Matcher(&dfa)).into_stream()?;
            while stream.advance() {
                let key = stream.key();
                let Distance::Exact(typos) = dfa.eval(key) else {
                    continue;
                };
                let doc_freq = u64::from(stream.value().doc_freq);
                let entry = found.entry(key.to_vec()).or_insert_with(|| Expansion {
                    term: String::from_utf8_lossy(key).into_owned(),
                    typos,
                    doc_freq: 0,
                    fields: Vec::new(),
                });
                entry.doc_freq += doc_freq;
                if !entry.fields.contains(&field) {
                    entry.fields.push(field);
                }
            }
        }
    }
    let mut found: Vec<Expansion> = found.into_values().collect();
    found.sort_by(|a, b| {
        (a.typos, std::cmp::Reverse(a.doc_freq), &a.term).cmp(&(
            b.typos,
            std::cmp::Reverse(b.doc_freq),
            &b.term,
        ))
    });
    found.truncate(MAX_EXPANSIONS);
    Ok(found)
}
