//! The product import (docs/API.md §14): a CSV file of products, checked whole before
//! anything is applied.
//!
//! Every line is parsed and validated first, with the same rules as `POST /products` and
//! `PATCH /products/{id}`, plus the file's own (its header, a SKU twice). One bad line and
//! nothing is applied: the answer names every bad line. Then each new SKU is created and each
//! existing one updated through its product's actor, as the REST calls do, so events, the
//! log and the read models follow. An import is keyed by SKU: running the same file again
//! updates what the first run created, so a run cut short (a 503 while applying) is finished
//! by running it again.

use super::{ServiceError, catalog::Catalog};
use crate::{
    actors::{ProductRegistry, product::ProductMsg},
    context::Shared,
    domain::{
        error::{FieldError, LineError},
        ids::{ProductId, StoreId},
        money::Money,
        product::{CatalogPatch, NewProduct},
    },
};
use std::collections::{BTreeMap, HashSet};

/// The columns a file must have (in any order; no others).
pub const COLUMNS: [&str; 8] = [
    "sku",
    "name",
    "price",
    "category",
    "brand",
    "description",
    "initial_stock",
    "low_stock_threshold",
];

/// Most product lines one file may hold (a bigger catalog imports in several files).
pub const MAX_LINES: usize = 10_000;

/// Most line errors reported (a wholly wrong file would otherwise answer megabytes).
const MAX_ERRORS: usize = 100;

/// What an import did, or would do (`dry_run`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ImportOutcome {
    /// New SKUs.
    pub created: usize,
    /// Existing SKUs.
    pub updated: usize,
}

/// One checked line.
enum Planned {
    Create(Box<NewProduct>),
    Update(ProductId, Box<CatalogPatch>),
}

/// Checks `file` for `store` (in `currency`) and, unless `dry_run`, applies it.
pub async fn import_products(
    shared: &Shared,
    catalog: &Catalog,
    products: &ProductRegistry,
    store: &StoreId,
    file: &[u8],
    dry_run: bool,
    by: &str,
) -> Result<ImportOutcome, ServiceError> {
    let currency = shared
        .read_model
        .stores
        .get(store)
        .map(|s| s.currency.clone())
        .ok_or(ServiceError::NotFound)?;
    let plan = plan(shared, store, &currency, file)?;
    let mut outcome = ImportOutcome::default();
    for step in &plan {
        match step {
            Planned::Create(_) => outcome.created += 1,
            Planned::Update(..) => outcome.updated += 1,
        }
    }
    if dry_run {
        return Ok(outcome);
    }
    for step in plan {
        match step {
            Planned::Create(new) => {
                catalog.create_product(*new, by).await?;
            }
            Planned::Update(id, patch) => {
                products
                    .call(&id, |reply| ProductMsg::Update {
                        patch: patch.clone(),
                        reply,
                    })
                    .await?;
            }
        }
    }
    tracing::info!(%store, created = outcome.created, updated = outcome.updated, "products imported");
    Ok(outcome)
}

