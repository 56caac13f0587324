//! The API over real HTTP against a real `ordo serve`, on every backend this machine runs.

mod common;

use common::*;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn capture_allocates_splits_and_backorders() {
    for db in databases("capture") {
        let s = Server::start(&db).await;
        seed(
            &s,
            &[
                ("SKU-A", "WH1", 3),
                ("SKU-A", "WH2", 2),
                ("SKU-B", "WH2", 5),
            ],
        )
        .await;

        let r = s
            .post(
                "/api/v1/orders",
                &order("o-1", &[("SKU-A", 2), ("SKU-B", 1)]),
            )
            .await;
        assert_eq!(r.status, 201, "{}: {:?}", db.label, r.body);
        let o = &r.body;
        assert_eq!(o["status"], "allocated");
        assert_eq!(o["number"], "SO-000001");
        assert_eq!(o["totals"]["subtotal"], "30.00");
        assert_eq!(o["totals"]["tax"], "3.20");
        assert_eq!(o["totals"]["total"], "38.10");
        // WH1 is first by priority, but only WH2 holds both lines: one shipment, not two.
        assert_eq!(
            o["lines"][0]["allocations"],
            json!([{"location": "WH2", "quantity": 2}])
        );
        assert_eq!(
            o["lines"][1]["allocations"],
            json!([{"location": "WH2", "quantity": 1}])
        );

        // 3 left at WH1, 1 received at WH2: a line of 5 splits over both, 1 is backordered.
        let r = s
            .post(
                "/api/v1/inventory/adjustments",
                &json!({"sku": "SKU-A", "location": "WH2", "delta": 1, "reason": "received"}),
            )
            .await;
        assert_eq!(r.status, 201);
        let r = s
            .post("/api/v1/orders", &order("o-2", &[("SKU-A", 5)]))
            .await;
        assert_eq!(r.body["status"], "partially_allocated", "{}", db.label);
        assert_eq!(r.body["lines"][0]["allocated"], 4);
        assert_eq!(r.body["lines"][0]["backordered"], 1);
        assert_eq!(
            r.body["lines"][0]["allocations"],
            json!([{"location": "WH1", "quantity": 3}, {"location": "WH2", "quantity": 1}])
        );

        let r = s
            .post("/api/v1/orders", &order("o-3", &[("SKU-A", 1)]))
            .await;
        assert_eq!(r.body["status"], "backordered");

        assert_eq!(balance(&s, "SKU-A", "WH1").await["available"], 0);
        assert_eq!(balance(&s, "SKU-A", "WH1").await["allocated"], 3);

        // By number and by id; list with filters.
        let by_number = s.get("/api/v1/orders/SO-000002").await;
        let by_id = s
            .get(&format!(
                "/api/v1/orders/{}",
                by_number.body["id"].as_str().unwrap()
            ))
            .await;
        assert_eq!(by_number.body, by_id.body);
        let list = s.get("/api/v1/orders?status=backordered").await;
        assert_eq!(list.body["items"].as_array().unwrap().len(), 1);
        let list = s.get("/api/v1/orders?sku=SKU-B").await;
        assert_eq!(list.body["items"][0]["external_id"], "o-1");
        let list = s.get("/api/v1/orders?q=o-3").await;
        assert_eq!(list.body["items"][0]["number"], "SO-000003");
        let page1 = s.get("/api/v1/orders?limit=2").await;
        assert_eq!(page1.body["items"].as_array().unwrap().len(), 2);
        let cursor = page1.body["next_cursor"].as_str().unwrap().to_string();
        let page2 = s
            .get(&format!("/api/v1/orders?limit=2&cursor={cursor}"))
            .await;
        assert_eq!(page2.body["items"][0]["number"], "SO-000001");
        assert!(page2.body["next_cursor"].is_null());

        let events = s.get("/api/v1/orders/SO-000002/events").await;
        let kinds: Vec<&str> = events
            .body
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["kind"].as_str().unwrap())
            .collect();
        assert_eq!(kinds, ["order.created", "order.partially_allocated"]);
        assert!(s.verify().0, "{}", s.verify().1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotent_capture_by_external_id_and_key() {
    for db in databases("idem") {
        let s = Server::start(&db).await;
        seed(&s, &[("SKU-A", "WH1", 10)]).await;
        let body = order("ext-1", &[("SKU-A", 2)]);
        let first = s.post("/api/v1/orders", &body).await;
        assert_eq!(first.status, 201);
        for _ in 0..10 {
            let again = s.post("/api/v1/orders", &body).await;
            assert_eq!(again.status, 200, "{}", db.label);
            assert_eq!(again.body["id"], first.body["id"]);
        }
        assert_eq!(balance(&s, "SKU-A", "WH1").await["allocated"], 2);

        // Idempotency-Key on a stock write: the retry returns the first answer, acts once.
        let adj = json!({"sku": "SKU-A", "location": "WH1", "delta": 5, "reason": "received"});
        let a = s
            .request(
                "POST",
                "/api/v1/inventory/adjustments",
                Some(ADMIN_KEY),
                Some(&adj.to_string()),
                &[("idempotency-key", "k-1")],
            )
            .await
            .unwrap();
        let b = s
            .request(
                "POST",
                "/api/v1/inventory/adjustments",
                Some(ADMIN_KEY),
                Some(&adj.to_string()),
                &[("idempotency-key", "k-1")],
            )
            .await
            .unwrap();
        assert_eq!((a.status, b.status), (201, 201));
        assert_eq!(a.body, b.body);
        assert_eq!(b.headers.get("idempotent-replayed").unwrap(), "true");
        assert_eq!(balance(&s, "SKU-A", "WH1").await["on_hand"], 15);

        // Concurrent replays of one external id: one order.
        let body = order("ext-race", &[("SKU-A", 1)]).to_string();
        let tasks: Vec<_> = (0..20)
            .map(|_| s.request("POST", "/api/v1/orders", Some(ADMIN_KEY), Some(&body), &[]))
            .collect();
        let results = futures_join(tasks).await;
        let ids: std::collections::HashSet<String> = results
            .iter()
            .map(|r| r.body["id"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(ids.len(), 1, "{}", db.label);
        assert_eq!(results.iter().filter(|r| r.status == 201).count(), 1);
        let list = s.get("/api/v1/orders?q=ext-race").await;
        assert_eq!(list.body["items"].as_array().unwrap().len(), 1);
        assert!(s.verify().0);
    }
}

async fn raw_exchange(base: &str, request: &[u8]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut buf = vec![0u8; 4096];
    let n = stream.read(&mut buf).await.unwrap();
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_refused_with_the_field_named_and_nothing_written() {
    for db in databases("bad") {
        let s = Server::start(&db).await;
        seed(&s, &[("SKU-A", "WH1", 5)]).await;
        let before = snapshot(&s).await;
        let base = order("bad-1", &[("SKU-A", 1)]);
        let mut cases: Vec<(serde_json::Value, u16, &str)> = Vec::new();
        let mut with = |f: &dyn Fn(&mut serde_json::Value), status: u16, field: &'static str| {
            let mut b = base.clone();
            f(&mut b);
            cases.push((b, status, field));
        };
        with(&|b| b["channel"] = json!("nope"), 422, "channel");
        with(
            &|b| b["lines"][0]["sku"] = json!("NOPE"),
            422,
            "lines[0].sku",
        );
        with(
            &|b| b["lines"][0]["quantity"] = json!(0),
            422,
            "lines[0].quantity",
        );
        with(
            &|b| b["lines"][0]["quantity"] = json!(-3),
            422,
            "lines[0].quantity",
        );
        with(
            &|b| b["lines"][0]["unit_price"] = json!("10.001"),
            422,
            "lines[0].unit_price",
        );
        with(
            &|b| b["lines"][0]["unit_price"] = json!(10.5),
            422,
            "lines[0].unit_price",
        );
        with(&|b| b["currency"] = json!("EURO"), 422, "currency");
        with(
            &|b| b["shipping_address"]["country"] = json!("Germany"),
            422,
            "shipping_address.country",
        );
        with(
            &|b| {
                b["shipping_address"]
                    .as_object_mut()
                    .unwrap()
                    .remove("city")
                    .map(|_| ())
                    .unwrap()
            },
            422,
            "shipping_address.city",
        );
        with(
            &|b| b["customer"]["email"] = json!("not-an-email"),
            422,
            "customer.email",
        );
        with(&|b| b["lines"] = json!([]), 422, "lines");
        with(&|b| b["placed_at"] = json!("yesterday"), 422, "placed_at");
        with(
            &|b| b["payment"]["status"] = json!("maybe"),
            422,
            "payment.status",
        );
        with(
            &|b| b["lines"][0]["discount"] = json!("100.00"),
            422,
            "lines[0].discount",
        );
        for (body, status, field) in cases {
            let r = s.post("/api/v1/orders", &body).await;
            assert_eq!(r.status, status, "{}: {field}: {:?}", db.label, r.body);
            assert_eq!(
                r.headers.get("content-type").unwrap(),
                "application/problem+json"
            );
            let fields: Vec<&str> = r.body["errors"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["field"].as_str().unwrap())
                .collect();
            assert!(
                fields.contains(&field),
                "{}: expected {field} in {fields:?}",
                db.label
            );
        }
        // Malformed JSON, wrong media type, oversized body.
        let r = s
            .request(
                "POST",
                "/api/v1/orders",
                Some(ADMIN_KEY),
                Some("{\"channel\": "),
                &[],
            )
            .await
            .unwrap();
        assert_eq!(r.status, 400);
        assert_eq!(r.body["status"], 400);
        // Announce a 2 MiB body and send none of it: the limit is enforced on the declared
        // length, before the body is read (sending it all would race the early answer).
        let head = format!(
            "POST /api/v1/orders HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {ADMIN_KEY}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            2 * 1024 * 1024
        );
        let answer = raw_exchange(&s.base, head.as_bytes()).await;
        assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
        assert!(answer.contains("application/problem+json"), "{answer}");
        // Stock writes: unknown SKU and location, zero delta, allocated state, over-promising, CAS.
        for (path, body, status, field) in [
            (
                "/api/v1/inventory/adjustments",
                json!({"sku": "NOPE", "location": "WH1", "delta": 1, "reason": "received"}),
                422,
                "sku",
            ),
            (
                "/api/v1/inventory/adjustments",
                json!({"sku": "SKU-A", "location": "NOPE", "delta": 1, "reason": "received"}),
                422,
                "location",
            ),
            (
                "/api/v1/inventory/adjustments",
                json!({"sku": "SKU-A", "location": "WH1", "delta": 0, "reason": "received"}),
                422,
                "delta",
            ),
            (
                "/api/v1/inventory/adjustments",
                json!({"sku": "SKU-A", "location": "WH1", "delta": 1}),
                422,
                "reason",
            ),
            (
                "/api/v1/inventory/adjustments",
                json!({"sku": "SKU-A", "location": "WH1", "delta": 1, "state": "allocated", "reason": "correction"}),
                422,
                "state",
            ),
            (
                "/api/v1/inventory/moves",
                json!({"sku": "SKU-A", "location": "WH1", "from": "available", "to": "available", "quantity": 1, "reason": "damage"}),
                422,
                "to",
            ),
        ] {
            let r = s.post(path, &body).await;
            assert_eq!(r.status, status, "{}: {body}: {:?}", db.label, r.body);
            assert_eq!(r.body["errors"][0]["field"], field);
        }
        let r = s
            .post(
                "/api/v1/inventory/adjustments",
                &json!({"sku": "SKU-A", "location": "WH1", "delta": -6, "reason": "correction"}),
            )
            .await;
        assert_eq!(r.status, 409, "{:?}", r.body);
        let r = s
            .post(
                "/api/v1/inventory/counts",
                &json!({"sku": "SKU-A", "location": "WH1", "on_hand": 9, "expected_on_hand": 4}),
            )
            .await;
        assert_eq!(r.status, 409);
        assert_eq!(r.body["current"], "5");
        assert_eq!(
            snapshot(&s).await,
            before,
            "{}: a refused request changed something",
            db.label
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_are_enforced() {
    for db in databases("auth") {
        let s = Server::start(&db).await;
        seed(&s, &[("SKU-A", "WH1", 50)]).await;
        let r = s
            .request("GET", "/api/v1/orders", None, None, &[])
            .await
            .unwrap();
        assert_eq!(r.status, 401);
        let r = s
            .request("GET", "/api/v1/orders", Some("wrong"), None, &[])
            .await
            .unwrap();
        assert_eq!(r.status, 401);
        // (role, may capture, may adjust stock, may change prices)
        let table = [
            ("admin", true, true, true),
            ("manager", true, true, true),
            ("warehouse", false, true, false),
            ("support", true, false, false),
            ("readonly", false, false, false),
            ("integration", true, true, false),
        ];
        for (i, (role, capture, stock, prices)) in table.into_iter().enumerate() {
            let out = std::process::Command::new(env!("CARGO_BIN_EXE_ordo"))
                .args([
                    "apikey", "create", "--db", &db.url, "--role", role, "--name", role,
                ])
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let key = String::from_utf8(out.stdout).unwrap().trim().to_string();
            let read = s
                .request("GET", "/api/v1/orders", Some(&key), None, &[])
                .await
                .unwrap();
            assert_eq!(read.status, 200, "{role} read");
            let o = order(&format!("auth-{i}"), &[("SKU-A", 1)]).to_string();
            let r = s
                .request("POST", "/api/v1/orders", Some(&key), Some(&o), &[])
                .await
                .unwrap();
            assert_eq!(r.status, if capture { 201 } else { 403 }, "{role} capture");
            let adj = json!({"sku": "SKU-A", "location": "WH1", "delta": 1, "reason": "received"})
                .to_string();
            let r = s
                .request(
                    "POST",
                    "/api/v1/inventory/adjustments",
                    Some(&key),
                    Some(&adj),
                    &[],
                )
                .await
                .unwrap();
            assert_eq!(r.status, if stock { 201 } else { 403 }, "{role} stock");
            let p = json!({"name": "SKU-A", "price": "12.00"}).to_string();
            let r = s
                .request("PUT", "/api/v1/products/SKU-A", Some(&key), Some(&p), &[])
                .await
                .unwrap();
            assert_eq!(r.status, if prices { 200 } else { 403 }, "{role} prices");
            if !prices {
                assert_eq!(
                    r.headers.get("content-type").unwrap(),
                    "application/problem+json"
                );
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lifecycle_holds_cancels_and_reallocates() {
    for db in databases("life") {
        let s = Server::start(&db).await;
        seed(&s, &[("SKU-A", "WH1", 2)]).await;
        let a = s.post("/api/v1/orders", &order("a", &[("SKU-A", 2)])).await;
        assert_eq!(a.body["status"], "allocated");
        let mut b_body = order("b", &[("SKU-A", 1)]);
        b_body["placed_at"] = json!("2026-01-01T10:00:00Z");
        let b = s.post("/api/v1/orders", &b_body).await;
        assert_eq!(b.body["status"], "backordered");
        let mut c_body = order("c", &[("SKU-A", 1)]);
        c_body["priority"] = json!(5);
        c_body["payment"]["status"] = json!("pending");
        let c = s.post("/api/v1/orders", &c_body).await;
        assert_eq!(c.body["status"], "on_hold");
        assert_eq!(c.body["hold_reason"], "payment_pending");
        assert_eq!(c.body["fill_status"], "backordered");

        // Hold / release / illegal transitions.
        let r = s
            .post(
                "/api/v1/orders/SO-000001/hold",
                &json!({"reason": "fraud_review", "note": "check"}),
            )
            .await;
        assert_eq!(
            (r.status, r.body["status"].as_str()),
            (200, Some("on_hold"))
        );
        let r = s.post("/api/v1/orders/SO-000001/hold", &json!({})).await;
        assert_eq!(r.status, 409);
        assert_eq!(r.body["current"], "on_hold");
        let r = s.post("/api/v1/orders/SO-000001/release", &json!({})).await;
        assert_eq!(r.body["status"], "allocated");
        let r = s.post("/api/v1/orders/SO-000001/release", &json!({})).await;
        assert_eq!(r.status, 409);
        let r = s.post("/api/v1/orders/SO-999999/cancel", &json!({})).await;
        assert_eq!(r.status, 404);

        // Cancelling A frees 2 units: C (priority 5, held) gets one first, then B.
        let r = s
            .post(
                "/api/v1/orders/SO-000001/cancel",
                &json!({"reason": "customer request"}),
            )
            .await;
        assert_eq!(r.body["status"], "cancelled");
        assert_eq!(r.body["lines"][0]["allocated"], 0);
        let r = s.post("/api/v1/orders/SO-000001/cancel", &json!({})).await;
        assert_eq!(r.status, 409);
        let c = s.get("/api/v1/orders/SO-000003").await;
        assert_eq!(c.body["status"], "on_hold");
        assert_eq!(c.body["fill_status"], "allocated");
        let b = s.get("/api/v1/orders/SO-000002").await;
        assert_eq!(b.body["status"], "allocated");

        // A count proving a unit missing takes it back from the lowest-priority, newest order.
        let r = s
            .post(
                "/api/v1/inventory/counts",
                &json!({"sku": "SKU-A", "location": "WH1", "on_hand": 1, "expected_on_hand": 2}),
            )
            .await;
        assert_eq!(r.status, 201, "{:?}", r.body);
        assert_eq!(r.body["shorted_orders"], json!(["SO-000002"]));
        assert_eq!(
            s.get("/api/v1/orders/SO-000002").await.body["status"],
            "backordered"
        );
        // Receiving more gives it back automatically.
        let r = s.post("/api/v1/inventory/adjustments", &json!({"sku": "SKU-A", "location": "WH2", "delta": 4, "reason": "received", "reference": "po:PO-1"})).await;
        assert_eq!(r.body["reallocated_orders"], json!(["SO-000002"]));
        assert_eq!(balance(&s, "SKU-A", "WH2").await["available"], 3);

        let timeline = s.get("/api/v1/orders/SO-000002/events").await;
        let kinds: Vec<&str> = timeline
            .body
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["kind"].as_str().unwrap())
            .collect();
        assert_eq!(
            kinds,
            [
                "order.created",
                "order.backordered",
                "order.reallocated",
                "order.stock_shortage",
                "order.reallocated"
            ]
        );
        let feed = s.get("/api/v1/events?after=0&limit=1000").await;
        let seqs: Vec<i64> = feed.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["seq"].as_i64().unwrap())
            .collect();
        assert!(seqs.windows(2).all(|w| w[0] < w[1]));
        let after = seqs[seqs.len() - 3];
        let tail = s.get(&format!("/api/v1/events?after={after}")).await;
        assert_eq!(tail.body["items"].as_array().unwrap().len(), 2);

        // Moves between states.
        let r = s.post("/api/v1/inventory/moves", &json!({"sku": "SKU-A", "location": "WH2", "from": "available", "to": "damaged", "quantity": 2, "reason": "damage"})).await;
        assert_eq!(r.status, 201, "{:?}", r.body);
        assert_eq!(r.body["balance"]["damaged"], 2);
        assert_eq!(r.body["balance"]["available"], 1);
        let ledger = s
            .get("/api/v1/inventory/movements?sku=SKU-A&location=WH2")
            .await;
        assert_eq!(ledger.body["items"][0]["reason"], "damage");
        let (ok, report) = s.verify();
        assert!(ok, "{report}");
        let api_verify = s.get("/api/v1/inventory/verify").await;
        assert_eq!(api_verify.body["discrepancies"], json!([]));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_survives_a_restart_and_availability_is_per_channel() {
    for db in databases("restart") {
        let s = Server::start(&db).await;
        seed(&s, &[("SKU-A", "WH1", 7), ("SKU-A", "WH2", 3)]).await;
        let r = s.send("PUT", "/api/v1/channels/amazon", &json!({"name": "Amazon", "kind": "amazon", "currency": "EUR", "locations": ["WH2"], "buffer": 1})).await;
        assert_eq!(r.status, 201);
        let r = s.send("PUT", "/api/v1/channels/bad", &json!({"name": "Bad", "kind": "ebay", "currency": "EUR", "locations": ["NOWHERE"]})).await;
        assert_eq!(
            (r.status, r.body["errors"][0]["field"].as_str()),
            (422, Some("locations[0]"))
        );
        let o = s
            .post("/api/v1/orders", &order("keep-me", &[("SKU-A", 2)]))
            .await;
        assert_eq!(o.status, 201);
        s.stop();
        let s = Server::start(&db).await;
        let again = s.get("/api/v1/orders/SO-000001").await;
        assert_eq!(again.body["external_id"], "keep-me");
        let web = s.get("/api/v1/channels/web/availability?sku=SKU-A").await;
        assert_eq!(web.body["items"][0]["available_to_sell"], 8);
        let amazon = s
            .get("/api/v1/channels/amazon/availability?sku=SKU-A")
            .await;
        assert_eq!(amazon.body["items"][0]["available_to_sell"], 2);
        let all = s.get("/api/v1/channels/web/availability").await;
        assert_eq!(all.body["items"].as_array().unwrap().len(), 2);
        let docs = s
            .request("GET", "/api/openapi.json", None, None, &[])
            .await
            .unwrap();
        assert_eq!(docs.status, 200);
        assert!(docs.body["paths"]["/api/v1/orders"]["post"].is_object());
        let metrics = s.request("GET", "/metrics", None, None, &[]).await.unwrap();
        assert!(
            metrics
                .body
                .as_str()
                .unwrap()
                .contains("ordo_http_requests_total")
        );
        for gauge in [
            "ordo_outbox_head_seq",
            "ordo_outbox_consumed_seq",
            "ordo_outbox_lag_events",
        ] {
            assert!(
                metrics.body.as_str().unwrap().contains(gauge),
                "{gauge} missing"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routing_simulation_explains_and_reserves_nothing() {
    for db in databases("simulate") {
        let s = Server::start(&db).await;
        for (code, lat, lon, prio) in [("BER", 52.52, 13.40, 1), ("MUC", 48.14, 11.58, 2)] {
            let r = s
                .send(
                    "PUT",
                    &format!("/api/v1/locations/{code}"),
                    &json!({"name": code, "kind": "warehouse", "priority": prio, "latitude": lat, "longitude": lon}),
                )
                .await;
            assert_eq!(r.status, 201);
        }
        s.send(
            "PUT",
            "/api/v1/channels/web",
            &json!({"name": "Web", "kind": "web", "currency": "EUR"}),
        )
        .await;
        for sku in ["SKU-A", "SKU-B"] {
            s.send(
                "PUT",
                &format!("/api/v1/products/{sku}"),
                &json!({"name": sku, "price": "5.00"}),
            )
            .await;
        }
        for (sku, loc, q) in [
            ("SKU-A", "BER", 5),
            ("SKU-A", "MUC", 5),
            ("SKU-B", "MUC", 5),
        ] {
            let r = s
                .post(
                    "/api/v1/inventory/adjustments",
                    &json!({"sku": sku, "location": loc, "delta": q, "reason": "received"}),
                )
                .await;
            assert_eq!(r.status, 201);
        }
        let mut body = order("sim-1", &[("SKU-A", 1), ("SKU-B", 1)]);
        body["shipping_address"]["city"] = json!("Munich");
        body["shipping_address"]["latitude"] = json!(48.13);
        body["shipping_address"]["longitude"] = json!(11.56);
        let plan = s
            .post("/api/v1/routing/simulate", &json!({"order": body}))
            .await;
        assert_eq!(plan.status, 200, "{}: {:?}", db.label, plan.body);
        // Only MUC holds both lines: one shipment from there, and BER is told why not.
        assert_eq!(plan.body["shipments"].as_array().unwrap().len(), 1);
        assert_eq!(plan.body["shipments"][0]["location"], "MUC");
        let ber = plan.body["explanation"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["location"] == "BER")
            .unwrap()
            .clone();
        assert_eq!(ber["chosen"], false);
        assert!(!ber["reasons"].as_array().unwrap().is_empty());
        // A rule excluding MUC leaves SKU-B nowhere to come from.
        let rule = json!({"name": "no munich", "actions": {"exclude_locations": ["MUC"]}});
        let plan = s
            .post(
                "/api/v1/routing/simulate",
                &json!({"order": body, "rules": [rule]}),
            )
            .await;
        assert_eq!(plan.body["applied_rules"], json!(["no munich"]));
        assert_eq!(plan.body["lines"][1]["backordered"], 1);
        // Bad rules are refused with the field named; nothing was reserved by any of this.
        let bad = json!({"name": "x", "actions": {"exclude_locations": ["NOWHERE"]}});
        let r = s
            .post(
                "/api/v1/routing/simulate",
                &json!({"order": body, "rules": [bad]}),
            )
            .await;
        assert_eq!(r.status, 422, "{:?}", r.body);
        assert!(
            r.body["errors"][0]["field"]
                .as_str()
                .unwrap()
                .starts_with("rules[0]"),
            "{:?}",
            r.body
        );
        assert_eq!(balance(&s, "SKU-A", "BER").await["allocated"], 0);
        assert_eq!(balance(&s, "SKU-B", "MUC").await["allocated"], 0);
        // Captured for real, the order ships the same way the simulation said.
        let captured = s.post("/api/v1/orders", &body).await;
        assert_eq!(
            captured.body["lines"][0]["allocations"],
            json!([{"location": "MUC", "quantity": 1}])
        );
        let again = s
            .post(
                "/api/v1/routing/simulate",
                &json!({"order_id": "SO-000001"}),
            )
            .await;
        assert_eq!(again.status, 200);
        // The stored order, routed again with its own reservations given back, stays put.
        assert_eq!(again.body["outcome"], "allocated", "{:?}", again.body);
        assert_eq!(again.body["shipments"].as_array().unwrap().len(), 1);
        assert_eq!(again.body["shipments"][0]["location"], "MUC");
        assert_eq!(
            again.body["lines"][1]["allocations"],
            json!([{"location": "MUC", "quantity": 1}])
        );

        // Saved rules: versioned, validated, compare-and-swap, and used by the simulator.
        let r = s.get("/api/v1/routing/rules").await;
        assert_eq!(
            (r.body["version"].as_i64(), r.body["rules"].clone()),
            (Some(0), json!([]))
        );
        let bad = json!({"rules": [{"name": "x", "actions": {"exclude_locations": ["NOWHERE"]}}]});
        let r = s.send("PUT", "/api/v1/routing/rules", &bad).await;
        assert_eq!(r.status, 422, "{:?}", r.body);
        assert!(
            r.body["errors"][0]["field"]
                .as_str()
                .unwrap()
                .starts_with("rules[0]")
        );
        let good = json!({"rules": [{"name": "no munich", "actions": {"exclude_locations": ["MUC"]}}], "expected_version": 0});
        let r = s.send("PUT", "/api/v1/routing/rules", &good).await;
        assert_eq!(
            (r.status, r.body["version"].as_i64()),
            (200, Some(1)),
            "{:?}",
            r.body
        );
        let r = s.send("PUT", "/api/v1/routing/rules", &good).await;
        assert_eq!((r.status, r.body["current"].as_str()), (409, Some("1")));
        let mut newer = good.clone();
        newer["expected_version"] = json!(1);
        newer["rules"][0]["name"] = json!("still no munich");
        let r = s.send("PUT", "/api/v1/routing/rules", &newer).await;
        assert_eq!(r.body["version"], 2);
        let history = s.get("/api/v1/routing/rules/history").await;
        let versions: Vec<i64> = history
            .body
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["version"].as_i64().unwrap())
            .collect();
        assert_eq!(versions, [2, 1]);
        let plan = s
            .post("/api/v1/routing/simulate", &json!({"order": body}))
            .await;
        assert_eq!(
            plan.body["applied_rules"],
            json!(["still no munich"]),
            "{}",
            db.label
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_keys_and_users_are_listed_and_keys_revoked() {
    for db in databases("access") {
        let s = Server::start(&db).await;
        let run = |args: &[&str]| {
            let out = std::process::Command::new(env!("CARGO_BIN_EXE_ordo"))
                .args(args)
                .env("ORDO_LOG", "warn")
                .env("ORDO_PASSWORD", "a-long-password")
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8_lossy(&out.stdout).trim().to_string()
        };
        let token = run(&[
            "apikey",
            "create",
            "--db",
            &db.url,
            "--role",
            "warehouse",
            "--name",
            "scanner-3",
        ]);
        let token = token
            .split_whitespace()
            .find(|w| w.starts_with("ordo_"))
            .unwrap_or(&token)
            .to_string();
        run(&[
            "user",
            "create",
            "--db",
            &db.url,
            "--username",
            "pat",
            "--role",
            "support",
        ]);

        let keys = s.get("/api/v1/api-keys").await;
        assert_eq!(keys.status, 200, "{:?}", keys.body);
        let list = keys.body.as_array().unwrap();
        assert_eq!(list.len(), 2, "{}: {list:?}", db.label);
        assert!(
            !keys.body.to_string().contains(&token),
            "tokens are never shown"
        );
        let own = list.iter().find(|k| k["role"] == "admin").unwrap()["id"]
            .as_i64()
            .unwrap();
        let other = list.iter().find(|k| k["name"] == "scanner-3").unwrap()["id"]
            .as_i64()
            .unwrap();
        let users = s.get("/api/v1/users").await.body;
        assert_eq!(
            users,
            json!([{"id": users[0]["id"], "username": "pat", "role": "support", "disabled": false}])
        );

        // The scanner key works, is forbidden here, and stops working once revoked.
        let as_scanner = s
            .request("GET", "/api/v1/orders", Some(&token), None, &[])
            .await
            .unwrap();
        assert_eq!(as_scanner.status, 200);
        let forbidden = s
            .request("GET", "/api/v1/api-keys", Some(&token), None, &[])
            .await
            .unwrap();
        assert_eq!(forbidden.status, 403);
        assert_eq!(
            s.request(
                "DELETE",
                &format!("/api/v1/api-keys/{own}"),
                Some(ADMIN_KEY),
                None,
                &[]
            )
            .await
            .unwrap()
            .status,
            409
        );
        let revoked = s
            .request(
                "DELETE",
                &format!("/api/v1/api-keys/{other}"),
                Some(ADMIN_KEY),
                None,
                &[],
            )
            .await
            .unwrap();
        assert_eq!(revoked.status, 204, "{:?}", revoked.body);
        let after = s
            .request("GET", "/api/v1/orders", Some(&token), None, &[])
            .await
            .unwrap();
        assert_eq!(
            after.status, 401,
            "{}: a revoked key is refused at once",
            db.label
        );
        assert_eq!(
            s.request(
                "DELETE",
                &format!("/api/v1/api-keys/{other}"),
                Some(ADMIN_KEY),
                None,
                &[]
            )
            .await
            .unwrap()
            .status,
            404
        );
        s.stop();
    }
}

/// The order numbers of every page of `path` (which must hold `limit=`), following cursors.
async fn numbers_through_pages(s: &Server, path: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut next = path.to_string();
    loop {
        let r = s.get(&next).await;
        assert_eq!(r.status, 200, "{next}: {:?}", r.body);
        for o in r.body["items"].as_array().unwrap() {
            out.push(o["number"].as_str().unwrap().to_string());
        }
        match r.body["next_cursor"].as_str() {
            Some(c) => next = format!("{path}&cursor={c}"),
            None => return out,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orders_filter_by_location_and_tags_and_sort_by_placed_date_and_total() {
    for db in databases("order_sorts") {
        let s = Server::start(&db).await;
        // SKU-A only at WH1, SKU-B only at WH2: each order ships from one known place.
        seed(&s, &[("SKU-A", "WH1", 20), ("SKU-B", "WH2", 20)]).await;
        // (external id, SKU, quantity, placed, tags); o-1 and o-4 share a placed time and a
        // total, so both sorts need the number to break the tie.
        let orders = [
            ("o-1", "SKU-A", 1, "2026-01-03T10:00:00Z", vec!["vip"]),
            (
                "o-2",
                "SKU-B",
                3,
                "2026-01-01T10:00:00Z",
                vec!["vip", "gift"],
            ),
            ("o-3", "SKU-A", 2, "2026-01-02T10:00:00Z", vec![]),
            ("o-4", "SKU-B", 1, "2026-01-03T10:00:00Z", vec!["gift"]),
        ];
        for (ext, sku, q, placed, tags) in &orders {
            let mut body = order(ext, &[(sku, *q)]);
            body["placed_at"] = json!(placed);
            body["tags"] = json!(tags);
            let r = s.post("/api/v1/orders", &body).await;
            assert_eq!(r.status, 201, "{}: {:?}", db.label, r.body);
        }
        let n = |ext: &str| {
            let i = orders.iter().position(|o| o.0 == ext).unwrap();
            format!("SO-{:06}", i + 1)
        };
        let list = |v: &[&str]| v.iter().map(|e| n(e)).collect::<Vec<_>>();
        let s = &s;
        let all = |q: &'static str| async move {
            numbers_through_pages(s, &format!("/api/v1/orders?limit=1{q}")).await
        };

        // Filters, alone and together; the default sort is newest captured first.
        assert_eq!(
            all("&location=WH1").await,
            list(&["o-3", "o-1"]),
            "{}",
            db.label
        );
        assert_eq!(all("&location=WH2").await, list(&["o-4", "o-2"]));
        assert_eq!(all("&tags=vip").await, list(&["o-2", "o-1"]));
        assert_eq!(all("&tags=vip,%20gift").await, list(&["o-2"]));
        assert_eq!(all("&tags=gift&location=WH1").await, Vec::<String>::new());
        assert_eq!(
            all("&tags=gift&location=WH2&sort=placed_asc").await,
            list(&["o-2", "o-4"])
        );

        // Every sort, one order a page: each order once, ties broken by number.
        assert_eq!(
            all("&sort=placed_desc").await,
            list(&["o-4", "o-1", "o-3", "o-2"]),
            "{}",
            db.label
        );
        assert_eq!(
            all("&sort=placed_asc").await,
            list(&["o-2", "o-3", "o-1", "o-4"])
        );
        assert_eq!(
            all("&sort=total_desc").await,
            list(&["o-2", "o-3", "o-4", "o-1"])
        );
        assert_eq!(
            all("&sort=total_asc").await,
            list(&["o-1", "o-4", "o-3", "o-2"])
        );
        assert_eq!(
            all("&sort=number").await,
            list(&["o-4", "o-3", "o-2", "o-1"])
        );

        // Bad input names its parameter; a cursor only continues its own sort.
        let r = s.get("/api/v1/orders?sort=price").await;
        assert_eq!(r.status, 422);
        assert_eq!(r.body["errors"][0]["field"], "sort", "{:?}", r.body);
        let first = s.get("/api/v1/orders?limit=1&sort=total_desc").await;
        let cursor = first.body["next_cursor"].as_str().unwrap().to_string();
        let r = s
            .get(&format!(
                "/api/v1/orders?limit=1&sort=placed_desc&cursor={cursor}"
            ))
            .await;
        assert_eq!(r.status, 422, "{:?}", r.body);
        assert_eq!(r.body["errors"][0]["field"], "cursor");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn late_orders_are_those_past_their_promised_day_and_not_shipped() {
    for db in databases("late_orders") {
        let s = Server::start(&db).await;
        seed(&s, &[("SKU-A", "WH1", 10)]).await;
        let yesterday =
            (time::OffsetDateTime::now_utc().date() - time::Duration::days(1)).to_string();
        let tomorrow =
            (time::OffsetDateTime::now_utc().date() + time::Duration::days(1)).to_string();
        // (external id, SKU, promised by): SKU-B has no stock, so l-backordered waits.
        let orders = [
            ("l-allocated", "SKU-A", Some(yesterday.as_str())),
            ("l-future", "SKU-A", Some(tomorrow.as_str())),
            ("l-unpromised", "SKU-A", None),
            ("l-backordered", "SKU-B", Some("2020-01-02")),
            ("l-cancelled", "SKU-A", Some("2020-01-02")),
        ];
        let mut numbers = std::collections::HashMap::new();
        for (ext, sku, promised) in orders {
            let mut body = order(ext, &[(sku, 1)]);
            if let Some(day) = promised {
                body["shipping"]["promised_by"] = json!(day);
            }
            let r = s.post("/api/v1/orders", &body).await;
            assert_eq!(r.status, 201, "{}: {:?}", db.label, r.body);
            numbers.insert(ext, r.body["number"].as_str().unwrap().to_string());
        }
        let r = s
            .post(
                &format!("/api/v1/orders/{}/cancel", numbers["l-cancelled"]),
                &json!({}),
            )
            .await;
        assert_eq!(r.status, 200, "{}: {:?}", db.label, r.body);

        let late = numbers_through_pages(&s, "/api/v1/orders?limit=1&late=true").await;
        assert_eq!(
            late,
            vec![
                numbers["l-backordered"].clone(),
                numbers["l-allocated"].clone()
            ],
            "{}",
            db.label
        );
        // The filter combines with the others; `late=false` is no filter.
        let late_b = numbers_through_pages(&s, "/api/v1/orders?limit=5&late=true&sku=SKU-B").await;
        assert_eq!(
            late_b,
            vec![numbers["l-backordered"].clone()],
            "{}",
            db.label
        );
        let all = numbers_through_pages(&s, "/api/v1/orders?limit=5&late=false").await;
        assert_eq!(all.len(), 5, "{}", db.label);

        let r = s.get("/api/v1/orders?late=soon").await;
        assert_eq!(r.status, 422, "{}: {:?}", db.label, r.body);
        assert_eq!(r.body["errors"][0]["field"], "late", "{:?}", r.body);
        s.stop();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn movements_filter_by_reason_and_time_as_well_as_sku_and_location() {
    for db in databases("movement_filters") {
        let s = Server::start(&db).await;
        seed(&s, &[("SKU-A", "WH1", 10), ("SKU-B", "WH2", 5)]).await;
        let r = s
            .post("/api/v1/orders", &order("m-1", &[("SKU-A", 2)]))
            .await;
        assert_eq!(r.status, 201, "{}: {:?}", db.label, r.body);
        let r = s
            .post(
                "/api/v1/inventory/adjustments",
                &json!({"sku": "SKU-A", "location": "WH1", "delta": -1, "reason": "correction"}),
            )
            .await;
        assert_eq!(r.status, 201, "{}: {:?}", db.label, r.body);

        let seqs = |body: &serde_json::Value| -> Vec<i64> {
            body["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m["seq"].as_i64().unwrap())
                .collect()
        };
        let all = s.get("/api/v1/inventory/movements?limit=500").await;
        assert_eq!(all.status, 200, "{:?}", all.body);
        let all: Vec<serde_json::Value> = all.body["items"].as_array().unwrap().clone();
        let expect = |keep: &dyn Fn(&serde_json::Value) -> bool| -> Vec<i64> {
            all.iter()
                .filter(|m| keep(m))
                .map(|m| m["seq"].as_i64().unwrap())
                .collect()
        };
        let get = |q: String| {
            let s = &s;
            async move {
                let r = s
                    .get(&format!("/api/v1/inventory/movements?limit=500{q}"))
                    .await;
                assert_eq!(r.status, 200, "{q}: {:?}", r.body);
                seqs(&r.body)
            }
        };

        let received = get("&reason=received".into()).await;
        assert_eq!(received.len(), 2, "{}", db.label);
        assert_eq!(received, expect(&|m| m["reason"] == "received"));
        let allocated = get("&reason=allocation&sku=SKU-A&location=WH1".into()).await;
        assert!(
            !allocated.is_empty(),
            "{}: the order allocated SKU-A",
            db.label
        );
        assert_eq!(
            allocated,
            expect(&|m| m["reason"] == "allocation"
                && m["sku"] == "SKU-A"
                && m["location"] == "WH1")
        );

        // Split the ledger at the order's first movement: `after` keeps it (inclusive),
        // `before` keeps what came earlier (exclusive).
        let first_of_order = all
            .iter()
            .filter(|m| m["reason"] == "allocation")
            .min_by_key(|m| m["seq"].as_i64().unwrap())
            .unwrap();
        let at = first_of_order["at"].as_str().unwrap().to_string();
        let at_time =
            time::OffsetDateTime::parse(&at, &time::format_description::well_known::Rfc3339)
                .unwrap();
        let when = |m: &serde_json::Value| {
            time::OffsetDateTime::parse(
                m["at"].as_str().unwrap(),
                &time::format_description::well_known::Rfc3339,
            )
            .unwrap()
        };
        let enc = at.replace('+', "%2B");
        let since = get(format!("&after={enc}")).await;
        assert!(
            since.contains(&first_of_order["seq"].as_i64().unwrap()),
            "{}",
            db.label
        );
        assert_eq!(since, expect(&|m| when(m) >= at_time), "{}", db.label);
        assert!(
            since.len() < all.len(),
            "{}: the stock received earlier is left out",
            db.label
        );
        let earlier = get(format!("&before={enc}")).await;
        assert_eq!(earlier, expect(&|m| when(m) < at_time), "{}", db.label);
        assert_eq!(since.len() + earlier.len(), all.len());
        let corrections_since = get(format!("&after={enc}&reason=correction")).await;
        assert_eq!(corrections_since.len(), 1, "{}", db.label);

        for (q, field) in [
            ("reason=lost", "reason"),
            ("after=yesterday", "after"),
            ("before=2026-13-01", "before"),
        ] {
            let r = s.get(&format!("/api/v1/inventory/movements?{q}")).await;
            assert_eq!(r.status, 422, "{}: {q}: {:?}", db.label, r.body);
            assert_eq!(r.body["errors"][0]["field"], field, "{:?}", r.body);
        }
        s.stop();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pick_lists_take_chosen_orders_and_name_those_with_nothing_to_pick() {
    for db in databases("pick_chosen") {
        let s = Server::start(&db).await;
        seed(&s, &[("SKU-A", "WH1", 10), ("SKU-B", "WH2", 10)]).await;
        let mut numbers = Vec::new();
        for (ext, sku) in [
            ("c-1", "SKU-A"),
            ("c-2", "SKU-A"),
            ("c-3", "SKU-B"),
            ("c-4", "SKU-A"),
        ] {
            let r = s.post("/api/v1/orders", &order(ext, &[(sku, 1)])).await;
            assert_eq!(r.status, 201, "{}: {:?}", db.label, r.body);
            numbers.push(r.body["number"].as_str().unwrap().to_string());
        }
        let before = snapshot(&s).await;
        // c-3 ships from WH2; an unknown number has nothing anywhere: both named, nothing made.
        let r = s
            .post(
                "/api/v1/pick-lists",
                &json!({"location": "WH1", "filters": {"orders": [numbers[0], numbers[2], "SO-999999"]}}),
            )
            .await;
        assert_eq!(r.status, 422, "{}: {:?}", db.label, r.body);
        let errors = r.body["errors"].as_array().unwrap();
        assert_eq!(errors.len(), 2, "{:?}", r.body);
        assert_eq!(errors[0]["field"], "filters.orders[1]");
        assert!(
            errors[0]["message"].as_str().unwrap().starts_with(&format!(
                "{} has nothing to pick at this location",
                numbers[2]
            )),
            "{:?}",
            r.body
        );
        assert_eq!(errors[1]["field"], "filters.orders[2]");
        assert_eq!(
            snapshot(&s).await,
            before,
            "a refused release changes nothing"
        );

        let r = s
            .post(
                "/api/v1/pick-lists",
                &json!({"location": "WH1", "filters": {"orders": [numbers[3], numbers[0]]}}),
            )
            .await;
        assert_eq!(r.status, 201, "{}: {:?}", db.label, r.body);
        let mut released: Vec<String> = r.body["progress"]["orders"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["fulfillment_order_id"].as_str().unwrap().to_string())
            .collect();
        released.sort();
        assert_eq!(
            released,
            [format!("{}-1", numbers[0]), format!("{}-1", numbers[3])],
            "only the chosen orders, the other WH1 order left for later"
        );
        assert!(r.body["skipped"].as_array().unwrap().is_empty());
        let o2 = s.get(&format!("/api/v1/orders/{}", numbers[1])).await;
        assert_eq!(o2.body["fulfillment_orders"][0]["status"], "open");

        let docs = s
            .request("GET", "/api/openapi.json", None, None, &[])
            .await
            .unwrap();
        let params: Vec<&str> = docs.body["paths"]["/api/v1/orders"]["get"]["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        for p in ["location", "tags", "sort"] {
            assert!(params.contains(&p), "{params:?}");
        }
        assert!(
            docs.body["components"]["schemas"]["PickFilters"]["properties"]["orders"].is_object()
        );
        let (ok, out) = s.verify();
        assert!(ok, "{}: {out}", db.label);
    }
}
