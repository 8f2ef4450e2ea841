//! Search and discovery (§11): an embedded tantivy index of the catalog's words, fed by a log
//! consumer, and queries answered against the live catalog.
//!
//! The index holds only what text matching needs (the words of each product, weighted by
//! field) and the log position of its last commit. Filters, facets and sorts read the
//! products' live facts ([`facts`]: one slot per product, kept by the read model with every
//! durable change), reached from a hit through a per-segment document → slot table
//! ([`segments`]); so a stock change or an archive shows in `in_stock`, facets and results
//! the moment it is acknowledged, without waiting for the index, and a query reads the
//! catalog only for the page it shows. Words of a new or edited product show after the
//! follower's next commit (one batch of the log, normally milliseconds).
//!
//! The index can always be rebuilt: when it is missing or of another [`index::INDEX_VERSION`]
//! it is filled from the catalog at start and the follower continues from the log position
//! the catalog stood at.

pub mod engine;
/// The per-product facts queries filter, count and sort by (kept by the read model).
pub use crate::read_model::search_facts as facts;
pub mod index;
pub mod query;
pub mod segments;
pub mod similar;
pub mod synonyms;
pub mod terms;
pub mod text;

use crate::{
    domain::ids::StoreId,
    persistence::{Storage, StorageError, consumer::Start, log::Lsn},
    read_model::ReadModel,
};
use dashmap::DashMap;
use engine::TextMatches;
use index::SearchIndex;
use std::{
    path::Path,
    sync::Arc,
    time::{Duration, Instant},
};
use synonyms::Synonyms;

/// The follower's consumer name (its saved cursor keeps the log it has not indexed yet).
pub const CONSUMER: &str = "search";

/// Records the follower takes from the log at a time (one index commit at most per batch).
const BATCH: usize = 1024;

/// How often the follower records its position under steady traffic without product text
/// (stock only), so the log below it can be deleted.
const IDLE_COMMIT: Duration = Duration::from_secs(5);

/// How long the log must be quiet before the follower records a position it has read past.
const QUIET_COMMIT: Duration = Duration::from_secs(1);

/// Why the search index failed.
#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    /// tantivy refused.
    #[error("search index: {0}")]
    Index(#[from] tantivy::TantivyError),
    /// The log or sled refused.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// A blocking task died.
    #[error("search task failed: {0}")]
    Task(String),
}

/// The search service: the index, each store's synonyms, and where the index stands.
pub struct Search {
    index: SearchIndex,
    /// The log position of the index's last commit when it was opened; `None` when it was
    /// created empty and must be filled from the catalog first.
    opened_at: Option<Lsn>,
    synonyms: DashMap<StoreId, Arc<Synonyms>>,
    /// The log position the searchable index reflects: every product record up to it is
    /// committed and visible (records without product words advance it without a commit).
    current: tokio::sync::watch::Sender<Lsn>,
    /// Document → product slot per segment (see [`segments`]).
    segment_slots: segments::SegmentSlots,
}

impl Search {
    /// Opens (or creates) the index in `dir`. Blocking.
    pub fn open(dir: &Path) -> Result<Self, SearchError> {
        let opened = SearchIndex::open(dir)?;
        if opened.lsn.is_none() {
            tracing::info!(dir = %dir.display(), "search index missing or outdated; it is rebuilt from the catalog");
        }
        Ok(Self {
            index: opened.index,
            opened_at: opened.lsn,
            synonyms: DashMap::new(),
            current: tokio::sync::watch::channel(opened.lsn.unwrap_or(0)).0,
            segment_slots: segments::SegmentSlots::default(),
        })
    }

    /// The index.
    pub fn index(&self) -> &SearchIndex {
        &self.index
    }

    /// Loads every store's synonyms (at start).
    pub fn load_synonyms(&self, storage: &Storage) -> Result<(), SearchError> {
        for (store, groups) in storage.synonyms()? {
            self.synonyms.insert(store, Arc::new(Synonyms::new(groups)));
        }
        Ok(())
    }

    /// Replaces `store`'s synonyms in memory (after they were made durable).
    pub fn set_synonyms(&self, store: StoreId, synonyms: Synonyms) {
        self.synonyms.insert(store, Arc::new(synonyms));
    }

    /// `store`'s synonyms (none set: empty).
    pub fn synonyms(&self, store: &StoreId) -> Arc<Synonyms> {
        self.synonyms
            .get(store)
            .map(|s| Arc::clone(s.value()))
            .unwrap_or_default()
    }

    /// Up to `limit` other products of `catalog`'s store sharing words with it, most alike
    /// first (see [`similar::more_like`]).
    pub fn similar_to(
        &self,
        catalog: &crate::domain::product::Catalog,
        limit: usize,
    ) -> Result<Vec<crate::domain::ids::ProductId>, SearchError> {
        Ok(similar::more_like(&self.index, catalog, limit)?)
    }

    /// Matches the words of `q` in every product, with `store`'s synonyms (or every
    /// store's); hits are slots of `facts`, which the caller keeps in scope.
    pub fn match_text(
        &self,
        q: &str,
        store: Option<&StoreId>,
        facts: &facts::Facts,
    ) -> Result<TextMatches, SearchError> {
        let words: Vec<String> = text::words(q).into_iter().map(|w| w.text).collect();
        if words.is_empty() {
            return Ok(TextMatches::default());
        }
        let tables: Vec<Arc<Synonyms>> = match store {
            Some(store) => vec![self.synonyms(store)],
            None => self
                .synonyms
                .iter()
                .map(|s| Arc::clone(s.value()))
                .collect(),
        };
        let synonyms = |form: &str| -> Vec<String> {
            tables
                .iter()
                .flat_map(|t| t.of(form).iter().cloned())
                .collect()
        };
        Ok(engine::match_words(
            &self.index,
            &words,
            &synonyms,
            facts,
            &self.segment_slots,
        )?)
    }

