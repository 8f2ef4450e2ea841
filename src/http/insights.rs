//! `GET /api/v1/stores/{id}/insights` (docs/API.md §14): a store's revenue, orders, refunds,
//! new customers, top products and funnel per day, week or month.

use super::{
    extract::{ApiPath, ApiQuery, Caller},
    schema as s,
};
use crate::{
    app::App,
    discovery::insights::{Bucket, HOUR_MS, hour_of},
    domain::{
        ids::StoreId,
        time::{Millis, now_ms, parse_rfc3339, rfc3339},
    },
    error::AppError,
};
use axum::{Json, extract::State};
use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;
use utoipa::IntoParams;

/// Most periods one answer lists (400 days, or 57 years of months).
const MAX_PERIODS: usize = 400;
/// Products listed in `top_products`.
const TOP_PRODUCTS: usize = 10;
/// The span without `from`: the week before `to`.
const DEFAULT_SPAN_MS: i64 = 7 * 24 * HOUR_MS;

/// The span and the periods.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct InsightsQuery {
    /// RFC 3339: the earliest time included (default: 7 days before `to`).
    #[param(format = DateTime)]
    from: Option<String>,
    /// RFC 3339: the first time excluded (default: now).
    #[param(format = DateTime)]
    to: Option<String>,
    /// `day` (default), `week` (ISO weeks, from Monday) or `month`; UTC.
    granularity: Option<String>,
}

#[derive(Clone, Copy)]
enum Granularity {
    Day,
    Week,
    Month,
}

impl Granularity {
    /// The start of the period holding `at`.
    fn start_of(self, at: DateTime<Utc>) -> NaiveDate {
        let day = at.date_naive();
        match self {
            Self::Day => day,
            Self::Week => day - Duration::days(i64::from(day.weekday().num_days_from_monday())),
            Self::Month => day.with_day(1).unwrap_or(day),
        }
    }

    /// The start of the period after the one starting `start`.
    fn next(self, start: NaiveDate) -> Option<NaiveDate> {
        match self {
            Self::Day => start.succ_opt(),
            Self::Week => start.checked_add_signed(Duration::days(7)),
            Self::Month => start.checked_add_months(chrono::Months::new(1)),
        }
    }
}

fn midnight(day: NaiveDate) -> Millis {
    day.and_hms_opt(0, 0, 0)
        .map_or(0, |t| t.and_utc().timestamp_millis())
}

/// The hour holding `at`, rounded up unless `at` starts it (an exclusive end).
fn hour_ceil(at: Millis) -> i64 {
    (at + HOUR_MS - 1).div_euclid(HOUR_MS)
}

/// `GET /stores/{id}/insights` (staff of the store, admin).
#[utoipa::path(get, path = "/api/v1/stores/{id}/insights", operation_id = "store_insights", tag = "Insights", security(("bearer" = [])),
    params(("id" = String, Path, description = "`str_…`"), InsightsQuery),
    responses(
        (status = 200, description = "Figures per period, totals, top products and the funnel.", body = s::Insights),
        (status = 401, response = s::Unauthorized),
        (status = 403, response = s::Forbidden),
        (status = 404, response = s::NotFound),
        (status = 422, response = s::Unprocessable),
        (status = 503, response = s::Unavailable),
    ))]
pub async fn get(
    State(app): State<Arc<App>>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiQuery(query): ApiQuery<InsightsQuery>,
) -> Result<Json<Value>, AppError> {
    let store = StoreId::parse(&id)
        .and_then(|id| {
            app.shared
                .read_model
                .stores
                .get(&id)
                .map(|s| s.value().clone())
        })
        .ok_or(AppError::NotFound)?;
    caller.require_store_staff(&store.id)?;
    let granularity = match query.granularity.as_deref().unwrap_or("day") {
        "day" => Granularity::Day,
        "week" => Granularity::Week,
        "month" => Granularity::Month,
        _ => return Err(AppError::field("granularity", "must be day, week or month")),
    };
    let time = |field: &str, value: &Option<String>| match value {
        None => Ok(None),
        Some(text) => parse_rfc3339(text)
            .map(Some)
            .ok_or_else(|| AppError::field(field, "must be an RFC 3339 time")),
    };
    let to = time("to", &query.to)?.unwrap_or_else(now_ms);
    let from = time("from", &query.from)?.unwrap_or(to - DEFAULT_SPAN_MS);
    if from >= to {
        return Err(AppError::field("to", "must be after from"));
    }
    let periods = periods(granularity, from, to)?;
    Ok(Json(answer(
        &app,
        &store.id,
        &store.currency,
        from,
        to,
        &periods,
    )?))
}

