//! `--demo`: a retail store and a restaurant with realistic products and stock, loaded into an
//! empty data directory so a newcomer sees the product working at once.

use crate::{
    app::{AdminTokenSource, App},
    auth::{AuthError, NewUser, users::Role},
    domain::{ids::StoreId, money::Money, product::NewProduct, store::StoreKind},
    error::AppError,
};
use std::collections::BTreeMap;

/// (sku, name, category, brand, price in cents, stock, low-stock threshold, attributes)
type Item = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    i64,
    i64,
    i64,
    &'static [(&'static str, &'static str)],
);

/// Search synonyms of the demo shop (`PUT /stores/{id}/synonyms`).
const RETAIL_SYNONYMS: &[&[&str]] = &[
    &["tee", "t-shirt"],
    &["hoodie", "sweatshirt", "jumper"],
    &["sneakers", "trainers"],
    &["jacket", "coat"],
];

/// Search synonyms of the demo restaurant.
const RESTAURANT_SYNONYMS: &[&[&str]] = &[
    &["coffee", "espresso"],
    &["soda", "lemonade"],
    &["dessert", "dolce"],
];

const RETAIL: &[Item] = &[
    (
        "TEE-BLUE-M",
        "Basic Cotton T-Shirt, Blue, M",
        "t-shirts",
        "basics",
        1990,
        40,
        5,
        &[("color", "blue"), ("size", "m")],
    ),
    (
        "TEE-BLUE-L",
        "Basic Cotton T-Shirt, Blue, L",
        "t-shirts",
        "basics",
        1990,
        25,
        5,
        &[("color", "blue"), ("size", "l")],
    ),
    (
        "TEE-BLACK-M",
        "Basic Cotton T-Shirt, Black, M",
        "t-shirts",
        "basics",
        1990,
        3,
        5,
        &[("color", "black"), ("size", "m")],
    ),
    (
        "HOOD-GREY-M",
        "Heavyweight Hoodie, Grey, M",
        "hoodies",
        "northfold",
        5900,
        12,
        3,
        &[("color", "grey"), ("size", "m")],
    ),
    (
        "HOOD-NAVY-L",
        "Heavyweight Hoodie, Navy, L",
        "hoodies",
        "northfold",
        5900,
        8,
        3,
        &[("color", "navy"), ("size", "l")],
    ),
    (
        "JEAN-SLIM-32",
        "Slim Selvedge Jeans 32/32",
        "jeans",
        "indigo-works",
        8900,
        15,
        4,
        &[("fit", "slim"), ("waist", "32")],
    ),
    (
        "JEAN-REG-34",
        "Regular Jeans 34/32",
        "jeans",
        "indigo-works",
        7900,
        10,
        4,
        &[("fit", "regular"), ("waist", "34")],
    ),
    (
        "SNK-WHITE-42",
        "Canvas Sneakers, White, 42",
        "shoes",
        "pacer",
        6500,
        6,
        2,
        &[("color", "white"), ("size", "42")],
    ),
    (
        "SNK-WHITE-44",
        "Canvas Sneakers, White, 44",
        "shoes",
        "pacer",
        6500,
        1,
        2,
        &[("color", "white"), ("size", "44")],
    ),
    (
        "SOCK-3PK",
        "Merino Socks, 3-pack",
        "accessories",
        "basics",
        2400,
        60,
        10,
        &[("material", "merino")],
    ),
    (
        "CAP-OLIVE",
        "Six-Panel Cap, Olive",
        "accessories",
        "northfold",
        2900,
        20,
        5,
        &[("color", "olive")],
    ),
    (
        "BELT-BRN-M",
        "Leather Belt, Brown, M",
        "accessories",
        "saddler",
        4500,
        9,
        3,
        &[("color", "brown"), ("size", "m")],
    ),
    (
        "JKT-RAIN-M",
        "Packable Rain Jacket, M",
        "jackets",
        "northfold",
        12900,
        7,
        2,
        &[("size", "m"), ("waterproof", "yes")],
    ),
    (
        "BAG-TOTE",
        "Waxed Canvas Tote",
        "bags",
        "saddler",
        5500,
        14,
        3,
        &[("material", "waxed canvas")],
    ),
    (
        "SCARF-WOOL",
        "Lambswool Scarf",
        "accessories",
        "highland",
        3900,
        0,
        2,
        &[("material", "lambswool")],
    ),
    (
        "SHIRT-OX-M",
        "Oxford Shirt, White, M",
        "shirts",
        "basics",
        4900,
        18,
        4,
        &[("color", "white"), ("size", "m")],
    ),
];