/// Parses and checks the whole file; every bad line is reported.
fn plan(
    shared: &Shared,
    store: &StoreId,
    currency: &str,
    file: &[u8],
) -> Result<Vec<Planned>, ServiceError> {
    let header_error = |message: String| {
        ServiceError::InvalidLines(vec![LineError {
            line: 1,
            field: "header".into(),
            message,
        }])
    };
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .trim(csv::Trim::All)
        .from_reader(file);
    let headers = reader
        .headers()
        .map_err(|e| header_error(format!("is not a CSV header: {e}")))?
        .clone();
    let mut position = BTreeMap::new();
    for (index, name) in headers.iter().enumerate() {
        let name = name.trim_start_matches('\u{feff}').to_ascii_lowercase();
        if !COLUMNS.contains(&name.as_str()) {
            return Err(header_error(format!(
                "unknown column {name:?}; the columns are {}",
                COLUMNS.join(",")
            )));
        }
        if position.insert(name.clone(), index).is_some() {
            return Err(header_error(format!("column {name:?} appears twice")));
        }
    }
    if let Some(missing) = COLUMNS.iter().find(|c| !position.contains_key(**c)) {
        return Err(header_error(format!("column {missing:?} is missing")));
    }

    let mut errors = Vec::new();
    let mut plan = Vec::new();
    let mut seen = HashSet::new();
    for record in reader.records() {
        let record = match record {
            Ok(record) => record,
            Err(error) => {
                let line = error.position().map_or(0, |p| p.line());
                errors.push(LineError {
                    line,
                    field: "line".into(),
                    message: format!("is not a CSV record of {} columns", COLUMNS.len()),
                });
                if errors.len() >= MAX_ERRORS {
                    break;
                }
                continue;
            }
        };
        let line = record.position().map_or(0, |p| p.line());
        if plan.len() + errors.len() >= MAX_LINES {
            errors.push(LineError {
                line,
                field: "line".into(),
                message: format!("a file holds at most {MAX_LINES} products"),
            });
            break;
        }
        let cell = |name: &str| -> String {
            position
                .get(name)
                .and_then(|i| record.get(*i))
                .unwrap_or_default()
                .to_owned()
        };
        let mut line_errors = Vec::new();
        let step = plan_line(shared, store, currency, &cell, &mut seen, &mut line_errors);
        if line_errors.is_empty() {
            if let Some(step) = step {
                plan.push(step);
            }
        } else {
            errors.extend(line_errors.into_iter().map(|e| LineError {
                line,
                field: e.field,
                message: e.message,
            }));
        }
        if errors.len() >= MAX_ERRORS {
            break;
        }
    }
    if !errors.is_empty() {
        errors.truncate(MAX_ERRORS);
        return Err(ServiceError::InvalidLines(errors));
    }
    if plan.is_empty() {
        return Err(ServiceError::InvalidLines(vec![LineError {
            line: 2,
            field: "line".into(),
            message: "the file has no products".into(),
        }]));
    }
    Ok(plan)
}

/// One line: a creation for a new SKU, an update for an existing one.
fn plan_line(
    shared: &Shared,
    store: &StoreId,
    currency: &str,
    cell: &dyn Fn(&str) -> String,
    seen: &mut HashSet<String>,
    errors: &mut Vec<FieldError>,
) -> Option<Planned> {
    let optional = |name: &str| Some(cell(name)).filter(|v| !v.is_empty());
    let mut integer = |name: &str, default: Option<i64>| -> Option<i64> {
        match (cell(name).as_str(), default) {
            ("", Some(default)) => Some(default),
            ("", None) => {
                errors.push(FieldError::new(name, "is required"));
                None
            }
            (text, _) => match text.parse::<i64>() {
                Ok(value) => Some(value),
                Err(_) => {
                    errors.push(FieldError::new(name, "must be a whole number"));
                    None
                }
            },
        }
    };
    let price = integer("price", None);
    let initial_stock = integer("initial_stock", Some(0));
    let low_stock_threshold = integer("low_stock_threshold", Some(0));
    let sku = cell("sku");
    let name = cell("name");
    let (Some(price), Some(initial_stock), Some(low_stock_threshold)) =
        (price, initial_stock, low_stock_threshold)
    else {
        return None;
    };
    if !seen.insert(sku.to_ascii_lowercase()) {
        errors.push(FieldError::new("sku", "appears on an earlier line"));
        return None;
    }
    let price = Money {
        amount: price,
        currency: currency.to_owned(),
    };
    let field_errors = |found: Vec<FieldError>, errors: &mut Vec<FieldError>| {
        // `price.amount` reads better as the column it came from.
        errors.extend(found.into_iter().map(|mut e| {
            if e.field.starts_with("price") {
                e.field = "price".into();
            }
            e
        }));
    };
    match shared.read_model.sku_owner(store, &sku) {
        Some(id) => {
            let patch = CatalogPatch {
                name: Some(name),
                description: Some(optional("description")),
                category: Some(optional("category")),
                brand: Some(optional("brand")),
                price: Some(price),
                low_stock_threshold: Some(low_stock_threshold),
                ..CatalogPatch::default()
            };
            field_errors(patch.validate(currency), errors);
            Some(Planned::Update(id, Box::new(patch)))
        }
        None => {
            let new = NewProduct {
                store_id: store.clone(),
                sku,
                name,
                description: optional("description"),
                category: optional("category"),
                brand: optional("brand"),
                price,
                attributes: BTreeMap::new(),
                image_urls: Vec::new(),
                initial_stock,
                low_stock_threshold,
            };
            field_errors(new.validate(currency), errors);
            Some(Planned::Create(Box::new(new)))
        }
    }
}
