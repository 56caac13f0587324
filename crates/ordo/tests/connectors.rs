//! Sales-channel connectors against emulators speaking the channels' wire formats, through
//! a real `ordo serve` on every backend: webhooks (signature, redelivery), multi-page
//! polling under injected faults, SKU mapping, cancellation and payment on the channel,
//! coalesced stock pushes, tracking pushed once, and the channel's rate limit respected.

mod common;

use std::collections::BTreeSet;

use common::*;
use ordo_emulators::shopify::{LineSpec, ShopifyConfig, ShopifyEmulator};
use serde_json::{Value, json};

const SHOP_LOCATION: u64 = 65_544_149;

fn line(sku: &str, quantity: i64) -> LineSpec {
    LineSpec {
        sku: sku.into(),
        quantity,
        price: "12.50".into(),
    }
}

async fn by_external_id(s: &Server, channel: &str, id: u64) -> Option<Value> {
    channel_orders(s, channel)
        .await
        .into_iter()
        .find(|o| o["external_id"] == json!(id.to_string()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shopify_orders_in_stock_and_tracking_out() {
    for db in databases("shopify") {
        let shop = ShopifyEmulator::start(ShopifyConfig::default()).await;
        shop.add_location(SHOP_LOCATION, "Main warehouse");
        for sku in ["SKU-A", "SKU-B", "TEE-RED"] {
            shop.add_product(sku);
        }
        let s = Server::start(&db).await;
        seed(&s, &[("SKU-A", "WH1", 1000), ("SKU-B", "WH1", 50)]).await;
        let r = s
            .send(
                "PUT",
                "/api/v1/channels/shop",
                &json!({"name": "Shop", "kind": "shopify", "currency": "USD"}),
            )
            .await;
        assert_eq!(r.status, 201, "{:?}", r.body);
        // An order of the channel shipped before it was connected: not the channel's news.
        let mut old = order("before-connecting", &[("SKU-B", 1)]);
        old["channel"] = json!("shop");
        old["currency"] = json!("USD");
        let old = s.post("/api/v1/orders", &old).await.body;
        let old_fo = old["fulfillment_orders"][0]["id"].as_str().unwrap();
        let r = s
            .post("/api/v1/shipments", &json!({"fulfillment_order": old_fo}))
            .await;
        assert_eq!(r.status, 201, "{:?}", r.body);
        let secret = &shop.config().access_token;
        let r = s
            .send(
                "PUT",
                "/api/v1/channels/shop/connection",
                &json!({"base_url": shop.base_url(), "poll_interval_seconds": 3600,
                    "locations": {SHOP_LOCATION.to_string(): "WH1"},
                    "secrets": {"access_token": secret, "webhook_secret": shop.config().webhook_secret}}),
            )
            .await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        assert!(
            !r.body.to_string().contains(secret.as_str()),
            "secrets are never shown: {}",
            r.body
        );
        assert!(
            r.body["secrets"]["access_token"]
                .as_str()
                .unwrap()
                .ends_with(&secret[secret.len() - 4..])
        );
        let hook = format!("{}/hooks/shopify/shop", s.base);

        // Webhook: captured at once, the id (> 2^53) kept exactly.
        let first = shop.place_order("first@example.com", &[line("SKU-A", 2)], "paid");
        let first_id = first["id"].as_u64().unwrap();
        assert_eq!(
            shop.send_webhook(&hook, "orders/create", first_id).await,
            201,
            "{}",
            db.label
        );
        let captured = by_external_id(&s, "shop", first_id)
            .await
            .expect("captured");
        assert_eq!(captured["external_id"], json!("5000000000000001"));
        // Redelivery (same webhook id) and a forged signature change nothing.
        assert_eq!(shop.redeliver_last(&hook).await, 200);
        assert_eq!(
            shop.send_forged_webhook(&hook, "orders/create", first_id)
                .await,
            401
        );
        assert_eq!(
            channel_orders(&s, "shop").await.len(),
            2,
            "the webhook's and the earlier one"
        );

        // Polling: 300 orders over two pages, with a 500, a 503 and a connection cut mid-page.
        let mut placed: BTreeSet<String> =
            [first_id.to_string(), "before-connecting".to_string()].into();
        for i in 0..300 {
            let o = shop.place_order(
                &format!("buyer{i}@example.com"),
                &[line("SKU-A", 1 + i % 2)],
                "paid",
            );
            placed.insert(o["id"].as_u64().unwrap().to_string());
        }
        shop.faults().fail_next(1, 500);
        shop.faults().fail_next(1, 503);
        shop.faults().drop_next(1);
        // A page whose body stops part way is asked for again, never half-imported.
        shop.faults().cut_next(1);
        let r = s
            .post("/api/v1/channels/shop/sync?what=orders", &json!({}))
            .await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        assert!(r.body["pages"].as_u64().unwrap() >= 2, "{:?}", r.body);
        assert_eq!(shop.faults().pending(), 0, "every fault was met");
        let ours: Vec<String> = channel_orders(&s, "shop")
            .await
            .iter()
            .map(|o| o["external_id"].as_str().unwrap().to_string())
            .collect();
        let unique: BTreeSet<String> = ours.iter().cloned().collect();
        assert_eq!(ours.len(), unique.len(), "{}: no order twice", db.label);
        assert_eq!(unique, placed, "{}: every channel order, once", db.label);

        // An item with no Ordo SKU: the order is captured on hold `unmapped_sku`, its
        // other items reserved, and listed as needing attention; a mapping releases it.
        let unmapped = shop.place_order(
            "tee@example.com",
            &[line("TEE-RED", 1), line("SKU-A", 2)],
            "paid",
        );
        let unmapped_id = unmapped["id"].as_u64().unwrap();
        assert_eq!(
            shop.send_webhook(&hook, "orders/create", unmapped_id).await,
            200
        );
        let attention = s.get("/api/v1/channels/shop/attention").await.body;
        assert_eq!(
            attention["items"][0]["unmapped"],
            json!(["TEE-RED"]),
            "{attention}"
        );
        let held = by_external_id(&s, "shop", unmapped_id)
            .await
            .expect("captured although an item is unmapped");
        let number = held["number"].as_str().unwrap().to_string();
        assert_eq!(attention["items"][0]["order"], json!(number), "{attention}");
        let tee = s.get(&format!("/api/v1/orders/{number}")).await.body;
        assert_eq!(tee["status"], "on_hold", "{tee}");
        assert_eq!(tee["hold_reason"], "unmapped_sku", "{tee}");
        assert_eq!(
            tee["unmapped_lines"],
            json!([{"line_no": 1, "channel_ref": "TEE-RED"}]),
            "{tee}"
        );
        assert_eq!(tee["lines"][0]["sku"], "unmapped:TEE-RED");
        assert_eq!(tee["lines"][0]["backordered"], 1);
        assert_eq!(
            tee["lines"][1]["allocated"], 2,
            "the mapped item is reserved"
        );
        let r = s
            .send(
                "PUT",
                "/api/v1/channels/shop/sku-mappings/TEE-RED",
                &json!({"sku": "SKU-B"}),
            )
            .await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        assert_eq!(
            r.body["retried"][0]["result"],
            json!({"outcome": "mapped", "number": number}),
            "{:?}",
            r.body
        );
        let tee = s.get(&format!("/api/v1/orders/{number}")).await.body;
        assert_eq!(tee["lines"][0]["sku"], "SKU-B");
        assert_eq!(tee["lines"][0]["allocated"], 1, "{tee}");
        assert_eq!(tee["status"], "allocated", "released once mapped: {tee}");
        assert!(tee.get("unmapped_lines").is_none(), "{tee}");
        assert!(
            s.get("/api/v1/channels/shop/attention").await.body["items"]
                .as_array()
                .unwrap()
                .is_empty()
        );
        let (ok, out) = s.verify();
        assert!(ok, "{}: {out}", db.label);

        // Two unknown items, mapped one by one on the order itself.
        let two = shop.place_order(
            "two@example.com",
            &[line("CAP-GREEN", 1), line("CAP-BLUE", 1)],
            "pending",
        );
        let two_id = two["id"].as_u64().unwrap();
        assert_eq!(shop.send_webhook(&hook, "orders/create", two_id).await, 200);
        let two = by_external_id(&s, "shop", two_id).await.expect("captured");
        let number = two["number"].as_str().unwrap().to_string();
        let map = |line: i32, sku: &str| {
            let (s, number, sku) = (&s, number.clone(), sku.to_string());
            async move {
                s.send(
                    "PUT",
                    &format!("/api/v1/orders/{number}/lines/{line}/sku"),
                    &json!({"sku": sku}),
                )
                .await
            }
        };
        let r = map(1, "NOPE").await;
        assert_eq!(r.status, 422, "{:?}", r.body);
        assert_eq!(r.body["errors"][0]["field"], "sku", "{:?}", r.body);
        let r = map(9, "SKU-A").await;
        assert_eq!(r.status, 404, "{:?}", r.body);
        let r = map(1, "SKU-A").await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        assert_eq!(r.body["status"], "on_hold", "one item still unmapped");
        assert_eq!(r.body["hold_reason"], "unmapped_sku");
        assert_eq!(r.body["lines"][0]["allocated"], 1, "{:?}", r.body);
        let r = map(1, "SKU-B").await;
        assert_eq!(r.status, 409, "already mapped: {:?}", r.body);
        let r = map(2, "SKU-A").await;
        assert_eq!(r.status, 422, "SKU-A is already line 1: {:?}", r.body);
        let r = map(2, "SKU-B").await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        assert_eq!(
            r.body["hold_reason"], "payment_pending",
            "mapped, but the channel is not paid yet: {:?}",
            r.body
        );
        let events = s.get(&format!("/api/v1/orders/{number}/events")).await.body;
        let kinds: Vec<&str> = events["items"]
            .as_array()
            .or_else(|| events.as_array())
            .unwrap()
            .iter()
            .filter_map(|e| e["type"].as_str().or_else(|| e["kind"].as_str()))
            .collect();
        assert_eq!(
            kinds.iter().filter(|k| **k == "order.line_mapped").count(),
            2,
            "{events}"
        );
        let (ok, out) = s.verify();
        assert!(ok, "{}: {out}", db.label);

        // Cancelled on the channel: cancelled here, its stock released.
        let before = balance(&s, "SKU-A", "WH1").await["allocated"]
            .as_i64()
            .unwrap();
        shop.cancel_order(first_id);
        assert_eq!(
            shop.send_webhook(&hook, "orders/cancelled", first_id).await,
            200
        );
        let cancelled = by_external_id(&s, "shop", first_id).await.unwrap();
        assert_eq!(cancelled["status"], "cancelled");
        assert_eq!(
            balance(&s, "SKU-A", "WH1").await["allocated"]
                .as_i64()
                .unwrap(),
            before - 2
        );

        // Not yet paid: held; paid later: released.
        let pending = shop.place_order("later@example.com", &[line("SKU-B", 1)], "pending");
        let pending_id = pending["id"].as_u64().unwrap();
        assert_eq!(
            shop.send_webhook(&hook, "orders/create", pending_id).await,
            201
        );
        assert_eq!(
            by_external_id(&s, "shop", pending_id).await.unwrap()["status"],
            "on_hold"
        );
        shop.mark_paid(pending_id);
        assert_eq!(
            shop.send_webhook(&hook, "orders/paid", pending_id).await,
            200
        );
        assert_eq!(
            by_external_id(&s, "shop", pending_id).await.unwrap()["status"],
            "allocated"
        );

        // Stock out: the shop shows what the channel can sell at the mapped location, after
        // hundreds of changes, in a handful of calls.
        let r = s
            .post("/api/v1/channels/shop/sync?what=stock", &json!({}))
            .await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        for sku in ["SKU-A", "SKU-B"] {
            let ours = s
                .get(&format!("/api/v1/channels/shop/availability?sku={sku}"))
                .await
                .body;
            let at_wh1 = ours["items"][0]["locations"]
                .as_array()
                .unwrap()
                .iter()
                .find(|l| l["location"] == "WH1")
                .unwrap()["available"]
                .as_i64()
                .unwrap();
            assert_eq!(
                shop.available(sku, SHOP_LOCATION),
                Some(at_wh1),
                "{}: {sku}",
                db.label
            );
        }
        let pushes = shop.stats().calls("inventory_levels/set");
        assert!(
            (1..=12).contains(&pushes),
            "{}: {pushes} pushes for 300+ orders",
            db.label
        );

        // Tracking out, once per shipment.
        let second_id: u64 = placed
            .iter()
            .filter_map(|p| p.parse::<u64>().ok())
            .filter(|i| *i != first_id)
            .min()
            .unwrap();
        let order = by_external_id(&s, "shop", second_id).await.unwrap();
        let order = s
            .get(&format!(
                "/api/v1/orders/{}",
                order["number"].as_str().unwrap()
            ))
            .await
            .body;
        let fo = order["fulfillment_orders"][0]["id"].as_str().unwrap();
        let shipment = s
            .post("/api/v1/shipments", &json!({"fulfillment_order": fo}))
            .await;
        assert_eq!(shipment.status, 201, "{:?}", shipment.body);
        for _ in 0..2 {
            let r = s
                .post("/api/v1/channels/shop/sync?what=tracking", &json!({}))
                .await;
            assert_eq!(r.status, 200, "{:?}", r.body);
        }
        let fulfillments: Vec<Value> = shop
            .fulfillments()
            .into_iter()
            .filter(|f| f["order_id"].as_u64() == Some(second_id))
            .collect();
        assert_eq!(fulfillments.len(), 1, "{}: tracking pushed once", db.label);
        assert_eq!(
            fulfillments[0]["tracking_number"],
            shipment.body["tracking_number"]
        );
        assert_eq!(
            shop.order(second_id).unwrap()["fulfillment_status"],
            "fulfilled"
        );

        // The shipment made before connecting was never pushed (nor tried).
        let status = s.get("/api/v1/channels/shop/sync").await.body;
        assert!(
            !status["recent_errors"]
                .to_string()
                .contains("before-connecting"),
            "{status}"
        );
        assert_eq!(status["trackings_pushed"], 1, "{status}");
        // The channel's limit was never exceeded, and the status says what happened.
        assert_eq!(
            shop.stats().throttled,
            0,
            "{}: the client kept under the leaky bucket",
            db.label
        );
        let status = s.get("/api/v1/channels/shop/sync").await.body;
        assert!(status["last_import"].is_string(), "{status}");
        assert!(status["last_stock_push"].is_string(), "{status}");
        assert_eq!(status["backlog"]["orders_needing_attention"], 0);
        let (ok, out) = s.verify();
        assert!(ok, "{}: {out}", db.label);
        s.stop();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amazon_orders_polled_fba_routed_stock_and_shipments_confirmed() {
    use ordo_emulators::amazon::{AmazonConfig, AmazonEmulator, ItemSpec};
    for db in databases("amazon") {
        let amazon = AmazonEmulator::start(AmazonConfig::default()).await;
        amazon.add_listing("SKU-A", "B0SKUA0001");
        let s = Server::start(&db).await;
        seed(&s, &[("SKU-A", "WH1", 40)]).await;
        let r = s
            .send(
                "PUT",
                "/api/v1/locations/FBA",
                &json!({"name": "Amazon FBA", "kind": "marketplace", "priority": 1}),
            )
            .await;
        assert_eq!(r.status, 201, "{:?}", r.body);
        let r = s
            .post(
                "/api/v1/inventory/adjustments",
                &json!({"sku": "SKU-B", "location": "FBA", "delta": 10, "reason": "received"}),
            )
            .await;
        assert_eq!(r.status, 201, "{:?}", r.body);
        let r = s
            .send(
                "PUT",
                "/api/v1/channels/amzn",
                &json!({"name": "Amazon US", "kind": "amazon", "currency": "USD", "locations": ["WH1", "FBA"]}),
            )
            .await;
        assert_eq!(r.status, 201, "{:?}", r.body);
        let c = amazon.config();
        let r = s
            .send(
                "PUT",
                "/api/v1/channels/amzn/connection",
                &json!({"base_url": amazon.base_url(), "auth_url": amazon.base_url(), "seller_id": c.seller_id,
                    "marketplace_ids": [c.marketplace_id], "channel_fulfilment_location": "FBA", "poll_interval_seconds": 3600,
                    "secrets": {"lwa_client_id": c.client_id, "lwa_client_secret": c.client_secret, "refresh_token": c.refresh_token}}),
            )
            .await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        let item = |sku: &str, quantity| ItemSpec {
            sku: sku.into(),
            quantity,
            unit_price: "19.99".into(),
        };
        let mfn: Vec<String> = (0..3)
            .map(|_| amazon.place_order(&[item("SKU-A", 2)], "Unshipped", "MFN"))
            .collect();
        let fba = amazon.place_order(&[item("SKU-B", 1)], "Unshipped", "AFN");
        let pending = amazon.place_order(&[item("SKU-A", 1)], "Pending", "MFN");
        let gone = amazon.place_order(&[item("SKU-A", 1)], "Canceled", "MFN");

        let r = s
            .post("/api/v1/channels/amzn/sync?what=orders", &json!({}))
            .await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        let orders = channel_orders(&s, "amzn").await;
        let ids: BTreeSet<&str> = orders
            .iter()
            .map(|o| o["external_id"].as_str().unwrap())
            .collect();
        let expected: BTreeSet<&str> = mfn
            .iter()
            .map(String::as_str)
            .chain([fba.as_str()])
            .collect();
        let attention = s.get("/api/v1/channels/amzn/attention").await.body;
        assert_eq!(
            ids, expected,
            "{}: cancelled before import is never captured, pending waits for its address; {attention}",
            db.label
        );
        let find = |id: &str| {
            orders
                .iter()
                .find(|o| o["external_id"] == json!(id))
                .unwrap()
                .clone()
        };
        assert!(orders.iter().all(|o| o["external_id"] != json!(pending)));
        let fba_order = s
            .get(&format!(
                "/api/v1/orders/{}",
                find(&fba)["number"].as_str().unwrap()
            ))
            .await
            .body;
        assert_eq!(
            fba_order["fulfillment_orders"][0]["location"], "FBA",
            "{}: {fba_order}",
            db.label
        );
        assert!(
            fba_order["tags"]
                .as_array()
                .unwrap()
                .contains(&json!("fulfilled_by_channel"))
        );

        // Paid later, cancelled later: seen on the next poll.
        amazon.set_status(&pending, "Unshipped");
        amazon.set_status(&mfn[2], "Canceled");
        let r = s
            .post("/api/v1/channels/amzn/sync?what=orders", &json!({}))
            .await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        let orders = channel_orders(&s, "amzn").await;
        let find = |id: &str| {
            orders
                .iter()
                .find(|o| o["external_id"] == json!(id))
                .unwrap()
                .clone()
        };
        assert_eq!(find(&pending)["status"], "allocated");
        assert_eq!(find(&mfn[2])["status"], "cancelled");
        assert!(!ids.contains(gone.as_str()));
        assert_eq!(
            amazon.stats().calls("token"),
            1,
            "{}: the access token is reused until it expires",
            db.label
        );

        // Stock out for the merchant-fulfilled listing.
        let r = s
            .post("/api/v1/channels/amzn/sync?what=stock", &json!({}))
            .await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        let ours = s
            .get("/api/v1/channels/amzn/availability?sku=SKU-A")
            .await
            .body;
        assert_eq!(
            amazon.listed_quantity("SKU-A"),
            ours["items"][0]["available_to_sell"].as_i64(),
            "{}",
            db.label
        );

        // A shipment is confirmed to Amazon with its tracking number, once.
        let order = s
            .get(&format!(
                "/api/v1/orders/{}",
                find(&mfn[0])["number"].as_str().unwrap()
            ))
            .await
            .body;
        let fo = order["fulfillment_orders"][0]["id"].as_str().unwrap();
        let shipment = s
            .post("/api/v1/shipments", &json!({"fulfillment_order": fo}))
            .await;
        assert_eq!(shipment.status, 201, "{:?}", shipment.body);
        for _ in 0..2 {
            assert_eq!(
                s.post("/api/v1/channels/amzn/sync?what=tracking", &json!({}))
                    .await
                    .status,
                200
            );
        }
        let confirmations = amazon.confirmations();
        assert_eq!(confirmations.len(), 1, "{}", db.label);
        assert_eq!(confirmations[0].0, mfn[0]);
        assert_eq!(
            confirmations[0].1["trackingNumber"],
            shipment.body["tracking_number"]
        );
        assert_eq!(confirmations[0].1["orderItems"][0]["quantity"], 2);
        assert_eq!(amazon.stats().throttled, 0, "{}", db.label);
        let (ok, out) = s.verify();
        assert!(ok, "{}: {out}", db.label);
        s.stop();
    }
}

fn fixture(name: &str) -> String {
    format!(
        "{}/../ordo-connectors/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn order_files_import_once_with_row_errors() {
    for db in databases("csv") {
        let s = Server::start(&db).await;
        seed(
            &s,
            &[
                ("MUG-1", "WH1", 100),
                ("TEA-1", "WH1", 100),
                ("POT-1", "WH1", 100),
            ],
        )
        .await;
        for (code, kind) in [
            ("csv-shop", "shopify"),
            ("csv-amzn", "amazon"),
            ("csv-own", "csv"),
        ] {
            let r = s
                .send(
                    "PUT",
                    &format!("/api/v1/channels/{code}"),
                    &json!({"name": code, "kind": kind, "currency": "USD"}),
                )
                .await;
            assert_eq!(r.status, 201, "{:?}", r.body);
        }
        // A Shopify export over the API: the bad row is reported by line and column, its
        // order skipped, the others imported; the same file again imports nothing.
        let body = std::fs::read_to_string(fixture("shopify_orders.csv")).unwrap();
        for round in 0..2 {
            let r = s
                .request(
                    "POST",
                    "/api/v1/channels/csv-shop/orders/import",
                    Some(ADMIN_KEY),
                    Some(&body),
                    &[("content-type", "text/csv")],
                )
                .await
                .unwrap();
            assert_eq!(r.status, 200, "{:?}", r.body);
            assert_eq!(r.body["errors"][0]["line"], 6, "{:?}", r.body);
            assert_eq!(
                r.body["errors"][0]["column"], "Lineitem quantity",
                "{:?}",
                r.body
            );
            let created = r.body["created"].as_u64().unwrap();
            assert_eq!(
                created,
                if round == 0 { 2 } else { 0 },
                "{}: round {round}: {:?}",
                db.label,
                r.body
            );
        }
        assert_eq!(channel_orders(&s, "csv-shop").await.len(), 2);

        // The Amazon report and Ordo's own CSV from the command line, twice.
        for (channel, file, orders) in [
            ("csv-amzn", "amazon_orders.txt", 2),
            ("csv-own", "ordo_orders.csv", 2),
        ] {
            for round in 0..2 {
                let out = std::process::Command::new(env!("CARGO_BIN_EXE_ordo"))
                    .args([
                        "import",
                        "orders",
                        "--db",
                        &db.url,
                        "--channel",
                        channel,
                        &fixture(file),
                    ])
                    .env("ORDO_LOG", "warn")
                    .output()
                    .unwrap();
                let text = String::from_utf8_lossy(&out.stdout);
                assert!(
                    out.status.success(),
                    "{}: {channel}: {text}{}",
                    db.label,
                    String::from_utf8_lossy(&out.stderr)
                );
                let expected = if round == 0 {
                    format!("{orders} imported")
                } else {
                    "0 imported".into()
                };
                assert!(
                    text.contains(&expected),
                    "{}: {channel} round {round}: {text}",
                    db.label
                );
            }
            assert_eq!(
                channel_orders(&s, channel).await.len(),
                orders,
                "{}: {channel}",
                db.label
            );
        }
        let (ok, out) = s.verify();
        assert!(ok, "{}: {out}", db.label);
        s.stop();
    }
}
