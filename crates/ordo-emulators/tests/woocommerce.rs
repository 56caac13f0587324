//! The WooCommerce emulator speaks REST API v3: page numbers with `X-WP-Total(Pages)`, key
//! auth, products and their batch endpoint, Shipment Tracking, signed webhooks and pings.

mod support;

use std::collections::BTreeSet;

use ordo_emulators::woocommerce::{WooConfig, WooEmulator};
use ordo_emulators::{NewOrder, sign};
use serde_json::{Value, json};
use support::{Receiver, client, link};

fn api(woo: &WooEmulator, path: &str) -> String {
    format!("{}/wp-json/wc/v3/{path}", woo.base_url())
}

fn authed(woo: &WooEmulator, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
    let c = woo.config();
    request.basic_auth(&c.consumer_key, Some(&c.consumer_secret))
}

#[tokio::test]
async fn orders_come_in_numbered_pages_with_totals() {
    let woo = WooEmulator::start(WooConfig::default()).await;
    let placed: BTreeSet<u64> = (0..25)
        .map(|i| {
            woo.place(NewOrder::new().line("MUG", 1 + i, "6.50"))["id"]
                .as_u64()
                .unwrap()
        })
        .collect();
    let http = client();
    let mut seen = BTreeSet::new();
    let mut url = api(&woo, "orders?per_page=10&orderby=id&order=asc");
    for page in 1..=3 {
        let r = authed(&woo, http.get(&url)).send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["x-wp-total"], "25");
        assert_eq!(r.headers()["x-wp-totalpages"], "3");
        let links = r
            .headers()
            .get("link")
            .map(|l| l.to_str().unwrap().to_string());
        let orders: Vec<Value> = r.json().await.unwrap();
        assert_eq!(orders.len(), if page < 3 { 10 } else { 5 });
        for o in &orders {
            assert!(o["number"].is_string() && o["total"].is_string());
            assert!(
                o["line_items"][0]["price"].is_number(),
                "Woo sends the unit price as a number"
            );
            assert!(
                o["date_modified_gmt"].as_str().unwrap().len() == 19,
                "no offset"
            );
            seen.insert(o["id"].as_u64().unwrap());
        }
        match link(links.as_deref(), "next") {
            Some(next) => url = next,
            None => assert_eq!(page, 3),
        }
    }
    assert_eq!(seen, placed);

    let r = authed(&woo, http.get(api(&woo, "orders?per_page=101")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(
        r.json::<Value>().await.unwrap()["code"],
        "rest_invalid_param"
    );

    // modified_after: only what changed since.
    let first = *placed.first().unwrap();
    let since = woo.order(first).unwrap()["date_modified_gmt"]
        .as_str()
        .unwrap()
        .to_string();
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    woo.set_status(first, "completed");
    let url = api(
        &woo,
        &format!("orders?modified_after={since}&dates_are_gmt=true"),
    );
    let orders: Vec<Value> = authed(&woo, http.get(url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(orders.len(), 1);
    assert_eq!(orders[0]["status"], "completed");
    assert!(orders[0]["date_completed_gmt"].is_string());
}

#[tokio::test]
async fn keys_go_in_basic_auth_or_the_query_string() {
    let woo = WooEmulator::start(WooConfig::default()).await;
    let http = client();
    let c = woo.config().clone();
    let r = http
        .get(api(
            &woo,
            &format!(
                "orders?consumer_key={}&consumer_secret={}",
                c.consumer_key, c.consumer_secret
            ),
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = http
        .get(api(&woo, "orders"))
        .basic_auth(&c.consumer_key, Some("cs_wrong"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        body,
        json!({"code": "woocommerce_rest_authentication_error", "message": "Consumer secret is invalid.", "data": {"status": 401}})
    );
    let r = http.get(api(&woo, "orders")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(
        r.json::<Value>().await.unwrap()["code"],
        "woocommerce_rest_cannot_view"
    );
}

#[tokio::test]
async fn stock_is_found_by_sku_and_set_in_batches() {
    let woo = WooEmulator::start(WooConfig::default()).await;
    let mug = woo.add_product("MUG", Some(3));
    let tee = woo.add_product("TEE", None);
    let http = client();
    let found: Vec<Value> = authed(&woo, http.get(api(&woo, "products?sku=MUG")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(
        (found[0]["id"].as_u64(), found[0]["stock_quantity"].as_i64()),
        (Some(mug), Some(3))
    );

    let body = json!({"update": [
        {"id": mug, "stock_quantity": 40},
        {"id": tee, "manage_stock": true, "stock_quantity": 0},
        {"id": 999_999, "stock_quantity": 1},
    ]});
    let r = authed(&woo, http.post(api(&woo, "products/batch")).json(&body))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let done: Value = r.json().await.unwrap();
    assert_eq!(done["update"][1]["stock_status"], "outofstock");
    assert_eq!(
        done["update"][2]["error"]["code"],
        "woocommerce_rest_product_invalid_id"
    );
    assert_eq!((woo.stock("MUG"), woo.stock("TEE")), (Some(40), Some(0)));

    let too_many: Vec<Value> = (0..101)
        .map(|_| json!({"id": mug, "stock_quantity": 1}))
        .collect();
    let r = authed(
        &woo,
        http.post(api(&woo, "products/batch"))
            .json(&json!({"update": too_many})),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(r.status(), 413);
    assert_eq!(
        r.json::<Value>().await.unwrap()["code"],
        "woocommerce_rest_request_entity_too_large"
    );
}

#[tokio::test]
async fn tracking_is_added_and_the_order_completed() {
    let woo = WooEmulator::start(WooConfig::default()).await;
    let id = woo.place(NewOrder::new().line("MUG", 2, "6.50"))["id"]
        .as_u64()
        .unwrap();
    let http = client();
    let url = format!(
        "{}/wp-json/wc-shipment-tracking/v3/orders/{id}/shipment-trackings",
        woo.base_url()
    );
    let body = json!({"tracking_provider": "USPS", "tracking_number": "9400111899223197428490", "date_shipped": "2026-07-10"});
    let r = authed(&woo, http.post(&url).json(&body))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let t: Value = r.json().await.unwrap();
    assert_eq!(t["tracking_number"], "9400111899223197428490");
    assert_eq!(t["date_shipped"], "2026-07-10");
    assert!(t["tracking_link"].as_str().unwrap().contains("usps.com"));
    assert_eq!(woo.trackings(id).len(), 1);

    let r = authed(
        &woo,
        http.put(api(&woo, &format!("orders/{id}")))
            .json(&json!({"status": "completed"})),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(woo.order(id).unwrap()["status"], "completed");
    assert_eq!(
        woo.notes(id)[0]["note"],
        "Order status changed from Processing to Completed."
    );
    let r = authed(
        &woo,
        http.put(api(&woo, &format!("orders/{id}")))
            .json(&json!({"status": "shipped"})),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(r.status(), 400);
    let r = authed(&woo, http.get(api(&woo, "orders/424242")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(
        r.json::<Value>().await.unwrap()["code"],
        "woocommerce_rest_shop_order_invalid_id"
    );
}

#[tokio::test]
async fn webhooks_are_signed_and_pings_are_plain_forms() {
    let woo = WooEmulator::start(WooConfig::default()).await;
    let hook = Receiver::start().await;
    let id = woo.place(NewOrder::new().line("MUG", 1, "6.50"))["id"]
        .as_u64()
        .unwrap();
    assert_eq!(woo.send_ping(&hook.url).await, 200);
    assert_eq!(woo.send_webhook(&hook.url, "order.updated", id).await, 200);
    assert_eq!(woo.send_webhook(&hook.url, "order.deleted", id).await, 200);
    assert_eq!(
        woo.send_forged_webhook(&hook.url, "order.created", id)
            .await,
        200
    );
    let got = hook.received();
    assert_eq!(
        got[0].body,
        format!("webhook_id={}", woo.config().webhook_id).into_bytes()
    );
    assert_eq!(got[0].header("x-wc-webhook-signature"), "");
    let secret = &woo.config().webhook_secret;
    let updated = &got[1];
    assert_eq!(
        updated.header("x-wc-webhook-signature"),
        sign(secret, &updated.body)
    );
    assert_eq!(updated.header("x-wc-webhook-topic"), "order.updated");
    assert_eq!(updated.header("x-wc-webhook-resource"), "order");
    assert_eq!(updated.header("x-wc-webhook-event"), "updated");
    assert_eq!(
        updated.header("x-wc-webhook-id"),
        woo.config().webhook_id.to_string()
    );
    assert_eq!(updated.header("x-wc-webhook-source"), woo.config().site_url);
    assert!(!updated.header("x-wc-webhook-delivery-id").is_empty());
    assert_eq!(
        serde_json::from_slice::<Value>(&updated.body).unwrap()["id"],
        id
    );
    assert_eq!(got[2].body, format!("{{\"id\":{id}}}").into_bytes());
    assert_ne!(
        got[3].header("x-wc-webhook-signature"),
        sign(secret, &got[3].body)
    );
}

#[tokio::test]
async fn a_configured_limit_answers_429() {
    let woo = WooEmulator::start(WooConfig {
        requests_per_second: Some(2.0),
        ..Default::default()
    })
    .await;
    let http = client();
    let mut statuses = Vec::new();
    for _ in 0..3 {
        let r = authed(&woo, http.get(api(&woo, "orders")))
            .send()
            .await
            .unwrap();
        statuses.push(r.status().as_u16());
        if r.status() == 429 {
            assert!(r.headers().contains_key("retry-after"));
        }
    }
    assert_eq!(statuses, [200, 200, 429]);
    assert_eq!(woo.stats().throttled, 1);
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    woo.faults().fail_next(1, 503);
    let r = authed(&woo, http.get(api(&woo, "products")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503, "a proxy's page, not JSON");
}
