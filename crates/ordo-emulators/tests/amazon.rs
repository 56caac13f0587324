//! The Amazon emulator speaks SP-API: LWA token exchange, `x-amz-access-token`, getOrders
//! and getOrderItems with `NextToken`, per-operation token buckets, shipment confirmation
//! and the listings patch.

mod support;

use std::collections::BTreeSet;

use ordo_emulators::NewOrder;
use ordo_emulators::amazon::{AmazonConfig, AmazonEmulator};
use serde_json::{Value, json};
use support::client;

async fn token(amazon: &AmazonEmulator) -> String {
    let c = amazon.config();
    let r = client()
        .post(format!("{}/auth/o2/token", amazon.base_url()))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", c.refresh_token.as_str()),
            ("client_id", c.client_id.as_str()),
            ("client_secret", c.client_secret.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["token_type"], "bearer");
    assert_eq!(body["expires_in"], 3600);
    assert_eq!(body["refresh_token"], c.refresh_token.as_str());
    body["access_token"].as_str().unwrap().to_string()
}

async fn get(amazon: &AmazonEmulator, token: &str, path: &str) -> reqwest::Response {
    client()
        .get(format!("{}{path}", amazon.base_url()))
        .header("x-amz-access-token", token)
        .send()
        .await
        .unwrap()
}

fn since() -> String {
    let t = time::OffsetDateTime::now_utc() - time::Duration::days(1);
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

#[tokio::test]
async fn the_lwa_token_opens_the_api_until_it_expires() {
    let amazon = AmazonEmulator::start(AmazonConfig::default()).await;
    let r = client()
        .post(format!("{}/auth/o2/token", amazon.base_url()))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", "Atzr|nope"),
            ("client_id", &amazon.config().client_id),
            ("client_secret", &amazon.config().client_secret),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_grant");

    let path = format!(
        "/orders/v0/orders?MarketplaceIds=ATVPDKIKX0DER&LastUpdatedAfter={}",
        since()
    );
    let r = get(&amazon, "Atza|forged", &path).await;
    assert_eq!(r.status(), 403);
    assert_eq!(
        r.json::<Value>().await.unwrap()["errors"][0]["code"],
        "Unauthorized"
    );

    let t = token(&amazon).await;
    let r = get(&amazon, &t, &path).await;
    assert_eq!(r.status(), 200);
    assert!(r.headers().contains_key("x-amzn-requestid"));
    assert_eq!(r.headers()["x-amzn-ratelimit-limit"], "0.0167");
    amazon.expire_tokens();
    let r = get(&amazon, &t, &path).await;
    assert_eq!(r.status(), 403);
    let body: Value = r.json().await.unwrap();
    assert!(
        body["errors"][0]["details"]
            .as_str()
            .unwrap()
            .contains("expired")
    );
    assert_eq!(amazon.stats().calls("token"), 2);
}

#[tokio::test]
async fn orders_and_items_walk_their_next_tokens() {
    let amazon = AmazonEmulator::start(AmazonConfig {
        order_items_page_size: 1,
        ..Default::default()
    })
    .await;
    amazon.add_listing("SKU-A", "B0SKUA0001");
    let mut placed = BTreeSet::new();
    for i in 0..5 {
        placed.insert(
            amazon.place(
                NewOrder::new()
                    .line("SKU-A", 1 + i, "19.99")
                    .line("SKU-B", 1, "5.00"),
            ),
        );
    }
    let pending = amazon.place(NewOrder::new().line("SKU-A", 1, "19.99").status("Pending"));
    let t = token(&amazon).await;

    let first = format!(
        "/orders/v0/orders?MarketplaceIds=ATVPDKIKX0DER&LastUpdatedAfter={}&MaxResultsPerPage=2&OrderStatuses=Unshipped",
        since()
    );
    let (mut path, mut seen, mut pages) = (first, BTreeSet::new(), 0);
    loop {
        let body: Value = get(&amazon, &t, &path).await.json().await.unwrap();
        pages += 1;
        let payload = &body["payload"];
        assert!(payload["LastUpdatedBefore"].is_string());
        for o in payload["Orders"].as_array().unwrap() {
            assert!(o["OrderTotal"]["Amount"].is_string(), "money is text");
            assert!(o["ShippingAddress"]["AddressLine1"].is_string());
            seen.insert(o["AmazonOrderId"].as_str().unwrap().to_string());
        }
        match payload["NextToken"].as_str() {
            Some(next) => {
                let next = url_encode(next);
                path = format!("/orders/v0/orders?MarketplaceIds=ATVPDKIKX0DER&NextToken={next}");
            }
            None => break,
        }
    }
    assert_eq!((pages, &seen), (3, &placed));
    let order = amazon.order(&pending).unwrap();
    assert!(
        order.get("ShippingAddress").is_none(),
        "no address before payment"
    );

    let id = placed.first().unwrap();
    let mut items = Vec::new();
    let mut path = format!("/orders/v0/orders/{id}/orderItems");
    loop {
        let body: Value = get(&amazon, &t, &path).await.json().await.unwrap();
        items.extend(body["payload"]["OrderItems"].as_array().unwrap().clone());
        match body["payload"]["NextToken"].as_str() {
            Some(next) => {
                path = format!(
                    "/orders/v0/orders/{id}/orderItems?NextToken={}",
                    url_encode(next)
                )
            }
            None => break,
        }
    }
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["ASIN"], "B0SKUA0001");
    assert_eq!(items[0]["IsGift"], "false");

    let both = format!(
        "/orders/v0/orders?MarketplaceIds=ATVPDKIKX0DER&LastUpdatedAfter={0}&CreatedAfter={0}",
        since()
    );
    let r = get(&amazon, &t, &both).await;
    assert_eq!(r.status(), 400);
    assert_eq!(
        r.json::<Value>().await.unwrap()["errors"][0]["code"],
        "InvalidInput"
    );
}

