//! Shared set-up: a throwaway cluster per test binary, a fresh database per test.

#![allow(dead_code)]

use std::sync::atomic::{AtomicU32, Ordering};

use ordo_domain::catalog::{ChannelInput, LocationInput, ProductInput};
use ordo_domain::inventory::{AdjustmentInput, CountInput, MoveInput, StockWrite};
use ordo_domain::order::{NewOrder, OrderInput};
use ordo_postgres::PgStore;
use ordo_store::{Store, WriteContext};
use serde_json::json;

/// A new empty database on this binary's cluster, or `None` when PostgreSQL is missing
/// (the kit has already said so loudly).
pub fn database(name: &str) -> Option<String> {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let cluster = ordo_testkit::PgCluster::shared()?;
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    Some(
        cluster
            .create_database(&format!("{name}_{n}"))
            .expect("create database"),
    )
}

pub async fn store(name: &str) -> Option<(PgStore, String)> {
    let url = database(name)?;
    let store = PgStore::connect(&url).await.expect("connect");
    Some((store, url))
}

pub fn ctx() -> WriteContext {
    WriteContext {
        actor: "test".into(),
        idempotency_key: None,
    }
}

pub fn keyed(key: &str) -> WriteContext {
    WriteContext {
        actor: "test".into(),
        idempotency_key: Some(key.into()),
    }
}

/// Two locations (WH1 ships first), a web channel selling from both, and products.
pub async fn seed(store: &PgStore, skus: &[&str]) {
    for (code, priority) in [("WH1", 1), ("WH2", 2)] {
        let location = serde_json::from_value::<LocationInput>(json!({
            "code": code, "name": format!("Warehouse {code}"), "kind": "warehouse", "priority": priority,
            "address": {"name": "Depot", "line1": "Street 1", "city": "Berlin", "country": "DE"},
        }))
        .unwrap()
        .validate()
        .unwrap();
        store.put_location(location, &ctx()).await.unwrap();
    }
    let channel = serde_json::from_value::<ChannelInput>(json!({
        "code": "web", "name": "Web shop", "kind": "web", "currency": "EUR",
    }))
    .unwrap()
    .validate()
    .unwrap();
    store.put_channel(channel, &ctx()).await.unwrap();
    for sku in skus {
        product(store, sku, true).await;
    }
}

pub async fn product(store: &PgStore, sku: &str, active: bool) {
    let product = serde_json::from_value::<ProductInput>(json!({
        "sku": sku, "name": format!("Product {sku}"), "price": "10.00", "unit_cost": "4.00", "active": active,
    }))
    .unwrap()
    .validate()
    .unwrap();
    store.put_product(product, &ctx()).await.unwrap();
}

pub fn adjust(sku: &str, location: &str, delta: i64) -> StockWrite {
    serde_json::from_value::<AdjustmentInput>(json!({
        "sku": sku, "location": location, "delta": delta, "reason": "received",
    }))
    .unwrap()
    .validate()
    .unwrap()
}

pub fn move_units(sku: &str, location: &str, from: &str, to: &str, quantity: i64) -> StockWrite {
    serde_json::from_value::<MoveInput>(json!({
        "sku": sku, "location": location, "from": from, "to": to, "quantity": quantity, "reason": "damage",
    }))
    .unwrap()
    .validate()
    .unwrap()
}

pub fn count(sku: &str, location: &str, on_hand: i64, expected: Option<i64>) -> StockWrite {
    serde_json::from_value::<CountInput>(json!({
        "sku": sku, "location": location, "on_hand": on_hand, "expected_on_hand": expected,
    }))
    .unwrap()
    .validate()
    .unwrap()
}

/// An order for `lines` of (sku, quantity), paid, shipping to Germany.
pub fn order(external_id: &str, lines: &[(&str, i64)]) -> NewOrder {
    order_with(external_id, lines, json!({}))
}

/// Like [`order`], with fields of `extra` replacing the defaults.
pub fn order_with(external_id: &str, lines: &[(&str, i64)], extra: serde_json::Value) -> NewOrder {
    let lines: Vec<_> = lines
        .iter()
        .map(|(sku, q)| json!({"sku": sku, "quantity": q, "unit_price": "10.00"}))
        .collect();
    let mut body = json!({
        "channel": "web",
        "external_id": external_id,
        "currency": "EUR",
        "customer": {"email": format!("{external_id}@example.com"), "name": "Ada"},
        "shipping_address": {"name": "Ada", "line1": "Main St 1", "city": "Berlin", "country": "DE"},
        "lines": lines,
        "payment": {"status": "paid"},
    });
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            b.insert(k.clone(), v.clone());
        }
    }
    serde_json::from_value::<OrderInput>(body)
        .unwrap()
        .validate(time::OffsetDateTime::now_utc())
        .unwrap()
}
