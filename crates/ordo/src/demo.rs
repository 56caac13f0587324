//! `ordo demo`: a realistic shop, generated deterministically from a seed, then served.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use clap::Args;
use ordo_domain::catalog::{Address, ChannelInput, LocationInput, ProductInput, with_check_digit};
use ordo_domain::inventory::AdjustmentInput;
use ordo_domain::order::{CustomerInput, LineInput, OrderInput, PaymentInput, ShippingInput};
use ordo_store::{OrderChange, Role, Store, WriteContext};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use time::{Duration, OffsetDateTime};

#[derive(Args)]
pub struct DemoArgs {
    /// Demo database file.
    #[arg(long, default_value = "ordo-demo.db")]
    pub db: PathBuf,
    /// Keep an existing demo database instead of replacing it.
    #[arg(long)]
    pub keep: bool,
    /// Seed for the generated data: the same seed gives the same shop.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Days of order history.
    #[arg(long, default_value_t = 90)]
    pub days: i64,
    #[arg(long, env = "ORDO_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Generate the data and exit without serving.
    #[arg(long)]
    pub no_serve: bool,
    /// Also run an emulated Shopify store and Amazon marketplace that keep taking orders
    /// (webhooks and polling) while stock levels flow back to both.
    #[arg(long)]
    pub live: bool,
}

struct Category {
    name: &'static str,
    classes: &'static [&'static str],
    items: &'static [&'static str],
    price_range: (i64, i64),
    weight_range: (i64, i64),
}

const CATEGORIES: &[Category] = &[
    Category {
        name: "Kitchen",
        classes: &["fragile"],
        items: &[
            "Wine Glass Set",
            "Ceramic Mug",
            "Glass Teapot",
            "Porcelain Plate Set",
            "Carafe",
            "Espresso Cups",
            "Salad Bowl",
            "Cake Stand",
            "Champagne Flutes",
            "Butter Dish",
        ],
        price_range: (900, 6900),
        weight_range: (250, 2200),
    },
    Category {
        name: "Pantry",
        classes: &["perishable"],
        items: &[
            "Fresh Coffee Beans",
            "Artisan Cheese Box",
            "Sourdough Starter",
            "Smoked Salmon",
            "Truffle Butter",
            "Fresh Pasta",
            "Organic Honey",
            "Chocolate Truffles",
            "Olive Tapenade",
            "Herb Pesto",
        ],
        price_range: (450, 3900),
        weight_range: (150, 1200),
    },
    Category {
        name: "Electronics",
        classes: &[],
        items: &[
            "Bluetooth Speaker",
            "USB-C Charger",
            "Wireless Earbuds",
            "Smart Plug",
            "LED Desk Lamp",
            "Power Bank",
            "HDMI Cable",
            "Webcam",
            "Keyboard",
            "Wireless Mouse",
        ],
        price_range: (1200, 12900),
        weight_range: (80, 1500),
    },
    Category {
        name: "Outdoor",
        classes: &["oversize"],
        items: &[
            "Camping Tent",
            "Folding Chair",
            "Cooler Box",
            "Hammock",
            "Sleeping Bag",
            "Trekking Poles",
            "Picnic Blanket",
            "Garden Parasol",
            "Kayak Paddle",
            "Barbecue Grill",
        ],
        price_range: (1900, 24900),
        weight_range: (600, 12000),
    },
    Category {
        name: "Home Care",
        classes: &["hazmat"],
        items: &[
            "Lithium Battery Pack",
            "Lamp Oil",
            "Spray Paint",
            "Oven Cleaner",
            "Lighter Refill",
            "Drain Unblocker",
            "Bleach",
            "Paint Thinner",
            "Descaler",
            "Fire Starter",
        ],
        price_range: (350, 2900),
        weight_range: (200, 1800),
    },
    Category {
        name: "Apparel",
        classes: &[],
        items: &[
            "Merino Beanie",
            "Rain Jacket",
            "Wool Socks",
            "Cotton T-Shirt",
            "Fleece Hoodie",
            "Leather Gloves",
            "Linen Scarf",
            "Running Cap",
            "Canvas Tote",
            "Denim Apron",
        ],
        price_range: (900, 14900),
        weight_range: (60, 900),
    },
];

