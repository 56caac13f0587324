//! What the benchmark sends: the reference data, the stock, and the order bodies.

use std::fmt::Write as _;
use std::sync::Arc;

use bytes::Bytes;
use rand::Rng;
use rand::rngs::SmallRng;
use serde_json::json;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum Scenario {
    /// Ordinary trading: Zipf-popular SKUs, plenty of stock, a few hot SKUs run out.
    Mixed,
    /// Every order wants one of three hot SKUs with little stock; most end backordered.
    FlashSale,
    /// Like `mixed`, but 30 % of requests re-send an order that was already acknowledged.
    ReplayStorm,
}

impl Scenario {
    pub const ALL: [Scenario; 3] = [Scenario::Mixed, Scenario::FlashSale, Scenario::ReplayStorm];

    pub fn name(self) -> &'static str {
        match self {
            Scenario::Mixed => "mixed",
            Scenario::FlashSale => "flash-sale",
            Scenario::ReplayStorm => "replay-storm",
        }
    }

    pub fn replay_fraction(self) -> f64 {
        if self == Scenario::ReplayStorm {
            0.3
        } else {
            0.0
        }
    }
}

pub struct LocationDef {
    pub code: &'static str,
    pub name: &'static str,
    pub kind: &'static str,
    pub priority: i64,
    pub latitude: f64,
    pub longitude: f64,
    pub city: &'static str,
    pub country: &'static str,
}

pub const LOCATIONS: [LocationDef; 5] = [
    LocationDef {
        code: "BER-WH",
        name: "Berlin warehouse",
        kind: "warehouse",
        priority: 10,
        latitude: 52.52,
        longitude: 13.40,
        city: "Berlin",
        country: "DE",
    },
    LocationDef {
        code: "HAM-WH",
        name: "Hamburg warehouse",
        kind: "warehouse",
        priority: 20,
        latitude: 53.55,
        longitude: 9.99,
        city: "Hamburg",
        country: "DE",
    },
    LocationDef {
        code: "MUC-ST",
        name: "Munich store",
        kind: "store",
        priority: 40,
        latitude: 48.14,
        longitude: 11.58,
        city: "Munich",
        country: "DE",
    },
    LocationDef {
        code: "CGN-ST",
        name: "Cologne store",
        kind: "store",
        priority: 50,
        latitude: 50.94,
        longitude: 6.96,
        city: "Cologne",
        country: "DE",
    },
    LocationDef {
        code: "LEJ-3PL",
        name: "Leipzig fulfilment partner",
        kind: "3pl",
        priority: 30,
        latitude: 51.34,
        longitude: 12.37,
        city: "Leipzig",
        country: "DE",
    },
];

/// (code, name, kind)
pub const CHANNELS: [(&str, &str, &str); 3] = [
    ("web", "Web shop", "web"),
    ("shopify", "Shopify store", "shopify"),
    ("amazon", "Amazon DE", "amazon"),
];

/// Orders are spread over channels roughly like a typical merchant: web first.
const CHANNEL_WEIGHTS: [u32; 3] = [55, 30, 15];

const CATEGORIES: [&str; 6] = [
    "apparel",
    "shoes",
    "accessories",
    "home",
    "beauty",
    "outdoor",
];
pub const CITIES: [(&str, &str); 6] = [
    ("Berlin", "10115"),
    ("Hamburg", "20095"),
    ("Munich", "80331"),
    ("Cologne", "50667"),
    ("Frankfurt", "60311"),
    ("Leipzig", "04109"),
];

