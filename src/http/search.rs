//! `/api/v1/search`, `/api/v1/search/suggest` and `/api/v1/stores/{id}/synonyms`
//! (docs/API.md §11).

use super::extract::{ApiJson, ApiPath, Caller, pagination};
use crate::{
    app::App,
    domain::{error::FieldError, ids::StoreId, product::ProductStatus},
    error::AppError,
    search::{
        facts::Popularity,
        query::{
            Candidate, FacetCounts, FacetName, Filters, OrderedScore, Request, Results, Sort,
            highlight,
        },
        synonyms,
    },
    views,
};
use axum::{Json, extract::RawQuery, extract::State};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use std::{collections::BTreeMap, sync::Arc, time::Instant};
use utoipa::{IntoParams, ToSchema};

/// Longest `q`, in characters.
const MAX_Q_CHARS: usize = 200;
/// Most values of one repeatable filter, and most facets.
const MAX_VALUES: usize = 50;
/// Most suggestions.
const MAX_SUGGESTIONS: usize = 10;
/// Most categories among the suggestions.
const MAX_CATEGORY_SUGGESTIONS: usize = 3;

/// The parameters of `GET /search` (documentation: the handler reads the raw query, since
/// filters repeat and `attr.<name>` names are free).
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct SearchParams {
    /// Words (≤ 200 characters); typo and prefix tolerant.
    #[param(max_length = 200)]
    q: Option<String>,
    /// Only this store's products.
    store_id: Option<String>,
    /// Any of these categories (repeat or comma-separate).
    category: Option<String>,
    /// Any of these brands (repeat or comma-separate).
    brand: Option<String>,
    /// Lowest price in minor units.
    #[param(minimum = 0)]
    min_price: Option<i64>,
    /// Highest price in minor units.
    #[param(minimum = 0)]
    max_price: Option<i64>,
    /// `true`: only products with units available.
    in_stock: Option<bool>,
    /// Lowest average rating, 1–5.
    #[param(minimum = 1, maximum = 5)]
    min_rating: Option<u8>,
    /// Comma-separated of `category`, `brand`, `price`, `rating`, `attr.<name>`.
    facets: Option<String>,
    /// `relevance` (default with `q`), `price`, `-price`, `-rating`, `-popularity`,
    /// `-created_at` (default without `q`), `name`.
    sort: Option<String>,
    /// `active` (default) or `archived` (staff and admins).
    status: Option<ProductStatus>,
    /// From 1 (default 1).
    #[param(minimum = 1)]
    page: Option<usize>,
    /// 1–100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    per_page: Option<usize>,
}

/// One search result.
#[derive(Serialize, ToSchema)]
pub struct SearchHit {
    /// The product as it is now.
    product: super::schema::Product,
    /// Relevance (weighted BM25); null without `q`.
    score: Option<f64>,
    /// `name` and `description` with the matched words in `<mark>…</mark>`, the rest
    /// HTML-escaped; only the fields that matched.
    highlights: BTreeMap<String, String>,
}

/// The echoed query.
#[derive(Serialize, ToSchema)]
pub struct SearchQuerySchema {
    /// As sent.
    q: Option<String>,
    /// With each word that matched only with a typo replaced by the word it matched.
    corrected: Option<String>,
}

/// A page of search results.
#[derive(Serialize, ToSchema)]
pub struct SearchPage {
    /// This page.
    items: Vec<SearchHit>,
    /// The facets asked for: value lists (`category`, `brand`, `rating`, `attr.<name>`)
    /// or, for `price`, `{"min","max","buckets":[{"from","to","count"}]}`.
    facets: BTreeMap<String, Value>,
    /// The query.
    query: SearchQuerySchema,
    /// 1-based.
    page: u64,
    /// Page size.
    per_page: u64,
    /// All results.
    total: u64,
    /// Time spent answering.
    took_ms: u64,
}

/// One suggestion.
#[derive(Serialize, ToSchema)]
pub struct Suggestion {
    /// What to show.
    text: String,
    /// `product` or `category`.
    kind: String,
    /// For a product: its id.
    #[serde(skip_serializing_if = "Option::is_none")]
    product_id: Option<String>,
}

