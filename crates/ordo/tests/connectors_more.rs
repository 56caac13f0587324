//! WooCommerce and eBay connectors against their emulators, through a real `ordo serve` on
//! every backend: signed webhooks (ping, redelivery, forgery), multi-page polling under
//! injected faults, payment holds released and cancellations followed, coalesced stock
//! pushes, and tracking pushed once per shipment.

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use common::*;
use ordo_emulators::NewOrder;
use ordo_emulators::ebay::{EbayConfig, EbayEmulator};
use ordo_emulators::woocommerce::{WooConfig, WooEmulator};
use serde_json::{Value, json};

async fn by_external_id(s: &Server, channel: &str, id: &str) -> Option<Value> {
    channel_orders(s, channel)
        .await
        .into_iter()
        .find(|o| o["external_id"] == json!(id))
}

async fn status_of(s: &Server, channel: &str, id: &str) -> Value {
    by_external_id(s, channel, id)
        .await
        .unwrap_or_else(|| panic!("order {id} of {channel} captured"))["status"]
        .clone()
}

/// Every channel order id in Ordo, failing on any captured twice.
async fn external_ids(s: &Server, channel: &str, label: &str) -> BTreeSet<String> {
    let ours: Vec<String> = channel_orders(s, channel)
        .await
        .iter()
        .map(|o| o["external_id"].as_str().unwrap().to_string())
        .collect();
    let unique: BTreeSet<String> = ours.iter().cloned().collect();
    assert_eq!(ours.len(), unique.len(), "{label}: no order twice");
    unique
}

