//! A search request answered over the live catalog: text hits from the index, then the
//! filters, facet counts, sort and page computed on the products' current state (the read
//! model), so stock and status are never older than the last acknowledged change.

use super::{engine::TextHit, text};
use crate::{
    domain::{
        ids::{ProductId, StoreId},
        product::ProductStatus,
    },
    views::ProductView,
};
use rustc_hash::FxHashMap;
use std::{
    cmp::Reverse,
    collections::{BTreeMap, HashSet},
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

/// The filters one facet ignores when it counts (its own).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Own<'a> {
    None,
    Category,
    Brand,
    Price,
    Rating,
    Attribute(&'a str),
}

impl Filters {
    fn pass(&self, p: &ProductView, skip: Own<'_>) -> bool {
        let c = &p.catalog;
        let any_of = |wanted: &[String], value: Option<&String>| {
            wanted.is_empty() || value.is_some_and(|v| wanted.iter().any(|w| w == v))
        };
        (skip == Own::Category || any_of(&self.categories, c.category.as_ref()))
            && (skip == Own::Brand || any_of(&self.brands, c.brand.as_ref()))
            && (skip == Own::Price
                || (self.min_price.is_none_or(|min| c.price.amount >= min)
                    && self.max_price.is_none_or(|max| c.price.amount <= max)))
            && (!self.in_stock || p.stock.available > 0)
            && (skip == Own::Rating
                || self
                    .min_rating
                    .is_none_or(|min| rating_of(p).is_some_and(|avg| avg >= u64::from(min) * 100)))
            && self.attributes.iter().all(|(name, values)| {
                skip == Own::Attribute(name) || any_of(values, c.attributes.get(name))
            })
    }

    /// Whether `p` is in scope at all: store and status (no facet widens these).
    pub fn scope(&self, p: &ProductView) -> bool {
        p.catalog.status == self.status
            && self.store.as_ref().is_none_or(|s| &p.catalog.store_id == s)
    }
}

/// The average rating of a product in hundredths of a star (as shown, two decimals), when
/// it has reviews: filters, facets and sorts compare what shoppers see.
fn rating_of(p: &ProductView) -> Option<u64> {
    p.rating.average_hundredths()
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
    /// Units sold in the last 30 days.
    pub popularity: &'a dyn Fn(&ProductId) -> u64,
}

impl Request<'_> {
    /// Answers over `candidates`: the products in scope ([`Filters::scope`]) that matched the
    /// words (all of them when there are no words).
    pub fn run(&self, candidates: Vec<Found>) -> Results {
        let f = self.filters;
        let facets = self
            .facets
            .iter()
            .map(|facet| (facet.clone(), count_facet(facet, f, &candidates)))
            .collect();
        let results: Vec<Found> = candidates
            .into_iter()
            .filter(|c| f.pass(&c.product, Own::None))
            .collect();
        let total = results.len();
        let mut keyed: Vec<(SortKey, Found)> = results
            .into_iter()
            .map(|found| (self.key(&found), found))
            .collect();
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
            .map(|(_, found)| found)
            .collect();
        Results {
            items,
            facets,
            total,
        }
    }

    /// The order of `found` as one comparable key (computed once per result, so sorting
    /// never hashes, allocates or looks anything up).
    fn key(&self, found: &Found) -> SortKey {
        let c = &found.product.catalog;
        let hit = found.hit.unwrap_or_default();
        let sold = || (self.popularity)(&c.id);
        let primary = match self.sort {
            Sort::Relevance => Primary::Relevance {
                words: Reverse(hit.words),
                typos: hit.typos,
                score: Reverse(OrderedScore(hit.score)),
                sold: Reverse(sold()),
            },
            Sort::Price => Primary::Number(c.price.amount),
            Sort::PriceDesc => Primary::Number(c.price.amount.saturating_neg()),
            // Unrated products last.
            Sort::RatingDesc => Primary::Number(
                rating_of(&found.product).map_or(1, |r| -(r.min(i64::MAX as u64) as i64)),
            ),
            Sort::PopularityDesc => Primary::Number(-(sold().min(i64::MAX as u64) as i64)),
            Sort::CreatedDesc => Primary::Number(0),
            Sort::Name => Primary::Text(c.name.to_lowercase()),
        };
        SortKey {
            primary,
            newest: Reverse(c.created_at),
            id: Reverse(c.id.to_bits()),
        }
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
struct OrderedScore(f32);

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

fn count_facet<'a>(facet: &FacetName, f: &Filters, candidates: &'a [Found]) -> FacetCounts {
    let own = match facet {
        FacetName::Category => Own::Category,
        FacetName::Brand => Own::Brand,
        FacetName::Price => Own::Price,
        FacetName::Rating => Own::Rating,
        FacetName::Attribute(name) => Own::Attribute(name),
    };
    let counted = candidates
        .iter()
        .map(|c| &c.product)
        .filter(|p| f.pass(p, own));
    if *facet == FacetName::Price {
        let prices: Vec<i64> = counted.map(|p| p.catalog.price.amount).collect();
        return FacetCounts::Price(price_facet(&prices));
    }
    let mut values: Vec<FacetValue> = if *facet == FacetName::Rating {
        let mut stars: FxHashMap<u64, usize> = FxHashMap::default();
        for avg in counted.filter_map(rating_of) {
            *stars.entry(avg / 100).or_default() += 1;
        }
        stars
            .into_iter()
            .map(|(value, count)| FacetValue {
                value: value.to_string(),
                count,
            })
            .collect()
    } else {
        let value_of = |p: &'a ProductView| -> Option<&'a str> {
            let c = &p.catalog;
            match facet {
                FacetName::Category => c.category.as_deref(),
                FacetName::Brand => c.brand.as_deref(),
                FacetName::Attribute(name) => c.attributes.get(name).map(String::as_str),
                FacetName::Price | FacetName::Rating => None,
            }
        };
        let mut counts: FxHashMap<&str, usize> = FxHashMap::default();
        for value in counted.filter_map(value_of) {
            *counts.entry(value).or_default() += 1;
        }
        counts
            .into_iter()
            .map(|(value, count)| FacetValue {
                value: value.to_owned(),
                count,
            })
            .collect()
    };
    values.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.value.cmp(&b.value)));
    FacetCounts::Values(values)
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