/// Suggestions for a partial query.
#[derive(Serialize, ToSchema)]
pub struct Suggestions {
    /// At most 10.
    suggestions: Vec<Suggestion>,
}

/// A store's synonyms.
#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SynonymGroups {
    /// Groups of words or short phrases that match one another (≤ 500 groups of 2–20 entries
    /// of 1–100 characters).
    #[schema(example = json!([["tee", "t-shirt"], ["hoodie", "sweatshirt"]]))]
    synonyms: Vec<Vec<String>>,
}

/// The parameters of `GET /search/suggest`.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct SuggestParams {
    /// What has been typed so far (≤ 200 characters).
    #[param(max_length = 200)]
    q: Option<String>,
    /// Only this store's products.
    store_id: Option<String>,
}

/// The query string as `(name, value)` pairs.
fn pairs(raw: Option<&str>) -> Result<Vec<(String, String)>, AppError> {
    serde_urlencoded::from_str(raw.unwrap_or_default())
        .map_err(|_| AppError::field("query", "is not a valid query string"))
}

/// Everything a search or product list asks, checked.
pub struct Parsed {
    /// The words as sent.
    pub q: Option<String>,
    /// Filters.
    pub filters: Filters,
    /// Facets.
    pub facets: Vec<FacetName>,
    /// Explicit sort.
    pub sort: Option<Sort>,
    /// 1-based page.
    pub page: usize,
    /// Page size.
    pub per_page: usize,
    /// A `store_id` that is not an id: nothing can match.
    pub unknown_store: bool,
}

fn parse(pairs: Vec<(String, String)>, caller: &Caller) -> Result<Parsed, AppError> {
    let mut errors = Vec::new();
    let mut q = None;
    let mut store = None;
    let mut unknown_store = false;
    let mut categories = Vec::new();
    let mut brands = Vec::new();
    let mut min_price = None;
    let mut max_price = None;
    let mut in_stock = false;
    let mut min_rating = None;
    let mut attributes: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut facets = Vec::new();
    let mut sort = None;
    let mut status = ProductStatus::Active;
    let (mut page, mut per_page) = (None, None);
    let list = |value: &str| -> Vec<String> {
        value
            .split(',')
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
            .collect()
    };
    let price = |name: &str, value: &str, errors: &mut Vec<FieldError>| match value.parse::<i64>() {
        Ok(v) if v >= 0 => Some(v),
        _ => {
            errors.push(FieldError::new(
                name,
                "must be a whole number of at least 0",
            ));
            None
        }
    };
    let number =
        |name: &str, value: &str, errors: &mut Vec<FieldError>| match value.parse::<usize>() {
            Ok(v) => Some(v),
            Err(_) => {
                errors.push(FieldError::new(name, "must be a whole number"));
                Some(0)
            }
        };
    for (name, value) in pairs {
        match name.as_str() {
            "q" => {
                if value.chars().count() > MAX_Q_CHARS {
                    errors.push(FieldError::new("q", "must be at most 200 characters"));
                }
                q = Some(value);
            }
            "store_id" => match StoreId::parse(&value) {
                Some(id) => store = Some(id),
                None => unknown_store = true,
            },
            "category" => categories.extend(list(&value)),
            "brand" => brands.extend(list(&value)),
            "min_price" => min_price = price("min_price", &value, &mut errors),
            "max_price" => max_price = price("max_price", &value, &mut errors),
            "in_stock" => match value.as_str() {
                "true" => in_stock = true,
                "false" => in_stock = false,
                _ => errors.push(FieldError::new("in_stock", "must be true or false")),
            },
            "min_rating" => match value.parse::<u8>() {
                Ok(v @ 1..=5) => min_rating = Some(v),
                _ => errors.push(FieldError::new(
                    "min_rating",
                    "must be a whole number from 1 to 5",
                )),
            },
            "facets" => {
                for facet in list(&value) {
                    match FacetName::parse(&facet) {
                        Some(facet) if !facets.contains(&facet) => facets.push(facet),
                        Some(_) => {}
                        None => errors.push(FieldError::new(
                            "facets",
                            "must be a comma-separated list of category, brand, price, rating and attr.<name>",
                        )),
                    }
                }
            }
            "sort" => match Sort::parse(&value) {
                Some(s) => sort = Some(s),
                None => errors.push(FieldError::new(
                    "sort",
                    "must be relevance, price, -price, -rating, -popularity, -created_at or name",
                )),
            },
            "status" => match value.as_str() {
                "active" => status = ProductStatus::Active,
                "archived" => status = ProductStatus::Archived,
                _ => errors.push(FieldError::new("status", "must be active or archived")),
            },
            "page" => page = number("page", &value, &mut errors),
            "per_page" => per_page = number("per_page", &value, &mut errors),
            other => {
                if let Some(attr) = other.strip_prefix("attr.") {
                    if attr.is_empty() || attr.len() > 100 {
                        errors.push(FieldError::new(
                            other,
                            "must name an attribute of 1–100 characters",
                        ));
                    } else {
                        attributes
                            .entry(attr.to_owned())
                            .or_default()
                            .extend(list(&value));
                    }
                }
                // Other parameters (`currency`, cache busters, …) are not filters.
            }
        }
    }
    if categories.len() > MAX_VALUES || brands.len() > MAX_VALUES || facets.len() > MAX_VALUES {
        errors.push(FieldError::new(
            "query",
            "names at most 50 values per filter",
        ));
    }
    if attributes.len() > MAX_VALUES {
        errors.push(FieldError::new("query", "names at most 50 attributes"));
    }
    let paging = pagination(page, per_page);
    if let Err(AppError::Validation(more)) = &paging {
        errors.extend(more.iter().cloned());
    }
    if !errors.is_empty() {
        return Err(AppError::Validation(errors));
    }
    let (page, per_page) = paging?;
    if status == ProductStatus::Archived
        && !matches!(caller, Caller::Admin { .. } | Caller::Staff { .. })
    {
        return Err(AppError::Forbidden);
    }
    Ok(Parsed {
        q,
        filters: Filters {
            store,
            status,
            categories,
            brands,
            min_price,
            max_price,
            in_stock,
            min_rating,
            attributes,
        },
        facets,
        sort,
        page,
        per_page,
        unknown_store,
    })
}

