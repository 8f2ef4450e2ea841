//! `--demo`: a retail store and a restaurant with realistic products and stock, loaded into an
//! empty data directory so a newcomer sees the product working at once.

mod history;

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
    let mut history_shops = Vec::new();
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
        let mut products = Vec::with_capacity(items.len());
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
                image_urls: vec![format!("/assets/{}", picture_name(sku))],
                initial_stock: *stock,
                low_stock_threshold: *threshold,
            };
            let product = app.catalog.create_product(new, "admin").await?;
            products.push(product.catalog.id.clone());
        }
        history_shops.push(history::Shop {
            store: store.id.clone(),
            kind,
            products,
        });
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
    // Two weeks of orders, so the insights, the orders and the kitchen have something to show.
    history::seed(app, &history_shops).await?;
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

/// The `/assets/` name of a demo product's picture (`demo-tee-blue-m.svg`).
fn picture_name(sku: &str) -> String {
    format!("demo-{}.svg", sku.to_ascii_lowercase())
}

/// The drawn picture of the demo product whose picture is `/assets/{name}` (see
/// [`picture_name`]): an SVG made here, from the product's kind (a shape), its colour
/// attribute or a colour derived from its name, and its short name as the label. Nothing is
/// downloaded and nothing is stored: the same name always draws the same picture.
pub fn picture(name: &str) -> Option<String> {
    let (sku, product_name, attributes) = RETAIL
        .iter()
        .chain(RESTAURANT)
        .find(|item| picture_name(item.0) == name)
        .map(|item| (item.0, item.1, item.7))?;
    let colour = attributes
        .iter()
        .find(|(key, _)| *key == "color")
        .and_then(|(_, value)| named_colour(value))
        .map(str::to_owned)
        .unwrap_or_else(|| {
            let hue = product_name
                .bytes()
                .fold(7u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)))
                % 360;
            format!("hsl({hue} 55% 52%)")
        });
    let shape = shape(sku).replace("{c}", &colour);
    let label = escape_xml(&short_label(product_name));
    Some(format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="-67 0 534 300" width="1068" height="600" role="img" aria-label="{label}">
<defs><linearGradient id="bg" x1="0" y1="0" x2="0" y2="1"><stop offset="0" stop-color="#fbf8f3"/><stop offset="1" stop-color="#efe9df"/></linearGradient></defs>
<rect x="-67" width="534" height="300" fill="url(#bg)"/>
<ellipse cx="200" cy="232" rx="120" ry="10" fill="#000" opacity="0.08"/>
<g stroke="#2b2520" stroke-opacity="0.35" stroke-width="3" stroke-linejoin="round">{shape}</g>
<text x="200" y="276" text-anchor="middle" font-family="system-ui, -apple-system, Segoe UI, sans-serif" font-size="22" font-weight="600" fill="#3a332c">{label}</text>
</svg>"##
    ))
}

/// A CSS colour for a demo colour attribute.
fn named_colour(name: &str) -> Option<&'static str> {
    Some(match name {
        "blue" => "#3d6fd1",
        "black" => "#2f2f33",
        "grey" => "#9a9ca3",
        "navy" => "#24345e",
        "white" => "#f7f7f5",
        "olive" => "#6f7a3a",
        "brown" => "#7a4f2e",
        "indigo" => "#34407a",
        _ => return None,
    })
}

/// The name up to its first comma, cut at a word to at most 24 characters.
fn short_label(name: &str) -> String {
    let head = name.split(',').next().unwrap_or(name).trim();
    if head.chars().count() <= 24 {
        return head.to_owned();
    }
    let mut label = String::new();
    for word in head.split_whitespace() {
        if label.chars().count() + word.chars().count() + 1 > 23 {
            break;
        }
        if !label.is_empty() {
            label.push(' ');
        }
        label.push_str(word);
    }
    label.push('…');
    label
}