fn url_encode(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.~".contains(c) {
                c.to_string()
            } else {
                format!("%{:02X}", c as u32)
            }
        })
        .collect()
}

#[tokio::test]
async fn each_operation_has_its_own_bucket() {
    let amazon =
        AmazonEmulator::start(AmazonConfig::default().with_rate("getOrders", 0.5, 2.0)).await;
    let t = token(&amazon).await;
    let path = format!(
        "/orders/v0/orders?MarketplaceIds=ATVPDKIKX0DER&CreatedAfter={}",
        since()
    );
    assert_eq!(get(&amazon, &t, &path).await.status(), 200);
    assert_eq!(get(&amazon, &t, &path).await.status(), 200);
    let r = get(&amazon, &t, &path).await;
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["x-amzn-ratelimit-limit"], "0.5");
    assert_eq!(
        r.json::<Value>().await.unwrap()["errors"][0]["code"],
        "QuotaExceeded"
    );
    let id = amazon.place(NewOrder::new().line("SKU-A", 1, "1.00"));
    let r = get(&amazon, &t, &format!("/orders/v0/orders/{id}/orderItems")).await;
    assert_eq!(r.status(), 200, "another operation, another bucket");
    assert_eq!(amazon.stats().throttled_by_operation["getOrders"], 1);
}

#[tokio::test]
async fn shipments_are_confirmed_and_listing_quantities_set() {
    let amazon = AmazonEmulator::start(AmazonConfig::default()).await;
    amazon.add_listing("SKU-A", "B0SKUA0001");
    let id = amazon.place(NewOrder::new().line("SKU-A", 2, "19.99"));
    let item = amazon.order_items(&id)[0]["OrderItemId"]
        .as_str()
        .unwrap()
        .to_string();
    let t = token(&amazon).await;
    let http = client();
    let confirm = |quantity: i64| {
        http.post(format!("{}/orders/v0/orders/{id}/shipmentConfirmation", amazon.base_url()))
            .header("x-amz-access-token", &t)
            .json(&json!({"marketplaceId": "ATVPDKIKX0DER", "packageDetail": {
                "packageReferenceId": "1", "carrierCode": "UPS", "trackingNumber": "1Z999",
                "shipDate": "2026-02-11T01:00:00Z", "orderItems": [{"orderItemId": item, "quantity": quantity}]}}))
            .send()
    };
    assert_eq!(confirm(3).await.unwrap().status(), 400, "more than ordered");
    let r = confirm(2).await.unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(amazon.order(&id).unwrap()["OrderStatus"], "Shipped");
    assert_eq!(amazon.confirmations()[0].1["trackingNumber"], "1Z999");

    let seller = amazon.config().seller_id.clone();
    let patch = |sku: &str, quantity: Value| {
        http.patch(format!(
            "{}/listings/2021-08-01/items/{seller}/{sku}?marketplaceIds=ATVPDKIKX0DER",
            amazon.base_url()
        ))
        .header("x-amz-access-token", &t)
        .json(
            &json!({"productType": "PRODUCT", "patches": [{"op": "replace",
            "path": "/attributes/fulfillment_availability",
            "value": [{"fulfillment_channel_code": "DEFAULT", "quantity": quantity}]}]}),
        )
        .send()
    };
    let r = patch("SKU-A", json!(42)).await.unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        (body["sku"].as_str(), body["status"].as_str()),
        (Some("SKU-A"), Some("ACCEPTED"))
    );
    assert_eq!(body["issues"], json!([]));
    assert_eq!(amazon.listed_quantity("SKU-A"), Some(42));
    let r = patch("SKU-A", json!(-1)).await.unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["status"], "INVALID");
    assert_eq!(amazon.stock()["SKU-A"], 42);
    assert_eq!(patch("SKU-NOPE", json!(1)).await.unwrap().status(), 404);
}

#[tokio::test]
async fn the_token_endpoint_only_suffers_its_own_faults() {
    let amazon = AmazonEmulator::start(AmazonConfig::default()).await;
    amazon.faults().fail_next(1, 500);
    let t = token(&amazon).await;
    let path = format!(
        "/orders/v0/orders?MarketplaceIds=ATVPDKIKX0DER&CreatedAfter={}",
        since()
    );
    let r = get(&amazon, &t, &path).await;
    assert_eq!(r.status(), 500);
    assert_eq!(
        r.json::<Value>().await.unwrap()["errors"][0]["code"],
        "InternalFailure"
    );
    amazon.faults().on("token").fail_next(1, 503);
    let r = client()
        .post(format!("{}/auth/o2/token", amazon.base_url()))
        .form(&[("grant_type", "refresh_token")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
}