pub const CUSTOMER_POOL: u32 = 50_000;
/// Zipf exponent of SKU popularity.
const ZIPF_S: f64 = 1.1;
/// SKUs (popularity ranks, 0 = most popular) that sell out during `mixed`/`replay-storm`:
/// popular, but not the very top sellers, so only a realistic share of orders is affected.
pub const SCARCE_SKUS: [usize; 5] = [3, 7, 14, 24, 39];
pub const SCARCE_PER_LOCATION: i64 = 50;
/// Every other SKU gets stock in proportion to its popularity, at least this much.
pub const MIN_PER_LOCATION: i64 = 200;
/// Units the server could plausibly sell per second; stock is sized so that only the
/// scarce SKUs run out even on fast machines.
pub const UNITS_PER_SECOND: i64 = 25_000;
/// Each SKU is stocked in this many of the locations.
pub const LOCATIONS_PER_SKU: usize = 3;
/// Flash sale: the hot SKUs are the most popular ones and are stocked everywhere.
pub const FLASH_HOT_SKUS: usize = 3;
pub const FLASH_HOT_TOTAL: i64 = 200;

pub struct Catalog {
    pub skus: Vec<String>,
    pub prices: Vec<i64>,
    cdf: Vec<f64>,
}

impl Catalog {
    pub fn new(n: usize) -> Arc<Catalog> {
        let n = n.max(FLASH_HOT_SKUS + 5);
        let skus = (0..n).map(sku_code).collect();
        let prices = (0..n)
            .map(|i| 499 + ((i as i64 * 7919) % 120) * 50)
            .collect();
        let mut cdf = Vec::with_capacity(n);
        let mut acc = 0.0;
        for rank in 1..=n {
            acc += 1.0 / (rank as f64).powf(ZIPF_S);
            cdf.push(acc);
        }
        for c in &mut cdf {
            *c /= acc;
        }
        Arc::new(Catalog { skus, prices, cdf })
    }

    pub fn len(&self) -> usize {
        self.skus.len()
    }

    /// A SKU index; index 0 is the most popular.
    pub fn zipf(&self, rng: &mut SmallRng) -> usize {
        let u: f64 = rng.random();
        self.cdf
            .partition_point(|&c| c < u)
            .min(self.skus.len() - 1)
    }

    /// The locations (indexes into [`LOCATIONS`]) that stock SKU `i` in the steady scenarios.
    pub fn stocked_at(i: usize) -> impl Iterator<Item = usize> {
        (0..LOCATIONS_PER_SKU).map(move |k| (i + k) % LOCATIONS.len())
    }

    /// The probability that a sampled SKU is `i`.
    pub fn share(&self, i: usize) -> f64 {
        self.cdf[i] - if i == 0 { 0.0 } else { self.cdf[i - 1] }
    }

    /// `(sku, location, quantity)` for every stock adjustment the scenario needs, for a run
    /// of `seconds` of load.
    pub fn stock_plan(&self, scenario: Scenario, seconds: u64) -> Vec<(usize, usize, i64)> {
        let budget = UNITS_PER_SECOND as f64 * seconds.max(10) as f64;
        let mut plan = Vec::new();
        for i in 0..self.len() {
            if scenario == Scenario::FlashSale && i < FLASH_HOT_SKUS {
                let per = FLASH_HOT_TOTAL / LOCATIONS.len() as i64;
                plan.extend((0..LOCATIONS.len()).map(|l| (i, l, per)));
                continue;
            }
            let qty = if scenario != Scenario::FlashSale && SCARCE_SKUS.contains(&i) {
                SCARCE_PER_LOCATION
            } else {
                let wanted = (self.share(i) * budget / LOCATIONS_PER_SKU as f64).ceil() as i64;
                wanted.max(MIN_PER_LOCATION)
            };
            plan.extend(Self::stocked_at(i).map(|l| (i, l, qty)));
        }
        plan
    }

