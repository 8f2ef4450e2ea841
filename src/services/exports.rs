//! CSV exports of a store's orders and inventory movements (docs/API.md §14), RFC 4180 with
//! the `csv` crate.
//!
//! Every text cell that a spreadsheet would run as a formula (it starts with `=`, `+`, `-`
//! or `@`) is written with a leading `'`, so a product named `=HYPERLINK(…)` or a note of
//! `@SUM(…)` is shown, never evaluated. Plain numbers (`-3`, `+2.50`) stay numbers.

use super::ServiceError;
use crate::{
    context::Shared,
    domain::{
        ids::StoreId,
        money::Money,
        order::Order,
        time::{Millis, rfc3339},
    },
    persistence::Movement,
};

/// An inclusive-exclusive time window; either end may be open.
#[derive(Clone, Copy, Debug, Default)]
pub struct Window {
    /// Earliest time included.
    pub from: Option<Millis>,
    /// First time excluded.
    pub to: Option<Millis>,
}

impl Window {
    fn contains(&self, at: Millis) -> bool {
        self.from.is_none_or(|from| at >= from) && self.to.is_none_or(|to| at < to)
    }
}

/// Columns of `orders.csv`.
const ORDER_COLUMNS: [&str; 12] = [
    "number",
    "order_id",
    "created_at",
    "status",
    "customer_id",
    "items",
    "item_count",
    "total",
    "currency",
    "payment_status",
    "shipping_address",
    "note",
];

/// Columns of `movements.csv`.
const MOVEMENT_COLUMNS: [&str; 12] = [
    "at",
    "movement_id",
    "product_id",
    "sku",
    "location_id",
    "kind",
    "reason",
    "delta",
    "on_hand_after",
    "reference",
    "note",
    "by",
];

/// The store's orders created in `window`, oldest first.
pub fn orders_csv(
    shared: &Shared,
    store: &StoreId,
    window: Window,
) -> Result<Vec<u8>, ServiceError> {
    let mut orders: Vec<_> = shared
        .read_model
        .orders
        .iter()
        .filter(|o| &o.store_id == store && window.contains(o.created_at))
        .map(|o| std::sync::Arc::clone(o.value()))
        .collect();
    orders.sort_by_key(|o| (o.created_at, o.number));
    let mut out = Sheet::new(&ORDER_COLUMNS)?;
    for order in orders {
        out.row(&order_row(&order))?;
    }
    out.finish()
}

