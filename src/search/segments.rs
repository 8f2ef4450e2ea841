//! Document → product slot, per index segment: how a hit reaches the live facts of its
//! product (see [`super::facts`]) with one array read instead of decoding its id and
//! looking it up in a map.
//!
//! Segments never change once written (deletes only mark documents dead, which queries
//! check separately), and a product keeps its slot for the life of the process, so a
//! segment's table is built once (by the follower right after the commit that made the
//! segment visible, or by the first query that sees it) and dropped when merges retire
//! the segment.

use super::facts::Facts;
use rustc_hash::FxHashMap;
use std::sync::{Arc, Mutex};
use tantivy::{DocId, Searcher, SegmentReader, index::SegmentId};

/// A document without a product (never written by the index; a safeguard).
pub const NO_SLOT: u32 = u32::MAX;

/// The tables of the segments seen.
#[derive(Default)]
pub struct SegmentSlots {
    tables: Mutex<FxHashMap<SegmentId, Arc<[u32]>>>,
}

impl SegmentSlots {
    /// The table of `segment`: the slot of each document, dead ones included.
    pub fn of(&self, segment: &SegmentReader, facts: &Facts) -> tantivy::Result<Arc<[u32]>> {
        let id = segment.segment_id();
        if let Some(table) = self.lock().get(&id) {
            return Ok(Arc::clone(table));
        }
        let table = build(segment, facts)?;
        self.lock().insert(id, Arc::clone(&table));
        Ok(table)
    }

    /// Builds the tables of `searcher`'s new segments and forgets those of segments it no
    /// longer has (after each commit, off the query path).
    pub fn refresh(&self, searcher: &Searcher, facts: &Facts) -> tantivy::Result<()> {
        for segment in searcher.segment_readers() {
            self.of(segment, facts)?;
        }
        let live: Vec<SegmentId> = searcher
            .segment_readers()
            .iter()
            .map(SegmentReader::segment_id)
            .collect();
        self.lock().retain(|id, _| live.contains(id));
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, FxHashMap<SegmentId, Arc<[u32]>>> {
        self.tables.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn build(segment: &SegmentReader, facts: &Facts) -> tantivy::Result<Arc<[u32]>> {
    let fast = segment.fast_fields();
    let (hi, lo) = (fast.u64("id_hi")?, fast.u64("id_lo")?);
    let bits = (0..segment.max_doc()).map(|doc: DocId| {
        let (hi, lo) = (hi.first(doc)?, lo.first(doc)?);
        Some((u128::from(hi) << 64) | u128::from(lo))
    });
    Ok(facts.slots_of(bits).into())
}
