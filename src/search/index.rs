//! The tantivy index under `DATA_DIR/search/`: one document per product with its words in
//! three weighted fields, and the position in the event log it reflects, committed together.

use super::text;
use crate::{
    domain::{
        ids::{ProductId, StoreId},
        product::Catalog,
    },
    persistence::log::Lsn,
};
use serde::{Deserialize, Serialize};
use std::{path::Path, sync::Mutex};
use tantivy::{
    Index, IndexReader, IndexWriter, ReloadPolicy, Searcher, TantivyDocument, Term,
    schema::{FAST, Field, IndexRecordOption, STRING, Schema, TextFieldIndexing, TextOptions},
};

/// Bumped whenever the schema or the way words are cut changes: an index of another version
/// is rebuilt from the catalog at start.
pub const INDEX_VERSION: u32 = 1;

/// The memory the writer may buffer before it flushes a segment (tantivy's minimum is 15 MB).
const WRITER_MEMORY: usize = 24 * 1024 * 1024;

/// The fields of a product document.
#[derive(Clone, Copy, Debug)]
pub struct Fields {
    /// The product id, indexed as one term (to replace a product's document).
    pub id: Field,
    /// The id's 120 bits as two fast numbers (a hit's product without a stored-field read).
    pub id_hi: Field,
    /// See `id_hi`.
    pub id_lo: Field,
    /// The store, indexed as one term (the store filter runs inside the index).
    pub store: Field,
    /// Words of the name (weight 3).
    pub name: Field,
    /// Words of the category and brand (weight 2).
    pub tags: Field,
    /// Words of the description and attribute values (weight 1).
    pub body: Field,
}

impl Fields {
    /// The word fields with their weights, heaviest first.
    pub fn weighted(&self) -> [(Field, f32); 3] {
        [(self.name, 3.0), (self.tags, 2.0), (self.body, 1.0)]
    }
}

fn schema() -> (Schema, Fields) {
    let mut builder = Schema::builder();
    // Words are cut and folded by `text` before they reach tantivy; the whitespace tokenizer
    // only splits them again. Frequencies feed BM25; positions are not needed.
    let words = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer("whitespace")
            .set_index_option(IndexRecordOption::WithFreqs),
    );
    let fields = Fields {
        id: builder.add_text_field("id", STRING),
        id_hi: builder.add_u64_field("id_hi", FAST),
        id_lo: builder.add_u64_field("id_lo", FAST),
        store: builder.add_text_field("store", STRING),
        name: builder.add_text_field("name", words.clone()),
        tags: builder.add_text_field("tags", words.clone()),
        body: builder.add_text_field("body", words),
    };
    (builder.build(), fields)
}

/// What each commit records beside the documents.
#[derive(Serialize, Deserialize)]
struct CommitPayload {
    version: u32,
    lsn: Lsn,
}

/// The index, its writer and a reader reloaded after every commit.
pub struct SearchIndex {
    index: Index,
    reader: IndexReader,
    writer: Mutex<IndexWriter>,
    /// The fields.
    pub fields: Fields,
}

/// An index open at start: the log position it reflects, or `None` when it was just created
/// (missing, unreadable or of another version) and must be filled from the catalog.
pub struct Opened {
    /// The index.
    pub index: SearchIndex,
    /// Where its last commit stands in the log.
    pub lsn: Option<Lsn>,
}