/// How long a query waits for the index to reflect every change acknowledged before it.
const FRESHNESS_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

/// Waits until the index reflects every change acknowledged so far (normally one follower
/// batch, milliseconds; at most [`FRESHNESS_WAIT`], then the query runs on what is there).
pub(crate) async fn read_your_writes(app: &App) {
    let durable = app.shared.storage.durable_lsn();
    if !app.search.caught_up(durable, FRESHNESS_WAIT).await {
        tracing::warn!(
            durable,
            "the search index lags the log by more than a second"
        );
    }
}

/// The text matches of `q`, after waiting until the index reflects every change
/// acknowledged before the query (only when `q` has words: nothing else reads the index).
async fn fresh_matches(
    app: &App,
    q: &str,
    store: Option<&StoreId>,
) -> Result<crate::search::engine::TextMatches, AppError> {
    if !q.trim().is_empty() {
        read_your_writes(app).await;
    }
    Ok(app
        .search
        .match_text(q, store, &app.shared.read_model.search_facts)?)
}

/// Units sold in the last 30 days per product slot, with the clock read once for the query.
fn popularity_now(app: &App) -> Arc<Popularity> {
    let (sales, now) = (&app.shared.discovery.sales, crate::domain::time::now_ms());
    app.shared.read_model.search_facts.popularity(
        sales.generation(),
        crate::discovery::sales::day_of(now),
        |record| sales.each_sold(now, record),
    )
}

