//! A search request answered over the live catalog: text hits from the index, then the
//! filters, facet counts, sort and page computed on the products' current facts (kept by
//! the read model with every durable change, see [`super::facts`]), so stock and status are
//! never older than the last acknowledged change. Only the page's products are read from the
//! read model.

use super::{
    engine::TextHit,
    facts::{Facts, FactsView, NO_VALUE, Popularity, SlotFacts},
    text,
};
use crate::{
    domain::{ids::StoreId, product::Catalog, product::ProductStatus},
    read_model::ReadModel,
    views::ProductView,
};
use rustc_hash::FxHashMap;
use std::{
    cmp::Reverse,
    collections::{BTreeMap, HashSet},
    sync::Arc,
};

/// Orders of a result list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sort {
    /// Words matched, then typos, then weighted BM25, then popularity (needs words).
    Relevance,
    /// Cheapest first.
    Price,
    /// Dearest first.
    PriceDesc,
    /// Best rated first (unrated last).
    RatingDesc,
    /// Most units sold in the last 30 days first.
    PopularityDesc,
    /// Newest first.
    CreatedDesc,
    /// By name, A to Z.
    Name,
}

impl Sort {
    /// The sort named `name` in the contract's spelling.
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "relevance" => Self::Relevance,
            "price" => Self::Price,
            "-price" => Self::PriceDesc,
            "-rating" => Self::RatingDesc,
            "-popularity" => Self::PopularityDesc,
            "-created_at" => Self::CreatedDesc,
            "name" => Self::Name,
            _ => return None,
        })
    }
}

/// A facet a request asks counts for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FacetName {
    /// Category values.
    Category,
    /// Brand values.
    Brand,
    /// Price range and buckets.
    Price,
    /// Whole stars of the average rating.
    Rating,
    /// Values of one attribute.
    Attribute(String),
}

impl FacetName {
    /// The facet named `name` (`category`, `brand`, `price`, `rating`, `attr.<name>`).
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "category" => Self::Category,
            "brand" => Self::Brand,
            "price" => Self::Price,
            "rating" => Self::Rating,
            other => {
                let attr = other.strip_prefix("attr.")?;
                if attr.is_empty() {
                    return None;
                }
                Self::Attribute(attr.to_owned())
            }
        })
    }

    /// Its name in answers.
    pub fn key(&self) -> String {
        match self {
            Self::Category => "category".into(),
            Self::Brand => "brand".into(),
            Self::Price => "price".into(),
            Self::Rating => "rating".into(),
            Self::Attribute(name) => format!("attr.{name}"),
        }
    }
}

/// What a shopper filters by. Within one filter the values are alternatives (any of);
/// different filters must all hold.
#[derive(Clone, Debug)]
pub struct Filters {
    /// Only this store's products.
    pub store: Option<StoreId>,
    /// Status (active unless staff ask for archived ones).
    pub status: ProductStatus,
    /// Any of these categories.
    pub categories: Vec<String>,
    /// Any of these brands.
    pub brands: Vec<String>,
    /// Lowest price, minor units, inclusive.
    pub min_price: Option<i64>,
    /// Highest price, minor units, inclusive.
    pub max_price: Option<i64>,
    /// Only products with units available.
    pub in_stock: bool,
    /// Lowest average rating (1–5).
    pub min_rating: Option<u8>,
    /// Attribute name → any of these values.
    pub attributes: BTreeMap<String, Vec<String>>,
}

/// Bits of [`Compiled::fails`]: which filters a product fails.
const FAILS_CATEGORY: u64 = 1;
const FAILS_BRAND: u64 = 1 << 1;
const FAILS_PRICE: u64 = 1 << 2;
const FAILS_RATING: u64 = 1 << 3;
const FAILS_STOCK: u64 = 1 << 4;
/// The first attribute filter's bit (the others follow, in name order; at most 50).
const FAILS_ATTRIBUTE: u32 = 5;

