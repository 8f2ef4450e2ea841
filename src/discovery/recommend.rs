//! `GET /products/{id}/recommendations` (docs/API.md §11): `also_bought` from the
//! co-purchases of [`Sales`], `similar` from the candidates the search index finds
//! (more-like-this over the product's words, `search::similar`), scored here by what they
//! share: category, brand, attributes and words. Both never answer the product itself nor
//! archived products, and put products in stock first.
//!
//! The index bounds the work of `similar` by what shares a word with the product, not by the
//! size of the store; the explicit points below keep the ranking explainable (a shared
//! category counts more than a shared word of a description).

use super::sales::Sales;
use crate::{
    domain::{ids::ProductId, product::ProductStatus},
    read_model::ReadModel,
    views::ProductView,
};
use std::collections::{HashMap, HashSet};

/// Which recommendation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Bought in the same confirmed orders.
    AlsoBought,
    /// Sharing category, brand, attributes and words.
    Similar,
}

impl Kind {
    /// Parses the API spelling.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "also_bought" => Some(Self::AlsoBought),
            "similar" => Some(Self::Similar),
            _ => None,
        }
    }

    /// The API spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AlsoBought => "also_bought",
            Self::Similar => "similar",
        }
    }
}

/// Points of a shared category.
const CATEGORY: u64 = 4;
/// Points of a shared brand.
const BRAND: u64 = 3;
/// Points per shared attribute (same name and value).
const ATTRIBUTE: u64 = 2;
/// Points per word both names have.
const NAME_WORD: u64 = 2;
/// Points per other shared word (of a name or description).
const WORD: u64 = 1;

/// Words too common to say anything about likeness.
const STOP_WORDS: &[&str] = &[
    "the", "and", "for", "with", "from", "that", "this", "your", "our", "you", "are", "all",
];

/// Lower-cased words of 3 or more letters or digits, without [`STOP_WORDS`].
fn words(text: &str) -> HashSet<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.chars().count() >= 3)
        .map(str::to_lowercase)
        .filter(|w| !STOP_WORDS.contains(&w.as_str()))
        .collect()
}

/// Whether two optional slugs are both set and equal, ignoring case.
fn same(a: &Option<String>, b: &Option<String>) -> bool {
    matches!((a, b), (Some(a), Some(b)) if a.eq_ignore_ascii_case(b))
}

/// What a product is compared on.
struct Profile {
    name: HashSet<String>,
    all: HashSet<String>,
}

impl Profile {
    fn of(p: &ProductView) -> Self {
        let name = words(&p.catalog.name);
        let mut all = words(p.catalog.description.as_deref().unwrap_or_default());
        all.extend(name.iter().cloned());
        Self { name, all }
    }
}

/// How alike `candidate` is to `target` (0: nothing shared).
fn likeness(target: &ProductView, profile: &Profile, candidate: &ProductView) -> u64 {
    let (t, c) = (&target.catalog, &candidate.catalog);
    let mut score = 0;
    if same(&t.category, &c.category) {
        score += CATEGORY;
    }
    if same(&t.brand, &c.brand) {
        score += BRAND;
    }
    for (name, value) in &c.attributes {
        if t.attributes
            .get(name)
            .is_some_and(|v| v.eq_ignore_ascii_case(value))
        {
            score += ATTRIBUTE;
        }
    }
    let other = Profile::of(candidate);
    for word in other.all.intersection(&profile.all) {
        score += if profile.name.contains(word) && other.name.contains(word) {
            NAME_WORD
        } else {
            WORD
        };
    }
    score
}

/// Up to `limit` recommendations of `kind` for `target` (`similar`: the index's candidates
/// for it), best first: in stock first, then by
/// the kind's score, then by popularity ([`Sales::units_sold_30d`]), then by name and id.
pub fn recommend(
    read_model: &ReadModel,
    sales: &Sales,
    target: &ProductView,
    kind: Kind,
    similar: &[ProductId],
    limit: usize,
) -> Vec<ProductView> {
    let id = &target.catalog.id;
    let store = &target.catalog.store_id;
    let eligible = |p: &ProductView| {
        &p.catalog.id != id
            && &p.catalog.store_id == store
            && p.catalog.status != ProductStatus::Archived
    };
    let scored: Vec<(u64, ProductView)> = match kind {
        Kind::AlsoBought => {
            let together: HashMap<ProductId, u64> = sales.bought_with(id).into_iter().collect();
            together
                .into_iter()
                .filter_map(|(other, n)| read_model.product(&other).map(|p| (n, p)))
                .filter(|(_, p)| eligible(p))
                .collect()
        }
        Kind::Similar => {
            let profile = Profile::of(target);
            similar
                .iter()
                .filter_map(|other| read_model.product(other))
                .filter(|p| eligible(p))
                .filter_map(|p| {
                    let score = likeness(target, &profile, &p);
                    (score > 0).then_some((score, p))
                })
                .collect()
        }
    };
    let mut ranked: Vec<(bool, u64, u64, ProductView)> = scored
        .into_iter()
        .map(|(score, p)| {
            let popularity = sales.units_sold_30d(&p.catalog.id);
            (p.stock.available > 0, score, popularity, p)
        })
        .collect();
    ranked.sort_by(|a, b| {
        b.0.cmp(&a.0)
            .then(b.1.cmp(&a.1))
            .then(b.2.cmp(&a.2))
            .then_with(|| a.3.catalog.name.cmp(&b.3.catalog.name))
            .then_with(|| a.3.catalog.id.cmp(&b.3.catalog.id))
    });
    ranked
        .into_iter()
        .take(limit)
        .map(|(_, _, _, p)| p)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_ignore_case_punctuation_short_and_common_words() {
        let found = words("The Basic Cotton T-Shirt, for YOU: cotton!");
        let expected: HashSet<String> = ["basic", "cotton", "shirt"]
            .into_iter()
            .map(String::from)
            .collect();
        assert_eq!(found, expected);
    }
}