struct Place {
    code: &'static str,
    name: &'static str,
    kind: &'static str,
    city: &'static str,
    country: &'static str,
    lat: f64,
    lon: f64,
    priority: i32,
}

const LOCATIONS: &[Place] = &[
    Place {
        code: "WH-BER",
        name: "Berlin warehouse",
        kind: "warehouse",
        city: "Berlin",
        country: "DE",
        lat: 52.52,
        lon: 13.405,
        priority: 10,
    },
    Place {
        code: "WH-MUC",
        name: "Munich warehouse",
        kind: "warehouse",
        city: "Munich",
        country: "DE",
        lat: 48.137,
        lon: 11.575,
        priority: 20,
    },
    Place {
        code: "WH-HAM",
        name: "Hamburg warehouse",
        kind: "warehouse",
        city: "Hamburg",
        country: "DE",
        lat: 53.551,
        lon: 9.993,
        priority: 30,
    },
    Place {
        code: "STORE-CGN",
        name: "Cologne store",
        kind: "store",
        city: "Cologne",
        country: "DE",
        lat: 50.938,
        lon: 6.96,
        priority: 50,
    },
    Place {
        code: "3PL-PRG",
        name: "Prague 3PL",
        kind: "3pl",
        city: "Prague",
        country: "CZ",
        lat: 50.075,
        lon: 14.437,
        priority: 40,
    },
    Place {
        code: "FBA-LEJ",
        name: "Marketplace fulfilment Leipzig",
        kind: "marketplace",
        city: "Leipzig",
        country: "DE",
        lat: 51.34,
        lon: 12.375,
        priority: 60,
    },
];

/// (code, name, kind, currency, locations, weight of order volume)
const CHANNELS: &[(&str, &str, &str, &str, &[&str], u32)] = &[
    (
        "WEB",
        "Own web store",
        "web",
        "EUR",
        &["WH-BER", "WH-MUC", "WH-HAM", "STORE-CGN", "3PL-PRG"],
        30,
    ),
    (
        "SHOPIFY",
        "Shopify store",
        "shopify",
        "EUR",
        &["WH-BER", "WH-MUC", "WH-HAM", "3PL-PRG"],
        25,
    ),
    (
        "WOO-UK",
        "WooCommerce UK",
        "woocommerce",
        "GBP",
        &["WH-HAM", "3PL-PRG"],
        10,
    ),
    (
        "AMAZON-DE",
        "Amazon.de",
        "amazon",
        "EUR",
        &["FBA-LEJ", "WH-BER"],
        25,
    ),
    (
        "EBAY-US",
        "eBay US",
        "ebay",
        "USD",
        &["WH-HAM", "WH-BER"],
        10,
    ),
];

const FIRST_NAMES: &[&str] = &[
    "Anna", "Ben", "Clara", "David", "Emma", "Felix", "Greta", "Hugo", "Ida", "Jonas", "Klara",
    "Leon", "Mia", "Noah", "Olivia", "Paul", "Rosa", "Samuel", "Tara", "Uwe",
];
const LAST_NAMES: &[&str] = &[
    "Schmidt", "Müller", "Weber", "Fischer", "Wagner", "Becker", "Hoffmann", "Novak", "Dvořák",
    "Smith", "Jones", "Brown", "Garcia", "Meyer", "Koch",
];
const CITIES: &[(&str, &str, &str)] = &[
    ("Berlin", "10115", "DE"),
    ("Hamburg", "20095", "DE"),
    ("Munich", "80331", "DE"),
    ("Cologne", "50667", "DE"),
    ("Frankfurt", "60311", "DE"),
    ("Leipzig", "04109", "DE"),
    ("Prague", "11000", "CZ"),
    ("Vienna", "1010", "AT"),
    ("London", "SW1A 1AA", "GB"),
    ("Manchester", "M1 1AE", "GB"),
    ("New York", "10001", "US"),
    ("Austin", "73301", "US"),
];