/// The filters as the facts compare them: values turned into ordinals once per query.
struct Compiled<'a> {
    filters: &'a Filters,
    /// `None`: any store; `Some(None)`: a store no product has.
    store: Option<Option<u32>>,
    /// The wanted categories' ordinals (values no product has are left out, so a filter of
    /// only such values matches nothing); `None` without the filter.
    categories: Option<Vec<u32>>,
    /// The same for brands.
    brands: Option<Vec<u32>>,
}

impl<'a> Compiled<'a> {
    fn new(filters: &'a Filters, facts: &Facts) -> Self {
        let ordinals = |values: &[String]| {
            (!values.is_empty()).then(|| values.iter().filter_map(|v| facts.ordinal(v)).collect())
        };
        Self {
            filters,
            store: filters.store.as_ref().map(|s| facts.ordinal(s.as_str())),
            categories: ordinals(&filters.categories),
            brands: ordinals(&filters.brands),
        }
    }

    /// Whether the product is in scope at all: present, of the status and store asked (no
    /// facet widens these).
    #[inline]
    fn scope(&self, p: &SlotFacts) -> bool {
        p.present()
            && p.status() == self.filters.status
            && self.store.is_none_or(|store| store == Some(p.store()))
    }

    /// The filters `p` fails, as bits (0: it passes them all). Attribute filters read the
    /// catalog (`catalog`), the rest only facts.
    #[inline]
    fn fails(&self, p: &SlotFacts, catalog: impl FnOnce() -> Option<Arc<Catalog>>) -> u64 {
        let f = self.filters;
        let any_of = |wanted: &Option<Vec<u32>>, value: u32| {
            wanted
                .as_ref()
                .is_some_and(|w| value == NO_VALUE || !w.contains(&value))
        };
        let mut fails = 0;
        if any_of(&self.categories, p.category()) {
            fails |= FAILS_CATEGORY;
        }
        if any_of(&self.brands, p.brand()) {
            fails |= FAILS_BRAND;
        }
        if f.min_price.is_some() || f.max_price.is_some() {
            let price = p.price();
            if f.min_price.is_some_and(|min| price < min)
                || f.max_price.is_some_and(|max| price > max)
            {
                fails |= FAILS_PRICE;
            }
        }
        if f.min_rating
            .is_some_and(|min| p.rating().is_none_or(|avg| avg < u64::from(min) * 100))
        {
            fails |= FAILS_RATING;
        }
        if f.in_stock && !p.in_stock() {
            fails |= FAILS_STOCK;
        }
        if !f.attributes.is_empty() {
            let catalog = catalog();
            for (i, (name, values)) in f.attributes.iter().enumerate() {
                let value = catalog.as_ref().and_then(|c| c.attributes.get(name));
                let pass =
                    values.is_empty() || value.is_some_and(|v| values.iter().any(|w| w == v));
                if !pass {
                    fails |= 1 << (FAILS_ATTRIBUTE + i as u32);
                }
            }
        }
        fails
    }

    /// The bit of the filter `facet` leaves out when it counts (its own).
    fn own(&self, facet: &FacetName) -> u64 {
        match facet {
            FacetName::Category => FAILS_CATEGORY,
            FacetName::Brand => FAILS_BRAND,
            FacetName::Price => FAILS_PRICE,
            FacetName::Rating => FAILS_RATING,
            FacetName::Attribute(name) => self
                .filters
                .attributes
                .keys()
                .position(|n| n == name)
                .map_or(0, |i| 1 << (FAILS_ATTRIBUTE + i as u32)),
        }
    }
}

/// A counted facet value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FacetValue {
    /// The value (a category, a brand, a whole star count, an attribute value).
    pub value: String,
    /// Products with it.
    pub count: usize,
}

/// A price bucket: `from` inclusive, `to` exclusive (minor units).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PriceBucket {
    /// Lower bound, inclusive.
    pub from: i64,
    /// Upper bound, exclusive.
    pub to: i64,
    /// Products priced in it.
    pub count: usize,
}

/// The price facet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PriceFacet {
    /// Lowest price.
    pub min: i64,
    /// Highest price.
    pub max: i64,
    /// Evenly wide buckets with round bounds covering `min..=max`.
    pub buckets: Vec<PriceBucket>,
}