/// Runs a parsed request: text hits when there are words, then filters, facets, sort, page.
/// `every_word`: every query word must match (the product list's contract).
pub async fn answer(
    app: &App,
    parsed: &Parsed,
    every_word: bool,
) -> Result<(Results, crate::search::engine::TextMatches), AppError> {
    let q = parsed.q.as_deref().unwrap_or_default();
    let matches = fresh_matches(app, q, parsed.filters.store.as_ref()).await?;
    let has_words = matches.words > 0;
    let sort = parsed.sort.unwrap_or(if has_words {
        Sort::Relevance
    } else {
        Sort::CreatedDesc
    });
    let popularity = popularity_now(app);
    let read_model = &app.shared.read_model;
    let request = Request {
        filters: &parsed.filters,
        facets: &parsed.facets,
        sort,
        page: parsed.page,
        per_page: parsed.per_page,
        popularity: &popularity,
        read_model,
    };
    let facts = read_model.search_facts.view();
    let candidates: Vec<Candidate> = if parsed.unknown_store {
        Vec::new()
    } else if has_words {
        let needed = if every_word { matches.words } else { 1 };
        matches
            .hits
            .iter()
            .filter(|(_, hit)| usize::from(hit.words) >= needed)
            .map(|&(slot, hit)| Candidate {
                slot,
                hit: Some(hit),
            })
            .collect()
    } else {
        request.everything(&facts)
    };
    let results = request.run(&facts, &candidates);
    Ok((results, matches))
}

fn facet_json(name: &FacetName, counts: &FacetCounts) -> Value {
    match counts {
        // Whole stars are numbers; every other value is text.
        FacetCounts::Values(values) => values
            .iter()
            .map(|v| match (name, v.value.parse::<u64>()) {
                (FacetName::Rating, Ok(stars)) => json!({"value": stars, "count": v.count}),
                _ => json!({"value": v.value, "count": v.count}),
            })
            .collect(),
        FacetCounts::Price(None) => json!({"min": null, "max": null, "buckets": []}),
        FacetCounts::Price(Some(p)) => json!({
            "min": p.min,
            "max": p.max,
            "buckets": p.buckets.iter().map(|b| json!({"from": b.from, "to": b.to, "count": b.count})).collect::<Vec<_>>(),
        }),
    }
}

/// `GET /search` (anyone).
#[utoipa::path(get, path = "/api/v1/search", operation_id = "search", tag = "Search", security((), ("bearer" = [])),
    params(SearchParams),
    responses(
        (status = 200, description = "A page of results with facet counts.", body = SearchPage),
        (status = 401, response = super::schema::Unauthorized),
        (status = 403, response = super::schema::Forbidden),
        (status = 422, response = super::schema::Unprocessable),
        (status = 503, response = super::schema::Unavailable),
    ))]
pub async fn search(
    State(app): State<Arc<App>>,
    caller: Caller,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, AppError> {
    let started = Instant::now();
    let parsed = parse(pairs(raw.as_deref())?, &caller)?;
    let (results, matches) = answer(&app, &parsed, false).await?;
    let items: Vec<Value> = results
        .items
        .iter()
        .map(|found| {
            let mut highlights = Map::new();
            if found.hit.is_some() {
                let c = &found.product.catalog;
                if let Some(name) = highlight(&c.name, &matches.terms) {
                    highlights.insert("name".into(), name.into());
                }
                if let Some(description) = c
                    .description
                    .as_deref()
                    .and_then(|d| highlight(d, &matches.terms))
                {
                    highlights.insert("description".into(), description.into());
                }
            }
            json!({
                "product": views::product(&found.product),
                "score": found.hit.map(|h| (f64::from(h.score) * 100.0).round() / 100.0),
                "highlights": highlights,
            })
        })
        .collect();
    let facets: Map<String, Value> = results
        .facets
        .iter()
        .map(|(name, counts)| (name.key(), facet_json(name, counts)))
        .collect();
    Ok(Json(json!({
        "items": items,
        "facets": facets,
        "query": {"q": parsed.q, "corrected": matches.corrected},
        "page": parsed.page,
        "per_page": parsed.per_page,
        "total": results.total,
        "took_ms": started.elapsed().as_millis() as u64,
    })))
}

/// `GET /search/suggest` (anyone).
#[utoipa::path(get, path = "/api/v1/search/suggest", operation_id = "suggest", tag = "Search", security((), ("bearer" = [])),
    params(SuggestParams),
    responses(
        (status = 200, description = "Up to 10 products (by popularity) and categories.", body = Suggestions),
        (status = 401, response = super::schema::Unauthorized),
        (status = 422, response = super::schema::Unprocessable),
        (status = 503, response = super::schema::Unavailable),
    ))]
