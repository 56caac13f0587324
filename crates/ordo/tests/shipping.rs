//! Shipping fulfillment orders, labels, voids and tracking, over real HTTP on every backend.

mod common;

use common::*;
use serde_json::{Value, json};

fn assert_clean(s: &Server) {
    let (ok, out) = s.verify();
    assert!(ok, "{}: verify failed: {out}", s.db.label);
}

async fn ship(s: &Server, body: Value) -> Response {
    s.post("/api/v1/shipments", &body).await
}

async fn raw(s: &Server, path: &str) -> (u16, Vec<u8>) {
    let r = s
        .request("GET", path, Some(ADMIN_KEY), None, &[])
        .await
        .unwrap();
    let bytes = match r.body {
        Value::String(text) => text.into_bytes(),
        other => other.to_string().into_bytes(),
    };
    (r.status, bytes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shipping_takes_stock_out_and_tracking_delivers() {
    for db in databases("ship") {
        let s = Server::start(&db).await;
        seed(&s, &[("SKU-A", "WH1", 5), ("SKU-B", "WH2", 5)]).await;
        let o = s
            .post(
                "/api/v1/orders",
                &order("ship-1", &[("SKU-A", 2), ("SKU-B", 1)]),
            )
            .await
            .body;
        let number = o["number"].as_str().unwrap().to_string();
        let fos: Vec<String> = o["fulfillment_orders"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["id"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(fos.len(), 2, "{}: {o:?}", db.label);

        let bad = ship(
            &s,
            json!({"fulfillment_order": "nope", "carrier": "Pigeon Post!"}),
        )
        .await;
        assert_eq!(bad.status, 422);
        let fields: Vec<_> = bad.body["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["field"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(fields, ["fulfillment_order", "carrier", "tracking_number"]);

        let r = s
            .request(
                "POST",
                "/api/v1/shipments",
                Some(ADMIN_KEY),
                Some(
                    &json!({"fulfillment_order": fos[0], "packages": [{"weight_g": 900}]})
                        .to_string(),
                ),
                &[("idempotency-key", "ship-once")],
            )
            .await
            .unwrap();
        assert_eq!(r.status, 201, "{}: {:?}", db.label, r.body);
        let sh = r.body.clone();
        assert_eq!(sh["id"], "SH-000001");
        assert_eq!(sh["status"], "label_created");
        assert_eq!(sh["location"], "WH1");
        let tracking = sh["tracking_number"].as_str().unwrap().to_string();
        assert!(
            tracking.starts_with("OR00000001") && tracking.len() == 13,
            "{tracking}"
        );
        let again = s
            .request(
                "POST",
                "/api/v1/shipments",
                Some(ADMIN_KEY),
                Some(
                    &json!({"fulfillment_order": fos[0], "packages": [{"weight_g": 900}]})
                        .to_string(),
                ),
                &[("idempotency-key", "ship-once")],
            )
            .await
            .unwrap();
        assert_eq!(again.body, sh, "a retry answers the first shipment");
        let twice = ship(&s, json!({"fulfillment_order": fos[0]})).await;
        assert_eq!(twice.status, 409);
        assert_eq!(twice.body["current"], "shipped");

        let wh1 = balance(&s, "SKU-A", "WH1").await;
        assert_eq!(
            (wh1["on_hand"].as_i64(), wh1["allocated"].as_i64()),
            (Some(3), Some(0))
        );
        let moves = s
            .get("/api/v1/inventory/movements?sku=SKU-A&location=WH1")
            .await
            .body;
        let shipped: Vec<_> = moves["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["reason"] == "shipped")
            .collect();
        assert_eq!(shipped.len(), 2, "on_hand and allocated");
        assert!(
            shipped
                .iter()
                .all(|m| m["reference"] == "shipment:SH-000001")
        );

        let o = s.get(&format!("/api/v1/orders/{number}")).await.body;
        assert_eq!(o["status"], "partially_shipped");
        assert_eq!(o["lines"][0]["shipped"], 2);
        assert_eq!(o["lines"][0]["allocated"], 0);
        assert_eq!(o["fulfillment_orders"][0]["status"], "shipped");
        assert_eq!(o["fulfillment_orders"][0]["lines"][0]["quantity"], 2);
        let cancel = s
            .post(&format!("/api/v1/orders/{number}/cancel"), &json!({}))
            .await;
        assert_eq!(cancel.status, 409);
        assert_clean(&s);

        // The answer tells the integrator where the label is printed from.
        assert_eq!(
            sh["labels"],
            json!([{"package": 1, "pdf": "/api/v1/shipments/SH-000001/label.pdf?package=1",
                "zpl": "/api/v1/shipments/SH-000001/label.zpl?package=1"}])
        );
        let (status, linked) = raw(&s, sh["labels"][0]["pdf"].as_str().unwrap()).await;
        assert_eq!(status, 200);
        assert!(linked.starts_with(b"%PDF-"));

        // Labels: a 4×6 in PDF page and ZPL with the tracking number.
        let (status, pdf) = raw(&s, "/api/v1/shipments/SH-000001/label.pdf").await;
        assert_eq!(status, 200);
        let text = String::from_utf8_lossy(&pdf);
        assert!(text.starts_with("%PDF-"), "{}", &text[..20.min(text.len())]);
        assert!(text.contains("/MediaBox [0 0 288 432]"), "page size");
        let (status, zpl) = raw(&s, "/api/v1/shipments/SH-000001/label.zpl").await;
        assert_eq!(status, 200);
        let zpl = String::from_utf8(zpl).unwrap();
        assert!(zpl.trim_start().starts_with("^XA") && zpl.trim_end().ends_with("^XZ"));
        assert!(zpl.contains("^BC"));
        assert_eq!(
            s.get("/api/v1/shipments/SH-000001/label.pdf?package=2")
                .await
                .status,
            422
        );
        // A location with a GS1 Company Prefix adds an SSCC-18 (GS1-128) to its labels.
        let bad = s.send("PUT", "/api/v1/locations/WH1", &json!({"name": "WH1", "kind": "warehouse", "priority": 10, "gs1_company_prefix": "12AB"})).await;
        assert_eq!(bad.status, 422);
        assert_eq!(bad.body["errors"][0]["field"], "gs1_company_prefix");
        let r = s.send("PUT", "/api/v1/locations/WH1", &json!({"name": "WH1", "kind": "warehouse", "priority": 10, "gs1_company_prefix": "4012345"})).await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        let (_, zpl) = raw(&s, "/api/v1/shipments/SH-000001/label.zpl").await;
        let zpl = String::from_utf8(zpl).unwrap();
        assert_eq!(
            zpl.matches("^BC").count(),
            2,
            "tracking and SSCC barcodes: {zpl}"
        );
        assert!(zpl.contains("4012345"), "the SSCC carries the prefix");

        // Void before hand-over: stock back, the FO open again, the order allocated.
        let second = ship(&s, json!({"fulfillment_order": fos[1]})).await;
        assert_eq!(second.status, 201, "{:?}", second.body);
        assert_eq!(
            s.get(&format!("/api/v1/orders/{number}")).await.body["status"],
            "shipped"
        );
        let voided = s.post("/api/v1/shipments/SH-000002/void", &json!({})).await;
        assert_eq!(voided.status, 200, "{:?}", voided.body);
        assert_eq!(voided.body["status"], "voided");
        let wh2 = balance(&s, "SKU-B", "WH2").await;
        assert_eq!(
            (wh2["on_hand"].as_i64(), wh2["allocated"].as_i64()),
            (Some(5), Some(1))
        );
        let o = s.get(&format!("/api/v1/orders/{number}")).await.body;
        assert_eq!(o["status"], "partially_shipped");
        assert_eq!(o["fulfillment_orders"][1]["status"], "open");
        assert_clean(&s);

        // Ship again, hand over, deliver everything.
        let third = ship(&s, json!({"fulfillment_order": fos[1], "carrier": "manual", "service": "express",
            "tracking_number": "1Z999AA10123456784", "packages": [{"weight_g": 300}, {"weight_g": 400}]})).await;
        assert_eq!(third.status, 201, "{:?}", third.body);
        assert_eq!(third.body["tracking_number"], "1Z999AA10123456784");
        let labels = third.body["labels"].as_array().unwrap();
        assert_eq!(labels.len(), 2, "one label per package: {labels:?}");
        assert_eq!(labels[1]["package"], 2);
        let (status, zpl) = raw(&s, labels[1]["zpl"].as_str().unwrap()).await;
        assert_eq!(status, 200);
        assert!(
            String::from_utf8(zpl)
                .unwrap()
                .contains("1Z999AA10123456784")
        );
        let dup = ship(&s, json!({"fulfillment_order": fos[0], "carrier": "manual", "tracking_number": "1Z999AA10123456784"})).await;
        assert_eq!(dup.status, 409);
        for (id, status) in [
            ("SH-000001", "in_transit"),
            ("SH-000001", "delivered"),
            ("SH-000003", "out_for_delivery"),
        ] {
            let r = s
                .post(
                    &format!("/api/v1/shipments/{id}/tracking-events"),
                    &json!({"status": status, "detail": "scan"}),
                )
                .await;
            assert_eq!(r.status, 200, "{:?}", r.body);
        }
        assert_eq!(
            s.post("/api/v1/shipments/SH-000001/void", &json!({}))
                .await
                .status,
            409
        );
        assert_eq!(
            s.post(
                "/api/v1/shipments/SH-000001/tracking-events",
                &json!({"status": "voided"})
            )
            .await
            .status,
            422
        );
        assert_eq!(
            s.get(&format!("/api/v1/orders/{number}")).await.body["status"],
            "shipped"
        );
        let r = s
            .post(
                "/api/v1/shipments/SH-000003/tracking-events",
                &json!({"status": "delivered", "at": "2026-11-27T10:00:00Z"}),
            )
            .await;
        assert_eq!(r.body["tracking"].as_array().unwrap().len(), 2);
        assert_eq!(
            s.get(&format!("/api/v1/orders/{number}")).await.body["status"],
            "delivered"
        );
        let listed = s
            .get(&format!("/api/v1/shipments?order={number}"))
            .await
            .body;
        assert_eq!(listed["items"].as_array().unwrap().len(), 3);
        assert_eq!(listed["items"][0]["id"], "SH-000003");
        let kinds: Vec<String> = s
            .get(&format!("/api/v1/orders/{number}/events"))
            .await
            .body
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["kind"].as_str().unwrap().to_string())
            .collect();
        for k in ["shipment.created", "shipment.voided", "shipment.delivered"] {
            assert!(kinds.iter().any(|x| x == k), "{k} in {kinds:?}");
        }
        assert_clean(&s);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn held_orders_and_unaccepted_3pl_requests_do_not_ship() {
    for db in databases("ship_refused") {
        let s = Server::start(&db).await;
        seed(&s, &[("SKU-A", "WH1", 5)]).await;
        let r = s
            .send(
                "PUT",
                "/api/v1/locations/TPL",
                &json!({"name": "3PL", "kind": "3pl", "priority": 1}),
            )
            .await;
        assert_eq!(r.status, 201);
        s.post(
            "/api/v1/inventory/adjustments",
            &json!({"sku": "SKU-B", "location": "TPL", "delta": 5, "reason": "received"}),
        )
        .await;

        let held = s
            .post("/api/v1/orders", &order("held", &[("SKU-A", 1)]))
            .await
            .body;
        let number = held["number"].as_str().unwrap();
        s.post(
            &format!("/api/v1/orders/{number}/hold"),
            &json!({"reason": "fraud_review"}),
        )
        .await;
        let before = snapshot(&s).await;
        let r = ship(&s, json!({"fulfillment_order": format!("{number}-1")})).await;
        assert_eq!(r.status, 409, "{}: {:?}", db.label, r.body);
        assert_eq!(r.body["current"], "on_hold");
        assert_eq!(
            snapshot(&s).await,
            before,
            "a refused shipment changes nothing"
        );

        let tpl = s
            .post("/api/v1/orders", &order("tpl", &[("SKU-B", 1)]))
            .await
            .body;
        let fo = tpl["fulfillment_orders"][0]["id"]
            .as_str()
            .unwrap()
            .to_string();
        assert_eq!(tpl["fulfillment_orders"][0]["location"], "TPL");
        let r = ship(
            &s,
            json!({"fulfillment_order": fo, "carrier": "manual", "tracking_number": "TPL-1"}),
        )
        .await;
        assert_eq!(r.status, 409);
        assert_eq!(r.body["current"], "unsubmitted");
        s.post(
            &format!("/api/v1/fulfillment-orders/{fo}/submit"),
            &json!({}),
        )
        .await;
        s.post(
            &format!("/api/v1/fulfillment-orders/{fo}/accept"),
            &json!({}),
        )
        .await;
        let r = ship(
            &s,
            json!({"fulfillment_order": fo, "carrier": "manual", "tracking_number": "TPL-1"}),
        )
        .await;
        assert_eq!(r.status, 201, "{:?}", r.body);
        assert_eq!(balance(&s, "SKU-B", "TPL").await["on_hand"], 4);
        assert_clean(&s);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn end_of_day_manifest_hands_over_labelled_shipments() {
    for db in databases("manifest") {
        let s = Server::start(&db).await;
        seed(&s, &[("SKU-A", "WH1", 10)]).await;
        let mut shipments = Vec::new();
        for i in 0..3 {
            let o = s
                .post("/api/v1/orders", &order(&format!("m-{i}"), &[("SKU-A", 1)]))
                .await
                .body;
            let fo = o["fulfillment_orders"][0]["id"]
                .as_str()
                .unwrap()
                .to_string();
            let r = ship(
                &s,
                json!({"fulfillment_order": fo, "packages": [{"weight_g": 700}]}),
            )
            .await;
            assert_eq!(r.status, 201, "{}: {:?}", db.label, r.body);
            shipments.push(r.body["id"].as_str().unwrap().to_string());
        }
        // One is voided before the driver comes: it stays off the manifest.
        assert_eq!(
            s.post(
                &format!("/api/v1/shipments/{}/void", shipments[2]),
                &json!({})
            )
            .await
            .status,
            200
        );
        let m = s
            .post("/api/v1/manifests", &json!({"location": "WH1"}))
            .await;
        assert_eq!(m.status, 201, "{:?}", m.body);
        assert_eq!(m.body["id"], "MF-000001");
        assert_eq!(m.body["shipments"], json!([shipments[0], shipments[1]]));
        assert_eq!(m.body["weight_g"], 1400);
        let handed = s
            .get(&format!("/api/v1/shipments/{}", shipments[0]))
            .await
            .body;
        assert_eq!(handed["status"], "in_transit");
        assert_eq!(
            s.post(
                &format!("/api/v1/shipments/{}/void", shipments[0]),
                &json!({})
            )
            .await
            .status,
            409,
            "handed over: no void"
        );
        let again = s
            .post("/api/v1/manifests", &json!({"location": "WH1"}))
            .await;
        assert_eq!(again.status, 422, "nothing left to hand over");
        let (status, csv) = raw(&s, "/api/v1/manifests/MF-000001/manifest.csv").await;
        assert_eq!(status, 200);
        let csv = String::from_utf8(csv).unwrap();
        assert!(
            csv.contains(handed["tracking_number"].as_str().unwrap()),
            "{csv}"
        );
        let (status, pdf) = raw(&s, "/api/v1/manifests/MF-000001/manifest.pdf").await;
        assert_eq!(status, 200);
        assert!(pdf.starts_with(b"%PDF-"));
        assert_eq!(
            s.get("/api/v1/manifests?location=WH1").await.body["items"][0]["id"],
            "MF-000001"
        );
        assert_clean(&s);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_exception_flags_the_order_for_follow_up() {
    for db in databases("exception") {
        let s = Server::start(&db).await;
        seed(&s, &[("SKU-A", "WH1", 5)]).await;
        let mut input = order("exc-1", &[("SKU-A", 1)]);
        input["tags"] = json!(["vip"]);
        let o = s.post("/api/v1/orders", &input).await.body;
        let number = o["number"].as_str().unwrap().to_string();
        let fo = o["fulfillment_orders"][0]["id"].as_str().unwrap();
        let sh = ship(&s, json!({"fulfillment_order": fo})).await;
        assert_eq!(sh.status, 201, "{}: {:?}", db.label, sh.body);
        let id = sh.body["id"].as_str().unwrap().to_string();
        let events = format!("/api/v1/shipments/{id}/tracking-events");
        let tags = |o: &Value| o["tags"].clone();

        let r = s.post(&events, &json!({"status": "in_transit"})).await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        let o = s.get(&format!("/api/v1/orders/{number}")).await.body;
        assert_eq!(tags(&o), json!(["vip"]), "a normal scan flags nothing");

        for _ in 0..2 {
            let r = s
                .post(
                    &events,
                    &json!({"status": "exception", "detail": "parcel damaged at hub"}),
                )
                .await;
            assert_eq!(r.status, 200, "{:?}", r.body);
        }
        let o = s.get(&format!("/api/v1/orders/{number}")).await.body;
        assert_eq!(tags(&o), json!(["vip", "delivery_exception"]), "{o:?}");
        assert_eq!(o["status"], "shipped");
        let flagged: Vec<Value> = s
            .get(&format!("/api/v1/orders/{number}/events"))
            .await
            .body
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["kind"] == "order.flagged")
            .cloned()
            .collect();
        assert_eq!(flagged.len(), 1, "flagged once: {flagged:?}");
        assert_eq!(flagged[0]["data"]["tag"], "delivery_exception");
        assert_eq!(flagged[0]["data"]["shipment"], id.as_str());

        // Delivered in the end: the order is delivered and keeps the flag for follow-up.
        let r = s.post(&events, &json!({"status": "delivered"})).await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        let o = s.get(&format!("/api/v1/orders/{number}")).await.body;
        assert_eq!(o["status"], "delivered");
        assert_eq!(tags(&o), json!(["vip", "delivery_exception"]));
        assert_eq!(
            o["customer"]["email"], "ann@example.com",
            "the rest of the document is kept"
        );
        assert_clean(&s);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unpacked_perishable_order_still_ships_express() {
    for db in databases("unpacked") {
        let s = Server::start(&db).await;
        seed(&s, &[("SKU-A", "WH1", 5)]).await;
        let r = s
            .send(
                "PUT",
                "/api/v1/products/COLD-1",
                &json!({"name": "Cheese", "price": "10.00", "handling_classes": ["perishable"], "weight_g": 500}),
            )
            .await;
        assert!(r.status == 201 || r.status == 200, "{:?}", r.body);
        s.post(
            "/api/v1/inventory/adjustments",
            &json!({"sku": "COLD-1", "location": "WH1", "delta": 5, "reason": "received"}),
        )
        .await;
        let service = |code: &str, level: &str, days: u32, price: i64| {
            json!({
                "carrier": "own_fleet", "code": code, "name": code, "level": level, "transit_days": days,
                "weekend_delivery": true, "max_weight_g": 30000,
                "rates": [{"zone": "DE", "max_weight_g": 30000, "price_minor": price}],
                "cutoffs": [{"location": "WH1", "time": "23:59"}]
            })
        };
        let services = json!([
            service("economy", "ground", 3, 400),
            service("express", "express", 1, 900)
        ]);
        assert_eq!(
            s.send("PUT", "/api/v1/carrier-services", &services)
                .await
                .status,
            200
        );
        let fo = |o: &Value| {
            o["fulfillment_orders"][0]["id"]
                .as_str()
                .unwrap()
                .to_string()
        };
        let cold = s
            .post("/api/v1/orders", &order("unpacked-cold", &[("COLD-1", 1)]))
            .await
            .body;
        let plain = s
            .post("/api/v1/orders", &order("unpacked-plain", &[("SKU-A", 1)]))
            .await
            .body;

        // Neither went through the pack station: the classes of the products decide.
        let shipped = ship(&s, json!({"fulfillment_order": fo(&cold)})).await;
        assert_eq!(shipped.status, 201, "{}: {:?}", db.label, shipped.body);
        assert_eq!(
            shipped.body["service"], "express",
            "perishables only travel express: {:?}",
            shipped.body["rate_choice"]
        );
        let refused = &shipped.body["rate_choice"]["alternatives"][0];
        assert_eq!(refused["service"], "economy");
        assert!(!refused["reasons"].as_array().unwrap().is_empty());
        let shipped = ship(&s, json!({"fulfillment_order": fo(&plain)})).await;
        assert_eq!(shipped.status, 201, "{:?}", shipped.body);
        assert_eq!(shipped.body["service"], "economy", "the cheapest otherwise");
        assert_clean(&s);
    }
}
