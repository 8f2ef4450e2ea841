//! A product: its catalog fields and its stock ledger, and the rules for changing either.

use super::{
    error::FieldError,
    ids::{ProductId, StoreId},
    money::{MAX_AMOUNT, Money},
    review::Rating,
    stock::{Ledger, MAX_UNITS, StockChange, StockSignal},
    time::Millis,
};
use serde::{Deserialize, Serialize};
use std::{collections::BTreeMap, sync::Arc};

/// Whether a product can be held and sold.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ProductStatus {
    /// On sale.
    Active,
    /// Withdrawn: no new holds; existing holds still commit.
    Archived,
}

impl ProductStatus {
    /// The status as the API spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Archived => "archived",
        }
    }
}

/// The descriptive fields of a product. Shared behind an `Arc`: they change rarely while stock
/// changes constantly, so read models and events clone a pointer, not the strings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Catalog {
    /// `prod_…`
    pub id: ProductId,
    /// The store selling it.
    pub store_id: StoreId,
    /// Stock keeping unit, unique per store (case-insensitively).
    pub sku: String,
    /// Display name.
    pub name: String,
    /// Long text.
    pub description: Option<String>,
    /// Free category slug.
    pub category: Option<String>,
    /// Free brand slug.
    pub brand: Option<String>,
    /// Unit price in the store's currency.
    pub price: Money,
    /// Free string attributes (colour, size, …).
    pub attributes: BTreeMap<String, String>,
    /// Picture addresses.
    pub image_urls: Vec<String>,
    /// Active or archived.
    pub status: ProductStatus,
    /// `stock.low` fires when `available` drops below this.
    pub low_stock_threshold: i64,
    /// Creation time.
    pub created_at: Millis,
    /// Last catalog change.
    pub updated_at: Millis,
}

/// A product as its actor owns it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Product {
    /// Descriptive fields.
    pub catalog: Arc<Catalog>,
    /// Stock.
    pub ledger: Ledger,
    /// The aggregate of its reviews (the actor is its only writer, like the stock's). A field
    /// added after storage format 1: snapshots carry it from format 2 on (see
    /// `persistence::legacy::SnapshotV1`).
    pub rating: Rating,
}

/// One recorded change of a product (the unit of its journal).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ProductChange {
    /// A stock change.
    Stock(StockChange),
    /// The catalog fields were replaced (PATCH or archive).
    Updated(Arc<Catalog>),
    /// A review was written, edited or removed: the rating aggregate is now this. Appended
    /// last (bincode numbers variants by position, so journals written before it still read).
    Rated(Rating),
}

/// An event a change published, with the version (topic `seq`) it took.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProductSignal {
    /// `stock.changed` or `stock.low`.
    Stock(StockSignal),
    /// `product.updated`.
    Updated,
}

impl Product {
    /// Applies a decided change; returns each published event with its sequence number.
    pub fn apply(&mut self, change: &ProductChange) -> Vec<(u64, ProductSignal)> {
        match change {
            ProductChange::Stock(stock) => {
                let first = self.ledger.version + 1;
                self.ledger
                    .apply(stock, self.catalog.low_stock_threshold)
                    .into_iter()
                    .zip(first..)
                    .map(|(signal, seq)| (seq, ProductSignal::Stock(signal)))
                    .collect()
            }
            ProductChange::Updated(catalog) => {
                self.catalog = Arc::clone(catalog);
                self.ledger.version += 1;
                let mut signals = vec![(self.ledger.version, ProductSignal::Updated)];
                if let Some(low) = self.ledger.check_low(catalog.low_stock_threshold) {
                    signals.push((self.ledger.version, ProductSignal::Stock(low)));
                }
                signals
            }
            ProductChange::Rated(rating) => {
                self.rating = *rating;
                self.ledger.version += 1;
                vec![(self.ledger.version, ProductSignal::Updated)]
            }
        }
    }
}

/// A partial update of the catalog fields; `Some(None)` clears an optional field.
#[derive(Clone, Debug, Default)]
pub struct CatalogPatch {
    /// New name.
    pub name: Option<String>,
    /// New or cleared description.
    pub description: Option<Option<String>>,
    /// New or cleared category.
    pub category: Option<Option<String>>,
    /// New or cleared brand.
    pub brand: Option<Option<String>>,
    /// New price (same currency).
    pub price: Option<Money>,
    /// Replacement attributes.
    pub attributes: Option<BTreeMap<String, String>>,
    /// Replacement picture addresses.
    pub image_urls: Option<Vec<String>>,
    /// New threshold.
    pub low_stock_threshold: Option<i64>,
    /// New status.
    pub status: Option<ProductStatus>,
    /// One picture added or removed (after `image_urls`, if both are given).
    pub image_edit: Option<ImageEdit>,
}