/// The counts of one facet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FacetCounts {
    /// Values with counts, most frequent first.
    Values(Vec<FacetValue>),
    /// The price range (absent when nothing matched).
    Price(Option<PriceFacet>),
}

/// One result.
#[derive(Clone, Debug)]
pub struct Found {
    /// The product as it is now.
    pub product: ProductView,
    /// How its text matched (none without words).
    pub hit: Option<TextHit>,
}

/// A product a request considers: its slot in the facts and how its text matched.
#[derive(Clone, Copy, Debug)]
pub struct Candidate {
    /// Its slot (see [`super::facts`]).
    pub slot: u32,
    /// How its text matched (none without words).
    pub hit: Option<TextHit>,
}

/// A page of results.
#[derive(Debug)]
pub struct Results {
    /// This page.
    pub items: Vec<Found>,
    /// Facet counts in the order asked.
    pub facets: Vec<(FacetName, FacetCounts)>,
    /// Every result, over all pages.
    pub total: usize,
}

/// How the candidates of a request are ranked, counted and paged.
pub struct Request<'a> {
    /// Filters.
    pub filters: &'a Filters,
    /// Facets to count.
    pub facets: &'a [FacetName],
    /// Order.
    pub sort: Sort,
    /// 1-based page.
    pub page: usize,
    /// Page size.
    pub per_page: usize,
    /// Units sold in the last 30 days, per slot.
    pub popularity: &'a Popularity,
    /// The products: their facts, and their catalog for the page (and the rare attribute
    /// filters and facets and the name sort).
    pub read_model: &'a ReadModel,
}

/// A candidate that passed the scope, with the filters it fails.
struct Scoped {
    slot: u32,
    hit: Option<TextHit>,
    fails: u64,
}