pub async fn suggest(
    State(app): State<Arc<App>>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, AppError> {
    let mut q = String::new();
    let mut store = None;
    for (name, value) in pairs(raw.as_deref())? {
        match name.as_str() {
            "q" => {
                if value.chars().count() > MAX_Q_CHARS {
                    return Err(AppError::field("q", "must be at most 200 characters"));
                }
                q = value;
            }
            "store_id" => match StoreId::parse(&value) {
                Some(id) => store = Some(id),
                None => return Ok(Json(json!({"suggestions": []}))),
            },
            _ => {}
        }
    }
    let matches = fresh_matches(&app, &q, store.as_ref()).await?;
    if matches.words == 0 {
        return Ok(Json(json!({"suggestions": []})));
    }
    let popularity = popularity_now(&app);
    let facts = app.shared.read_model.search_facts.view();
    let store = store
        .as_ref()
        .map(|s| app.shared.read_model.search_facts.ordinal(s.as_str()));
    // In scope: active, of the store asked; ranked by words, typos, popularity, score.
    let mut products: Vec<(SuggestKey, u32)> = matches
        .hits
        .iter()
        .filter_map(|&(slot, hit)| {
            let p = facts.get(slot)?;
            let in_scope = p.present()
                && p.status() == ProductStatus::Active
                && store.is_none_or(|s| s == Some(p.store()));
            in_scope.then(|| {
                let key = SuggestKey {
                    words: std::cmp::Reverse(hit.words),
                    typos: hit.typos,
                    sold: std::cmp::Reverse(popularity.of(slot)),
                    score: std::cmp::Reverse(OrderedScore(hit.score)),
                };
                (key, slot)
            })
        })
        .collect();
    // Categories whose own words matched, by how many matching products they hold.
    let mut per_category: rustc_hash::FxHashMap<u32, usize> = Default::default();
    for (_, slot) in &products {
        if let Some(p) = facts.get(*slot) {
            *per_category.entry(p.category()).or_default() += 1;
        }
    }
    let texts = &app.shared.read_model.search_facts;
    let mut categories: Vec<(String, usize)> = per_category
        .into_iter()
        .filter(|(category, _)| *category != crate::search::facts::NO_VALUE)
        .map(|(category, count)| (texts.text(category).to_string(), count))
        .filter(|(category, _)| {
            crate::search::text::words(category)
                .iter()
                .any(|w| matches.terms.contains(&w.text))
        })
        .collect();
    categories.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    categories.truncate(MAX_CATEGORY_SUGGESTIONS);
    let product_slots = MAX_SUGGESTIONS - categories.len();
    let top = top_suggestions(&app, &facts, &mut products, product_slots);
    let mut suggestions: Vec<Value> = top
        .iter()
        .map(|catalog| json!({"text": catalog.name, "kind": "product", "product_id": catalog.id}))
        .collect();
    suggestions.extend(
        categories
            .into_iter()
            .map(|(category, _)| json!({"text": category, "kind": "category"})),
    );
    Ok(Json(json!({"suggestions": suggestions})))
}

/// How suggested products rank before their names: more words matched, fewer typos, more
/// units sold, higher score.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct SuggestKey {
    words: std::cmp::Reverse<u8>,
    typos: u8,
    sold: std::cmp::Reverse<u64>,
    score: std::cmp::Reverse<OrderedScore>,
}

