//! `--webhooks`: signed Shopify `orders/create` deliveries to `POST /hooks/shopify/{channel}`,
//! on N keep-alive connections and then on one, followed by the checks that matter for a
//! webhook receiver: every delivery answered 201 is exactly one order of the channel, a
//! redelivery (same webhook id) answers 200 and creates nothing, and the ledger verifies.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use bytes::Bytes;
use hdrhistogram::Histogram;
use hmac::{Hmac, Mac};
use hyper::Method;
use hyper::header::{HeaderName, HeaderValue};
use ordo_testkit::PgCluster;
use rand::rngs::{SmallRng, StdRng};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde::Deserialize;
use serde_json::json;
use sha2::Sha256;
use time::OffsetDateTime;
use time::format_description::BorrowedFormatItem;
use time::macros::format_description;
use uuid::Uuid;

use crate::client::Conn;
use crate::invariants::{self, Db};
use crate::load::{Window, histogram};
use crate::report::{Latency, Row};
use crate::server::{RssSampler, Server};
use crate::workload::{CITIES, CUSTOMER_POOL, Catalog, Scenario, channel_body, push_money};
use crate::{Config, Started, cpu_over_window, in_workdir, seed, server, tidy};

/// The name of the rows in the report.
pub const NAME: &str = "shopify orders/create";
/// The connection's `webhook_secret`: the key of every signature.
pub const SECRET: &str = "bench-secret";
/// Acknowledged deliveries sent again after the load.
pub const REDELIVERIES: usize = 100;

const HMAC_HEADER: HeaderName = HeaderName::from_static("x-shopify-hmac-sha256");
const WEBHOOK_ID: HeaderName = HeaderName::from_static("x-shopify-webhook-id");
const TOPIC: HeaderName = HeaderName::from_static("x-shopify-topic");
const SHOP: HeaderName = HeaderName::from_static("x-shopify-shop-domain");
const API_VERSION: HeaderName = HeaderName::from_static("x-shopify-api-version");