const RESTAURANT: &[Item] = &[
    (
        "PIZ-MARG",
        "Pizza Margherita",
        "pizza",
        "kitchen",
        1100,
        50,
        10,
        &[("vegetarian", "yes")],
    ),
    (
        "PIZ-DIAV",
        "Pizza Diavola",
        "pizza",
        "kitchen",
        1350,
        40,
        10,
        &[("spicy", "yes")],
    ),
    (
        "PIZ-FUNGHI",
        "Pizza Funghi",
        "pizza",
        "kitchen",
        1250,
        30,
        10,
        &[("vegetarian", "yes")],
    ),
    (
        "PASTA-CARB",
        "Spaghetti Carbonara",
        "pasta",
        "kitchen",
        1400,
        25,
        5,
        &[],
    ),
    (
        "PASTA-PESTO",
        "Trofie al Pesto",
        "pasta",
        "kitchen",
        1300,
        20,
        5,
        &[("vegetarian", "yes")],
    ),
    (
        "LASAGNA",
        "Lasagna della Nonna",
        "pasta",
        "kitchen",
        1550,
        12,
        4,
        &[],
    ),
    (
        "SALAD-CAES",
        "Caesar Salad",
        "salads",
        "kitchen",
        950,
        18,
        5,
        &[],
    ),
    (
        "SALAD-CAPR",
        "Caprese Salad",
        "salads",
        "kitchen",
        900,
        15,
        5,
        &[("vegetarian", "yes")],
    ),
    (
        "BRUSCH",
        "Bruschetta al Pomodoro",
        "starters",
        "kitchen",
        650,
        30,
        8,
        &[("vegan", "yes")],
    ),
    (
        "ARANCINI",
        "Arancini (3 pcs)",
        "starters",
        "kitchen",
        750,
        24,
        6,
        &[],
    ),
    (
        "TIRAMISU",
        "Tiramisu",
        "desserts",
        "kitchen",
        700,
        10,
        3,
        &[],
    ),
    (
        "PANNA-COT",
        "Panna Cotta",
        "desserts",
        "kitchen",
        650,
        8,
        3,
        &[],
    ),
    (
        "GELATO-PIS",
        "Pistachio Gelato",
        "desserts",
        "kitchen",
        550,
        2,
        3,
        &[],
    ),
    (
        "LEMONADE",
        "House Lemonade",
        "drinks",
        "kitchen",
        400,
        60,
        10,
        &[("vegan", "yes")],
    ),
    (
        "ESPRESSO",
        "Espresso",
        "drinks",
        "kitchen",
        250,
        200,
        20,
        &[],
    ),
    (
        "WATER-SPK",
        "Sparkling Water 0.5 l",
        "drinks",
        "kitchen",
        300,
        80,
        15,
        &[],
    ),
];

