//! More-like-this: the products of a store that share words with one product, found in the
//! index (one query over its words) rather than by comparing it with every product of the
//! store. `discovery::recommend` ranks what this finds.

use super::{index::SearchIndex, text};
use crate::domain::{ids::ProductId, product::Catalog};
use std::collections::HashSet;
use tantivy::{
    collector::TopDocs,
    query::{BooleanQuery, BoostQuery, Occur, Query, TermQuery},
    schema::{IndexRecordOption, Term},
};

/// Words of the product asked about beyond this many are not looked up (a long description
/// would otherwise make one request cost hundreds of term lookups); the category's, brand's,
/// attributes' and name's come first.
pub const MAX_WORDS: usize = 48;

/// Words shorter than this say little about likeness: one letter of a name ("t" of
/// "t-shirt"), two of a description ("of", "to"). A category, brand or attribute value counts
/// whatever its length ("x", "xl").
const MIN_NAME_CHARS: usize = 2;
/// See [`MIN_NAME_CHARS`].
const MIN_DESCRIPTION_CHARS: usize = 3;

/// How much more a word of the name, category or brand counts than one of the description.
const DEFINING_WORD_BOOST: f32 = 2.0;

/// The words of `catalog` to look for, defining ones first, each with its weight.
fn words_of(catalog: &Catalog) -> Vec<(String, f32)> {
    let tags = catalog
        .category
        .as_deref()
        .into_iter()
        .chain(catalog.brand.as_deref())
        .chain(catalog.attributes.values().map(String::as_str));
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for (texts, weight, min_chars) in [
        (tags.collect::<Vec<_>>(), DEFINING_WORD_BOOST, 1),
        (
            vec![catalog.name.as_str()],
            DEFINING_WORD_BOOST,
            MIN_NAME_CHARS,
        ),
        (
            catalog.description.as_deref().into_iter().collect(),
            1.0,
            MIN_DESCRIPTION_CHARS,
        ),
    ] {
        for text in texts {
            for word in text::words(text) {
                if out.len() == MAX_WORDS {
                    return out;
                }
                if word.text.chars().count() >= min_chars && seen.insert(word.text.clone()) {
                    out.push((word.text, weight));
                }
            }
        }
    }
    out
}

/// Up to `limit` other products of `catalog`'s store that share at least one word with it,
/// most alike first (BM25 over the weighted fields of the index).
pub fn more_like(
    index: &SearchIndex,
    catalog: &Catalog,
    limit: usize,
) -> tantivy::Result<Vec<ProductId>> {
    let words = words_of(catalog);
    if words.is_empty() || limit == 0 {
        return Ok(Vec::new());
    }
    let fields = index.fields;
    let should: Vec<(Occur, Box<dyn Query>)> = words
        .iter()
        .flat_map(|(word, boost)| {
            fields.weighted().into_iter().map(move |(field, weight)| {
                let term = TermQuery::new(
                    Term::from_field_text(field, word),
                    IndexRecordOption::WithFreqs,
                );
                (
                    Occur::Should,
                    Box::new(BoostQuery::new(Box::new(term), weight * boost)) as Box<dyn Query>,
                )
            })
        })
        .collect();
    let query = BooleanQuery::new(vec![
        (Occur::Must, Box::new(BooleanQuery::new(should))),
        (
            Occur::Must,
            Box::new(TermQuery::new(
                index.store_term(&catalog.store_id),
                IndexRecordOption::Basic,
            )),
        ),
        (
            Occur::MustNot,
            Box::new(TermQuery::new(
                Term::from_field_text(fields.id, catalog.id.as_str()),
                IndexRecordOption::Basic,
            )),
        ),
    ]);
    let searcher = index.searcher();
    let top = searcher.search(&query, &TopDocs::with_limit(limit).order_by_score())?;
    let mut out = Vec::with_capacity(top.len());
    for (_, address) in top {
        let fast = searcher.segment_reader(address.segment_ord).fast_fields();
        let (hi, lo) = (fast.u64("id_hi")?, fast.u64("id_lo")?);
        if let Some(product) = index.product_of(&hi, &lo, address.doc_id) {
            out.push(product);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{
        ids::StoreId,
        money::Money,
        product::{Catalog, ProductStatus},
    };
    use std::collections::BTreeMap;

    fn catalog(store: &StoreId, name: &str, category: Option<&str>) -> Catalog {
        Catalog {
            id: ProductId::generate(),
            store_id: store.clone(),
            sku: name.to_uppercase(),
            name: name.into(),
            description: None,
            category: category.map(String::from),
            brand: None,
            price: Money {
                amount: 100,
                currency: "USD".into(),
            },
            attributes: BTreeMap::new(),
            image_urls: Vec::new(),
            status: ProductStatus::Active,
            low_stock_threshold: 0,
            created_at: 1,
            updated_at: 1,
        }
    }

    #[test]
    fn more_like_finds_the_stores_products_sharing_words_best_first_without_itself() {
        let dir = tempfile::tempdir().expect("temp dir");
        let index = SearchIndex::open(dir.path()).expect("opens").index;
        let (store, other_store) = (StoreId::generate(), StoreId::generate());
        let target = catalog(&store, "Cotton Crew Tee", Some("tees"));
        let close = catalog(&store, "Cotton Crew Sweater", Some("tees"));
        let far = catalog(&store, "Linen Tee", None);
        let unrelated = catalog(&store, "Espresso Beans", Some("coffee"));
        let elsewhere = catalog(&other_store, "Cotton Crew Tee", Some("tees"));
        for c in [&target, &close, &far, &unrelated, &elsewhere] {
            index.put(c).expect("indexes");
        }
        index.commit(1).expect("commits");
        let found = more_like(&index, &target, 10).expect("searches");
        assert_eq!(found, vec![close.id.clone(), far.id.clone()]);
        assert_eq!(
            more_like(&index, &target, 1).expect("searches"),
            vec![close.id]
        );
    }
}