    /// The `(sku index, quantity)` lines of one order: 1–5 distinct SKUs.
    pub fn order_lines(&self, scenario: Scenario, rng: &mut SmallRng, out: &mut Vec<(usize, i64)>) {
        out.clear();
        let roll = rng.random_range(0..100u32);
        let mut count = match roll {
            0..40 => 1,
            40..65 => 2,
            65..80 => 3,
            80..90 => 4,
            _ => 5,
        };
        if scenario == Scenario::FlashSale {
            out.push((rng.random_range(0..FLASH_HOT_SKUS), 1));
            count = rng.random_range(0..3);
        }
        let mut tries = 0;
        while out.len() < count + usize::from(scenario == Scenario::FlashSale) && tries < 50 {
            tries += 1;
            let sku = self.zipf(rng);
            if scenario == Scenario::FlashSale && sku < FLASH_HOT_SKUS {
                continue;
            }
            if out.iter().any(|&(s, _)| s == sku) {
                continue;
            }
            let qty = match rng.random_range(0..100u32) {
                0..85 => 1,
                85..97 => 2,
                _ => 3,
            };
            out.push((sku, qty));
        }
    }
}

pub fn sku_code(i: usize) -> String {
    format!("SKU-{:06}", i + 1)
}

pub fn money(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    format!("{sign}{}.{:02}", cents.abs() / 100, cents.abs() % 100)
}

pub fn push_money(buf: &mut String, cents: i64) {
    let _ = write!(buf, "{}.{:02}", cents / 100, cents % 100);
}

pub fn product_body(catalog: &Catalog, i: usize) -> serde_json::Value {
    let price = catalog.prices[i];
    json!({
        "name": format!("Product {}", i + 1),
        "price": money(price),
        "unit_cost": money(price * 2 / 5),
        "currency": "EUR",
        "weight_g": 150 + (i % 20) * 50,
        "category": CATEGORIES[i % CATEGORIES.len()],
    })
}

pub fn location_body(l: &LocationDef) -> serde_json::Value {
    json!({
        "name": l.name,
        "kind": l.kind,
        "priority": l.priority,
        "latitude": l.latitude,
        "longitude": l.longitude,
        "address": {"city": l.city, "country": l.country},
    })
}

pub fn channel_body(name: &str, kind: &str) -> serde_json::Value {
    json!({"name": name, "kind": kind, "currency": "EUR", "locations": []})
}

pub fn adjustment_body(sku: &str, location: &str, delta: i64) -> serde_json::Value {
    json!({"sku": sku, "location": location, "state": "on_hand", "delta": delta, "reason": "received"})
}

/// Builds order bodies into one reused buffer; the only per-order allocation is the
/// final copy into `Bytes`, which hyper needs to own.
pub struct OrderWriter {
    catalog: Arc<Catalog>,
    scenario: Scenario,
    run: String,
    buf: String,
    lines: Vec<(usize, i64)>,
}

impl OrderWriter {
    pub fn new(catalog: Arc<Catalog>, scenario: Scenario, run: &str) -> Self {
        OrderWriter {
            catalog,
            scenario,
            run: run.to_string(),
            buf: String::with_capacity(2048),
            lines: Vec::new(),
        }
    }

    pub fn pick_channel(rng: &mut SmallRng) -> usize {
        let total: u32 = CHANNEL_WEIGHTS.iter().sum();
        let mut r = rng.random_range(0..total);
        for (i, w) in CHANNEL_WEIGHTS.iter().enumerate() {
            if r < *w {
                return i;
            }
            r -= w;
        }
        0
    }

