//! A fortnight of trade for the demo, so the owner's pages open on figures instead of zeros:
//! the insights charts, the orders list, the kitchen's board.
//!
//! Nothing here is made up after the fact: each past order goes through the real order path
//! (stock held and sold, the simulated card charged, the status moved by staff, a few
//! cancelled and refunded), with the process's clock set to the order's moment
//! ([`time::travel_to`]). That is only allowed in the binary, where this server is alone in its
//! process and not yet ready; an in-process server (the tests) shares its clock with others,
//! so it gets the catalog without a history.

use std::collections::HashMap;

use crate::{
    app::App,
    auth::{AuthError, Caller, NewUser},
    domain::{
        ids::{OrderId, ProductId, StoreId, UserId},
        order::{Actor as Who, OrderStatus},
        store::StoreKind,
        time::{self, Millis},
        user::Role,
    },
    error::AppError,
    services::orders::{self, PlaceOrder, Placed, Source},
};

const MINUTE: Millis = 60_000;
const HOUR: Millis = 60 * MINUTE;
const DAY: Millis = 24 * HOUR;
/// How many days back the history starts.
const DAYS: i64 = 13;

/// The shoppers of the history (their password is the demo's; they are not logged).
const CUSTOMERS: &[(&str, &str)] = &[
    ("Ava Lane", "ava.lane@demo.emporium"),
    ("Ben Okafor", "ben.okafor@demo.emporium"),
    ("Chloé Martin", "chloe.martin@demo.emporium"),
    ("Dev Patel", "dev.patel@demo.emporium"),
    ("Elena Rossi", "elena.rossi@demo.emporium"),
    ("Finn Berg", "finn.berg@demo.emporium"),
    ("Grace Kim", "grace.kim@demo.emporium"),
];

/// One demo store and the products it sells.
pub struct Shop {
    /// The store.
    pub store: StoreId,
    /// Retail or restaurant (decides the steps after payment).
    pub kind: StoreKind,
    /// Its products.
    pub products: Vec<ProductId>,
}

/// What happens at one moment of the history.
enum Step {
    /// Order `n` of the plan is placed.
    Place {
        shop: usize,
        customer: usize,
        items: Vec<(ProductId, i64)>,
        card: &'static str,
    },
    /// Staff move order `n` on.
    Move(OrderStatus),
    /// Its customer cancels it (the payment is refunded).
    Cancel,
}

/// Places the history's orders for `shops`, oldest first; does nothing (and says so) when the
/// process may not move its clock.
pub async fn seed(app: &App, shops: &[Shop]) -> Result<(), AppError> {
    if !time::travel_allowed() {
        tracing::info!("demo: no past orders (an in-process server shares its clock)");
        return Ok(());
    }
    let now = time::now_ms();
    let plan = plan(shops, now);
    let first = plan.first().map_or(now, |(at, _, _)| *at);
    time::travel_to(first);
    let result = run(app, shops, &plan).await;
    time::end_travel();
    let placed = result?;
    tracing::info!(
        orders = placed,
        days = DAYS + 1,
        "demo: past orders placed on their days"
    );
    Ok(())
}