/// One picture address added to or removed from a product, applied by its actor to the list
/// it holds at that moment: two uploads at once both land, where two read-modify-write
/// replacements of `image_urls` would lose one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ImageEdit {
    /// Appended unless already present or the list is full (20).
    Append(String),
    /// Every occurrence removed.
    Remove(String),
}

impl CatalogPatch {
    /// The catalog after the patch, stamped `now`.
    pub fn apply_to(self, catalog: &Catalog, now: Millis) -> Catalog {
        let mut next = catalog.clone();
        if let Some(name) = self.name {
            next.name = name;
        }
        if let Some(description) = self.description {
            next.description = description;
        }
        if let Some(category) = self.category {
            next.category = category;
        }
        if let Some(brand) = self.brand {
            next.brand = brand;
        }
        if let Some(price) = self.price {
            next.price = price;
        }
        if let Some(attributes) = self.attributes {
            next.attributes = attributes;
        }
        if let Some(image_urls) = self.image_urls {
            next.image_urls = image_urls;
        }
        match self.image_edit {
            Some(ImageEdit::Append(url))
                if !next.image_urls.contains(&url) && next.image_urls.len() < MAX_IMAGES =>
            {
                next.image_urls.push(url);
            }
            Some(ImageEdit::Remove(url)) => next.image_urls.retain(|u| *u != url),
            Some(ImageEdit::Append(_)) | None => {}
        }
        if let Some(threshold) = self.low_stock_threshold {
            next.low_stock_threshold = threshold;
        }
        if let Some(status) = self.status {
            next.status = status;
        }
        next.updated_at = now;
        next
    }

    /// Field errors of the patch, for a store in `currency`.
    pub fn validate(&self, currency: &str) -> Vec<FieldError> {
        let mut errors = Vec::new();
        if let Some(name) = &self.name {
            check_name(name, &mut errors);
        }
        if let Some(Some(description)) = &self.description {
            check_len("description", description, 10_000, &mut errors);
        }
        if let Some(Some(category)) = &self.category {
            check_len("category", category, 100, &mut errors);
        }
        if let Some(Some(brand)) = &self.brand {
            check_len("brand", brand, 100, &mut errors);
        }
        if let Some(price) = &self.price {
            check_price(price, currency, &mut errors);
        }
        if let Some(attributes) = &self.attributes {
            check_attributes(attributes, &mut errors);
        }
        if let Some(urls) = &self.image_urls {
            check_image_urls(urls, &mut errors);
        }
        if let Some(threshold) = self.low_stock_threshold {
            check_units("low_stock_threshold", threshold, &mut errors);
        }
        errors
    }
}

/// The fields of a new product, before it has an id.
#[derive(Clone, Debug)]
pub struct NewProduct {
    /// Owning store.
    pub store_id: StoreId,
    /// Stock keeping unit.
    pub sku: String,
    /// Display name.
    pub name: String,
    /// Long text.
    pub description: Option<String>,
    /// Category slug.
    pub category: Option<String>,
    /// Brand slug.
    pub brand: Option<String>,
    /// Unit price.
    pub price: Money,
    /// Free attributes.
    pub attributes: BTreeMap<String, String>,
    /// Picture addresses.
    pub image_urls: Vec<String>,
    /// Units on hand at creation.
    pub initial_stock: i64,
    /// Low-stock threshold.
    pub low_stock_threshold: i64,
}

impl NewProduct {
    /// Field errors of the new product, for a store in `currency`.
    pub fn validate(&self, currency: &str) -> Vec<FieldError> {
        let mut errors = Vec::new();
        if !is_valid_sku(&self.sku) {
            errors.push(FieldError::new(
                "sku",
                "must be 1-64 characters of A-Z, a-z, 0-9, '.', '_' or '-'",
            ));
        }
        check_name(&self.name, &mut errors);
        if let Some(description) = &self.description {
            check_len("description", description, 10_000, &mut errors);
        }
        if let Some(category) = &self.category {
            check_len("category", category, 100, &mut errors);
        }
        if let Some(brand) = &self.brand {
            check_len("brand", brand, 100, &mut errors);
        }
        check_price(&self.price, currency, &mut errors);
        check_attributes(&self.attributes, &mut errors);
        check_image_urls(&self.image_urls, &mut errors);
        check_units("initial_stock", self.initial_stock, &mut errors);
        check_units("low_stock_threshold", self.low_stock_threshold, &mut errors);
        errors
    }

    /// The catalog fields of the product with id `id`, created `now`.
    pub fn into_catalog(self, id: ProductId, now: Millis) -> Catalog {
        Catalog {
            id,
            store_id: self.store_id,
            sku: self.sku,
            name: self.name,
            description: self.description,
            category: self.category,
            brand: self.brand,
            price: self.price,
            attributes: self.attributes,
            image_urls: self.image_urls,
            status: ProductStatus::Active,
            low_stock_threshold: self.low_stock_threshold,
            created_at: now,
            updated_at: now,
        }
    }
}