    /// Waits (at most `limit`) until the index reflects the log up to `lsn`, so a search
    /// made after an acknowledged change sees it (read your writes). Answers whether it does.
    pub async fn caught_up(&self, lsn: Lsn, limit: Duration) -> bool {
        let mut current = self.current.subscribe();
        tokio::time::timeout(limit, current.wait_for(|at| *at >= lsn))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    /// Keeps the index following the catalog until the log closes: fills it first when it
    /// was created empty, then indexes every product record of the log after its position.
    pub async fn follow(self: Arc<Self>, storage: Storage, read_model: Arc<ReadModel>) {
        if let Err(error) = Arc::clone(&self).run_follower(storage, read_model).await {
            tracing::error!(%error, "search indexing stopped; new product words are not searchable until a restart");
            // Queries stop waiting for a follower that will not come.
            self.current.send_replace(Lsn::MAX);
        }
    }

    async fn run_follower(
        self: Arc<Self>,
        storage: Storage,
        read_model: Arc<ReadModel>,
    ) -> Result<(), SearchError> {
        let start = match self.opened_at {
            Some(lsn) => lsn,
            None => {
                let this = Arc::clone(&self);
                let storage = storage.clone();
                let model = Arc::clone(&read_model);
                blocking(move || this.rebuild(&storage, &model)).await??
            }
        };
        {
            // The tables of the segments found on disk, before the first query needs them.
            let this = Arc::clone(&self);
            let model = Arc::clone(&read_model);
            blocking(move || {
                this.segment_slots
                    .refresh(&this.index.searcher(), &model.search_facts)
            })
            .await??;
        }
        self.current.send_replace(start);
        storage.set_cursor(CONSUMER, start)?;
        let mut consumer = storage.consumer(CONSUMER, Start::Now)?;
        let mut committed = start;
        let mut last_commit = Instant::now();
        loop {
            // Records read but not committed (no product words among them): record the
            // position once the log has been quiet for a moment, so the log below it can go.
            if consumer.position() > committed {
                match tokio::time::timeout(QUIET_COMMIT, consumer.wait()).await {
                    Err(_) => {
                        let at = consumer.position();
                        let this = Arc::clone(&self);
                        let model = Arc::clone(&read_model);
                        blocking(move || this.commit(at, &model.search_facts)).await??;
                        consumer.save(at).await?;
                        metrics::gauge!(crate::observability::SEARCH_INDEXED_LSN).set(at as f64);
                        committed = at;
                        last_commit = Instant::now();
                        continue;
                    }
                    Ok(Err(StorageError::Unavailable(_))) => return Ok(()),
                    Ok(Err(error)) => return Err(error.into()),
                    Ok(Ok(())) => {}
                }
            }
            let batch = match consumer.next(BATCH).await {
                Ok(batch) => batch,
                // The log closes at shutdown.
                Err(StorageError::Unavailable(_)) => return Ok(()),
                Err(error) => return Err(error.into()),
            };
            let Some(last) = batch.last().map(|e| e.lsn) else {
                continue;
            };
            let catalogs: Vec<_> = batch.iter().flat_map(|e| e.catalogs()).collect();
            if catalogs.is_empty() && last_commit.elapsed() < IDLE_COMMIT {
                // Nothing searchable changed: what is committed already reflects `last`.
                self.current.send_replace(last);
                continue;
            }
            let this = Arc::clone(&self);
            let model = Arc::clone(&read_model);
            let changed = catalogs.len();
            blocking(move || -> Result<(), SearchError> {
                for catalog in &catalogs {
                    this.index.put(catalog)?;
                }
                this.commit(last, &model.search_facts)
            })
            .await??;
            self.current.send_replace(last);
            consumer.save(last).await?;
            metrics::gauge!(crate::observability::SEARCH_INDEXED_LSN).set(last as f64);
            metrics::counter!(crate::observability::SEARCH_DOCUMENTS_INDEXED)
                .increment(changed as u64);
            tracing::debug!(
                from = committed,
                to = last,
                changed,
                "search index caught up"
            );
            committed = last;
            last_commit = Instant::now();
        }
    }

    /// Commits the index at `lsn` and builds the slot tables of its new segments, so the
    /// first query after a commit does not pay for them.
    fn commit(&self, lsn: Lsn, facts: &facts::Facts) -> Result<(), SearchError> {
        self.index.commit(lsn)?;
        self.segment_slots.refresh(&self.index.searcher(), facts)?;
        Ok(())
    }

    /// Empties the index, fills it with every product of the read model and commits it at
    /// the log position taken *before* reading (records after it are indexed again by the
    /// follower, which ends at the same state). Blocking; returns that position.
    pub fn rebuild(&self, storage: &Storage, read_model: &ReadModel) -> Result<Lsn, SearchError> {
        let started = Instant::now();
        let lsn = storage.durable_lsn();
        self.index.clear()?;
        let mut products = 0usize;
        for product in read_model.products.iter() {
            self.index.put(&product.value().catalog)?;
            products += 1;
        }
        self.commit(lsn, &read_model.search_facts)?;
        let millis = started.elapsed().as_millis() as u64;
        tracing::info!(
            products,
            millis,
            per_second = (products as u64 * 1000)
                .checked_div(millis)
                .unwrap_or(products as u64),
            "search index rebuilt"
        );
        Ok(lsn)
    }
}

/// Runs `f` on the blocking pool.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, SearchError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| SearchError::Task(e.to_string()))
}