/// Shops keep display stock and cannot ship dangerous or cold goods; the 3PL has a daily
/// intake limit and costs more per parcel than the own warehouses.
fn location_routing(kind: &str) -> ordo_domain::catalog::LocationRoutingInput {
    let (handling, capacity, safety, cannot_ship): (&str, Option<i64>, i64, &[&str]) = match kind {
        "store" => ("3.00", Some(40), 2, &["hazmat", "perishable"]),
        "3pl" => ("2.00", Some(400), 0, &[]),
        "marketplace" => ("0.00", None, 0, &["hazmat"]),
        _ => ("1.00", None, 0, &[]),
    };
    ordo_domain::catalog::LocationRoutingInput {
        handling_cost: Some(handling.into()),
        daily_capacity: capacity,
        safety_stock: Some(safety),
        cannot_ship: cannot_ship.iter().map(|c| c.to_string()).collect(),
        utc_offset: Some("+01:00".into()),
    }
}

/// Pick bins in the own warehouses (aisles by popularity, so the best sellers sit near the
/// start) and the carrier services shipments choose among.
async fn warehouse_setup(store: &Arc<dyn Store>, skus: &[Sku]) -> anyhow::Result<()> {
    for (zone, code) in [("A", "WH-BER"), ("B", "WH-MUC"), ("C", "WH-HAM")] {
        let bins = skus
            .iter()
            .enumerate()
            .map(|(i, sku)| ordo_store::SkuBin {
                sku: sku.code.clone(),
                bin: format!(
                    "{zone}-{:02}-{:02}-{}",
                    i / 12 + 1,
                    i % 12 / 2 + 1,
                    i % 2 + 1
                ),
            })
            .collect();
        store.put_sku_bins(code, bins, &ctx()).await?;
    }
    let service = |code: &str, level: &str, days: u32, base: i64| {
        // Heavier parcels and farther zones cost more.
        let rates: Vec<serde_json::Value> = ["DE", "AT", "CZ", "GB", "US"]
            .iter()
            .enumerate()
            .flat_map(|(z, zone)| {
                [(2000, 0), (10000, 250), (30000, 700)]
                    .into_iter()
                    .map(move |(w, extra)| {
                        serde_json::json!({"zone": zone, "max_weight_g": w, "price_minor": base + extra + z as i64 * 300})
                    })
            })
            .collect();
        let cutoffs: Vec<serde_json::Value> = ["WH-BER", "WH-MUC", "WH-HAM", "STORE-CGN"]
            .iter()
            .map(|l| serde_json::json!({"location": l, "time": "16:00"}))
            .collect();
        serde_json::json!({
            "carrier": "own_fleet", "code": code, "name": code, "level": level,
            "transit_days": days, "weekend_delivery": false, "max_weight_g": 30000,
            "rates": rates, "cutoffs": cutoffs
        })
    };
    let services = serde_json::from_value(serde_json::json!([
        service("ground", "ground", 4, 390),
        service("standard", "standard", 2, 490),
        service("express", "express", 1, 990),
    ]))?;
    store.put_carrier_services(services, &ctx()).await?;
    Ok(())
}