/// The background sync polls a new connection once at once; waits for that poll, so what
/// the test does next is not raced by it.
async fn wait_first_poll(s: &Server, channel: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let status = s
            .get(&format!("/api/v1/channels/{channel}/sync"))
            .await
            .body;
        if status["last_import"].is_string() {
            return;
        }
        assert!(Instant::now() < deadline, "no first poll: {status}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn poll(s: &Server, channel: &str) -> Value {
    let r = s
        .post(
            &format!("/api/v1/channels/{channel}/sync?what=orders"),
            &json!({}),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    r.body
}

async fn available_to_sell(s: &Server, channel: &str, sku: &str) -> i64 {
    let ours = s
        .get(&format!(
            "/api/v1/channels/{channel}/availability?sku={sku}"
        ))
        .await
        .body;
    ours["items"][0]["available_to_sell"]
        .as_i64()
        .unwrap_or_else(|| panic!("availability of {sku}: {ours}"))
}

/// Ships the order's first fulfilment order; the shipment as the API answered it.
async fn ship(s: &Server, channel: &str, id: &str) -> Value {
    let order = by_external_id(s, channel, id).await.unwrap();
    let order = s
        .get(&format!(
            "/api/v1/orders/{}",
            order["number"].as_str().unwrap()
        ))
        .await
        .body;
    assert_eq!(
        order["fulfillment_orders"].as_array().map(Vec::len),
        Some(1),
        "{order}"
    );
    let fo = order["fulfillment_orders"][0]["id"].as_str().unwrap();
    let shipment = s
        .post("/api/v1/shipments", &json!({"fulfillment_order": fo}))
        .await;
    assert_eq!(shipment.status, 201, "{:?}", shipment.body);
    assert!(
        shipment.body["tracking_number"].is_string(),
        "{:?}",
        shipment.body
    );
    shipment.body
}

/// A call to the shop's REST API as its admin would make it (query-string keys).
async fn woo_api(woo: &WooEmulator, method: &str, path: &str, body: &Value) -> Value {
    use http_body_util::{BodyExt, Full};
    let c = woo.config();
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<Full<bytes::Bytes>>();
    let request = hyper::Request::builder()
        .method(method)
        .uri(format!(
            "{}/wp-json/wc/v3/{path}?consumer_key={}&consumer_secret={}",
            woo.base_url(),
            c.consumer_key,
            c.consumer_secret
        ))
        .header("content-type", "application/json")
        .body(Full::new(bytes::Bytes::from(body.to_string())))
        .unwrap();
    let response = client.request(request).await.unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    serde_json::from_slice(&bytes).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn woocommerce_webhooks_polling_stock_and_tracking() {
    for db in databases("woocommerce") {
        // A host limit, so `throttled == 0` means the client kept under it.
        let woo = WooEmulator::start(WooConfig {
            requests_per_second: Some(20.0),
            ..WooConfig::default()
        })
        .await;
        for sku in ["SKU-A", "SKU-B"] {
            woo.add_product(sku, Some(0));
        }
        let s = Server::start(&db).await;
        seed(
            &s,
            &[
                ("SKU-A", "WH1", 1000),
                ("SKU-B", "WH1", 50),
                ("SKU-C", "WH1", 30),
            ],
        )
        .await;
        // The emulator's orders are in USD.
        let r = s
            .send(
                "PUT",
                "/api/v1/channels/woo",
                &json!({"name": "Woo", "kind": "woocommerce", "currency": "USD"}),
            )
            .await;
        assert_eq!(r.status, 201, "{:?}", r.body);
        let c = woo.config().clone();
        let r = s
            .send(
                "PUT",
                "/api/v1/channels/woo/connection",
                &json!({"base_url": woo.base_url(), "poll_interval_seconds": 3600,
                    "secrets": {"consumer_key": c.consumer_key, "consumer_secret": c.consumer_secret,
                        "webhook_secret": c.webhook_secret}}),
            )
            .await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        assert!(
            !r.body.to_string().contains(&c.consumer_secret),
            "{}",
            r.body
        );
        wait_first_poll(&s, "woo").await;
        let hook = format!("{}/hooks/woocommerce/woo", s.base);

        // The unsigned ping sent when the webhook is created: 200, nothing stored.
        assert_eq!(woo.send_ping(&hook).await, 200, "{}", db.label);
        assert!(channel_orders(&s, "woo").await.is_empty());

        // A signed order.created: captured at once under the Woo id.
        let first = woo.place(
            NewOrder::new()
                .line("SKU-A", 2, "12.50")
                .email("first@example.com"),
        );
        let first_id = first["id"].as_u64().unwrap();
        assert_eq!(
            woo.send_webhook(&hook, "order.created", first_id).await,
            201,
            "{}",
            db.label
        );
        let captured = by_external_id(&s, "woo", &first_id.to_string())
            .await
            .expect("captured");
        assert_eq!(captured["status"], "allocated", "{captured}");

        // The same delivery again (WooCommerce retries with the same delivery id): 200,
        // nothing new.
        let delivery = woo.deliveries().last().unwrap().clone();
        let signature = ordo_emulators::sign(&c.webhook_secret, &delivery.body);
        let body = String::from_utf8(delivery.body.clone()).unwrap();
        let webhook_id = c.webhook_id.to_string();
        let r = s
            .request(
                "POST",
                "/hooks/woocommerce/woo",
                None,
                Some(&body),
                &[
                    ("x-wc-webhook-topic", "order.created"),
                    ("x-wc-webhook-resource", "order"),
                    ("x-wc-webhook-event", "created"),
                    ("x-wc-webhook-signature", &signature),
                    ("x-wc-webhook-id", &webhook_id),
                    ("x-wc-webhook-delivery-id", &delivery.delivery_id),
                ],
            )
            .await
            .unwrap();
        assert_eq!(r.status, 200, "{:?}", r.body);
        assert_eq!(r.body["duplicate"], true, "{:?}", r.body);
        // A forged signature is refused.
        assert_eq!(
            woo.send_forged_webhook(&hook, "order.created", first_id)
                .await,
            401
        );
        assert_eq!(channel_orders(&s, "woo").await.len(), 1);

        // Polling: 150 more orders over two pages of 100, through a 500 and a dropped
        // connection.
        let mut placed: BTreeSet<String> = [first_id.to_string()].into();
        for i in 0..150 {
            let o = woo.place(
                NewOrder::new()
                    .line("SKU-A", 1 + i % 2, "12.50")
                    .email(&format!("buyer{i}@example.com")),
            );
            placed.insert(o["id"].as_u64().unwrap().to_string());
        }
        woo.faults().on("orders").fail_next(1, 500);
        woo.faults().on("orders").drop_next(1);
        let report = poll(&s, "woo").await;
        assert!(report["pages"].as_u64().unwrap() >= 2, "{report}");
        assert_eq!(woo.faults().pending(), 0, "both faults were met");
        assert_eq!(
            external_ids(&s, "woo", db.label).await,
            placed,
            "{}: every channel order, once",
            db.label
        );

        // Not yet paid (`pending`): held; paid later (order.updated): released.
        let pending = woo.place(NewOrder::new().line("SKU-B", 1, "12.50").status("pending"));
        let pending_id = pending["id"].as_u64().unwrap();
        assert_eq!(
            woo.send_webhook(&hook, "order.created", pending_id).await,
            201
        );
        assert_eq!(
            status_of(&s, "woo", &pending_id.to_string()).await,
            "on_hold"
        );
        woo.mark_paid(pending_id);
        assert_eq!(
            woo.send_webhook(&hook, "order.updated", pending_id).await,
            200
        );
        assert_eq!(
            status_of(&s, "woo", &pending_id.to_string()).await,
            "allocated",
            "{}",
            db.label
        );

        // `on-hold` (awaiting a bank transfer) seen by a poll: held; the next poll, right
        // after the shop marked it paid, releases it.
        let held = woo.place(NewOrder::new().line("SKU-B", 2, "12.50").status("on-hold"));
        let held_id = held["id"].as_u64().unwrap().to_string();
        poll(&s, "woo").await;
        assert_eq!(status_of(&s, "woo", &held_id).await, "on_hold");
        woo.set_status(held_id.parse().unwrap(), "processing");
        poll(&s, "woo").await;
        assert_eq!(
            status_of(&s, "woo", &held_id).await,
            "allocated",
            "{}: a change in the same second as the last poll is not missed",
            db.label
        );

        // Cancelled on the channel: by webhook, and by the next poll.
        let before = balance(&s, "SKU-A", "WH1").await["allocated"]
            .as_i64()
            .unwrap();
        woo.cancel_order(first_id);
        assert_eq!(
            woo.send_webhook(&hook, "order.updated", first_id).await,
            200
        );
        assert_eq!(
            status_of(&s, "woo", &first_id.to_string()).await,
            "cancelled"
        );
        assert_eq!(
            balance(&s, "SKU-A", "WH1").await["allocated"]
                .as_i64()
                .unwrap(),
            before - 2
        );
        let polled: Vec<u64> = placed
            .iter()
            .map(|p| p.parse::<u64>().unwrap())
            .filter(|i| *i != first_id)
            .collect();
        let gone = polled[polled.len() - 1];
        woo.cancel_order(gone);
        poll(&s, "woo").await;
        assert_eq!(
            status_of(&s, "woo", &gone.to_string()).await,
            "cancelled",
            "{}",
            db.label
        );
        // Deleted on the channel: the deletion carries only the id; cancelled here.
        let deleted = polled[polled.len() - 2];
        assert_eq!(woo.send_webhook(&hook, "order.deleted", deleted).await, 200);
        assert_eq!(
            status_of(&s, "woo", &deleted.to_string()).await,
            "cancelled",
            "{}",
            db.label
        );

        // Stock out: what the channel can sell, after 150+ orders, in a few batch calls.
        let r = s
            .post("/api/v1/channels/woo/sync?what=stock", &json!({}))
            .await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        for sku in ["SKU-A", "SKU-B"] {
            assert_eq!(
                woo.stock(sku),
                Some(available_to_sell(&s, "woo", sku).await),
                "{}: {sku}",
                db.label
            );
        }
        let batches = woo.stats().calls("products_batch");
        assert!(
            (1..=5).contains(&batches),
            "{}: {batches} batch calls",
            db.label
        );
        assert_eq!(woo.stock("SKU-C"), None, "not on the shop yet");

        // The shop adds a product for SKU-C, and deletes and re-creates SKU-B (a new id):
        // a reconcile sets both.
        woo.add_product("SKU-C", None);
        let old_b = woo.products().iter().find(|p| p["sku"] == "SKU-B").unwrap()["id"]
            .as_u64()
            .unwrap();
        let deleted = woo_api(&woo, "POST", "products/batch", &json!({"delete": [old_b]})).await;
        assert_eq!(deleted["delete"][0]["id"], old_b, "{deleted}");
        let new_b = woo.add_product("SKU-B", Some(0));
        assert_ne!(new_b, old_b);
        let r = s
            .post(
                "/api/v1/inventory/adjustments",
                &json!({"sku": "SKU-B", "location": "WH1", "delta": 5, "reason": "received"}),
            )
            .await;
        assert_eq!(r.status, 201, "{:?}", r.body);
        let r = s
            .post("/api/v1/channels/woo/sync?what=stock", &json!({}))
            .await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        let r = s
            .post("/api/v1/channels/woo/sync?what=reconcile", &json!({}))
            .await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        for sku in ["SKU-A", "SKU-B", "SKU-C"] {
            assert_eq!(
                woo.stock(sku),
                Some(available_to_sell(&s, "woo", sku).await),
                "{}: {sku} after reconcile",
                db.label
            );
        }

        // Tracking out, once per shipment; the order completed once fully shipped.
        let shipped = polled[0];
        let shipment = ship(&s, "woo", &shipped.to_string()).await;
        for _ in 0..2 {
            let r = s
                .post("/api/v1/channels/woo/sync?what=tracking", &json!({}))
                .await;
            assert_eq!(r.status, 200, "{:?}", r.body);
        }
        let trackings = woo.trackings(shipped);
        assert_eq!(trackings.len(), 1, "{}: {trackings:?}", db.label);
        assert_eq!(trackings[0]["tracking_number"], shipment["tracking_number"]);
        assert_eq!(woo.order(shipped).unwrap()["status"], "completed");
        assert_eq!(woo.all_trackings().len(), 1);

        // The completed order seen again by a poll changes nothing.
        poll(&s, "woo").await;
        shipment_status(&s, "woo", &shipped.to_string()).await;

        assert_eq!(woo.stats().throttled, 0, "{}", db.label);
        let status = s.get("/api/v1/channels/woo/sync").await.body;
        assert_eq!(status["backlog"]["orders_needing_attention"], 0, "{status}");
        assert!(status["last_stock_push"].is_string(), "{status}");
        let (ok, out) = s.verify();
        assert!(ok, "{}: {out}", db.label);
        s.stop();
    }
}

/// The order's status as Ordo had it just after shipping (shipped, or delivered).
async fn shipment_status(s: &Server, channel: &str, id: &str) -> Value {
    let status = status_of(s, channel, id).await;
    assert!(
        status == "shipped" || status == "delivered",
        "order {id}: {status}"
    );
    status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ebay_orders_polled_stock_and_tracking_pushed() {
    for db in databases("ebay") {
        let ebay = EbayEmulator::start(EbayConfig {
            requests_per_second: Some(20.0),
            ..EbayConfig::default()
        })
        .await;
        for sku in ["SKU-A", "SKU-B"] {
            ebay.add_inventory_item(sku, Some(0));
        }
        let s = Server::start(&db).await;
        seed(&s, &[("SKU-A", "WH1", 1000), ("SKU-B", "WH1", 50)]).await;
        let r = s
            .send(
                "PUT",
                "/api/v1/channels/ebay",
                &json!({"name": "eBay US", "kind": "ebay", "currency": "USD"}),
            )
            .await;
        assert_eq!(r.status, 201, "{:?}", r.body);
        let token = ebay.config().access_token.clone();
        let r = s
            .send(
                "PUT",
                "/api/v1/channels/ebay/connection",
                &json!({"base_url": ebay.base_url(), "poll_interval_seconds": 3600,
                    "secrets": {"oauth_token": token}}),
            )
            .await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        assert!(!r.body.to_string().contains(&token), "{}", r.body);
        wait_first_poll(&s, "ebay").await;

        // 210 orders (two pages of 200), one not yet paid, through a 500 and a dropped
        // connection.
        let mut placed = BTreeSet::new();
        for i in 0..210 {
            placed.insert(
                ebay.place(
                    NewOrder::new()
                        .line("SKU-A", 1 + i % 2, "12.50")
                        .email(&format!("buyer{i}@example.com")),
                ),
            );
        }
        let pending = ebay.place(NewOrder::new().line("SKU-B", 1, "12.50").status("PENDING"));
        placed.insert(pending.clone());
        ebay.faults().on("getOrders").fail_next(1, 500);
        ebay.faults().on("getOrders").drop_next(1);
        let report = poll(&s, "ebay").await;
        assert!(report["pages"].as_u64().unwrap() >= 2, "{report}");
        assert_eq!(ebay.faults().pending(), 0, "both faults were met");
        assert_eq!(
            external_ids(&s, "ebay", db.label).await,
            placed,
            "{}: every channel order, once",
            db.label
        );
        assert_eq!(status_of(&s, "ebay", &pending).await, "on_hold");

        // Paid and cancelled on the channel: seen by the next poll.
        let orders = ebay.orders();
        let first = orders[0]["orderId"].as_str().unwrap().to_string();
        let gone = orders[1]["orderId"].as_str().unwrap().to_string();
        let before = balance(&s, "SKU-A", "WH1").await["allocated"]
            .as_i64()
            .unwrap();
        ebay.cancel_order(&gone);
        ebay.mark_paid(&pending);
        let report = poll(&s, "ebay").await;
        assert_eq!(report["cancelled"], 1, "{report}");
        assert_eq!(status_of(&s, "ebay", &gone).await, "cancelled");
        assert_eq!(
            balance(&s, "SKU-A", "WH1").await["allocated"]
                .as_i64()
                .unwrap(),
            before - 2
        );
        assert_eq!(
            status_of(&s, "ebay", &pending).await,
            "allocated",
            "{}",
            db.label
        );
        assert_eq!(external_ids(&s, "ebay", db.label).await, placed);

        // Stock out.
        let r = s
            .post("/api/v1/channels/ebay/sync?what=stock", &json!({}))
            .await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        for sku in ["SKU-A", "SKU-B"] {
            assert_eq!(
                ebay.quantity(sku),
                Some(available_to_sell(&s, "ebay", sku).await),
                "{}: {sku}",
                db.label
            );
        }
        let bulk = ebay.stats().calls("bulkUpdatePriceQuantity");
        assert!((1..=5).contains(&bulk), "{}: {bulk} bulk calls", db.label);

        // Tracking out, once per shipment.
        let shipment = ship(&s, "ebay", &first).await;
        for _ in 0..2 {
            let r = s
                .post("/api/v1/channels/ebay/sync?what=tracking", &json!({}))
                .await;
            assert_eq!(r.status, 200, "{:?}", r.body);
        }
        let fulfillments = ebay.shipping_fulfillments(&first);
        assert_eq!(fulfillments.len(), 1, "{}: {fulfillments:?}", db.label);
        assert_eq!(
            fulfillments[0]["shipmentTrackingNumber"],
            shipment["tracking_number"]
        );
        assert_eq!(ebay.all_shipping_fulfillments().len(), 1);
        assert_eq!(
            ebay.order(&first).unwrap()["orderFulfillmentStatus"],
            "FULFILLED"
        );
        // The fulfilled order seen again by a poll changes nothing.
        poll(&s, "ebay").await;
        shipment_status(&s, "ebay", &first).await;

        assert_eq!(ebay.stats().throttled, 0, "{}", db.label);
        let status = s.get("/api/v1/channels/ebay/sync").await.body;
        assert_eq!(status["backlog"]["orders_needing_attention"], 0, "{status}");
        let (ok, out) = s.verify();
        assert!(ok, "{}: {out}", db.label);
        s.stop();
    }
}