impl Request<'_> {
    /// Every product in scope (a request without words).
    pub fn everything(&self, facts: &FactsView) -> Vec<Candidate> {
        let compiled = Compiled::new(self.filters, &self.read_model.search_facts);
        facts
            .iter()
            .filter(|(_, p)| compiled.scope(p))
            .map(|(slot, _)| Candidate { slot, hit: None })
            .collect()
    }

    /// Answers over `candidates` (text hits, or [`Request::everything`]): the products in
    /// scope, filtered, counted per facet, ordered, and the page asked for read from the
    /// read model.
    pub fn run(&self, facts: &FactsView, candidates: &[Candidate]) -> Results {
        let compiled = Compiled::new(self.filters, &self.read_model.search_facts);
        let scoped: Vec<Scoped> = candidates
            .iter()
            .filter_map(|c| {
                let p = facts.get(c.slot)?;
                compiled.scope(p).then(|| Scoped {
                    slot: c.slot,
                    hit: c.hit,
                    fails: compiled.fails(p, || self.catalog(p)),
                })
            })
            .collect();
        let facets = self
            .facets
            .iter()
            .map(|facet| {
                let own = compiled.own(facet);
                let counted = scoped.iter().filter(|s| s.fails & !own == 0);
                (facet.clone(), self.count_facet(facet, facts, counted))
            })
            .collect();
        // Keys with the result's index in `scoped` (small entries: partitioning moves them).
        let mut keyed: Vec<(SortKey, u32)> = scoped
            .iter()
            .enumerate()
            .filter(|(_, s)| s.fails == 0)
            .filter_map(|(i, s)| {
                let p = facts.get(s.slot)?;
                Some((self.key(s.slot, p, s.hit), i as u32))
            })
            .collect();
        let total = keyed.len();
        // Only the requested page is ordered completely: the rest is just partitioned off.
        let end = self.page.saturating_mul(self.per_page).min(total);
        if end > 0 && end < keyed.len() {
            keyed.select_nth_unstable_by(end - 1, |a, b| a.0.cmp(&b.0));
            keyed.truncate(end);
        }
        keyed.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let items = keyed
            .into_iter()
            .skip((self.page - 1).saturating_mul(self.per_page))
            .filter_map(|(_, i)| {
                let s = scoped.get(i as usize)?;
                let id = facts.get(s.slot)?.product()?;
                Some(Found {
                    product: self.read_model.product(id)?,
                    hit: s.hit,
                })
            })
            .collect();
        Results {
            items,
            facets,
            total,
        }
    }

    /// The catalog of a product (slow path: attributes and names only).
    fn catalog(&self, p: &SlotFacts) -> Option<Arc<Catalog>> {
        let id = p.product()?;
        self.read_model
            .products
            .get(id)
            .map(|view| Arc::clone(&view.catalog))
    }

    /// The order of a result as one comparable key (computed once per result from its
    /// facts, so sorting never hashes, allocates or looks anything up; only the name sort
    /// reads names).
    fn key(&self, slot: u32, p: &SlotFacts, hit: Option<TextHit>) -> SortKey {
        let hit = hit.unwrap_or_default();
        let sold = || self.popularity.of(slot);
        let primary = match self.sort {
            Sort::Relevance => Primary::Relevance {
                words: Reverse(hit.words),
                typos: hit.typos,
                score: Reverse(OrderedScore(hit.score)),
                sold: Reverse(sold()),
            },
            Sort::Price => Primary::Number(p.price()),
            Sort::PriceDesc => Primary::Number(p.price().saturating_neg()),
            // Unrated products last.
            Sort::RatingDesc => {
                Primary::Number(p.rating().map_or(1, |r| -(r.min(i64::MAX as u64) as i64)))
            }
            Sort::PopularityDesc => Primary::Number(-(sold().min(i64::MAX as u64) as i64)),
            Sort::CreatedDesc => Primary::Number(0),
            Sort::Name => Primary::Text(
                self.catalog(p)
                    .map(|c| c.name.to_lowercase())
                    .unwrap_or_default(),
            ),
        };
        SortKey {
            primary,
            newest: Reverse(p.created_at()),
            id: Reverse(p.id_bits()),
        }
    }

    fn count_facet<'s>(
        &self,
        facet: &FacetName,
        facts: &FactsView,
        counted: impl Iterator<Item = &'s Scoped>,
    ) -> FacetCounts {
        let of = |s: &Scoped| facts.get(s.slot);
        let values: Vec<FacetValue> = match facet {
            FacetName::Price => {
                let prices: Vec<i64> = counted.filter_map(|s| of(s).map(|p| p.price())).collect();
                return FacetCounts::Price(price_facet(&prices));
            }
            FacetName::Rating => {
                let mut stars: FxHashMap<u64, usize> = FxHashMap::default();
                for avg in counted.filter_map(|s| of(s)?.rating()) {
                    *stars.entry(avg / 100).or_default() += 1;
                }
                stars
                    .into_iter()
                    .map(|(value, count)| FacetValue {
                        value: value.to_string(),
                        count,
                    })
                    .collect()
            }
            FacetName::Category | FacetName::Brand => {
                let mut counts: FxHashMap<u32, usize> = FxHashMap::default();
                for p in counted.filter_map(of) {
                    let value = if *facet == FacetName::Category {
                        p.category()
                    } else {
                        p.brand()
                    };
                    if value != NO_VALUE {
                        *counts.entry(value).or_default() += 1;
                    }
                }
                let facts = &self.read_model.search_facts;
                counts
                    .into_iter()
                    .map(|(value, count)| FacetValue {
                        value: facts.text(value).to_string(),
                        count,
                    })
                    .collect()
            }
            FacetName::Attribute(name) => {
                let mut counts: FxHashMap<String, usize> = FxHashMap::default();
                for catalog in counted.filter_map(|s| self.catalog(of(s)?)) {
                    if let Some(value) = catalog.attributes.get(name) {
                        match counts.get_mut(value) {
                            Some(count) => *count += 1,
                            None => {
                                counts.insert(value.clone(), 1);
                            }
                        }
                    }
                }
                counts
                    .into_iter()
                    .map(|(value, count)| FacetValue { value, count })
                    .collect()
            }
        };
        let mut values = values;
        values.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.value.cmp(&b.value)));
        FacetCounts::Values(values)
    }
}

/// What a result list is ordered by, then newest first, then by id (a total order, so pages
/// never overlap).
#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct SortKey {
    primary: Primary,
    newest: Reverse<crate::domain::time::Millis>,
    id: Reverse<u128>,
}