/// Shopify's timestamps: seconds, with the shop's UTC offset (Berlin, winter).
const TIMESTAMP: &[BorrowedFormatItem<'_>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]+01:00");

/// base64(HMAC-SHA256(secret, body)), as Shopify signs a delivery.
pub fn signature(secret: &str, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(body);
    B64.encode(mac.finalize().into_bytes())
}

/// Shopify order ids are large integers; each run, connection and request gets its own.
fn order_id(run: u64, connection: u64, n: u64) -> u64 {
    (1 << 52) | (run << 44) | (connection << 28) | n
}

/// One signed delivery, kept so that it can be sent again byte for byte.
#[derive(Clone)]
pub struct Delivery {
    pub order_id: u64,
    pub webhook_id: String,
    pub body: Bytes,
    pub signature: HeaderValue,
}

impl Delivery {
    fn new(order_id: u64, body: Bytes, rng: &mut SmallRng) -> Delivery {
        // Unique through the order id, random-looking like Shopify's.
        let webhook_id = Uuid::from_u128(((rng.random::<u64>() as u128) << 64) | order_id as u128)
            .hyphenated()
            .to_string();
        let signature = HeaderValue::from_str(&signature(SECRET, &body))
            .expect("base64 is a valid header value");
        Delivery {
            order_id,
            webhook_id,
            body,
            signature,
        }
    }
}

/// Sends `d` with the given webhook id (its own, or a new one for a redelivery of the same
/// order under a new event).
async fn deliver(
    conn: &mut Conn,
    path: &str,
    d: &Delivery,
    webhook_id: &str,
) -> Result<(u16, Bytes)> {
    let headers = [
        (HMAC_HEADER, d.signature.clone()),
        (WEBHOOK_ID, HeaderValue::from_str(webhook_id)?),
        (TOPIC, HeaderValue::from_static("orders/create")),
        (SHOP, HeaderValue::from_static("ordo-bench.myshopify.com")),
        (API_VERSION, HeaderValue::from_static("2025-07")),
    ];
    conn.send_with(Method::POST, path, Some(d.body.clone()), &headers)
        .await
}

struct Priced {
    sku: usize,
    qty: i64,
    price: i64,
    discount: i64,
    tax: i64,
}

/// Builds Shopify order payloads (the fields a real `orders/create` delivery carries that
/// matter for an order, plus the common bookkeeping ones) into one reused buffer.
pub struct ShopifyWriter {
    catalog: Arc<Catalog>,
    buf: String,
    lines: Vec<(usize, i64)>,
    priced: Vec<Priced>,
}

impl ShopifyWriter {
    pub fn new(catalog: Arc<Catalog>) -> Self {
        ShopifyWriter {
            catalog,
            buf: String::with_capacity(4096),
            lines: Vec::new(),
            priced: Vec::new(),
        }
    }

    /// The payload of order `id`, shown to the merchant as `#number`: 1–5 lines of
    /// Zipf-popular SKUs, German VAT included in the prices.
    pub fn order(&mut self, id: u64, number: u64, rng: &mut SmallRng) -> Bytes {
        let now = (OffsetDateTime::now_utc() + time::Duration::HOUR)
            .format(TIMESTAMP)
            .expect("timestamps format");
        let customer = rng.random_range(0..CUSTOMER_POOL);
        let (city, zip) = CITIES[customer as usize % CITIES.len()];
        self.catalog
            .order_lines(Scenario::Mixed, rng, &mut self.lines);
        self.priced.clear();
        for &(sku, qty) in &self.lines {
            let price = self.catalog.prices[sku];
            let discount = if rng.random_range(0..10u32) == 0 {
                price * qty / 10
            } else {
                0
            };
            let tax = ((price * qty - discount) * 19 + 59) / 119;
            self.priced.push(Priced {
                sku,
                qty,
                price,
                discount,
                tax,
            });
        }
        let (title, code, shipping) = if rng.random_range(0..5u32) == 0 {
            ("Express", "express", 990)
        } else {
            ("Standard", "standard", 490)
        };
        let subtotal: i64 = self
            .priced
            .iter()
            .map(|l| l.price * l.qty - l.discount)
            .sum();
        let discounts: i64 = self.priced.iter().map(|l| l.discount).sum();
        let tax: i64 = self.priced.iter().map(|l| l.tax).sum();

        let b = &mut self.buf;
        b.clear();
        let _ = write!(
            b,
            r##"{{"id":{id},"admin_graphql_api_id":"gid://shopify/Order/{id}","name":"#{number}","order_number":{number},"email":"c{customer}@example.com","created_at":"{now}","updated_at":"{now}","processed_at":"{now}","cancelled_at":null,"closed_at":null,"currency":"EUR","presentment_currency":"EUR","financial_status":"paid","fulfillment_status":null,"taxes_included":true,"source_name":"web","test":false,"total_price":""##,
        );
        push_money(b, subtotal + shipping);
        b.push_str(r#"","subtotal_price":""#);
        push_money(b, subtotal);
        b.push_str(r#"","total_tax":""#);
        push_money(b, tax);
        b.push_str(r#"","total_discounts":""#);
        push_money(b, discounts);
        let street = customer % 200 + 1;
        let address = format!(
            r#"{{"first_name":"Customer","last_name":"{customer}","address1":"Main St {street}","address2":null,"city":"{city}","province_code":null,"zip":"{zip}","country":"Germany","country_code":"DE","phone":null}}"#
        );
        let _ = write!(
            b,
            r#"","customer":{{"id":{cid},"email":"c{customer}@example.com","first_name":"Customer","last_name":"{customer}","verified_email":true}},"shipping_address":{address},"billing_address":{address},"payment_gateway_names":["shopify_payments"],"line_items":["#,
            cid = 6_000_000_000_000u64 + u64::from(customer),
        );
        for (n, l) in self.priced.iter().enumerate() {
            if n > 0 {
                b.push(',');
            }
            let _ = write!(
                b,
                r#"{{"id":{line_id},"variant_id":{variant},"product_id":{product},"sku":"{sku}","title":"Product {p}","name":"Product {p}","vendor":"Ordo Bench","quantity":{qty},"grams":{grams},"requires_shipping":true,"taxable":true,"fulfillment_service":"manual","fulfillment_status":null,"price":""#,
                line_id = id.wrapping_mul(8) + n as u64,
                variant = 40_000_000_000_000u64 + l.sku as u64,
                product = 8_000_000_000_000u64 + l.sku as u64,
                sku = self.catalog.skus[l.sku],
                p = l.sku + 1,
                qty = l.qty,
                grams = 150 + (l.sku % 20) * 50,
            );
            push_money(b, l.price);
            b.push_str(r#"","total_discount":""#);
            push_money(b, l.discount);
            b.push_str(r#"","tax_lines":[{"title":"DE MwSt","rate":0.19,"price":""#);
            push_money(b, l.tax);
            b.push_str(r#""}]}"#);
        }
        let _ = write!(
            b,
            r#"],"shipping_lines":[{{"title":"{title}","code":"{code}","source":"shopify","price":""#
        );
        push_money(b, shipping);
        b.push_str(r#""}]}"#);
        Bytes::copy_from_slice(b.as_bytes())
    }
}

/// The answer to a delivery.
#[derive(Deserialize)]
struct Answer {
    #[serde(default)]
    outcome: Option<String>,
    #[serde(default)]
    duplicate: bool,
}

fn answer_text(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    text.chars().take(300).collect()
}

pub struct HookResult {
    pub hist: Histogram<u64>,
    /// 201 answers completed inside the measured window.
    pub accepted: u64,
    pub sent: u64,
    pub body_bytes: u64,
    pub errors: BTreeMap<String, u64>,
    /// Order ids of every delivery answered 201, warm-up included.
    pub created: Vec<u64>,
    /// Up to [`REDELIVERIES`] acknowledged deliveries per connection, sampled evenly.
    pub sample: Vec<Delivery>,
}

/// N connections, each sending its next delivery as soon as the previous answer arrives.
pub async fn run_hooks(
    addrs: &[SocketAddr],
    connections: usize,
    catalog: Arc<Catalog>,
    path: Arc<str>,
    run: u64,
    window: Arc<Window>,
) -> Result<HookResult> {
    let mut tasks = Vec::with_capacity(connections);
    for c in 0..connections {
        let conn = Conn::anonymous(addrs[c % addrs.len()])?;
        let writer = ShopifyWriter::new(catalog.clone());
        tasks.push(tokio::spawn(hook_task(
            run,
            c as u64,
            conn,
            writer,
            path.clone(),
            window.clone(),
        )));
    }
    let mut total = HookResult {
        hist: histogram(),
        accepted: 0,
        sent: 0,
        body_bytes: 0,
        errors: BTreeMap::new(),
        created: Vec::new(),
        sample: Vec::new(),
    };
    for t in tasks {
        let r = t.await?;
        total.hist.add(&r.hist)?;
        total.accepted += r.accepted;
        total.sent += r.sent;
        total.body_bytes += r.body_bytes;
        for (k, v) in r.errors {
            *total.errors.entry(k).or_default() += v;
        }
        total.created.extend(r.created);
        total.sample.extend(r.sample);
    }
    Ok(total)
}

async fn hook_task(
    run: u64,
    c: u64,
    mut conn: Conn,
    mut writer: ShopifyWriter,
    path: Arc<str>,
    window: Arc<Window>,
) -> HookResult {
    let mut rng = SmallRng::seed_from_u64(
        0x400c ^ (run << 56) ^ (c << 20) ^ window.start.elapsed().as_nanos() as u64,
    );
    let mut r = HookResult {
        hist: histogram(),
        accepted: 0,
        sent: 0,
        body_bytes: 0,
        errors: BTreeMap::new(),
        created: Vec::new(),
        sample: Vec::new(),
    };
    let mut n: u64 = 0;
    while Instant::now() < window.end {
        n += 1;
        let id = order_id(run, c, n);
        let body = writer.order(id, 1000 + (((run << 12) + c) << 20) + n, &mut rng);
        let d = Delivery::new(id, body, &mut rng);
        r.sent += 1;
        r.body_bytes += d.body.len() as u64;
        let t0 = Instant::now();
        let result = deliver(&mut conn, &path, &d, &d.webhook_id).await;
        let t1 = Instant::now();
        let (status, resp) = match result {
            Ok(x) => x,
            Err(_) => {
                *r.errors.entry("connection".into()).or_default() += 1;
                // Avoid spinning if the server is gone.
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        if status != 201 {
            // A new order is always answered 201; a 200 names what happened instead
            // (e.g. needs_attention).
            let what = serde_json::from_slice::<Answer>(&resp)
                .ok()
                .and_then(|a| a.outcome)
                .filter(|_| status == 200)
                .map_or_else(|| status.to_string(), |o| format!("{status} {o}"));
            *r.errors.entry(what).or_default() += 1;
            continue;
        }
        r.created.push(id);
        // Reservoir sample of the acknowledged deliveries.
        if r.sample.len() < REDELIVERIES {
            r.sample.push(d);
        } else {
            let i = rng.random_range(0..r.created.len());
            if i < REDELIVERIES {
                r.sample[i] = d;
            }
        }
        if window.measured(t1) {
            r.accepted += 1;
            r.hist
                .saturating_record(((t1 - t0).as_micros() as u64).max(1));
        }
    }
    r
}

/// Creates the channel (kind shopify) and connects it with every sync switch off, so only
/// webhooks bring orders.
async fn connect_channel(conn: &mut Conn, code: &str) -> Result<()> {
    let steps = [
        (
            format!("/api/v1/channels/{code}"),
            channel_body("Shopify store (webhooks)", "shopify"),
        ),
        (
            format!("/api/v1/channels/{code}/connection"),
            json!({
                "base_url": "http://127.0.0.1:9",
                "import_orders": false,
                "push_stock": false,
                "push_tracking": false,
                "secrets": {"access_token": "x", "webhook_secret": SECRET},
            }),
        ),
    ];
    for (path, body) in steps {
        let (status, answer) = conn
            .send(Method::PUT, &path, Some(Bytes::from(body.to_string())))
            .await
            .with_context(|| format!("PUT {path}"))?;
        if status != 200 && status != 201 {
            bail!("PUT {path} answered {status}: {}", answer_text(&answer));
        }
    }
    Ok(())
}

/// Sends each sampled delivery again, first with its own webhook id (a redelivery: 200,
/// `duplicate`), then with a new one (the same order as a new event: 200, `already_known`).
/// Returns how many answered as expected, per kind.
async fn redeliver(
    addr: SocketAddr,
    path: &str,
    sample: &[Delivery],
    violations: &mut Vec<String>,
) -> Result<(usize, usize)> {
    let mut conn = Conn::anonymous(addr)?;
    let mut rng = SmallRng::from_os_rng();
    let (mut same, mut fresh) = (0, 0);
    let mut wrong: Vec<String> = Vec::new();
    for d in sample {
        let (status, body) = deliver(&mut conn, path, d, &d.webhook_id).await?;
        match serde_json::from_slice::<Answer>(&body) {
            Ok(a) if status == 200 && a.duplicate => same += 1,
            _ => wrong.push(format!(
                "redelivery of order {} (same webhook id) answered {status}: {}",
                d.order_id,
                answer_text(&body)
            )),
        }
    }
    for d in sample {
        let id = Uuid::from_u128(rng.random()).hyphenated().to_string();
        let (status, body) = deliver(&mut conn, path, d, &id).await?;
        match serde_json::from_slice::<Answer>(&body) {
            Ok(a) if status == 200 && a.outcome.as_deref() == Some("already_known") => fresh += 1,
            _ => wrong.push(format!(
                "order {} sent again under a new webhook id answered {status}: {}",
                d.order_id,
                answer_text(&body)
            )),
        }
    }
    let n = wrong.len();
    violations.extend(wrong.into_iter().take(5));
    if n > 5 {
        violations.push(format!(
            "… {} more unexpected answers to re-sent deliveries",
            n - 5
        ));
    }
    Ok((same, fresh))
}

/// The webhook rows of one engine: `--connections`, then 1 connection (unless that is the
/// same), on one server; the checks after both runs are on the first row.
pub async fn run(
    cfg: &Config,
    engine: &str,
    cluster: Option<&PgCluster>,
    index: usize,
) -> Vec<Row> {
    let processes = if engine == "postgres" && cfg.target.is_none() {
        cfg.processes
    } else {
        1
    };
    let mut counts = vec![cfg.connections];
    if cfg.connections != 1 {
        counts.push(1);
    }
    let mut rows: Vec<Row> = counts
        .into_iter()
        .map(|connections| Row {
            scenario: NAME.into(),
            db: engine.into(),
            processes,
            connections,
            ..Row::default()
        })
        .collect();
    if engine == "sqlite" && cfg.processes > 1 {
        rows[0]
            .notes
            .push("--processes applies to PostgreSQL only; SQLite ran one process".into());
    }
    let mut measured = 0;
    let (failure, dir) = in_workdir(index, async |dir, servers| {
        measure(
            cfg,
            engine,
            cluster,
            index,
            dir,
            &mut rows,
            &mut measured,
            servers,
        )
        .await
    })
    .await;
    if let Some(f) = failure {
        // Rows already measured keep their figures; the failure goes on the first row
        // (where the checks are) and on every row that was not measured.
        for (i, r) in rows.iter_mut().enumerate() {
            if i == 0 || i >= measured {
                r.failure = Some(f.clone());
            }
        }
    }
    let passed = rows.iter().all(Row::passed);
    if let Some(note) = tidy(cfg, dir, passed) {
        rows[0].notes.push(note);
    }
    rows
}

#[allow(clippy::too_many_lines)]
async fn measure(
    cfg: &Config,
    engine: &str,
    cluster: Option<&PgCluster>,
    index: usize,
    dir: &Path,
    rows: &mut [Row],
    measured: &mut usize,
    servers: &mut Vec<Server>,
) -> Result<()> {
    let catalog = Catalog::new(cfg.skus);
    let Started { db, key, addrs } =
        crate::start(cfg, engine, cluster, index, dir, rows[0].processes, servers).await?;

    let t = Instant::now();
    let seconds = (cfg.warmup + cfg.duration).as_secs() * rows.len() as u64;
    let seeded = seed::seed(addrs[0], &key, &catalog, Scenario::Mixed, seconds, 8).await?;
    let tag = format!("{:08x}{index}", StdRng::from_os_rng().random::<u32>());
    let channel = format!("shopify-hooks-{tag}");
    let mut admin = Conn::new(addrs[0], &key)?;
    connect_channel(&mut admin, &channel).await?;
    println!(
        "   seeded {} SKUs, {} units in {} requests, connected channel {channel} ({:.1} s)",
        catalog.len(),
        seeded.units,
        seeded.requests,
        t.elapsed().as_secs_f64()
    );
    let path: Arc<str> = format!("/hooks/shopify/{channel}").into();

    let pids: Vec<u32> = servers.iter().map(Server::pid).collect();
    let secs = cfg.duration.as_secs_f64();
    let mut created: Vec<u64> = Vec::new();
    let mut pool: Vec<Delivery> = Vec::new();
    for (run, row) in rows.iter_mut().enumerate() {
        if run > 0 {
            println!("   {} connection(s) …", row.connections);
        }
        let sampler = (!pids.is_empty()).then(|| RssSampler::start(pids.clone()));
        let window = Arc::new(Window::new(cfg.warmup, cfg.duration));
        let cpu = tokio::spawn(cpu_over_window(pids.clone(), window.clone()));
        let result = run_hooks(
            &addrs,
            row.connections,
            catalog.clone(),
            path.clone(),
            run as u64,
            window,
        )
        .await?;
        row.orders_per_sec = result.accepted as f64 / secs;
        row.latency = Latency::from_hist(&result.hist);
        row.errors = result.errors.clone();
        if let Some(cpu_secs) = cpu.await? {
            row.cpu_pct = Some(cpu_secs / secs * 100.0);
        }
        if let Some(s) = sampler {
            row.rss_mib = Some(s.finish() as f64 / 1024.0);
        }
        if let Some(db) = &db {
            match invariants::database_size(db).await {
                Ok(bytes) => row.db_mib = Some(bytes as f64 / (1024.0 * 1024.0)),
                Err(e) => row.notes.push(format!("database size unavailable: {e:#}")),
            }
        }
        let failed: u64 = result.errors.values().sum();
        row.notes.push(format!(
            "{} connection(s): {} deliveries sent (warm-up included, {:.1} KiB on average), {} answered 201",
            row.connections,
            result.sent,
            result.body_bytes as f64 / result.sent.max(1) as f64 / 1024.0,
            result.created.len()
        ));
        if failed > 0 {
            row.violations.push(format!(
                "{} connection(s): {failed} valid deliveries were not answered 201: {}",
                row.connections,
                crate::report::error_text(&result.errors)
            ));
        }
        created.extend(result.created);
        pool.extend(result.sample);
        *measured = run + 1;
    }

    // Through the API, while the server is still up. The checks cover every run.
    let row = &mut rows[0];
    let balances = invariants::check_inventory(&mut admin, &mut row.violations).await?;

    let acked: HashSet<String> = created.iter().map(u64::to_string).collect();
    let stored = invariants::channel_orders(&mut admin, &channel).await?;
    let stored_set: HashSet<&str> = stored.iter().map(String::as_str).collect();
    if stored.len() != created.len() {
        row.violations.push(format!(
            "channel {channel} holds {} orders, but {} deliveries were answered 201",
            stored.len(),
            created.len()
        ));
    }
    if stored_set.len() != stored.len() {
        row.violations.push(format!(
            "channel {channel}: {} orders for {} distinct Shopify order ids",
            stored.len(),
            stored_set.len()
        ));
    }
    let missing: Vec<&String> = acked
        .iter()
        .filter(|id| !stored_set.contains(id.as_str()))
        .collect();
    if !missing.is_empty() {
        row.violations.push(format!(
            "{} orders answered 201 are not orders of the channel (e.g. Shopify order {})",
            missing.len(),
            missing[0]
        ));
    }
    let extra: Vec<&&str> = stored_set
        .iter()
        .filter(|id| !acked.contains(**id))
        .collect();
    if !extra.is_empty() {
        row.violations.push(format!(
            "{} orders of the channel were never answered 201 (e.g. Shopify order {})",
            extra.len(),
            extra[0]
        ));
    }

    pool.shuffle(&mut SmallRng::from_os_rng());
    pool.truncate(REDELIVERIES);
    let (same, fresh) = redeliver(addrs[0], &path, &pool, &mut row.violations).await?;
    let after = invariants::channel_orders(&mut admin, &channel).await?;
    if after.len() != stored.len() {
        row.violations.push(format!(
            "re-sending {} deliveries changed the channel's orders from {} to {}",
            pool.len(),
            stored.len(),
            after.len()
        ));
    }
    row.notes.push(format!(
        "after all runs: channel {channel} holds {} orders, {} deliveries were answered 201; {} re-sent deliveries (same webhook id) answered 200 duplicate: {same}; the same orders under new webhook ids answered 200 already_known: {fresh}; orders afterwards: {}",
        stored.len(),
        created.len(),
        pool.len(),
        after.len()
    ));

    // The connector's own bookkeeping, for information.
    match admin.get(&format!("/api/v1/channels/{channel}/sync")).await {
        Ok((200, body)) => {
            let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
            let imported = v["orders_imported"].as_u64();
            let attention = &v["backlog"];
            let mut note = format!(
                "sync status: orders_imported {}, backlog {attention}",
                imported.map_or_else(|| "?".into(), |n| n.to_string())
            );
            if imported.is_some_and(|n| n != created.len() as u64) {
                let _ = write!(
                    note,
                    " (not the {} orders created: the counter is an unlocked read-modify-write)",
                    created.len()
                );
            }
            row.notes.push(note);
        }
        Ok((status, body)) => row.notes.push(format!(
            "sync status answered {status}: {}",
            answer_text(&body)
        )),
        Err(e) => row.notes.push(format!("sync status unavailable: {e:#}")),
    }
    drop(admin);

    for s in servers.iter_mut() {
        if !s.terminate(Duration::from_secs(30))? {
            row.notes.push(format!(
                "server pid {} did not exit cleanly after SIGTERM; log tail:\n{}",
                s.pid(),
                s.log_tail(5)
            ));
        }
    }

    let Some(db) = db else {
        row.notes.push(format!(
            "checked {balances} balances; database checks skipped (no --target-db)"
        ));
        return Ok(());
    };
    // No duplicate (channel, external id) anywhere; the order ids were checked above.
    let facts = invariants::check_database(&db, &HashMap::new(), &mut row.violations).await?;
    if cfg.server_bin.is_file() {
        if let Err(e) = server::run_tool(&cfg.server_bin, "verify", &db.url())? {
            row.violations.push(e);
        }
    } else {
        row.notes
            .push("`ordo verify` skipped: server binary not found".into());
    }
    row.notes.push(format!(
        "after all runs: checked {balances} balances and {} stored orders ({} lines, {} allocations); `ordo verify` on {}",
        facts.orders,
        facts.lines,
        facts.allocations,
        match db {
            Db::Sqlite(_) => "SQLite",
            Db::Postgres(_) => "PostgreSQL",
        }
    ));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_match_shopifys_reference() {
        let body = br##"{"id":820982911946154508,"name":"#9999"}"##;
        assert_eq!(
            signature("my_app_secret", body),
            "xtDnvGlQbyUBwH5BtyxXdef14y1z1d13oJ7V4PoSvzs="
        );
        assert!(ordo_connectors::signature::verify(
            SECRET,
            body,
            Some(&signature(SECRET, body))
        ));
    }

    #[test]
    fn order_ids_are_unique_per_run_connection_and_request() {
        let ids: HashSet<u64> = (0..2)
            .flat_map(|run| (0..64).flat_map(move |c| (1..50).map(move |n| order_id(run, c, n))))
            .collect();
        assert_eq!(ids.len(), 2 * 64 * 49);
        assert!(order_id(1, 4095, (1 << 28) - 1) < u64::MAX);
    }

    #[test]
    fn payloads_map_to_valid_orders() {
        let catalog = Catalog::new(200);
        let mut writer = ShopifyWriter::new(catalog.clone());
        let mut rng = SmallRng::seed_from_u64(3);
        let mut ids = HashSet::new();
        for n in 1..300 {
            let id = order_id(0, 7, n);
            let body = writer.order(id, 1000 + n, &mut rng);
            let d = Delivery::new(id, body.clone(), &mut rng);
            assert!(ids.insert(d.webhook_id.clone()));
            let v: serde_json::Value = serde_json::from_slice(&body).expect("json");
            assert_eq!(v["id"].as_u64(), Some(id));
            assert_eq!(v["financial_status"], "paid");
            let items = v["line_items"].as_array().unwrap();
            assert!((1..=5).contains(&items.len()), "{v}");
            for item in items {
                let price = item["price"].as_str().unwrap();
                assert!(price.split_once('.').is_some_and(|(_, c)| c.len() == 2));
                assert!(
                    catalog
                        .skus
                        .iter()
                        .any(|s| s == item["sku"].as_str().unwrap())
                );
            }

            let (order, _) = ordo_connectors::shopify::map_order(&body).expect("maps");
            assert_eq!(order.external_id, id.to_string());
            assert_eq!(order.state, ordo_connectors::ChannelOrderState::Open);
            let mut input = order.input;
            input.channel = Some("shopify-hooks-test".into());
            assert_eq!(input.lines.len(), items.len());
            if let Err(p) = input.validate(OffsetDateTime::now_utc()) {
                panic!("{p:?}\n{v}");
            }
        }
    }
}