/// The moments of the history in time order: `(at, order number, step)`. Steps that would
/// fall after `now` are left out, so today's latest orders are still on the kitchen's board.
fn plan(shops: &[Shop], now: Millis) -> Vec<(Millis, usize, Step)> {
    let today = now - now.rem_euclid(DAY);
    let mut steps = Vec::new();
    let mut order = 0;
    for day in (0..=DAYS).rev() {
        for (s, shop) in shops.iter().enumerate() {
            if shop.products.is_empty() {
                continue;
            }
            // Busier at the weekend end of the fortnight, two to five orders a day.
            let count = 2 + mix(day, s, 0) % 4;
            for n in 0..count {
                let hour = 9 + (n as i64) * 3 + (mix(day, s, n + 1) % 3) as i64;
                let at =
                    today - day * DAY + hour * HOUR + (mix(day, s, n + 7) % 60) as i64 * MINUTE;
                if at >= now {
                    continue;
                }
                let roll = mix(day, s, n + 13);
                let lines = 1 + roll % 3;
                let mut items: Vec<(ProductId, i64)> = Vec::new();
                for l in 0..lines {
                    let product = &shop.products[mix(day, s, n * 5 + l + 17) % shop.products.len()];
                    if items.iter().all(|(p, _)| p != product) {
                        items.push((product.clone(), 1 + (mix(day, s, n + l + 23) % 2) as i64));
                    }
                }
                let card = if roll % 13 == 5 {
                    "tok_chargeDeclined"
                } else {
                    "tok_visa"
                };
                steps.push((
                    at,
                    order,
                    Step::Place {
                        shop: s,
                        // New shoppers join as the fortnight goes on.
                        customer: mix(day, s, n + 29)
                            % CUSTOMERS.len().min(2 + ((DAYS - day) / 2) as usize),
                        items,
                        card,
                    },
                ));
                let after: Vec<(Millis, Step)> = if roll % 11 == 3 {
                    vec![(25 * MINUTE, Step::Cancel)]
                } else {
                    match shop.kind {
                        StoreKind::Restaurant => vec![
                            (4 * MINUTE, Step::Move(OrderStatus::Preparing)),
                            (22 * MINUTE, Step::Move(OrderStatus::Ready)),
                            (35 * MINUTE, Step::Move(OrderStatus::Delivered)),
                        ],
                        StoreKind::Retail => vec![
                            (2 * HOUR, Step::Move(OrderStatus::Preparing)),
                            (4 * HOUR, Step::Move(OrderStatus::Ready)),
                            (6 * HOUR, Step::Move(OrderStatus::InTransit)),
                            (30 * HOUR, Step::Move(OrderStatus::Delivered)),
                        ],
                    }
                };
                for (delay, step) in after {
                    if at + delay < now {
                        steps.push((at + delay, order, step));
                    }
                }
                order += 1;
            }
        }
    }
    steps.sort_by_key(|(at, order, _)| (*at, *order));
    steps
}

/// Carries out `plan`; answers how many orders were placed.
async fn run(app: &App, shops: &[Shop], plan: &[(Millis, usize, Step)]) -> Result<usize, AppError> {
    let customers = customers(app).await?;
    if customers.is_empty() {
        return Ok(0);
    }
    let mut placed: HashMap<usize, (OrderId, UserId)> = HashMap::new();
    for (at, order, step) in plan {
        time::travel_to(*at);
        match step {
            Step::Place {
                shop,
                customer,
                items,
                card,
            } => {
                let shop = &shops[*shop];
                let customer = &customers[*customer % customers.len()];
                count_visit(app, &shop.store, items, *at);
                let request = PlaceOrder {
                    source: Source::Items {
                        store_id: shop.store.clone(),
                        items: items.clone(),
                    },
                    token: (*card).to_owned(),
                    shipping_address: None,
                    note: None,
                    fulfillment_type: None,
                    table: None,
                };
                let caller = Caller::Customer {
                    user_id: customer.clone(),
                };
                let id = match orders::place(&app.commerce, &caller, request).await {
                    Ok(Placed::Created(view) | Placed::Accepted(view)) => view["id"]
                        .as_str()
                        .and_then(OrderId::parse)
                        .map(|id| (id, customer.clone())),
                    // A declined card is part of the story (the funnel shows it).
                    Err(_) => None,
                };
                if let Some(id) = id {
                    placed.insert(*order, id);
                }
            }
            Step::Move(to) => {
                let Some((id, _)) = placed.get(order) else {
                    continue;
                };
                let moved = app
                    .commerce
                    .call_order(id, |reply| crate::actors::order::OrderMsg::SetStatus {
                        to: *to,
                        prep_minutes: None,
                        by: "demo staff".to_owned(),
                        reply,
                    })
                    .await?;
                // A declined payment leaves nothing to move; anything else is a bug here.
                if let Err(refused) = moved {
                    tracing::debug!(%id, ?to, %refused, "demo: status move refused");
                }
            }
            Step::Cancel => {
                let Some((id, customer)) = placed.get(order) else {
                    continue;
                };
                let cancelled = app
                    .commerce
                    .call_order(id, |reply| crate::actors::order::OrderMsg::Cancel {
                        who: Who::Customer,
                        by: customer.to_string(),
                        reason: Some("ordered the wrong size".to_owned()),
                        reply,
                    })
                    .await?;
                if let Err(refused) = cancelled {
                    tracing::debug!(%id, %refused, "demo: cancellation refused");
                }
            }
        }
    }
    Ok(placed.len())
}