/// `[A-Za-z0-9._-]{1,64}`.
pub fn is_valid_sku(sku: &str) -> bool {
    (1..=64).contains(&sku.len())
        && sku
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

fn check_name(name: &str, errors: &mut Vec<FieldError>) {
    let chars = name.chars().count();
    if name.trim().is_empty() || chars > 200 {
        errors.push(FieldError::new("name", "must be 1-200 characters"));
    }
}

fn check_len(field: &str, value: &str, max: usize, errors: &mut Vec<FieldError>) {
    if value.chars().count() > max {
        errors.push(FieldError::new(
            field,
            format!("must be at most {max} characters"),
        ));
    }
}

fn check_units(field: &str, value: i64, errors: &mut Vec<FieldError>) {
    if !(0..=MAX_UNITS).contains(&value) {
        errors.push(FieldError::new(
            field,
            format!("must be between 0 and {MAX_UNITS}"),
        ));
    }
}

fn check_price(price: &Money, currency: &str, errors: &mut Vec<FieldError>) {
    if !(0..=MAX_AMOUNT).contains(&price.amount) {
        errors.push(FieldError::new(
            "price.amount",
            format!("must be between 0 and {MAX_AMOUNT} minor units"),
        ));
    }
    if price.currency != currency {
        errors.push(FieldError::new(
            "price.currency",
            format!("must be the store's currency, {currency}"),
        ));
    }
}

fn check_attributes(attributes: &BTreeMap<String, String>, errors: &mut Vec<FieldError>) {
    if attributes.len() > 50 {
        errors.push(FieldError::new("attributes", "at most 50 pairs"));
    }
    for (key, value) in attributes {
        if key.is_empty() || key.chars().count() > 100 {
            errors.push(FieldError::new(
                format!("attributes.{key}"),
                "keys must be 1-100 characters",
            ));
        }
        if value.chars().count() > 500 {
            errors.push(FieldError::new(
                format!("attributes.{key}"),
                "values must be at most 500 characters",
            ));
        }
    }
}

/// Most pictures a product may have.
pub const MAX_IMAGES: usize = 20;

fn check_image_urls(urls: &[String], errors: &mut Vec<FieldError>) {
    if urls.len() > MAX_IMAGES {
        errors.push(FieldError::new("image_urls", "at most 20 URLs"));
    }
    for (i, url) in urls.iter().enumerate() {
        let rest = url
            .strip_prefix("https://")
            .or_else(|| url.strip_prefix("http://"));
        let host_ok = rest.is_some_and(|r| {
            let host = r.split(['/', '?', '#']).next().unwrap_or_default();
            !host.is_empty() && !host.contains(char::is_whitespace)
        });
        let ok = (host_ok || is_own_picture_path(url))
            && url.len() <= 2048
            && !url.contains(char::is_whitespace);
        if !ok {
            errors.push(FieldError::new(
                format!("image_urls[{i}]"),
                "must be an http(s) URL of at most 2048 characters, or a /media/ or /assets/ path of this server",
            ));
        }
    }
}

/// A picture this server serves itself: `/media/<sha256>.<ext>` (an upload) or
/// `/assets/<name>.svg` (the demo's drawn pictures). Nothing else relative is accepted: a
/// storefront would resolve `../x` or `//host/x` somewhere unintended.
pub fn is_own_picture_path(url: &str) -> bool {
    if let Some(name) = url.strip_prefix("/media/") {
        let Some((hash, ext)) = name.split_once('.') else {
            return false;
        };
        hash.len() == 64
            && hash.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
            && matches!(ext, "png" | "jpg" | "webp" | "gif")
    } else if let Some(name) = url.strip_prefix("/assets/") {
        name.strip_suffix(".svg").is_some_and(|stem| {
            !stem.is_empty()
                && stem
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        })
    } else {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skus_follow_the_contract() {
        assert!(is_valid_sku("TEE-BLUE-M"));
        assert!(is_valid_sku("a.b_c-1"));
        assert!(!is_valid_sku(""));
        assert!(!is_valid_sku("has space"));
        assert!(!is_valid_sku(&"x".repeat(65)));
    }

    #[test]
    fn only_the_servers_own_picture_paths_count_as_relative_image_urls() {
        let hash = "ab".repeat(32);
        assert!(is_own_picture_path(&format!("/media/{hash}.png")));
        assert!(is_own_picture_path("/assets/demo-espresso.svg"));
        assert!(!is_own_picture_path(&format!("/media/{hash}.svg")));
        assert!(!is_own_picture_path("/media/../secrets.png"));
        assert!(!is_own_picture_path("/assets/../x.svg"));
        assert!(!is_own_picture_path("//evil.example/x.png"));
        assert!(!is_own_picture_path("/other/x.png"));
    }
}