/// An older order's warehouse history: outside fulfillers accept their requests; own
/// locations pack (every other order through the pack station) and ship; most are delivered.
async fn fulfil(
    store: &Arc<dyn Store>,
    order: &ordo_domain::order::Order,
    roll: u32,
    age: time::Duration,
) -> anyhow::Result<()> {
    use ordo_domain::fulfillment::{FulfillmentStatus, RequestAction, RequestStatus};
    for fo in &order.fulfillment_orders {
        if fo.status != FulfillmentStatus::Open || fo.lines.is_empty() {
            continue;
        }
        let outside = fo.request_status.is_some();
        if fo.request_status == Some(RequestStatus::Unsubmitted) {
            for action in [RequestAction::Submit, RequestAction::Accept] {
                let change = ordo_store::FulfillmentChange::Request {
                    id: fo.id.clone(),
                    action,
                    reason: None,
                };
                store.change_fulfillment(change, &ctx()).await?;
            }
        }
        if !outside && roll.is_multiple_of(2) {
            let input = ordo_store::PackInput {
                scans: fo
                    .lines
                    .iter()
                    .map(|l| ordo_store::PackScanInput {
                        sku: Some(l.sku.clone()),
                        barcode: None,
                        quantity: Some(l.quantity),
                    })
                    .collect(),
                boxes: None,
                weight_g: None,
            };
            // A unit too big for every box is shipped as it is.
            let _ = store.pack_fulfillment_order(&fo.id, input, &ctx()).await;
        }
        let shipment = ordo_domain::shipment::ShipmentInput {
            fulfillment_order: Some(fo.id.clone()),
            carrier: Some(if outside { "manual" } else { "own_fleet" }.into()),
            service: Some("standard".into()),
            tracking_number: outside.then(|| {
                format!(
                    "{}{}",
                    fo.location.replace('-', ""),
                    order.number.replace('-', "")
                )
            }),
            packages: Vec::new(),
        }
        .validate()?;
        let ordo_store::Outcome::Done(shipped) = store.create_shipment(shipment, &ctx()).await?
        else {
            continue;
        };
        let status = if age > time::Duration::days(5) && !roll.is_multiple_of(13) {
            "delivered"
        } else if roll.is_multiple_of(29) {
            "exception"
        } else {
            "in_transit"
        };
        let event = ordo_domain::shipment::TrackingEventInput {
            status: Some(status.into()),
            at: None,
            detail: Some(
                if status == "exception" {
                    "address not found"
                } else {
                    "carrier scan"
                }
                .into(),
            ),
        }
        .validate(time::OffsetDateTime::now_utc())?;
        store
            .add_tracking_event(&shipped.value.id, event, &ctx())
            .await?;
    }
    Ok(())
}

/// A small rule set a merchant might start from.
fn demo_rules() -> serde_json::Value {
    serde_json::json!([
        {"name": "UK ships from Hamburg", "conditions": {"countries": ["GB"]},
         "actions": {"prefer_locations": ["WH-HAM"], "add_tags": ["uk"]}},
        {"name": "Express never from the shop", "conditions": {"service_levels": ["express"]},
         "actions": {"exclude_locations": ["STORE-CGN"], "set_priority": 10}},
        {"name": "Review very large orders", "conditions": {"order_value": {"min": 150000}},
         "actions": {"hold": "order over 1,500.00: check before shipping"}}
    ])
}

fn ctx() -> WriteContext {
    WriteContext {
        actor: "demo".into(),
        idempotency_key: None,
    }
}

fn money(minor: i64) -> String {
    ordo_domain::money::format_amount(minor, 2)
}

struct Sku {
    code: String,
    price: i64,
    /// Relative popularity: a few hot SKUs, a long tail.
    weight: f64,
}