fn order_row(order: &Order) -> Vec<String> {
    let items = order
        .items
        .iter()
        .map(|l| format!("{} x{}", l.sku, l.quantity))
        .collect::<Vec<_>>()
        .join("; ");
    let total = order.total();
    let address = order
        .shipping_address
        .as_ref()
        .map(|a| {
            a.iter()
                .map(|(k, v)| format!("{k}: {v}"))
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default();
    vec![
        order.number_text(),
        order.id.to_string(),
        rfc3339(order.created_at),
        order.status.as_str().to_owned(),
        order
            .customer_id
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
        items,
        order
            .items
            .iter()
            .map(|l| l.quantity)
            .sum::<i64>()
            .to_string(),
        decimal(&total),
        total.currency,
        order.payment.status.as_str().to_owned(),
        address,
        order.note.clone().unwrap_or_default(),
    ]
}

/// Every inventory movement of the store's products in `window`, oldest first.
pub fn movements_csv(
    shared: &Shared,
    store: &StoreId,
    window: Window,
) -> Result<Vec<u8>, ServiceError> {
    let products: Vec<_> = shared
        .read_model
        .products
        .iter()
        .filter(|p| &p.catalog.store_id == store)
        .map(|p| (p.catalog.id.clone(), p.catalog.sku.clone()))
        .collect();
    let mut rows: Vec<(Movement, String, String)> = Vec::new();
    for (id, sku) in products {
        let movements = shared.storage.movements(&id, 0, usize::MAX)?;
        rows.extend(
            movements
                .into_iter()
                .filter(|m| window.contains(m.at))
                .map(|m| (m, id.to_string(), sku.clone())),
        );
    }
    rows.sort_by(|a, b| (a.0.at, &a.0.id).cmp(&(b.0.at, &b.0.id)));
    let mut out = Sheet::new(&MOVEMENT_COLUMNS)?;
    for (m, product_id, sku) in rows {
        out.row(&[
            rfc3339(m.at),
            m.id,
            product_id,
            sku,
            m.location_id.map(|l| l.to_string()).unwrap_or_default(),
            m.kind.as_str().to_owned(),
            m.reason.unwrap_or_default(),
            m.delta.to_string(),
            m.on_hand_after.to_string(),
            m.reference.unwrap_or_default(),
            m.note.unwrap_or_default(),
            m.by,
        ])?;
    }
    out.finish()
}

/// `1999 USD` → `19.99`, `1500 JPY` → `1500`, `-1250 BHD` → `-1.250`.
fn decimal(money: &Money) -> String {
    let text = money.display();
    text.rsplit_once(' ')
        .map_or(text.clone(), |(amount, _)| amount.to_owned())
}

/// A cell as written: formulas neutralised (see the module docs).
pub fn neutralised(cell: &str) -> std::borrow::Cow<'_, str> {
    let starts_like_formula = cell.starts_with(['=', '+', '-', '@']);
    let plain_number = cell.parse::<f64>().is_ok_and(f64::is_finite)
        && cell
            .bytes()
            .all(|b| b.is_ascii_digit() || b"+-.".contains(&b));
    if starts_like_formula && !plain_number {
        std::borrow::Cow::Owned(format!("'{cell}"))
    } else {
        std::borrow::Cow::Borrowed(cell)
    }
}

/// A CSV document being written.
struct Sheet {
    writer: csv::Writer<Vec<u8>>,
}

impl Sheet {
    fn new(columns: &[&str]) -> Result<Self, ServiceError> {
        let mut writer = csv::WriterBuilder::new()
            .terminator(csv::Terminator::CRLF)
            .from_writer(Vec::new());
        writer.write_record(columns).map_err(csv_error)?;
        Ok(Self { writer })
    }

    fn row(&mut self, cells: &[String]) -> Result<(), ServiceError> {
        self.writer
            .write_record(cells.iter().map(|c| neutralised(c).into_owned()))
            .map_err(csv_error)
    }

    fn finish(self) -> Result<Vec<u8>, ServiceError> {
        self.writer
            .into_inner()
            .map_err(|e| ServiceError::Internal(format!("csv: {}", e.error())))
    }
}

/// Writing to memory only fails on a bug (a 500).
fn csv_error(error: csv::Error) -> ServiceError {
    ServiceError::Internal(format!("csv: {error}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_get_a_quote_and_numbers_do_not() {
        assert_eq!(neutralised("=cmd|' /C calc'!A0"), "'=cmd|' /C calc'!A0");
        assert_eq!(neutralised("+SUM(A1)"), "'+SUM(A1)");
        assert_eq!(neutralised("@foo"), "'@foo");
        assert_eq!(neutralised("-2+3"), "'-2+3");
        assert_eq!(neutralised("-3"), "-3");
        assert_eq!(neutralised("+2.50"), "+2.50");
        assert_eq!(neutralised("Tee"), "Tee");
        assert_eq!(neutralised(""), "");
    }

    #[test]
    fn money_is_written_in_major_units() {
        let m = |amount, currency: &str| Money {
            amount,
            currency: currency.into(),
        };
        assert_eq!(decimal(&m(1999, "USD")), "19.99");
        assert_eq!(decimal(&m(1500, "JPY")), "1500");
        assert_eq!(decimal(&m(-1250, "BHD")), "-1.250");
    }
}