/// The sort's own part of a [`SortKey`].
#[derive(PartialEq, Eq, PartialOrd, Ord)]
enum Primary {
    /// Relevance: more words, fewer typos, higher score, more sold.
    Relevance {
        words: Reverse<u8>,
        typos: u8,
        score: Reverse<OrderedScore>,
        sold: Reverse<u64>,
    },
    /// Ascending numbers (descending sorts negate).
    Number(i64),
    /// Ascending text.
    Text(String),
}

/// A BM25 score with a total order.
#[derive(Clone, Copy, Debug)]
pub struct OrderedScore(pub f32);

impl PartialEq for OrderedScore {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other).is_eq()
    }
}

impl Eq for OrderedScore {}

impl PartialOrd for OrderedScore {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for OrderedScore {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&other.0)
    }
}

/// At most this many price buckets.
const MAX_PRICE_BUCKETS: i64 = 6;

/// The range of `prices` cut into at most [`MAX_PRICE_BUCKETS`] buckets of a round width
/// (1, 2, 2.5 or 5 times a power of ten), so bounds read like 0–2500, 2500–5000.
pub fn price_facet(prices: &[i64]) -> Option<PriceFacet> {
    let min = *prices.iter().min()?;
    let max = *prices.iter().max()?;
    let buckets_of = |width: i64| (max - min.div_euclid(width) * width) / width + 1;
    let width = (0..18u32)
        .flat_map(|power| {
            let base = 10i64.pow(power);
            [base, 2 * base, base * 5 / 2, 5 * base]
        })
        // Not finer than a twentieth of the highest price: one price of 59.00 is the bucket
        // 55.00–60.00, not 59.00–59.01.
        .find(|width| width.saturating_mul(20) >= max && buckets_of(*width) <= MAX_PRICE_BUCKETS)
        .unwrap_or(max.max(1));
    let start = min.div_euclid(width) * width;
    let count = (max - start) / width + 1;
    let mut buckets: Vec<PriceBucket> = (0..count)
        .map(|i| PriceBucket {
            from: start + i * width,
            to: start + (i + 1) * width,
            count: 0,
        })
        .collect();
    for price in prices {
        let i = ((price - start) / width) as usize;
        if let Some(bucket) = buckets.get_mut(i) {
            bucket.count += 1;
        }
    }
    Some(PriceFacet { min, max, buckets })
}