pub async fn generate(store: &Arc<dyn Store>, seed: u64, days: i64) -> anyhow::Result<usize> {
    let mut rng = StdRng::seed_from_u64(seed);
    for p in LOCATIONS {
        let input = LocationInput {
            code: Some(p.code.into()),
            name: Some(p.name.into()),
            kind: Some(p.kind.into()),
            address: Some(Address {
                city: Some(p.city.into()),
                country: Some(p.country.into()),
                line1: Some("Logistikstraße 1".into()),
                ..Default::default()
            }),
            latitude: Some(p.lat),
            longitude: Some(p.lon),
            priority: Some(p.priority),
            ships_to: if p.kind == "store" {
                vec!["DE".into()]
            } else {
                vec![]
            },
            active: Some(true),
            routing: Some(location_routing(p.kind)),
            // The own warehouses label parcels with SSCCs under the shop's GS1 prefix.
            gs1_company_prefix: (p.kind == "warehouse").then(|| "4012345".to_string()),
        };
        store.put_location(input.validate()?, &ctx()).await?;
    }
    for (code, name, kind, currency, locations, _) in CHANNELS {
        let input = ChannelInput {
            code: Some((*code).into()),
            name: Some((*name).into()),
            kind: Some((*kind).into()),
            currency: Some((*currency).into()),
            locations: locations.iter().map(|l| l.to_string()).collect(),
            buffer: Some(if *kind == "amazon" { 2 } else { 0 }),
            max_listed: if *kind == "ebay" { Some(50) } else { None },
            active: Some(true),
            // Marketplace orders ship in one parcel unless they are worth a second one.
            split_policy: Some(
                if *kind == "amazon" || *kind == "ebay" {
                    "allow_if_order_value_above"
                } else {
                    "allow"
                }
                .into(),
            ),
            split_order_value_above: (*kind == "amazon" || *kind == "ebay")
                .then(|| "150.00".to_string()),
        };
        store.put_channel(input.validate()?, &ctx()).await?;
    }
    store.put_routing_rules(demo_rules(), None, &ctx()).await?;
    let mut skus = Vec::new();
    for (ci, cat) in CATEGORIES.iter().enumerate() {
        for (ii, item) in cat.items.iter().enumerate() {
            let code = format!("{}-{:03}", &cat.name[..3].to_ascii_uppercase(), ii + 1);
            let price = rng.random_range(cat.price_range.0..=cat.price_range.1) / 10 * 10 + 9;
            let rank = (ci * 10 + ii) as f64;
            let weight = if rng.random_bool(0.08) {
                12.0
            } else {
                1.0 / (1.0 + rank * 0.05)
            };
            let input = ProductInput {
                sku: Some(code.clone()),
                name: Some((*item).into()),
                barcode: Some(with_check_digit(&format!(
                    "400{:09}",
                    1_000_000 + ci * 1000 + ii
                ))),
                category: Some(cat.name.into()),
                handling_classes: cat.classes.iter().map(|c| c.to_string()).collect(),
                weight_g: Some(rng.random_range(cat.weight_range.0..=cat.weight_range.1)),
                dimensions: Some(ordo_domain::catalog::Dimensions {
                    length_mm: rng.random_range(80..600),
                    width_mm: rng.random_range(60..400),
                    height_mm: rng.random_range(20..300),
                }),
                unit_cost: Some(money(price * 45 / 100)),
                price: Some(money(price)),
                currency: Some("EUR".into()),
                active: Some(true),
            };
            store.put_product(input.validate()?, &ctx()).await?;
            skus.push(Sku {
                code,
                price,
                weight,
            });
        }
    }

    // Order volume: growth over the period, weekly seasonality (weekend peak), noise.
    let total_weight: f64 = skus.iter().map(|s| s.weight).sum();
    let now = OffsetDateTime::now_utc().replace_nanosecond(0)?;
    let start = now - Duration::days(days);
    let mut orders = Vec::new();
    let mut expected_units = vec![0i64; skus.len()];
    for day in 0..days {
        let date = start + Duration::days(day);
        let weekday = date.weekday().number_days_from_monday();
        let season = [0.9, 0.85, 0.9, 0.95, 1.1, 1.3, 1.25][weekday as usize];
        let growth = 1.0 + 0.6 * day as f64 / days as f64;
        let count = (45.0 * season * growth * rng.random_range(0.85..1.15)) as usize;
        for _ in 0..count {
            let at = date + Duration::seconds(rng.random_range(0..86_400));
            let channel_pick = rng.random_range(0..100);
            let mut acc = 0;
            let channel = CHANNELS.iter().find(|c| {
                acc += c.5;
                channel_pick < acc
            });
            let (code, _, _, currency, _, _) = channel.unwrap_or(&CHANNELS[0]);
            let n_lines = [1, 1, 1, 2, 2, 3, 4][rng.random_range(0..7)];
            let mut lines: Vec<(usize, i64)> = Vec::new();
            while lines.len() < n_lines {
                let mut target = rng.random_range(0.0..total_weight);
                let idx = skus.iter().position(|s| {
                    target -= s.weight;
                    target <= 0.0
                });
                let idx = idx.unwrap_or(skus.len() - 1);
                if !lines.iter().any(|(i, _)| *i == idx) {
                    let q = if rng.random_bool(0.85) {
                        1
                    } else {
                        rng.random_range(2..4)
                    };
                    expected_units[idx] += q;
                    lines.push((idx, q));
                }
            }
            orders.push((
                at,
                code.to_string(),
                currency.to_string(),
                lines,
                rng.random_range(0..1500u32),
                rng.random_range(0..100u32),
            ));
        }
    }
    orders.sort_by_key(|o| o.0);

    // Stock: enough for most demand, spread over warehouses; a few SKUs run short or out.
    for (i, sku) in skus.iter().enumerate() {
        let scarcity = match i % 17 {
            0 => 0.0,
            5 => 0.5,
            11 => 0.8,
            _ => 1.25,
        };
        let mut total = (expected_units[i] as f64 * scarcity) as i64
            + if scarcity > 1.0 {
                rng.random_range(5..30)
            } else {
                0
            };
        let shares = [
            ("WH-BER", 35),
            ("WH-MUC", 20),
            ("WH-HAM", 15),
            ("3PL-PRG", 10),
            ("FBA-LEJ", 15),
            ("STORE-CGN", 5),
        ];
        let all = total;
        for (loc, pct) in shares {
            let q = (all * pct / 100).min(total);
            total -= q;
            if q > 0 {
                let w = AdjustmentInput {
                    sku: Some(sku.code.clone()),
                    location: Some(loc.into()),
                    state: Some("on_hand".into()),
                    delta: Some(q),
                    reason: Some("received".into()),
                    reference: Some(format!("po:PO-{:04}", 1000 + i)),
                };
                store.write_stock(w.validate()?, &ctx()).await?;
            }
        }
    }

    warehouse_setup(store, &skus).await?;
    // Capture in chronological waves; within a wave the writer batches them. Orders older
    // than two days have been through the warehouse: packed, shipped, most delivered.
    let now = time::OffsetDateTime::now_utc();
    let count = orders.len();
    for wave in orders.chunks(256) {
        let mut tasks = tokio::task::JoinSet::new();
        for (n, (at, channel, currency, lines, customer, roll)) in wave.iter().cloned().enumerate()
        {
            let store = store.clone();
            let first = FIRST_NAMES[customer as usize % FIRST_NAMES.len()];
            let last = LAST_NAMES[(customer as usize / FIRST_NAMES.len()) % LAST_NAMES.len()];
            let (city, postal, country) = CITIES[customer as usize % CITIES.len()];
            let name = format!("{first} {last}");
            let input = OrderInput {
                channel: Some(channel.clone()),
                external_id: Some(format!(
                    "{}-{}",
                    channel.to_ascii_lowercase(),
                    at.unix_timestamp() * 1000 + n as i64
                )),
                placed_at: Some(at.format(&time::format_description::well_known::Rfc3339)?),
                currency: Some(currency.clone()),
                customer: Some(CustomerInput {
                    email: Some(format!(
                        "{}.{}{customer}@example.com",
                        first.to_lowercase(),
                        last.to_lowercase().replace(['ü', 'ř', 'á'], "u")
                    )),
                    name: Some(name.clone()),
                    phone: None,
                }),
                shipping_address: Some(Address {
                    name: Some(name),
                    line1: Some(format!("{} Hauptstraße", customer % 90 + 1)),
                    city: Some(city.into()),
                    postal_code: Some(postal.into()),
                    country: Some(country.into()),
                    ..Default::default()
                }),
                billing_address: None,
                lines: lines
                    .iter()
                    .map(|(i, q)| LineInput {
                        sku: Some(skus[*i].code.clone()),
                        quantity: Some(*q),
                        unit_price: Some(money(skus[*i].price)),
                        discount: Some(if roll % 7 == 0 {
                            money(skus[*i].price * q / 10)
                        } else {
                            "0.00".into()
                        }),
                        tax: Some(money(skus[*i].price * q * 19 / 119)),
                    })
                    .collect(),
                shipping: Some(ShippingInput {
                    method: Some("standard".into()),
                    service_level: Some(if roll % 5 == 0 { "express" } else { "standard" }.into()),
                    price: Some(if roll % 5 == 0 { "9.90" } else { "4.90" }.into()),
                    promised_by: None,
                }),
                payment: Some(PaymentInput {
                    status: Some(if roll < 3 { "pending" } else { "paid" }.into()),
                    method: Some("card".into()),
                    reference: None,
                }),
                tags: if roll % 11 == 0 {
                    vec!["gift".into()]
                } else {
                    vec![]
                },
                notes: None,
                priority: Some(if roll % 23 == 0 { 10 } else { 0 }),
            };
            let age = now - at;
            tasks.spawn(async move {
                let order = input.validate(at)?;
                let captured = store.capture_order(order, &ctx()).await?;
                let ordo_store::Outcome::Done(captured) = captured else {
                    return anyhow::Ok(());
                };
                let number = captured.value.number.clone();
                // A few orders move on through the lifecycle.
                if (3..7).contains(&roll) {
                    let change = OrderChange {
                        transition: ordo_domain::order::Transition::Cancel,
                        hold_reason: None,
                        note: Some("customer changed their mind".into()),
                    };
                    store.transition_order(&number, change, &ctx()).await?;
                } else if roll == 7 {
                    let change = OrderChange {
                        transition: ordo_domain::order::Transition::Hold,
                        hold_reason: Some(ordo_domain::order::HoldReason::FraudReview),
                        note: Some("billing and shipping country differ".into()),
                    };
                    store.transition_order(&number, change, &ctx()).await?;
                } else if age > time::Duration::days(2) && roll >= 8 {
                    fulfil(&store, &captured.value, roll, age).await?;
                }
                Ok(())
            });
        }
        while let Some(done) = tasks.join_next().await {
            done??;
        }
    }
    Ok(count)
}

