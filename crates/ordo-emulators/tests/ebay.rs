//! The eBay emulator speaks the Sell Fulfillment and Inventory APIs: the `filter` grammar
//! and offset pages, bearer tokens and their refresh, shipping fulfillments and bulk
//! quantity updates.

mod support;

use std::collections::BTreeSet;

use base64::Engine;
use ordo_emulators::NewOrder;
use ordo_emulators::ebay::{EbayConfig, EbayEmulator};
use serde_json::{Value, json};
use support::client;

fn millis(t: time::OffsetDateTime) -> String {
    t.format(time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    ))
    .unwrap()
}

fn filter_since(days: i64) -> String {
    let since = millis(time::OffsetDateTime::now_utc() - time::Duration::days(days));
    format!("lastmodifieddate%3A%5B{since}..%5D")
}

async fn get(ebay: &EbayEmulator, url: &str) -> reqwest::Response {
    client()
        .get(url)
        .bearer_auth(&ebay.config().access_token)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn orders_walk_offset_pages_by_next() {
    let ebay = EbayEmulator::start(EbayConfig::default()).await;
    let placed: BTreeSet<String> = (0..5)
        .map(|i| ebay.place(NewOrder::new().line("MUG", 1 + i, "10.00").shipping("3.50")))
        .collect();
    let mut url = format!(
        "{}/sell/fulfillment/v1/order?filter={}&limit=2&offset=0",
        ebay.base_url(),
        filter_since(1)
    );
    let (mut seen, mut pages) = (BTreeSet::new(), 0);
    loop {
        let r = get(&ebay, &url).await;
        assert_eq!(r.status(), 200);
        let body: Value = r.json().await.unwrap();
        assert_eq!(
            (body["total"].as_u64(), body["limit"].as_u64()),
            (Some(5), Some(2))
        );
        for o in body["orders"].as_array().unwrap() {
            assert!(o["pricingSummary"]["total"]["value"].is_string());
            let ship_to = &o["fulfillmentStartInstructions"][0]["shippingStep"]["shipTo"];
            assert_eq!(ship_to["contactAddress"]["countryCode"], "US");
            seen.insert(o["orderId"].as_str().unwrap().to_string());
        }
        pages += 1;
        match body["next"].as_str() {
            Some(next) => url = next.to_string(),
            None => break,
        }
    }
    assert_eq!((pages, seen), (3, placed));

    let bad = format!(
        "{}/sell/fulfillment/v1/order?filter=colour%3Ablue",
        ebay.base_url()
    );
    let r = get(&ebay, &bad).await;
    assert_eq!(r.status(), 400);
    assert_eq!(
        r.json::<Value>().await.unwrap()["errors"][0]["errorId"],
        30700
    );
    let old = format!(
        "{}/sell/fulfillment/v1/order?filter={}",
        ebay.base_url(),
        filter_since(91)
    );
    assert_eq!(
        get(&ebay, &old).await.json::<Value>().await.unwrap()["errors"][0]["errorId"],
        30830
    );
    let big = format!("{}/sell/fulfillment/v1/order?limit=201", ebay.base_url());
    assert_eq!(get(&ebay, &big).await.status(), 400);
}

#[tokio::test]
async fn a_refreshed_user_token_works_and_a_bad_one_does_not() {
    let ebay = EbayEmulator::start(EbayConfig::default()).await;
    let url = format!("{}/sell/fulfillment/v1/order", ebay.base_url());
    let r = client()
        .get(&url)
        .bearer_auth("v^1.1#nope")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(
        r.json::<Value>().await.unwrap()["errors"][0]["errorId"],
        1001
    );

    let c = ebay.config();
    let basic = base64::engine::general_purpose::STANDARD
        .encode(format!("{}:{}", c.client_id, c.client_secret));
    let r = client()
        .post(format!("{}/identity/v1/oauth2/token", ebay.base_url()))
        .header("Authorization", format!("Basic {basic}"))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", c.refresh_token.as_str()),
            (
                "scope",
                "https://api.ebay.com/oauth/api_scope/sell.fulfillment",
            ),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["token_type"], "User Access Token");
    let token = body["access_token"].as_str().unwrap();
    let r = client().get(&url).bearer_auth(token).send().await.unwrap();
    assert_eq!(r.status(), 200);
    ebay.expire_tokens();
    assert_eq!(
        client()
            .get(&url)
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
}

#[tokio::test]
async fn a_shipping_fulfillment_is_created_with_its_location() {
    let ebay = EbayEmulator::start(EbayConfig::default()).await;
    let id = ebay.place(
        NewOrder::new()
            .line("MUG", 2, "10.00")
            .line("TEE", 1, "15.00"),
    );
    let order: Value = get(
        &ebay,
        &format!("{}/sell/fulfillment/v1/order/{id}", ebay.base_url()),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(order["orderFulfillmentStatus"], "NOT_STARTED");
    let lines: Vec<String> = order["lineItems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["lineItemId"].as_str().unwrap().to_string())
        .collect();
    let url = format!(
        "{}/sell/fulfillment/v1/order/{id}/shipping_fulfillment",
        ebay.base_url()
    );
    let post = |body: Value| {
        client()
            .post(&url)
            .bearer_auth(&ebay.config().access_token)
            .json(&body)
            .send()
    };
    let r = post(json!({"lineItems": [{"lineItemId": lines[0], "quantity": 2}], "shippingCarrierCode": "USPS"}))
        .await
        .unwrap();
    assert_eq!(r.status(), 400, "a carrier without a tracking number");
    let r = post(json!({"lineItems": [{"lineItemId": lines[0], "quantity": 2}],
        "shippedDate": "2026-01-05T10:00:00.000Z", "shippingCarrierCode": "USPS", "trackingNumber": "9400111899223197428490"}))
    .await
    .unwrap();
    assert_eq!(r.status(), 201);
    let location = r.headers()["location"].to_str().unwrap().to_string();
    assert!(location.starts_with(&format!("{url}/")));
    assert_eq!(r.json::<Value>().await.unwrap(), json!({}));
    assert_eq!(
        ebay.order(&id).unwrap()["orderFulfillmentStatus"],
        "IN_PROGRESS"
    );
    let created: Value = get(&ebay, &location).await.json().await.unwrap();
    assert_eq!(created["shipmentTrackingNumber"], "9400111899223197428490");
    let r = post(json!({"lineItems": [{"lineItemId": lines[1]}], "shippingCarrierCode": "UPS", "trackingNumber": "1Z999"}))
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(
        ebay.order(&id).unwrap()["orderFulfillmentStatus"],
        "FULFILLED"
    );
    assert_eq!(ebay.shipping_fulfillments(&id).len(), 2);
}

#[tokio::test]
async fn quantities_are_updated_25_at_a_time() {
    let ebay = EbayEmulator::start(EbayConfig::default()).await;
    let offer = ebay.add_inventory_item("MUG", Some(1));
    let url = format!(
        "{}/sell/inventory/v1/bulk_update_price_quantity",
        ebay.base_url()
    );
    let post = |body: Value| {
        client()
            .post(&url)
            .bearer_auth(&ebay.config().access_token)
            .json(&body)
            .send()
    };
    let r = post(json!({"requests": [
        {"sku": "MUG", "shipToLocationAvailability": {"quantity": 42}},
        {"sku": "NOPE", "shipToLocationAvailability": {"quantity": 1}},
    ]}))
    .await
    .unwrap();
    assert_eq!(r.status(), 207);
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        body["responses"][0],
        json!({"statusCode": 200, "sku": "MUG", "errors": [], "warnings": []})
    );
    assert_eq!(body["responses"][1]["statusCode"], 404);
    assert_eq!(ebay.quantity("MUG"), Some(42));

    let r = post(
        json!({"requests": [{"sku": "MUG", "offers": [{"offerId": offer, "availableQuantity": 7,
        "price": {"value": "12.99", "currency": "USD"}}]}]}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.json::<Value>().await.unwrap()["responses"][0]["offerId"],
        offer.as_str()
    );
    assert_eq!(
        (
            ebay.quantity("MUG"),
            ebay.price("MUG").unwrap()["value"].clone()
        ),
        (Some(7), json!("12.99"))
    );

    let many: Vec<Value> = (0..26)
        .map(|_| json!({"sku": "MUG", "shipToLocationAvailability": {"quantity": 1}}))
        .collect();
    let r = post(json!({ "requests": many })).await.unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(
        r.json::<Value>().await.unwrap()["errors"][0]["domain"],
        "API_INVENTORY"
    );
}

#[tokio::test]
async fn a_per_second_limit_answers_429() {
    let ebay = EbayEmulator::start(EbayConfig {
        requests_per_second: Some(3.0),
        ..Default::default()
    })
    .await;
    let url = format!("{}/sell/fulfillment/v1/order", ebay.base_url());
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(get(&ebay, &url).await.status().as_u16());
    }
    assert_eq!(statuses, [200, 200, 200, 429]);
    let stats = ebay.stats();
    assert_eq!((stats.throttled, stats.calls("getOrders")), (1, 4));
}