/// The first `limit` of `products` by [`SuggestKey`], then name: the names (catalog reads)
/// are taken only for the products that tie with the last one kept.
fn top_suggestions(
    app: &App,
    facts: &crate::search::facts::FactsView,
    products: &mut [(SuggestKey, u32)],
    limit: usize,
) -> Vec<Arc<crate::domain::product::Catalog>> {
    let limit = limit.min(products.len());
    if limit == 0 {
        return Vec::new();
    }
    if limit < products.len() {
        products.select_nth_unstable_by(limit - 1, |a, b| a.0.cmp(&b.0));
    }
    let boundary = products[limit - 1].0;
    // Everything before the boundary ranks before it; after it, only its ties can.
    let (before, after) = products.split_at(limit);
    let mut kept: Vec<(SuggestKey, Arc<crate::domain::product::Catalog>)> = before
        .iter()
        .chain(after.iter().filter(|(key, _)| *key == boundary))
        .filter_map(|&(key, slot)| {
            let id = facts.get(slot)?.product()?;
            let view = app.shared.read_model.products.get(id)?;
            Some((key, Arc::clone(&view.catalog)))
        })
        .collect();
    kept.sort_by(|(a, ca), (b, cb)| a.cmp(b).then_with(|| ca.name.cmp(&cb.name)));
    kept.truncate(limit);
    kept.into_iter().map(|(_, catalog)| catalog).collect()
}

fn store_of(app: &App, raw: &str) -> Result<StoreId, AppError> {
    StoreId::parse(raw)
        .filter(|id| app.shared.read_model.stores.contains_key(id))
        .ok_or(AppError::NotFound)
}

/// `GET /stores/{id}/synonyms` (admin, staff of the store).
#[utoipa::path(get, path = "/api/v1/stores/{id}/synonyms", operation_id = "get_synonyms", tag = "Search", security(("bearer" = [])),
    params(("id" = String, Path, description = "`str_…`")),
    responses(
        (status = 200, description = "The store's synonyms.", body = SynonymGroups),
        (status = 401, response = super::schema::Unauthorized),
        (status = 403, response = super::schema::Forbidden),
        (status = 404, response = super::schema::NotFound),
        (status = 503, response = super::schema::Unavailable),
    ))]
pub async fn get_synonyms(
    State(app): State<Arc<App>>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Value>, AppError> {
    let store = store_of(&app, &id)?;
    caller.require_store_staff(&store)?;
    Ok(Json(
        json!({"synonyms": app.search.synonyms(&store).groups()}),
    ))
}

/// `PUT /stores/{id}/synonyms` (admin, staff of the store): replaces them.
#[utoipa::path(put, path = "/api/v1/stores/{id}/synonyms", operation_id = "set_synonyms", tag = "Search", security(("bearer" = [])),
    params(("id" = String, Path, description = "`str_…`")),
    request_body = SynonymGroups,
    responses(
        (status = 200, description = "The store's synonyms, in effect for the next query.", body = SynonymGroups),
        (status = 400, response = super::schema::BadRequest),
        (status = 401, response = super::schema::Unauthorized),
        (status = 403, response = super::schema::Forbidden),
        (status = 404, response = super::schema::NotFound),
        (status = 413, response = super::schema::PayloadTooLarge),
        (status = 415, response = super::schema::UnsupportedMediaType),
        (status = 422, response = super::schema::Unprocessable),
        (status = 503, response = super::schema::Unavailable),
    ))]
pub async fn set_synonyms(
    State(app): State<Arc<App>>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(body, _): ApiJson<SynonymGroups>,
) -> Result<Json<Value>, AppError> {
    let store = store_of(&app, &id)?;
    caller.require_store_staff(&store)?;
    let mut errors = Vec::new();
    if body.synonyms.len() > 500 {
        errors.push(FieldError::new("synonyms", "must hold at most 500 groups"));
    }
    for (i, group) in body.synonyms.iter().enumerate() {
        if !(2..=20).contains(&group.len()) {
            errors.push(FieldError::new(
                format!("synonyms[{i}]"),
                "must hold 2 to 20 words or phrases",
            ));
        }
        for (j, entry) in group.iter().enumerate() {
            let chars = entry.chars().count();
            if !(1..=100).contains(&chars) || synonyms::fold(entry).is_empty() {
                errors.push(FieldError::new(
                    format!("synonyms[{i}][{j}]"),
                    "must be 1 to 100 characters with at least one letter or digit",
                ));
            }
        }
    }
    if !errors.is_empty() {
        return Err(AppError::Validation(errors));
    }
    app.set_synonyms(&store, body.synonyms.clone()).await?;
    Ok(Json(json!({"synonyms": body.synonyms})))
}