pub async fn run(args: DemoArgs) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    if !args.keep {
        for suffix in ["", "-wal", "-shm"] {
            let mut p = args.db.clone().into_os_string();
            p.push(suffix);
            let _ = std::fs::remove_file(PathBuf::from(p));
        }
    }
    let url = format!("sqlite://{}", args.db.display());
    let store = crate::store::open(&url).await?;
    let fresh = store.count_api_keys().await? == 0;
    let mut extra = Vec::new();
    if fresh {
        let orders = generate(&store, args.seed, args.days).await?;
        for role in [
            Role::Admin,
            Role::Manager,
            Role::Warehouse,
            Role::Support,
            Role::Readonly,
        ] {
            let password = format!("demo-{}", role.as_str());
            let hash = ordo_http::auth::hash_password(&password).map_err(anyhow::Error::msg)?;
            store.create_user(role.as_str(), role, &hash).await?;
        }
        extra.push(format!(
            "demo data: {orders} orders over {} days (seed {}) in {:.1} s",
            args.days,
            args.seed,
            started.elapsed().as_secs_f64()
        ));
    }
    let token = ordo_http::auth::generate_token();
    store
        .create_api_key(
            "demo admin",
            ordo_store::Role::Admin,
            &ordo_http::auth::hash_token(&token),
        )
        .await?;
    extra.push(format!("admin key: {token}"));
    extra.push("web users (username / password): admin / demo-admin, manager / demo-manager, warehouse / demo-warehouse, support / demo-support, readonly / demo-readonly".into());
    extra.push(format!(
        "try:     curl -H 'Authorization: Bearer {token}' http://{}/api/v1/orders?limit=5",
        args.listen
    ));
    if args.no_serve {
        for l in &extra {
            println!("{l}");
        }
        store.close().await;
        return Ok(ExitCode::SUCCESS);
    }
    let mut key_file = args.db.clone().into_os_string();
    key_file.push(".key");
    let key_file = PathBuf::from(key_file);
    let _live = if args.live {
        let secrets = ordo_connectors::secrets::SecretBox::load(&key_file)?;
        let live = crate::live::start(store.clone(), secrets, args.listen, args.seed).await?;
        extra.extend(live.banner.iter().cloned());
        Some(live)
    } else {
        None
    };
    crate::serve::serve_store(store, args.listen, &key_file, &extra).await?;
    Ok(ExitCode::SUCCESS)
}