/// `(start, end)` of every period overlapping `from..to`, clipped to it; the first is
/// labelled with its period's start.
fn periods(
    granularity: Granularity,
    from: Millis,
    to: Millis,
) -> Result<Vec<(Millis, Millis, Millis)>, AppError> {
    let first = DateTime::<Utc>::from_timestamp_millis(from)
        .ok_or_else(|| AppError::field("from", "is out of range"))?;
    let mut start = granularity.start_of(first);
    let mut out = Vec::new();
    while midnight(start) < to {
        let next = granularity
            .next(start)
            .ok_or_else(|| AppError::field("to", "is out of range"))?;
        let label = midnight(start);
        out.push((label, label.max(from), midnight(next).min(to)));
        if out.len() > MAX_PERIODS {
            return Err(AppError::field(
                "from",
                format!(
                    "the span holds more than {MAX_PERIODS} periods; choose a coarser granularity"
                ),
            ));
        }
        start = next;
    }
    Ok(out)
}

fn answer(
    app: &App,
    store: &StoreId,
    currency: &str,
    from: Millis,
    to: Millis,
    periods: &[(Millis, Millis, Millis)],
) -> Result<Value, AppError> {
    let discovery = &app.shared.discovery;
    let insights = &discovery.insights;
    let firsts = insights.first_orders(store);
    let new_customers = |from: Millis, to: Millis| {
        (firsts.partition_point(|at| *at < to) - firsts.partition_point(|at| *at < from)) as i64
    };
    let money = |amount: i64| json!({"amount": amount, "currency": currency});
    let figures = |bucket: &Bucket, new: i64| {
        let average = if bucket.orders > 0 {
            (bucket.revenue as f64 / bucket.orders as f64).round() as i64
        } else {
            0
        };
        json!({
            "orders": bucket.orders,
            "revenue": money(bucket.revenue),
            "refunds": money(bucket.refunds),
            "net_revenue": money(bucket.revenue - bucket.refunds),
            "average_order_value": money(average),
            "new_customers": new,
            "cancelled": bucket.cancelled,
        })
    };
    let mut series = Vec::with_capacity(periods.len());
    let mut total = Bucket::default();
    for (label, start, end) in periods {
        let bucket = insights.figures(store, hour_of(*start), hour_ceil(*end));
        let mut row = figures(&bucket, new_customers(*start, *end));
        row["period_start"] = json!(rfc3339(*label));
        series.push(row);
        total.add(&bucket);
    }
    let (from_hour, to_hour) = (hour_of(from), hour_ceil(to));
    let views: u64 = discovery
        .views
        .store_views_by_hour(store, from_hour, to_hour)?
        .values()
        .sum();
    let cart_adds: u64 = discovery
        .cart_adds
        .store_views_by_hour(store, from_hour, to_hour)?
        .values()
        .sum();
    let mut top: Vec<_> = total
        .products
        .iter()
        .filter(|(_, (units, _))| *units > 0)
        .collect();
    top.sort_by(|a, b| (b.1.1, b.1.0, a.0).cmp(&(a.1.1, a.1.0, b.0)));
    let top_products: Vec<Value> = top
        .into_iter()
        .take(TOP_PRODUCTS)
        .map(|(product, (units, revenue))| {
            let name = app
                .shared
                .read_model
                .product(product)
                .map(|p| p.catalog.name.clone())
                .unwrap_or_default();
            json!({"product_id": product, "name": name, "units": units, "revenue": money(*revenue)})
        })
        .collect();
    let conversion = if views > 0 {
        ((total.orders.max(0) as f64 / views as f64).min(1.0) * 10_000.0).round() / 10_000.0
    } else {
        0.0
    };
    Ok(json!({
        "currency": currency,
        "from": rfc3339(from),
        "to": rfc3339(to),
        "series": series,
        "totals": figures(&total, new_customers(from, to)),
        "top_products": top_products,
        "funnel": {
            "product_views": views,
            "cart_adds": cart_adds,
            "checkouts": total.checkouts,
            "orders_confirmed": total.orders,
            "conversion_rate": conversion,
        },
    }))
}
