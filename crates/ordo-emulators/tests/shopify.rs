//! The Shopify emulator speaks the REST Admin API: cursor pages, auth, the leaky bucket,
//! signed webhooks, the inventory and fulfillment-orders flows, and injected faults.

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use ordo_emulators::shopify::{ShopifyConfig, ShopifyEmulator};
use ordo_emulators::{NewOrder, sign};
use serde_json::{Value, json};
use support::{Receiver, client, link};

const LOCATION: u64 = 65_544_149;

fn api(shop: &ShopifyEmulator, path: &str) -> String {
    format!(
        "{}/admin/api/{}/{path}",
        shop.base_url(),
        shop.config().api_version
    )
}

async fn get(shop: &ShopifyEmulator, url: &str) -> reqwest::Response {
    client()
        .get(url)
        .header("X-Shopify-Access-Token", &shop.config().access_token)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn orders_walk_every_cursor_page_once() {
    let shop = ShopifyEmulator::start(ShopifyConfig {
        first_order_id: 9_007_199_254_740_993,
        ..Default::default()
    })
    .await;
    let mut placed = BTreeSet::new();
    for i in 0..7 {
        let o = shop.place(
            NewOrder::new()
                .line("SKU-A", 1 + i, "19.99")
                .email("a@example.com"),
        );
        placed.insert(o["id"].as_u64().unwrap());
    }
    assert!(
        placed.iter().all(|id| *id > 1 << 53),
        "ids beyond f64 precision"
    );
    let first = shop.order_ids()[0];
    shop.cancel_order(first);

    let mut url = api(&shop, "orders.json?status=any&limit=3");
    let (mut seen, mut pages) = (BTreeSet::new(), 0);
    loop {
        let r = get(&shop, &url).await;
        assert_eq!(r.status(), 200);
        let links = r
            .headers()
            .get("link")
            .map(|l| l.to_str().unwrap().to_string());
        let body: Value = r.json().await.unwrap();
        for o in body["orders"].as_array().unwrap() {
            assert!(o["total_price"].is_string(), "money is decimal text");
            assert!(seen.insert(o["id"].as_u64().unwrap()), "no order twice");
        }
        pages += 1;
        if pages > 1 {
            assert!(link(links.as_deref(), "previous").is_some());
        }
        match link(links.as_deref(), "next") {
            Some(next) => url = next,
            None => break,
        }
    }
    assert_eq!((pages, seen), (3, placed));

    // Default status is open: the cancelled order is left out.
    let open: Value = get(&shop, &api(&shop, "orders.json?limit=250"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(open["orders"].as_array().unwrap().len(), 6);
    let count: Value = get(&shop, &api(&shop, "orders/count.json?status=any"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(count["count"], 7);

    // page_info admits only limit and fields.
    let r = get(&shop, &api(&shop, "orders.json?status=any&limit=3")).await;
    let next = link(r.headers().get("link").map(|l| l.to_str().unwrap()), "next").unwrap();
    let r = get(&shop, &format!("{next}&status=any")).await;
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert!(
        body["errors"]["page_info"][0]
            .as_str()
            .unwrap()
            .contains("status cannot be passed")
    );

    // updated_at_min filters on the last change.
    let later = shop.order_ids()[3];
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let changed = shop.mark_paid(later).unwrap();
    let since = changed["updated_at"].as_str().unwrap();
    let url = api(
        &shop,
        &format!("orders.json?status=any&updated_at_min={}", urlencode(since)),
    );
    let body: Value = get(&shop, &url).await.json().await.unwrap();
    let ids: Vec<u64> = body["orders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, vec![later]);
}

fn urlencode(s: &str) -> String {
    s.replace('+', "%2B").replace(':', "%3A")
}

#[tokio::test]
async fn a_wrong_token_is_refused_as_shopify_does() {
    let shop = ShopifyEmulator::start(ShopifyConfig::default()).await;
    let r = client()
        .get(api(&shop, "orders.json"))
        .header("X-Shopify-Access-Token", "shpat_wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let body: Value = r.json().await.unwrap();
    assert!(
        body["errors"]
            .as_str()
            .unwrap()
            .contains("Invalid API key or access token")
    );
}

#[tokio::test]
async fn the_leaky_bucket_answers_429_with_retry_after() {
    let shop = ShopifyEmulator::start(ShopifyConfig {
        bucket_size: 5.0,
        leak_per_second: 1.0,
        ..Default::default()
    })
    .await;
    let url = api(&shop, "locations.json");
    for i in 1..=5 {
        let r = get(&shop, &url).await;
        assert_eq!(r.status(), 200);
        let used = r.headers()["x-shopify-shop-api-call-limit"]
            .to_str()
            .unwrap()
            .to_string();
        assert_eq!(used, format!("{i}/5"));
    }
    let r = get(&shop, &url).await;
    assert_eq!(r.status(), 429);
    let wait: f64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(wait > 0.0 && wait <= 1.0, "{wait}");
    tokio::time::sleep(Duration::from_secs_f64(wait)).await;
    assert_eq!(get(&shop, &url).await.status(), 200);
    let stats = shop.stats();
    assert_eq!(
        (stats.total, stats.throttled, stats.calls("locations")),
        (7, 1, 7)
    );
    assert!(stats.max_per_second >= 6);
}

#[tokio::test]
async fn webhooks_are_signed_and_redelivered_with_the_same_id() {
    // The guide's test vector: the signing is Shopify's.
    assert_eq!(
        sign(
            "my_app_secret",
            br##"{"id":820982911946154508,"name":"#9999"}"##
        ),
        "xtDnvGlQbyUBwH5BtyxXdef14y1z1d13oJ7V4PoSvzs="
    );
    let shop = ShopifyEmulator::start(ShopifyConfig::default()).await;
    let hook = Receiver::start().await;
    let order = shop.place(NewOrder::new().line("SKU-A", 2, "12.50"));
    let id = order["id"].as_u64().unwrap();
    assert_eq!(shop.send_webhook(&hook.url, "orders/create", id).await, 200);
    assert_eq!(shop.redeliver_last(&hook.url).await, 200);
    assert_eq!(
        shop.send_webhook(&hook.url, "orders/updated", id).await,
        200
    );
    assert_eq!(
        shop.send_forged_webhook(&hook.url, "orders/updated", id)
            .await,
        200
    );
    let got = hook.received();
    assert_eq!(got.len(), 4);
    let secret = &shop.config().webhook_secret;
    for (i, r) in got.iter().enumerate() {
        let valid = r.header("x-shopify-hmac-sha256") == sign(secret, &r.body);
        assert_eq!(valid, i < 3, "delivery {i}");
        assert_eq!(r.header("x-shopify-shop-domain"), shop.config().shop_domain);
        assert_eq!(r.header("x-shopify-api-version"), shop.config().api_version);
        assert_eq!(r.header("content-type"), "application/json");
    }
    assert_eq!(got[0].header("x-shopify-topic"), "orders/create");
    assert_eq!(
        got[0].header("x-shopify-webhook-id"),
        got[1].header("x-shopify-webhook-id")
    );
    assert_ne!(
        got[0].header("x-shopify-webhook-id"),
        got[2].header("x-shopify-webhook-id")
    );
    let body: Value = serde_json::from_slice(&got[0].body).unwrap();
    assert_eq!(
        body["id"].as_u64(),
        Some(id),
        "the id survives as an exact integer"
    );
    assert_eq!(body["line_items"][0]["price"], "12.50");
    assert_eq!(shop.deliveries().len(), 3);
    assert_eq!(
        shop.redeliver(&hook.url, &shop.deliveries()[2].webhook_id)
            .await,
        200
    );
}

#[tokio::test]
async fn stock_is_set_per_location_and_tracking_fulfils_the_order() {
    let shop = ShopifyEmulator::start(ShopifyConfig::default()).await;
    shop.add_location(LOCATION, "Main warehouse");
    let variant = shop.add_product("SKU-A");
    shop.add_product_with_variants("Tee", &["TEE-S", "TEE-M"]);
    let http = client();
    let token = shop.config().access_token.clone();

    let products: Value = get(
        &shop,
        &api(&shop, "products.json?limit=250&fields=id,variants"),
    )
    .await
    .json()
    .await
    .unwrap();
    assert!(
        products["products"][0].get("title").is_none(),
        "fields keeps only what was asked"
    );
    let item = products["products"][0]["variants"][0]["inventory_item_id"]
        .as_u64()
        .unwrap();
    assert_eq!(
        products["products"][0]["variants"][0]["id"].as_u64(),
        Some(variant)
    );
    assert_eq!(shop.inventory_item_id("SKU-A"), Some(item));
    let r = http
        .post(api(&shop, "inventory_levels/set.json"))
        .header("X-Shopify-Access-Token", &token)
        .json(&json!({"location_id": LOCATION, "inventory_item_id": item, "available": 42}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let level: Value = r.json().await.unwrap();
    assert_eq!(level["inventory_level"]["available"], 42);
    assert_eq!(shop.available("SKU-A", LOCATION), Some(42));
    assert_eq!(shop.stock()["SKU-A"][&LOCATION], 42);

    let order = shop.place(
        NewOrder::new()
            .line("SKU-A", 2, "10.00")
            .line("TEE-M", 1, "15.00"),
    );
    let id = order["id"].as_u64().unwrap();
    let fos: Value = get(
        &shop,
        &api(&shop, &format!("orders/{id}/fulfillment_orders.json")),
    )
    .await
    .json()
    .await
    .unwrap();
    let fo = &fos["fulfillment_orders"][0];
    assert_eq!(fo["assigned_location_id"], LOCATION);
    let first_line = fo["line_items"][0]["id"].clone();
    let fulfil = |lines: Value| {
        json!({"fulfillment": {"notify_customer": false,
            "tracking_info": {"number": "1Z001985YW99744790", "company": "UPS", "url": "https://ups.example/1Z"},
            "line_items_by_fulfillment_order": [{"fulfillment_order_id": fo["id"], "fulfillment_order_line_items": lines}]}})
    };
    let post = |body: Value| {
        http.post(api(&shop, "fulfillments.json"))
            .header("X-Shopify-Access-Token", &token)
            .json(&body)
            .send()
    };
    let r = post(fulfil(json!([{"id": first_line, "quantity": 3}])))
        .await
        .unwrap();
    assert_eq!(r.status(), 422, "more than ordered");
    let r = post(fulfil(json!([{"id": first_line, "quantity": 2}])))
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let created: Value = r.json().await.unwrap();
    assert_eq!(
        created["fulfillment"]["tracking_number"],
        "1Z001985YW99744790"
    );
    assert_eq!(shop.order(id).unwrap()["fulfillment_status"], "partial");
    let mut rest = fulfil(json!(null));
    rest["fulfillment"]["line_items_by_fulfillment_order"][0]
        .as_object_mut()
        .unwrap()
        .remove("fulfillment_order_line_items");
    assert_eq!(post(rest).await.unwrap().status(), 201);
    let after = shop.order(id).unwrap();
    assert_eq!(after["fulfillment_status"], "fulfilled");
    assert!(
        after["closed_at"].is_string(),
        "paid and fulfilled: archived"
    );
    assert_eq!(shop.fulfillments().len(), 2);
    assert_eq!(shop.fulfillment_orders(id)[0]["status"], "closed");
}

#[tokio::test]
async fn faults_fail_delay_drop_and_cut() {
    let shop = ShopifyEmulator::start(ShopifyConfig::default()).await;
    let url = api(&shop, "orders.json");
    shop.faults().fail_next(1, 503);
    let r = get(&shop, &url).await;
    assert_eq!(r.status(), 503);
    assert_eq!(
        r.json::<Value>().await.unwrap()["errors"],
        "Service Unavailable"
    );
    assert_eq!(get(&shop, &url).await.status(), 200);

    // Over a pooled connection too: the request fails, it is not silently retried.
    let http = client();
    let send = || {
        http.get(&url)
            .header("X-Shopify-Access-Token", &shop.config().access_token)
            .send()
    };
    assert_eq!(send().await.unwrap().status(), 200);
    shop.faults().drop_next(1);
    let r = send().await;
    assert!(r.is_err(), "no answer at all: {r:?}");
    assert_eq!(send().await.unwrap().status(), 200);

    shop.faults().cut_next(1);
    let r = get(&shop, &url).await;
    assert_eq!(r.status(), 200);
    assert!(r.bytes().await.is_err(), "the body is cut off");

    shop.faults().delay_next(1, Duration::from_secs(3));
    let quick = reqwest::Client::builder()
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let r = quick
        .get(&url)
        .header("X-Shopify-Access-Token", &shop.config().access_token)
        .send()
        .await;
    assert!(r.unwrap_err().is_timeout());

    // Faults for one operation leave the others alone.
    shop.faults().on("products").fail_next(1, 500);
    assert_eq!(get(&shop, &url).await.status(), 200);
    assert_eq!(get(&shop, &api(&shop, "products.json")).await.status(), 500);
    assert_eq!(shop.faults().pending(), 0);
}