    /// The body of a new order with external id `b-<run>-<key>`.
    pub fn order(&mut self, key: u64, rng: &mut SmallRng) -> Bytes {
        let channel = CHANNELS[Self::pick_channel(rng)].0;
        let customer = rng.random_range(0..CUSTOMER_POOL);
        let (city, postal) = CITIES[customer as usize % CITIES.len()];
        self.catalog
            .order_lines(self.scenario, rng, &mut self.lines);
        let b = &mut self.buf;
        b.clear();
        let _ = write!(
            b,
            r#"{{"channel":"{channel}","external_id":"b-{run}-{key}","currency":"EUR","customer":{{"email":"c{customer}@example.com","name":"Customer {customer}"}},"shipping_address":{{"name":"Customer {customer}","line1":"Main St {street}","city":"{city}","postal_code":"{postal}","country":"DE"}},"lines":["#,
            run = self.run,
            street = customer % 200 + 1,
        );
        for (n, &(sku, qty)) in self.lines.iter().enumerate() {
            let price = self.catalog.prices[sku];
            let discount = if rng.random_range(0..10u32) == 0 {
                price * qty / 10
            } else {
                0
            };
            // German VAT is included in the price: net × 19/119.
            let tax = ((price * qty - discount) * 19 + 59) / 119;
            if n > 0 {
                b.push(',');
            }
            let _ = write!(
                b,
                r#"{{"sku":"{}","quantity":{qty},"unit_price":""#,
                self.catalog.skus[sku]
            );
            push_money(b, price);
            b.push_str(r#"","discount":""#);
            push_money(b, discount);
            b.push_str(r#"","tax":""#);
            push_money(b, tax);
            b.push_str(r#""}"#);
        }
        let express = rng.random_range(0..5u32) == 0;
        let (method, price) = if express {
            ("express", 990)
        } else {
            ("standard", 490)
        };
        let _ = write!(b, r#"],"shipping":{{"method":"{method}","price":""#);
        push_money(b, price);
        b.push_str(r#""},"payment":{"status":"paid","method":"card"}}"#);
        Bytes::copy_from_slice(b.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn order_bodies_are_valid_json_with_distinct_skus() {
        let catalog = Catalog::new(200);
        let mut rng = SmallRng::seed_from_u64(7);
        for scenario in Scenario::ALL {
            let mut w = OrderWriter::new(catalog.clone(), scenario, "t");
            for key in 0..500 {
                let body = w.order(key, &mut rng);
                let v: serde_json::Value = serde_json::from_slice(&body).expect("json");
                let lines = v["lines"].as_array().expect("lines");
                assert!((1..=5).contains(&lines.len()), "{v}");
                let mut skus: Vec<&str> =
                    lines.iter().map(|l| l["sku"].as_str().unwrap()).collect();
                skus.sort();
                skus.dedup();
                assert_eq!(skus.len(), lines.len());
                if scenario == Scenario::FlashSale {
                    let hot = lines.iter().filter(|l| {
                        let s = l["sku"].as_str().unwrap();
                        (0..FLASH_HOT_SKUS).any(|i| sku_code(i) == s)
                    });
                    assert_eq!(hot.count(), 1);
                }
            }
        }
    }

    #[test]
    fn zipf_prefers_popular_skus() {
        let catalog = Catalog::new(1000);
        let mut rng = SmallRng::seed_from_u64(1);
        let mut hits = vec![0u32; catalog.len()];
        for _ in 0..100_000 {
            hits[catalog.zipf(&mut rng)] += 1;
        }
        assert!(hits[0] > hits[1] && hits[1] > hits[10] && hits[10] > hits[500]);
        assert!(hits[0] > 10_000, "top SKU share {}", hits[0]);
    }

    #[test]
    fn only_scarce_skus_get_little_stock() {
        let catalog = Catalog::new(200);
        let plan = catalog.stock_plan(Scenario::Mixed, 4);
        let low: std::collections::BTreeSet<usize> = plan
            .iter()
            .filter(|p| p.2 < MIN_PER_LOCATION)
            .map(|p| p.0)
            .collect();
        assert_eq!(low.into_iter().collect::<Vec<_>>(), SCARCE_SKUS.to_vec());
        let top = plan.iter().find(|p| p.0 == 0).unwrap().2;
        assert!(top > 10_000, "{top}");
        let flash = catalog.stock_plan(Scenario::FlashSale, 4);
        let hot: i64 = flash
            .iter()
            .filter(|p| p.0 < FLASH_HOT_SKUS)
            .map(|p| p.2)
            .sum();
        assert_eq!(hot, FLASH_HOT_TOTAL * FLASH_HOT_SKUS as i64);
    }

    #[test]
    fn money_formats() {
        assert_eq!(money(1299), "12.99");
        assert_eq!(money(5), "0.05");
        assert_eq!(money(-150), "-1.50");
    }
}
