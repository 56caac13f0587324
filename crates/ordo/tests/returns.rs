//! Returns over real HTTP on every backend: ship → deliver → return → receive with mixed
//! conditions → stock exactly as the dispositions say → refund exact to the cent.

mod common;

use common::*;
use serde_json::{Value, json};

fn assert_clean(s: &Server) {
    let (ok, out) = s.verify();
    assert!(ok, "{}: verify failed: {out}", s.db.label);
}

async fn shipped_order(s: &Server, id: &str, lines: &[(&str, i64)]) -> String {
    let o = s.post("/api/v1/orders", &order(id, lines)).await.body;
    let number = o["number"].as_str().unwrap().to_string();
    for fo in o["fulfillment_orders"].as_array().unwrap() {
        let sh = s
            .post("/api/v1/shipments", &json!({"fulfillment_order": fo["id"]}))
            .await;
        assert_eq!(sh.status, 201, "{:?}", sh.body);
        let r = s
            .post(
                &format!(
                    "/api/v1/shipments/{}/tracking-events",
                    sh.body["id"].as_str().unwrap()
                ),
                &json!({"status": "delivered"}),
            )
            .await;
        assert_eq!(r.status, 200);
    }
    number
}

fn stock(b: &Value) -> (i64, i64, i64, i64) {
    (
        b["on_hand"].as_i64().unwrap_or(0),
        b["damaged"].as_i64().unwrap_or(0),
        b["quality_control"].as_i64().unwrap_or(0),
        b["available"].as_i64().unwrap_or(0),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn return_receive_by_condition_grade_and_refund() {
    for db in databases("returns") {
        let s = Server::start(&db).await;
        seed(&s, &[("SKU-A", "WH1", 10)]).await;
        // 3 × 10.00 + 1.60 tax per line (order() puts tax 1.60 on each line).
        let number = shipped_order(&s, "ret-1", &[("SKU-A", 3)]).await;
        let before = balance(&s, "SKU-A", "WH1").await;

        let too_many = s
            .post(
                "/api/v1/returns",
                &json!({"order": number, "resolution": "refund",
                "lines": [{"sku": "SKU-A", "quantity": 4, "reason": "damaged"}]}),
            )
            .await;
        assert_eq!(too_many.status, 422, "{}: {:?}", db.label, too_many.body);
        assert_eq!(too_many.body["errors"][0]["field"], "lines[0].quantity");

        let r = s
            .post(
                "/api/v1/returns",
                &json!({"order": number, "resolution": "refund", "method": "drop_off",
                "lines": [{"sku": "SKU-A", "quantity": 3, "reason": "damaged"}]}),
            )
            .await;
        assert_eq!(r.status, 201, "{:?}", r.body);
        let id = r.body["id"].as_str().unwrap().to_string();
        assert_eq!(id, "RMA-000001");
        assert_eq!(r.body["status"], "requested");
        // The whole line: 30.00 + 1.60 tax, no restocking fee for damaged goods.
        assert_eq!(r.body["refund"], "31.60");
        let again = s
            .post(
                "/api/v1/returns",
                &json!({"order": number, "resolution": "refund",
                "lines": [{"sku": "SKU-A", "quantity": 1, "reason": "other"}]}),
            )
            .await;
        assert_eq!(
            again.status, 422,
            "everything shipped is already on a return"
        );

        let early = s
            .post(
                &format!("/api/v1/returns/{id}/receive"),
                &json!({"location": "WH1",
            "lines": [{"sku": "SKU-A", "quantity": 1, "condition": "resellable"}]}),
            )
            .await;
        assert_eq!(early.status, 409, "not approved yet: {:?}", early.body);
        assert_eq!(
            s.post(&format!("/api/v1/returns/{id}/approve"), &json!({}))
                .await
                .status,
            200
        );
        assert_eq!(
            s.post(&format!("/api/v1/returns/{id}/ship"), &json!({}))
                .await
                .status,
            200
        );
        let in_transit = balance(&s, "SKU-A", "WH1").await;
        assert_eq!(
            in_transit["incoming"], 3,
            "the parcel on its way back is expected at WH1"
        );

        let over = s
            .post(
                &format!("/api/v1/returns/{id}/receive"),
                &json!({"location": "WH1",
            "lines": [{"sku": "SKU-A", "quantity": 4, "condition": "resellable"}]}),
            )
            .await;
        assert_eq!(over.status, 422);
        assert_eq!(
            balance(&s, "SKU-A", "WH1").await,
            in_transit,
            "a refused receipt changes nothing"
        );

        let got = s
            .post(
                &format!("/api/v1/returns/{id}/receive"),
                &json!({"location": "WH1", "lines": [
            {"sku": "SKU-A", "quantity": 1, "condition": "resellable"},
            {"sku": "SKU-A", "quantity": 1, "condition": "defective"},
            {"sku": "SKU-A", "quantity": 1, "condition": "damaged"}]}),
            )
            .await;
        assert_eq!(got.status, 200, "{:?}", got.body);
        assert_eq!(got.body["status"], "inspected");
        let (on_hand, damaged, qc, available) = stock(&balance(&s, "SKU-A", "WH1").await);
        let (on_hand0, damaged0, qc0, available0) = stock(&before);
        assert_eq!(
            (
                on_hand - on_hand0,
                damaged - damaged0,
                qc - qc0,
                available - available0
            ),
            (3, 1, 1, 1)
        );
        let moves = s
            .get("/api/v1/inventory/movements?sku=SKU-A&location=WH1")
            .await
            .body;
        let ours: Vec<_> = moves["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["reference"] == format!("return:{id}"))
            .collect();
        let restock: Vec<_> = ours
            .iter()
            .filter(|m| m["reason"] == "return_restock")
            .collect();
        assert_eq!(restock.len(), 5, "3 on_hand, 1 damaged, 1 quality_control");
        let travel: Vec<_> = ours
            .iter()
            .filter(|m| m["reason"] == "return_in_transit")
            .collect();
        assert_eq!(
            travel.len(),
            2,
            "incoming +3 when shipped back, -3 when received"
        );
        assert_eq!(ours.len(), 7);
        let twice = s
            .post(
                &format!("/api/v1/returns/{id}/receive"),
                &json!({"location": "WH1",
            "lines": [{"sku": "SKU-A", "quantity": 1, "condition": "resellable"}]}),
            )
            .await;
        assert_eq!(twice.status, 409, "received already");

        // Quality control: the defective unit is refurbished and sold again.
        let graded = s
            .post(
                &format!("/api/v1/returns/{id}/grade"),
                &json!({"sku": "SKU-A", "quantity": 1, "grade": "restock"}),
            )
            .await;
        assert_eq!(graded.status, 200, "{:?}", graded.body);
        assert_eq!(stock(&balance(&s, "SKU-A", "WH1").await).3 - available0, 2);
        let nothing_left = s
            .post(
                &format!("/api/v1/returns/{id}/grade"),
                &json!({"sku": "SKU-A", "quantity": 1, "grade": "write_off"}),
            )
            .await;
        assert_eq!(nothing_left.status, 422);
        assert_eq!(
            s.post(&format!("/api/v1/returns/{id}/close"), &json!({}))
                .await
                .status,
            200
        );
        let events = s.get(&format!("/api/v1/orders/{number}/events")).await.body;
        let due = events
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["kind"] == "return.refund_due")
            .expect("refund due event")
            .clone();
        assert_eq!(due["data"]["amount"], "31.60");
        assert_clean(&s);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn perishables_come_back_only_as_keep_item_and_policies_approve() {
    for db in databases("returns_policy") {
        let s = Server::start(&db).await;
        seed(&s, &[]).await;
        s.send(
            "PUT",
            "/api/v1/products/CHEESE",
            &json!({"name": "Cheese", "price": "10.00", "handling_classes": ["perishable"]}),
        )
        .await;
        s.post(
            "/api/v1/inventory/adjustments",
            &json!({"sku": "CHEESE", "location": "WH1", "delta": 5, "reason": "received"}),
        )
        .await;
        let number = shipped_order(&s, "ret-2", &[("CHEESE", 2)]).await;
        let sent_back = s
            .post(
                "/api/v1/returns",
                &json!({"order": number, "resolution": "refund", "method": "pickup",
                "lines": [{"sku": "CHEESE", "quantity": 1, "reason": "no_longer_needed"}]}),
            )
            .await;
        assert_eq!(sent_back.status, 422, "{}: {:?}", db.label, sent_back.body);
        assert!(
            sent_back.body["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains("perishable")
        );

        let policy = json!({"window_days": 14, "non_returnable": ["perishable"], "auto_approve_reasons": ["damaged"]});
        assert_eq!(
            s.send("PUT", "/api/v1/channels/web/return-policy", &policy)
                .await
                .status,
            200
        );
        let kept = s
            .post(
                "/api/v1/returns",
                &json!({"order": number, "resolution": "refund", "method": "keep_item",
                "lines": [{"sku": "CHEESE", "quantity": 1, "reason": "damaged"}]}),
            )
            .await;
        assert_eq!(kept.status, 201, "{:?}", kept.body);
        assert_eq!(
            kept.body["status"], "approved",
            "damaged goods are approved by the policy"
        );
        let changed = s
            .post(
                "/api/v1/returns",
                &json!({"order": number, "resolution": "refund", "method": "keep_item",
                "lines": [{"sku": "CHEESE", "quantity": 1, "reason": "no_longer_needed"}]}),
            )
            .await;
        assert_eq!(changed.status, 201);
        assert_eq!(changed.body["status"], "requested");
        // 10.00 + 0.80 tax share, minus 10 % restocking for a change of mind.
        assert_eq!(changed.body["refund"], "9.72");
        let rejected = s
            .post(
                &format!(
                    "/api/v1/returns/{}/reject",
                    changed.body["id"].as_str().unwrap()
                ),
                &json!({}),
            )
            .await;
        assert_eq!(rejected.status, 422, "a rejection says why");
        let listed = s.get(&format!("/api/v1/returns?order={number}")).await.body;
        assert_eq!(listed["items"].as_array().unwrap().len(), 2);
        assert_clean(&s);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exchanges_send_a_linked_order_and_fees_follow_the_policy() {
    for db in databases("exchanges") {
        let s = Server::start(&db).await;
        seed(&s, &[("SKU-A", "WH1", 10), ("SKU-B", "WH1", 10)]).await;

        // Exchange, routed once the goods are back (the default): the replacement waits.
        let number = shipped_order(&s, "ex-1", &[("SKU-A", 1)]).await;
        let bad = s
            .post(
                "/api/v1/returns",
                &json!({"order": number, "resolution": "exchange",
                    "lines": [{"sku": "SKU-A", "quantity": 1, "reason": "no_longer_needed"}],
                    "exchange_lines": [{"sku": "NOPE", "quantity": 1}]}),
            )
            .await;
        assert_eq!(bad.status, 422, "{:?}", bad.body);
        assert_eq!(bad.body["errors"][0]["field"], "exchange_lines[0].sku");
        let rma = s
            .post(
                "/api/v1/returns",
                &json!({"order": number, "resolution": "exchange",
                    "lines": [{"sku": "SKU-A", "quantity": 1, "reason": "no_longer_needed"}],
                    "exchange_lines": [{"sku": "SKU-B", "quantity": 1}]}),
            )
            .await;
        assert_eq!(rma.status, 201, "{:?}", rma.body);
        assert_eq!(
            rma.body["refund"], "0.00",
            "an exchange is settled in goods"
        );
        let id = rma.body["id"].as_str().unwrap().to_string();
        let approved = s
            .post(&format!("/api/v1/returns/{id}/approve"), &json!({}))
            .await;
        assert_eq!(approved.status, 200, "{:?}", approved.body);
        let exchange = approved.body["exchange_order"]
            .as_str()
            .expect("linked order")
            .to_string();
        let order = s.get(&format!("/api/v1/orders/{exchange}")).await.body;
        assert_eq!(order["status"], "on_hold", "{}: {order}", db.label);
        assert_eq!(order["hold_reason"], "awaiting_return");
        assert_eq!(order["external_id"], format!("{id}-X"));
        assert_eq!(order["lines"][0]["sku"], "SKU-B");
        assert_eq!(order["totals"]["total"], "0.00");
        // Approving again changes nothing; the link is found again.
        assert_eq!(
            s.get(&format!("/api/v1/returns/{id}")).await.body["exchange_order"],
            exchange
        );
        let received = s
            .post(
                &format!("/api/v1/returns/{id}/receive"),
                &json!({"location": "WH1", "lines": [{"sku": "SKU-A", "quantity": 1, "condition": "resellable"}]}),
            )
            .await;
        assert_eq!(received.status, 200, "{:?}", received.body);
        let order = s.get(&format!("/api/v1/orders/{exchange}")).await.body;
        assert_eq!(
            order["status"], "allocated",
            "{}: released once received",
            db.label
        );
        let fo = order["fulfillment_orders"][0]["id"].as_str().unwrap();
        let shipped = s
            .post("/api/v1/shipments", &json!({"fulfillment_order": fo}))
            .await;
        assert_eq!(shipped.status, 201, "{:?}", shipped.body);

        // Advance exchanges and a replacement: routed at once; fees and return shipping
        // as the channel's policy says.
        let policy = s
            .send(
                "PUT",
                "/api/v1/channels/web/return-policy",
                &json!({"exchange_timing": "advance", "restocking_fee_percent": {"no_longer_needed": 20},
                    "return_shipping_refund": "4.95"}),
            )
            .await;
        assert_eq!(policy.status, 200, "{:?}", policy.body);
        let refused = s
            .send(
                "PUT",
                "/api/v1/channels/web/return-policy",
                &json!({"restocking_fee_percent": {"damaged": 5}}),
            )
            .await;
        assert_eq!(refused.status, 422, "{:?}", refused.body);
        assert_eq!(
            refused.body["errors"][0]["field"],
            "restocking_fee_percent.damaged"
        );

        let number = shipped_order(&s, "ex-2", &[("SKU-A", 2)]).await;
        let rma = s
            .post(
                "/api/v1/returns",
                &json!({"order": number, "resolution": "replacement",
                    "lines": [{"sku": "SKU-A", "quantity": 1, "reason": "defective"}]}),
            )
            .await;
        assert_eq!(rma.status, 201, "{:?}", rma.body);
        let id = rma.body["id"].as_str().unwrap().to_string();
        let approved = s
            .post(&format!("/api/v1/returns/{id}/approve"), &json!({}))
            .await;
        let replacement = approved.body["exchange_order"]
            .as_str()
            .expect("replacement order")
            .to_string();
        let order = s.get(&format!("/api/v1/orders/{replacement}")).await.body;
        assert_eq!(order["status"], "allocated", "{}: {order}", db.label);
        assert_eq!(order["lines"][0]["sku"], "SKU-A");

        // 10.00 + 1.60 tax per unit: a no-longer-needed unit refunds 11.60 − 20 %, a
        // defective one 11.60 plus the return postage.
        let number = shipped_order(&s, "ex-3", &[("SKU-A", 1), ("SKU-B", 1)]).await;
        let fee = s
            .post(
                "/api/v1/returns",
                &json!({"order": number, "resolution": "refund",
                    "lines": [{"sku": "SKU-A", "quantity": 1, "reason": "no_longer_needed"}]}),
            )
            .await;
        assert_eq!(fee.body["refund"], "9.28", "{}: {:?}", db.label, fee.body);
        let fault = s
            .post(
                "/api/v1/returns",
                &json!({"order": number, "resolution": "refund",
                    "lines": [{"sku": "SKU-B", "quantity": 1, "reason": "defective"}]}),
            )
            .await;
        assert_eq!(
            fault.body["refund"], "16.55",
            "{}: {:?}",
            db.label, fault.body
        );
        assert_clean(&s);
        s.stop();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claims_reship_only_what_went_wrong() {
    for db in databases("claims") {
        let s = Server::start(&db).await;
        seed(&s, &[("SKU-A", "WH1", 20), ("SKU-B", "WH1", 20)]).await;
        let unshipped = s
            .post("/api/v1/orders", &order("cl-0", &[("SKU-A", 1)]))
            .await
            .body;
        let early = s
            .post(
                &format!(
                    "/api/v1/orders/{}/claims",
                    unshipped["number"].as_str().unwrap()
                ),
                &json!({"type": "missing_items", "lines": [{"sku": "SKU-A", "quantity": 1}]}),
            )
            .await;
        assert_eq!(early.status, 409, "{:?}", early.body);

        // Missing items: only the missing line is reshipped, at zero price.
        let number = shipped_order(&s, "cl-1", &[("SKU-A", 2), ("SKU-B", 1)]).await;
        let too_many = s
            .post(
                &format!("/api/v1/orders/{number}/claims"),
                &json!({"type": "missing_items", "lines": [{"sku": "SKU-B", "quantity": 2}]}),
            )
            .await;
        assert_eq!(too_many.status, 422);
        assert_eq!(too_many.body["errors"][0]["field"], "lines[0].quantity");
        let claim = s
            .post(
                &format!("/api/v1/orders/{number}/claims"),
                &json!({"type": "missing_items", "lines": [{"sku": "SKU-B", "quantity": 1}], "notes": "box arrived open"}),
            )
            .await;
        assert_eq!(claim.status, 201, "{:?}", claim.body);
        assert_eq!(claim.body["resolution"], "reship");
        let reship = s
            .get(&format!(
                "/api/v1/orders/{}",
                claim.body["reship_order"].as_str().unwrap()
            ))
            .await
            .body;
        assert_eq!(
            reship["lines"].as_array().unwrap().len(),
            1,
            "{}: {reship}",
            db.label
        );
        assert_eq!(reship["lines"][0]["sku"], "SKU-B");
        assert_eq!(reship["lines"][0]["quantity"], 1);
        assert_eq!(reship["totals"]["total"], "0.00");
        assert_eq!(reship["status"], "allocated");
        let listed = s.get(&format!("/api/v1/orders/{number}/claims")).await.body;
        assert_eq!(listed[0]["reship_order"], reship["number"]);

        // Damaged: refunded instead, what was paid for the unit (half of 2 × 10.00 + 1.60 tax).
        let refund = s
            .post(
                &format!("/api/v1/orders/{number}/claims"),
                &json!({"type": "damaged_in_transit", "resolution": "refund", "lines": [{"sku": "SKU-A", "quantity": 1}]}),
            )
            .await;
        assert_eq!(refund.status, 201, "{:?}", refund.body);
        assert_eq!(refund.body["refund"], "10.80");
        let events = s.get(&format!("/api/v1/orders/{number}/events")).await.body;
        assert!(
            events.to_string().contains("claim.refund_due"),
            "{}: a payment integration can act on it",
            db.label
        );

        // Lost in transit: the shipment is marked lost and everything in it reshipped.
        let o = s
            .post("/api/v1/orders", &order("cl-2", &[("SKU-A", 3)]))
            .await
            .body;
        let lost_number = o["number"].as_str().unwrap().to_string();
        let fo = o["fulfillment_orders"][0]["id"].as_str().unwrap();
        let shipment = s
            .post("/api/v1/shipments", &json!({"fulfillment_order": fo}))
            .await
            .body;
        let shipment_id = shipment["id"].as_str().unwrap().to_string();
        let lost = s
            .post(
                &format!("/api/v1/orders/{lost_number}/claims"),
                &json!({"type": "lost", "shipment": shipment_id, "lines": [{"sku": "SKU-A", "quantity": 3}]}),
            )
            .await;
        assert_eq!(lost.status, 201, "{:?}", lost.body);
        assert_eq!(
            s.get(&format!("/api/v1/shipments/{shipment_id}"))
                .await
                .body["status"],
            "lost"
        );
        let reship = s
            .get(&format!(
                "/api/v1/orders/{}",
                lost.body["reship_order"].as_str().unwrap()
            ))
            .await
            .body;
        assert_eq!(reship["lines"][0]["quantity"], 3);

        // A carrier exception suggests the claim to open; opening it as suggested works.
        let o = s
            .post("/api/v1/orders", &order("cl-3", &[("SKU-B", 2)]))
            .await
            .body;
        let ex_number = o["number"].as_str().unwrap().to_string();
        let fo = o["fulfillment_orders"][0]["id"].as_str().unwrap();
        let sh = s
            .post("/api/v1/shipments", &json!({"fulfillment_order": fo}))
            .await
            .body;
        let r = s
            .post(
                &format!(
                    "/api/v1/shipments/{}/tracking-events",
                    sh["id"].as_str().unwrap()
                ),
                &json!({"status": "exception", "detail": "parcel damaged at hub"}),
            )
            .await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        let events = s
            .get(&format!("/api/v1/orders/{ex_number}/events"))
            .await
            .body;
        let suggestion = events
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["kind"] == "shipment.exception")
            .map(|e| e["data"]["claim_suggestion"].clone())
            .expect("exception event");
        assert_eq!(suggestion["type"], "damaged_in_transit", "{suggestion}");
        let opened = s
            .post(&format!("/api/v1/orders/{ex_number}/claims"), &suggestion)
            .await;
        assert_eq!(opened.status, 201, "{}: {:?}", db.label, opened.body);

        // The carrier claim file lists the lost parcel with its tracking number and value.
        let csv = s.get("/api/v1/claims.csv").await;
        let text = csv.body.as_str().unwrap().to_string();
        assert!(text.starts_with(
            "claim,order,type,resolution,shipment,carrier,tracking_number,value,currency,created_at"
        ));
        let row = text
            .lines()
            .find(|l| l.contains("\"lost\""))
            .expect("lost claim row");
        assert!(
            row.contains(shipment["tracking_number"].as_str().unwrap()),
            "{row}"
        );
        assert!(
            row.contains("\"31.60\""),
            "{}: 3 × 10.00 + 1.60: {row}",
            db.label
        );
        assert!(
            !text.contains("missing_items"),
            "only what a carrier pays for, by default"
        );
        assert_clean(&s);
        s.stop();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_returns_report_counts_rates_reasons_and_restocks() {
    for db in databases("return_report") {
        let s = Server::start(&db).await;
        seed(&s, &[("SKU-A", "WH1", 10), ("SKU-B", "WH1", 10)]).await;
        let first = shipped_order(&s, "rr-1", &[("SKU-A", 3)]).await;
        shipped_order(&s, "rr-2", &[("SKU-B", 1)]).await;
        let rma = s
            .post(
                "/api/v1/returns",
                &json!({"order": first, "resolution": "refund",
                    "lines": [{"sku": "SKU-A", "quantity": 1, "reason": "damaged"}]}),
            )
            .await
            .body;
        let id = rma["id"].as_str().unwrap();
        assert_eq!(
            s.post(&format!("/api/v1/returns/{id}/approve"), &json!({}))
                .await
                .status,
            200
        );
        let received = s
            .post(
                &format!("/api/v1/returns/{id}/receive"),
                &json!({"location": "WH1", "lines": [{"sku": "SKU-A", "quantity": 1, "condition": "resellable"}]}),
            )
            .await;
        assert_eq!(received.status, 200, "{:?}", received.body);
        let report = s.get("/api/v1/reports/returns").await;
        assert_eq!(report.status, 200, "{:?}", report.body);
        let r = &report.body;
        assert_eq!(
            (r["units_shipped"].as_i64(), r["units_returned"].as_i64()),
            (Some(4), Some(1)),
            "{}: {r}",
            db.label
        );
        let a = r["by_sku"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["key"] == "SKU-A")
            .unwrap();
        assert_eq!(
            (
                a["shipped"].as_i64(),
                a["returned"].as_i64(),
                a["rate"].as_str()
            ),
            (Some(3), Some(1), Some("0.3333"))
        );
        assert_eq!(r["by_channel"][0]["rate"], "0.2500");
        assert_eq!(
            r["by_reason"][0],
            json!({"reason": "damaged", "units": 1, "share": "1.0000"})
        );
        assert_eq!(r["restock_rate"], "1.0000");
        assert_eq!(r["average_days_to_receive"], "0.0");
        let bad = s.get("/api/v1/reports/returns?from=yesterday").await;
        assert_eq!(bad.status, 422);
        s.stop();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_return_label_carries_its_own_tracking_number() {
    for db in databases("return_label") {
        let s = Server::start(&db).await;
        seed(&s, &[("SKU-A", "WH1", 10)]).await;
        let number = shipped_order(&s, "rl-1", &[("SKU-A", 2)]).await;
        let rma = s
            .post(
                "/api/v1/returns",
                &json!({"order": number, "resolution": "refund", "method": "drop_off",
                    "lines": [{"sku": "SKU-A", "quantity": 1, "reason": "wrong_item"}]}),
            )
            .await
            .body;
        let id = rma["id"].as_str().unwrap().to_string();
        let early = s.get(&format!("/api/v1/returns/{id}/label.pdf")).await;
        assert_eq!(early.status, 409, "{}: no label before approval", db.label);
        assert_eq!(
            s.post(&format!("/api/v1/returns/{id}/approve"), &json!({}))
                .await
                .status,
            200
        );
        let issued = s
            .post(&format!("/api/v1/returns/{id}/label"), &json!({}))
            .await;
        assert_eq!(issued.status, 200, "{:?}", issued.body);
        assert_eq!(issued.body["status"], "label_issued");
        let pdf = s
            .request(
                "GET",
                &format!("/api/v1/returns/{id}/label.pdf"),
                Some(ADMIN_KEY),
                None,
                &[],
            )
            .await
            .unwrap();
        assert_eq!(pdf.status, 200);
        assert_eq!(pdf.headers["content-type"], "application/pdf");
        let zpl = s.get(&format!("/api/v1/returns/{id}/label.zpl")).await;
        let text = zpl.body.as_str().unwrap();
        assert!(
            text.starts_with("^XA") && text.contains("RT"),
            "{}: {text}",
            db.label
        );
        assert!(text.contains(&id), "the label names the return");
        // In transit: counted as incoming where the order left from, until received.
        assert_eq!(
            s.post(&format!("/api/v1/returns/{id}/ship"), &json!({}))
                .await
                .body["status"],
            "in_transit"
        );
        assert_eq!(
            balance(&s, "SKU-A", "WH1").await["incoming"],
            1,
            "{}",
            db.label
        );
        let received = s
            .post(
                &format!("/api/v1/returns/{id}/receive"),
                &json!({"location": "WH1", "lines": [{"sku": "SKU-A", "quantity": 1, "condition": "resellable"}]}),
            )
            .await;
        assert_eq!(received.status, 200, "{:?}", received.body);
        assert_eq!(balance(&s, "SKU-A", "WH1").await["incoming"], 0);
        let movements = s
            .get("/api/v1/inventory/movements?sku=SKU-A&location=WH1&limit=500")
            .await
            .body;
        assert_eq!(
            movements["items"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|m| m["reason"] == "return_in_transit")
                .count(),
            2,
            "in and out of incoming, both in the ledger: {movements}"
        );
        assert_clean(&s);
        s.stop();
    }
}