impl SearchIndex {
    /// Opens the index in `dir`, or creates an empty one there when it is missing or not of
    /// [`INDEX_VERSION`] (the old files are removed first).
    pub fn open(dir: &Path) -> tantivy::Result<Opened> {
        let (schema, fields) = schema();
        let existing = Index::open_in_dir(dir).ok().and_then(|index| {
            let payload = index.load_metas().ok()?.payload?;
            let payload: CommitPayload = serde_json::from_str(&payload).ok()?;
            (payload.version == INDEX_VERSION && index.schema() == schema)
                .then_some((index, payload.lsn))
        });
        let (index, lsn) = match existing {
            Some((index, lsn)) => (index, Some(lsn)),
            None => {
                if dir.exists() {
                    std::fs::remove_dir_all(dir)?;
                }
                std::fs::create_dir_all(dir)?;
                (Index::create_in_dir(dir, schema)?, None)
            }
        };
        let writer = index.writer_with_num_threads(1, WRITER_MEMORY)?;
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        Ok(Opened {
            index: SearchIndex {
                index,
                reader,
                writer: Mutex::new(writer),
                fields,
            },
            lsn,
        })
    }

    /// A point-in-time view of the index as of its last commit.
    pub fn searcher(&self) -> Searcher {
        self.reader.searcher()
    }

    /// Replaces `catalog`'s product document (visible after the next [`SearchIndex::commit`]).
    pub fn put(&self, catalog: &Catalog) -> tantivy::Result<()> {
        let f = self.fields;
        let mut doc = TantivyDocument::default();
        let bits = catalog.id.to_bits();
        doc.add_text(f.id, catalog.id.as_str());
        doc.add_u64(f.id_hi, (bits >> 64) as u64);
        doc.add_u64(f.id_lo, bits as u64);
        doc.add_text(f.store, catalog.store_id.as_str());
        doc.add_text(f.name, text::index_terms([catalog.name.as_str()]));
        doc.add_text(
            f.tags,
            text::index_terms(
                catalog
                    .category
                    .iter()
                    .chain(&catalog.brand)
                    .map(String::as_str),
            ),
        );
        doc.add_text(
            f.body,
            text::index_terms(
                catalog
                    .description
                    .iter()
                    .map(String::as_str)
                    .chain(catalog.attributes.values().map(String::as_str)),
            ),
        );
        let writer = self.writer()?;
        writer.delete_term(Term::from_field_text(f.id, catalog.id.as_str()));
        writer.add_document(doc)?;
        Ok(())
    }

    /// Deletes every document (visible after the next [`SearchIndex::commit`]).
    pub fn clear(&self) -> tantivy::Result<()> {
        self.writer()?.delete_all_documents()?;
        Ok(())
    }

    /// Makes every [`SearchIndex::put`] so far durable and visible, recording `lsn` as the log
    /// position the index now reflects.
    pub fn commit(&self, lsn: Lsn) -> tantivy::Result<()> {
        {
            let mut writer = self.writer()?;
            let mut commit = writer.prepare_commit()?;
            let payload = serde_json::to_string(&CommitPayload {
                version: INDEX_VERSION,
                lsn,
            })
            .map_err(|e| tantivy::TantivyError::InternalError(e.to_string()))?;
            commit.set_payload(&payload);
            commit.commit()?;
        }
        self.reader.reload()
    }

    fn writer(&self) -> tantivy::Result<std::sync::MutexGuard<'_, IndexWriter>> {
        self.writer
            .lock()
            .map_err(|_| tantivy::TantivyError::InternalError("the index writer panicked".into()))
    }

    /// The product of a document, from its fast fields.
    pub fn product_of(
        &self,
        hi: &tantivy::columnar::Column<u64>,
        lo: &tantivy::columnar::Column<u64>,
        doc: tantivy::DocId,
    ) -> Option<ProductId> {
        let bits = (u128::from(hi.first(doc)?) << 64) | u128::from(lo.first(doc)?);
        Some(ProductId::from_bits(bits))
    }

    /// The term of `store` in the store field.
    pub fn store_term(&self, store: &StoreId) -> Term {
        Term::from_field_text(self.fields.store, store.as_str())
    }

    /// How many product documents the index holds.
    pub fn len(&self) -> u64 {
        self.searcher().num_docs()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The underlying tantivy index.
    pub fn tantivy(&self) -> &Index {
        &self.index
    }
}