/// `text` HTML-escaped with the words in `terms` (or two neighbours that together are one
/// of them, `T-Shirt` for `tshirt`) wrapped in `<mark>…</mark>`; `None` when nothing matched.
pub fn highlight(source: &str, terms: &HashSet<String>) -> Option<String> {
    let words = text::words(source);
    let mut marked = vec![false; words.len()];
    for (i, word) in words.iter().enumerate() {
        if terms.contains(&word.text) {
            marked[i] = true;
        }
        // Two neighbours are marked as one joined word only when the first did not match on
        // its own (`T-Shirt` for `tshirt`, but not `Cotton T` for the prefix `cotto`).
        if let Some(next) = words.get(i + 1)
            && !terms.contains(&word.text)
            && terms.contains(&format!("{}{}", word.text, next.text))
        {
            marked[i] = true;
            marked[i + 1] = true;
        }
    }
    if !marked.contains(&true) {
        return None;
    }
    let mut out = String::with_capacity(source.len() + 16);
    let mut at = 0;
    let mut i = 0;
    while i < words.len() {
        if !marked[i] {
            i += 1;
            continue;
        }
        // A run of marked words joined only by punctuation or spaces is one mark when they
        // are one joined term (`T-Shirt`); otherwise each word gets its own.
        let start = words[i].start;
        let mut end = words[i].end;
        let mut j = i + 1;
        while j < words.len()
            && marked[j]
            && !terms.contains(&words[j - 1].text)
            && terms.contains(&format!("{}{}", words[j - 1].text, words[j].text))
        {
            end = words[j].end;
            j += 1;
        }
        text::escape_html(&source[at..start], &mut out);
        out.push_str("<mark>");
        text::escape_html(&source[start..end], &mut out);
        out.push_str("</mark>");
        at = end;
        i = j;
    }
    text::escape_html(&source[at..], &mut out);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Undoes [`text::escape_html`].
    fn unescape(html: &str) -> String {
        html.replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&#39;", "'")
            .replace("&amp;", "&")
    }

    proptest! {
        /// Whatever the text and the matched words, a highlight is the text itself with some
        /// words wrapped in marks: no markup of the text survives, nothing is lost.
        #[test]
        fn highlights_only_add_marks_to_the_escaped_text(
            source in "[a-zA-Z<>&\"' éÉ-]{0,40}",
            picked in proptest::collection::vec(0usize..8, 0..4),
        ) {
            let words = text::words(&source);
            let terms: HashSet<String> = picked
                .iter()
                .filter_map(|i| words.get(*i).map(|w| w.text.clone()))
                .collect();
            match highlight(&source, &terms) {
                None => prop_assert!(terms.is_empty()),
                Some(html) => {
                    let unmarked = html.replace("<mark>", "").replace("</mark>", "");
                    prop_assert!(!unmarked.contains('<') && !unmarked.contains('>'));
                    prop_assert_eq!(unescape(&unmarked), source);
                    prop_assert_eq!(html.matches("<mark>").count(), html.matches("</mark>").count());
                }
            }
        }

        /// Price buckets are contiguous, of one round width, cover every price once, and are
        /// at most six.
        #[test]
        fn price_buckets_cover_every_price_once(
            prices in proptest::collection::vec(0i64..10_000_000, 1..60),
        ) {
            let facet = price_facet(&prices).expect("prices");
            prop_assert!(facet.buckets.len() as i64 <= MAX_PRICE_BUCKETS);
            prop_assert_eq!(facet.buckets.iter().map(|b| b.count).sum::<usize>(), prices.len());
            let width = facet.buckets[0].to - facet.buckets[0].from;
            prop_assert!(width > 0);
            for pair in facet.buckets.windows(2) {
                prop_assert_eq!(pair[0].to, pair[1].from);
                prop_assert_eq!(pair[1].to - pair[1].from, width);
            }
            prop_assert!(facet.buckets[0].from <= facet.min);
            prop_assert!(facet.buckets.last().map(|b| b.to).unwrap_or(0) > facet.max);
        }
    }

    fn terms(words: &[&str]) -> HashSet<String> {
        words.iter().map(|w| w.to_string()).collect()
    }

    #[test]
    fn highlights_mark_matched_words_and_escape_the_rest() {
        assert_eq!(
            highlight("Basic Cotton Tee", &terms(&["cotton"])).as_deref(),
            Some("Basic <mark>Cotton</mark> Tee")
        );
        assert_eq!(
            highlight("<script>x</script> Café", &terms(&["cafe"])).as_deref(),
            Some("&lt;script&gt;x&lt;/script&gt; <mark>Café</mark>")
        );
        assert_eq!(
            highlight("Blue T-Shirt", &terms(&["tshirt"])).as_deref(),
            Some("Blue <mark>T-Shirt</mark>")
        );
        assert_eq!(highlight("Blue", &terms(&["red"])), None);
        assert_eq!(
            highlight("Cotton T-Shirt", &terms(&["cotton", "cottont"])).as_deref(),
            Some("<mark>Cotton</mark> T-Shirt")
        );
    }

    #[test]
    fn price_buckets_have_round_bounds_and_cover_the_range() {
        let facet = price_facet(&[1500, 2400, 8990, 12900]).expect("prices");
        assert_eq!((facet.min, facet.max), (1500, 12900));
        assert!(facet.buckets.len() as i64 <= MAX_PRICE_BUCKETS);
        assert_eq!(facet.buckets[0].from % 500, 0, "{facet:?}");
        assert_eq!(facet.buckets.iter().map(|b| b.count).sum::<usize>(), 4);
        let one = price_facet(&[5900]).expect("one price");
        assert_eq!(
            (one.buckets.len(), one.buckets[0].from, one.buckets[0].to),
            (1, 5500, 6000),
            "a round bucket around a single price"
        );
    }
}