/// The history's shoppers (made at the first moment of the history; kept when they exist).
async fn customers(app: &App) -> Result<Vec<UserId>, AppError> {
    let mut ids = Vec::with_capacity(CUSTOMERS.len());
    for (name, email) in CUSTOMERS {
        let created = app
            .auth
            .create_user(NewUser {
                email: (*email).to_owned(),
                password: super::DEMO_PASSWORD.to_owned(),
                name: (*name).to_owned(),
                role: Role::Customer,
                store_id: None,
            })
            .await;
        match created {
            Ok(user) => ids.push(user.id),
            Err(AuthError::EmailTaken) => {
                if let Some(id) = app.shared.storage.user_id_by_email(email)? {
                    ids.push(id);
                }
            }
            Err(error) => return Err(error.into()),
        }
    }
    Ok(ids)
}

/// The shopper's visit before an order: a few product views and the cart adds (the funnel).
fn count_visit(app: &App, store: &StoreId, items: &[(ProductId, i64)], at: Millis) {
    let discovery = &app.shared.discovery;
    for (i, (product, _)) in items.iter().enumerate() {
        for view in 0..(2 + i % 3) {
            discovery
                .views
                .record(product, store, at - (10 - view as i64) * MINUTE);
        }
        discovery.cart_adds.record(product, store, at - 2 * MINUTE);
    }
}

/// A small deterministic mix of `(day, shop, n)`: the same demo every time.
fn mix(day: i64, shop: usize, n: usize) -> usize {
    let mut x = (day as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ (shop as u64).wrapping_mul(0xBF58_476D_1CE4_E5B9)
        ^ (n as u64).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^= x >> 31;
    x = x.wrapping_mul(0xD6E8_FEB8_6659_FD93);
    x ^= x >> 32;
    x as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shops() -> Vec<Shop> {
        let products = |n: usize| (0..n).map(|_| ProductId::generate()).collect();
        vec![
            Shop {
                store: StoreId::generate(),
                kind: StoreKind::Retail,
                products: products(8),
            },
            Shop {
                store: StoreId::generate(),
                kind: StoreKind::Restaurant,
                products: products(6),
            },
        ]
    }

    #[test]
    fn the_plan_is_in_time_order_within_the_fortnight_and_never_after_now() {
        let now = 1_796_000_000_000;
        let plan = plan(&shops(), now);
        assert!(plan.windows(2).all(|w| w[0].0 <= w[1].0));
        assert!(plan.iter().all(|(at, _, _)| *at < now));
        assert!(
            plan.first()
                .is_some_and(|(at, _, _)| now - at <= (DAYS + 1) * DAY)
        );
        let orders = plan
            .iter()
            .filter(|(_, _, s)| matches!(s, Step::Place { .. }))
            .count();
        assert!((2 * 2 * (DAYS as usize)..=2 * 5 * (DAYS as usize + 1)).contains(&orders));
        // Each order's steps come after its placing.
        for (at, order, step) in &plan {
            if !matches!(step, Step::Place { .. }) {
                let placed = plan
                    .iter()
                    .find(|(_, o, s)| o == order && matches!(s, Step::Place { .. }))
                    .expect("placed");
                assert!(placed.0 < *at);
            }
        }
    }
}