/// Loads the demo catalog if the data directory has no stores yet.
pub async fn seed(app: &App) -> Result<(), AppError> {
    if !app.shared.read_model.stores.is_empty() {
        tracing::info!("demo: the data directory already has stores; nothing loaded");
        return Ok(());
    }
    let shops = [
        (
            "Northfold Outfitters",
            StoreKind::Retail,
            RETAIL,
            "staff-retail@demo.emporium",
        ),
        (
            "Trattoria Emporio",
            StoreKind::Restaurant,
            RESTAURANT,
            "staff-restaurant@demo.emporium",
        ),
    ];
    for (name, kind, items, staff_email) in shops {
        let store = app
            .catalog
            .create_store(name.into(), kind, "USD".into())
            .await?;
        let synonyms = match kind {
            StoreKind::Retail => RETAIL_SYNONYMS,
            StoreKind::Restaurant => RESTAURANT_SYNONYMS,
        };
        let groups = synonyms
            .iter()
            .map(|group| group.iter().map(|w| (*w).to_owned()).collect())
            .collect();
        app.set_synonyms(&store.id, groups).await?;
        for (sku, product_name, category, brand, price, stock, threshold, attributes) in items {
            let new = NewProduct {
                store_id: store.id.clone(),
                sku: (*sku).into(),
                name: (*product_name).into(),
                description: Some(format!("{product_name} from {name}.")),
                category: Some((*category).into()),
                brand: Some((*brand).into()),
                price: Money {
                    amount: *price,
                    currency: "USD".into(),
                },
                attributes: attributes
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect::<BTreeMap<_, _>>(),
                image_urls: Vec::new(),
                initial_stock: *stock,
                low_stock_threshold: *threshold,
            };
            app.catalog.create_product(new, "admin").await?;
        }
        tracing::info!(store = %store.id, name, products = items.len(), "demo store loaded");
        let staff_name = format!("{name} Staff");
        demo_login(app, staff_email, &staff_name, Role::Staff, Some(&store.id)).await?;
    }
    demo_login(
        app,
        "shopper@demo.emporium",
        "Demo Shopper",
        Role::Customer,
        None,
    )
    .await?;
    // Rates for the storefront's currency picker (an admin sets real ones with
    // `PUT /admin/exchange-rates`).
    let rates = DEMO_RATES
        .iter()
        .map(|(code, rate)| ((*code).to_owned(), (*rate).to_owned()))
        .collect();
    crate::services::currency::set_rates(&app.shared, "USD", &rates).await?;
    // An owner's account: the dashboard's Users tab, and the recipient of admin emails.
    demo_login(app, "admin@demo.emporium", "Demo Owner", Role::Admin, None).await?;
    // The token itself is not repeated: an operator's is never logged, a generated one was
    // logged once when it was made.
    let token = match app.admin_token_source {
        AdminTokenSource::Configured => "the admin token you configured",
        AdminTokenSource::Generated => "the generated admin token logged above",
        AdminTokenSource::Stored => "the admin token that `emporium admin-token show` prints",
    };
    tracing::info!(
        data_dir = %app.config.data_dir.display(),
        "demo ready: use {token} for writes"
    );
    Ok(())
}

/// Exchange rates of the demo (units per US dollar), the currencies the storefront offers.
const DEMO_RATES: &[(&str, &str)] = &[
    ("EUR", "0.92"),
    ("GBP", "0.79"),
    ("CAD", "1.36"),
    ("AUD", "1.52"),
    ("JPY", "151.30"),
    ("CNY", "7.24"),
    ("INR", "83.40"),
];

/// The password of every demo login. Public on purpose: the demo is for trying things out.
pub const DEMO_PASSWORD: &str = "demo-password";

/// Creates a demo account (an existing one is kept) and logs its credentials, so a newcomer
/// can log in as a shopper or as a store's staff at once.
async fn demo_login(
    app: &App,
    email: &str,
    name: &str,
    role: Role,
    store: Option<&StoreId>,
) -> Result<(), AppError> {
    let created = app
        .auth
        .create_user(NewUser {
            email: email.to_owned(),
            password: DEMO_PASSWORD.to_owned(),
            name: name.to_owned(),
            role,
            store_id: store.map(ToString::to_string),
        })
        .await;
    match created {
        Ok(_) | Err(AuthError::EmailTaken) => {}
        Err(error) => return Err(error.into()),
    }
    let role = role.as_str();
    match store {
        Some(store) => tracing::info!(
            email,
            password = DEMO_PASSWORD,
            role,
            %store,
            "demo login (POST /api/v1/auth/login)"
        ),
        None => tracing::info!(
            email,
            password = DEMO_PASSWORD,
            role,
            "demo login (POST /api/v1/auth/login)"
        ),
    }
    Ok(())
}