fn escape_xml(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The drawing for a SKU's kind, in a 400 × 240 area; `{c}` is the product's colour.
fn shape(sku: &str) -> &'static str {
    let kind = sku.split('-').next().unwrap_or(sku);
    match kind {
        "TEE" => {
            r##"<path fill="{c}" d="M150 40 L178 30 Q200 48 222 30 L250 40 L292 78 L266 104 L250 92 L250 220 L150 220 L150 92 L134 104 L108 78 Z"/>"##
        }
        "SHIRT" => {
            r##"<path fill="{c}" d="M150 40 L180 30 L200 52 L220 30 L250 40 L292 90 L268 112 L250 96 L250 222 L150 222 L150 96 L132 112 L108 90 Z"/><path fill="#fff" d="M180 30 L200 52 L190 66 L172 40 Z M220 30 L200 52 L210 66 L228 40 Z"/><g fill="#2b2520" stroke="none" opacity="0.5"><circle cx="200" cy="90" r="3"/><circle cx="200" cy="125" r="3"/><circle cx="200" cy="160" r="3"/><circle cx="200" cy="195" r="3"/></g>"##
        }
        "HOOD" => {
            r##"<path fill="{c}" d="M152 58 Q160 22 200 22 Q240 22 248 58 L290 92 L300 210 L274 210 L266 112 L254 112 L254 222 L146 222 L146 112 L134 112 L126 210 L100 210 L110 92 Z"/><ellipse cx="200" cy="58" rx="26" ry="18" fill="#000" opacity="0.28"/><path fill="#000" opacity="0.15" d="M165 160 L235 160 L242 200 L158 200 Z"/>"##
        }
        "JKT" => {
            r##"<path fill="{c}" d="M156 32 L185 24 L200 40 L215 24 L244 32 L290 80 L302 214 L274 214 L264 108 L254 108 L254 226 L146 226 L146 108 L136 108 L126 214 L98 214 L110 80 Z"/><path d="M200 40 L200 226" stroke-width="4"/><path fill="#000" opacity="0.15" d="M160 150 L188 150 L188 180 L160 180 Z M212 150 L240 150 L240 180 L212 180 Z"/>"##
        }
        "JEAN" => {
            r##"<path fill="{c}" d="M152 28 L248 28 L262 226 L214 226 L200 92 L186 226 L138 226 Z"/><path d="M152 46 L248 46" stroke-width="3"/><path fill="none" d="M160 50 Q170 80 190 70 M240 50 Q230 80 210 70" stroke-width="2"/>"##
        }
        "SNK" => {
            r##"<path fill="{c}" d="M86 196 L86 150 Q96 118 136 124 L182 136 Q226 152 268 160 Q318 170 318 196 Z"/><path fill="#d9d3c9" d="M82 196 L322 196 L322 214 Q322 222 312 222 L92 222 Q82 222 82 214 Z"/><path fill="none" d="M150 134 L140 160 M170 140 L160 166 M190 146 L180 172" stroke-width="3"/>"##
        }
        "SOCK" => {
            r##"<path fill="{c}" d="M160 28 L222 28 L222 148 Q222 164 238 174 L270 194 Q294 214 272 236 Q256 250 230 236 L172 200 Q154 188 160 166 Z"/><path fill="#fff" opacity="0.6" d="M160 28 L222 28 L222 52 L160 52 Z"/><path fill="#fff" opacity="0.6" d="M236 180 Q260 196 270 194 Q294 214 272 236 Q262 244 248 240 Z"/>"##
        }
        "CAP" => {
            r##"<path fill="{c}" d="M116 170 Q116 70 200 70 Q284 70 284 170 Z"/><path fill="{c}" d="M270 160 Q332 160 344 188 L258 180 Z"/><circle cx="200" cy="70" r="7" fill="{c}"/><path fill="none" d="M200 72 L200 170 M160 82 Q150 120 154 170 M240 82 Q250 120 246 170" stroke-width="2"/>"##
        }
        "BELT" => {
            r##"<rect x="64" y="110" width="272" height="44" rx="10" fill="{c}"/><rect x="136" y="100" width="56" height="64" rx="8" fill="none" stroke="#c9a34a" stroke-opacity="1" stroke-width="8"/><path d="M164 132 L206 132" stroke="#c9a34a" stroke-opacity="1" stroke-width="6"/><g fill="#2b2520" opacity="0.4" stroke="none"><circle cx="236" cy="132" r="4"/><circle cx="262" cy="132" r="4"/><circle cx="288" cy="132" r="4"/></g>"##
        }
        "BAG" => {
            r##"<path fill="none" d="M160 108 Q160 44 200 44 Q240 44 240 108" stroke="#6b4a2c" stroke-opacity="1" stroke-width="10"/><path fill="{c}" d="M116 100 L284 100 L298 226 L102 226 Z"/><path fill="#000" opacity="0.12" d="M116 100 L284 100 L286 122 L114 122 Z"/>"##
        }
        "SCARF" => {
            r##"<path fill="{c}" d="M130 40 L270 40 L270 84 L232 96 L238 214 L196 214 L190 96 L130 84 Z"/><path fill="none" d="M196 214 L196 230 M206 214 L206 230 M216 214 L216 230 M226 214 L226 230 M236 214 L236 230" stroke-width="3"/><path fill="none" d="M150 40 L150 84 M170 40 L170 86 M250 40 L250 88" stroke="#fff" stroke-opacity="0.5" stroke-width="6"/>"##
        }
        "PIZ" => {
            r##"<circle cx="200" cy="130" r="100" fill="#e2a94f"/><circle cx="200" cy="130" r="84" fill="{c}"/><g fill="#fff6e0" opacity="0.9"><circle cx="170" cy="100" r="14"/><circle cx="232" cy="112" r="12"/><circle cx="196" cy="160" r="15"/><circle cx="150" cy="150" r="10"/><circle cx="244" cy="162" r="11"/></g><path fill="none" d="M200 46 L200 214 M116 130 L284 130 M141 71 L259 189 M259 71 L141 189" stroke-width="2"/>"##
        }
        "PASTA" | "LASAGNA" => {
            r##"<path fill="none" d="M130 120 Q150 70 170 120 Q190 70 210 120 Q230 70 250 120 Q262 90 272 118" stroke="{c}" stroke-opacity="1" stroke-width="12" stroke-linecap="round"/><path fill="#f3efe8" d="M84 120 L316 120 Q306 220 200 226 Q94 220 84 120 Z"/><path fill="none" d="M96 142 L304 142" stroke-width="2"/>"##
        }
        "SALAD" => {
            r##"<g fill="{c}"><circle cx="150" cy="112" r="30"/><circle cx="200" cy="96" r="34"/><circle cx="250" cy="112" r="30"/><circle cx="176" cy="124" r="24"/><circle cx="226" cy="124" r="24"/></g><circle cx="190" cy="104" r="9" fill="#d8403a"/><circle cx="234" cy="100" r="8" fill="#d8403a"/><path fill="#f3efe8" d="M84 126 L316 126 Q306 222 200 226 Q94 222 84 126 Z"/>"##
        }
        "BRUSCH" => {
            r##"<path fill="#d9a35b" d="M96 168 Q96 104 200 104 Q304 104 304 168 L304 206 L96 206 Z"/><g fill="{c}"><circle cx="150" cy="134" r="17"/><circle cx="196" cy="124" r="17"/><circle cx="244" cy="134" r="17"/><circle cx="174" cy="160" r="15"/><circle cx="224" cy="162" r="15"/></g><g fill="#3f8a3a" stroke="none"><ellipse cx="200" cy="146" rx="10" ry="5"/><ellipse cx="160" cy="112" rx="9" ry="4"/></g>"##
        }
        "ARANCINI" => {
            r##"<g fill="{c}"><circle cx="148" cy="168" r="46"/><circle cx="252" cy="168" r="46"/><circle cx="200" cy="112" r="46"/></g><g fill="#fff" opacity="0.35" stroke="none"><circle cx="136" cy="152" r="10"/><circle cx="240" cy="152" r="10"/><circle cx="188" cy="96" r="10"/></g>"##
        }
        "TIRAMISU" | "PANNA" => {
            r##"<path fill="#f7f2ea" d="M128 60 L272 60 L252 224 L148 224 Z"/><path fill="{c}" d="M134 108 L266 108 L260 150 L140 150 Z"/><path fill="#e8dcc8" d="M140 150 L260 150 L255 190 L145 190 Z"/><path fill="#5a3b24" d="M131 84 L269 84 L266 108 L134 108 Z"/>"##
        }
        "GELATO" => {
            r##"<path fill="#d9a35b" d="M150 120 L250 120 L200 234 Z"/><path fill="none" d="M164 136 L232 136 M176 162 L224 162" stroke-width="2"/><circle cx="200" cy="96" r="54" fill="{c}"/><circle cx="182" cy="80" r="12" fill="#fff" opacity="0.35" stroke="none"/>"##
        }
        "ESPRESSO" => {
            r##"<path fill="{c}" d="M124 100 L276 100 L262 202 Q258 218 240 218 L160 218 Q142 218 138 202 Z"/><path fill="none" d="M274 124 Q318 124 314 156 Q310 184 266 182" stroke="{c}" stroke-opacity="1" stroke-width="12"/><path fill="#5a3b24" d="M126 100 L274 100 L271 118 L129 118 Z"/><path fill="none" d="M172 80 Q162 60 176 40 M204 80 Q194 60 208 40" stroke-width="4" stroke-linecap="round"/><ellipse cx="200" cy="226" rx="110" ry="10" fill="#e3ddd2"/>"##
        }
        _ => {
            r##"<path fill="#eef6fb" d="M148 40 L252 40 L238 226 L162 226 Z"/><path fill="{c}" d="M154 96 L246 96 L238 226 L162 226 Z"/><g fill="#fff" opacity="0.7" stroke="none"><circle cx="180" cy="150" r="6"/><circle cx="214" cy="178" r="5"/><circle cx="196" cy="120" r="4"/></g>"##
        }
    }
}

#[cfg(test)]
mod picture_tests {
    use super::*;

    #[test]
    fn every_demo_product_has_a_picture_that_counts_as_an_image_url() {
        for item in RETAIL.iter().chain(RESTAURANT) {
            let url = format!("/assets/{}", picture_name(item.0));
            assert!(crate::domain::product::is_own_picture_path(&url), "{url}");
            let svg = picture(&picture_name(item.0)).expect("drawn");
            assert!(
                svg.starts_with("<svg") && !svg.contains("{c}"),
                "{}",
                item.0
            );
        }
        assert!(picture("demo-nothing.svg").is_none());
        assert_eq!(
            short_label("Basic Cotton T-Shirt, Blue, M"),
            "Basic Cotton T-Shirt"
        );
        assert_eq!(short_label("Arancini (3 pcs)"), "Arancini (3 pcs)");
    }
}
