//! Routing at capture and fulfillment orders, over real HTTP on every backend this machine runs.

mod common;

use common::*;
use serde_json::{Value, json};

async fn put(s: &Server, path: &str, body: Value) {
    let r = s.send("PUT", path, &body).await;
    assert!(
        r.status == 200 || r.status == 201,
        "{path}: {} {:?}",
        r.status,
        r.body
    );
}

async fn capture(s: &Server, body: &Value) -> Value {
    let r = s.post("/api/v1/orders", body).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    r.body
}

fn fo_locations(order: &Value) -> Vec<(String, String)> {
    order["fulfillment_orders"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["status"] != "cancelled")
        .map(|f| {
            (
                f["location"].as_str().unwrap().to_string(),
                f["status"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn assert_clean(s: &Server) {
    let (ok, out) = s.verify();
    assert!(ok, "{}: verify failed: {out}", s.db.label);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn saved_rules_restrict_exclude_prefer_and_hold_at_capture() {
    for db in databases("rules") {
        let s = Server::start(&db).await;
        seed(&s, &[("SKU-A", "WH1", 20), ("SKU-A", "WH2", 20)]).await;
        let rules = json!({"rules": [
            {"name": "vip-from-wh2", "conditions": {"tags": ["vip"]},
             "actions": {"restrict_to_locations": ["WH2"], "add_tags": ["routed-vip"], "set_priority": 7}},
            {"name": "france-not-wh1", "conditions": {"countries": ["FR"]},
             "actions": {"exclude_locations": ["WH1"]}},
            {"name": "review-big", "conditions": {"order_value": {"min": 50000}},
             "actions": {"hold": "manual review of large orders"}},
            {"name": "prefer-wh2-for-b2b", "conditions": {"tags": ["b2b"]},
             "actions": {"prefer_locations": ["WH2"]}}
        ]});
        let r = s.send("PUT", "/api/v1/routing/rules", &rules).await;
        assert_eq!(r.status, 200, "{:?}", r.body);

        // No rule matches: WH1 wins on priority.
        let plain = capture(&s, &order("plain", &[("SKU-A", 1)])).await;
        assert_eq!(fo_locations(&plain), [("WH1".into(), "open".into())]);
        assert_eq!(plain["fulfillment_orders"][0]["id"], "SO-000001-1");
        assert_eq!(
            plain["fulfillment_orders"][0]["request_status"],
            Value::Null
        );

        let mut vip = order("vip", &[("SKU-A", 1)]);
        vip["tags"] = json!(["vip"]);
        let vip = capture(&s, &vip).await;
        assert_eq!(
            fo_locations(&vip),
            [("WH2".into(), "open".into())],
            "{}",
            db.label
        );
        assert_eq!(vip["tags"], json!(["vip", "routed-vip"]));
        assert_eq!(vip["priority"], 7);
        let events = s
            .get(&format!(
                "/api/v1/orders/{}/events",
                vip["number"].as_str().unwrap()
            ))
            .await;
        let allocated = events
            .body
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["kind"] == "order.allocated")
            .unwrap()
            .clone();
        assert_eq!(allocated["data"]["rules"], json!(["vip-from-wh2"]));

        let mut fr = order("fr", &[("SKU-A", 1)]);
        fr["shipping_address"]["country"] = json!("FR");
        fr["shipping_address"]["postal_code"] = json!("75001");
        let fr = capture(&s, &fr).await;
        assert_eq!(fo_locations(&fr), [("WH2".into(), "open".into())]);

        let mut b2b = order("b2b", &[("SKU-A", 1)]);
        b2b["tags"] = json!(["b2b"]);
        let b2b = capture(&s, &b2b).await;
        assert_eq!(fo_locations(&b2b), [("WH2".into(), "open".into())]);

        // 6 × 100.00 of goods: held by the rule, stock still reserved, its FO on hold.
        let big = capture(&s, &order("big", &[("SKU-A", 6)])).await;
        let mut big_body = order("big-2", &[("SKU-A", 6)]);
        big_body["lines"][0]["unit_price"] = json!("100.00");
        let big2 = capture(&s, &big_body).await;
        assert_eq!(big["status"], "allocated", "60.00 is under the limit");
        assert_eq!(big2["status"], "on_hold");
        assert_eq!(big2["hold_reason"], "routing_rule");
        assert_eq!(fo_locations(&big2), [("WH1".into(), "on_hold".into())]);
        let number = big2["number"].as_str().unwrap();
        let released = s
            .post(&format!("/api/v1/orders/{number}/release"), &json!({}))
            .await;
        assert_eq!(released.status, 200);
        assert_eq!(
            fo_locations(&released.body),
            [("WH1".into(), "open".into())]
        );
        let cancelled = s
            .post(
                &format!("/api/v1/orders/{number}/cancel"),
                &json!({"reason": "test"}),
            )
            .await;
        let fo = &cancelled.body["fulfillment_orders"][0];
        assert_eq!(fo["status"], "cancelled");
        assert_eq!(
            fo["lines"],
            json!([{"line_no": 1, "sku": "SKU-A", "quantity": 6}]),
            "cancelled FOs keep what they held"
        );
        assert_clean(&s);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fulfillment_orders_split_merge_and_move_with_their_reservations() {
    for db in databases("fo_edit") {
        let s = Server::start(&db).await;
        seed(
            &s,
            &[
                ("SKU-A", "WH1", 10),
                ("SKU-B", "WH1", 10),
                ("SKU-A", "WH2", 1),
            ],
        )
        .await;
        let o = capture(&s, &order("edit", &[("SKU-A", 3), ("SKU-B", 2)])).await;
        let number = o["number"].as_str().unwrap().to_string();
        let fo1 = format!("{number}-1");
        assert_eq!(fo_locations(&o), [("WH1".into(), "open".into())]);

        let listed = s
            .get("/api/v1/fulfillment-orders?location=WH1&status=open")
            .await;
        assert_eq!(listed.status, 200);
        assert_eq!(listed.body["items"][0]["id"], fo1.as_str());
        assert_eq!(
            listed.body["items"][0]["lines"].as_array().unwrap().len(),
            2
        );
        assert_eq!(
            s.get("/api/v1/fulfillment-orders?location=WH2").await.body["items"],
            json!([])
        );
        assert_eq!(
            s.get(&format!("/api/v1/fulfillment-orders/{fo1}"))
                .await
                .body["location"],
            "WH1"
        );
        assert_eq!(
            s.get("/api/v1/fulfillment-orders/SO-000001-9").await.status,
            404
        );

        // Split 1 unit of SKU-A off, then merge it back: the original lines return.
        let split = s
            .post(
                &format!("/api/v1/fulfillment-orders/{fo1}/split"),
                &json!({"lines": [{"sku": "SKU-A", "quantity": 1}]}),
            )
            .await;
        assert_eq!(split.status, 200, "{}: {:?}", db.label, split.body);
        let fos = split.body["fulfillment_orders"].as_array().unwrap().clone();
        assert_eq!(fos.len(), 2);
        assert_eq!(
            fos[0]["lines"],
            json!([{"line_no": 1, "sku": "SKU-A", "quantity": 2}, {"line_no": 2, "sku": "SKU-B", "quantity": 2}])
        );
        assert_eq!(
            fos[1]["lines"],
            json!([{"line_no": 1, "sku": "SKU-A", "quantity": 1}])
        );
        assert_eq!(fos[1]["location"], "WH1");
        let fo2 = fos[1]["id"].as_str().unwrap().to_string();
        assert_eq!(
            balance(&s, "SKU-A", "WH1").await["allocated"],
            3,
            "a split moves no stock"
        );

        let bad = s
            .post(
                &format!("/api/v1/fulfillment-orders/{fo2}/split"),
                &json!({"lines": [{"sku": "SKU-A", "quantity": 1}]}),
            )
            .await;
        assert_eq!(bad.status, 422, "a split must leave something behind");
        let bad = s
            .post(
                &format!("/api/v1/fulfillment-orders/{fo1}/split"),
                &json!({"lines": [{"sku": "SKU-B", "quantity": 5}]}),
            )
            .await;
        assert_eq!(bad.status, 422);
        assert_eq!(bad.body["errors"][0]["field"], "lines[0].quantity");

        let merged = s
            .post(
                "/api/v1/fulfillment-orders/merge",
                &json!({"fulfillment_orders": [fo2, fo1]}),
            )
            .await;
        assert_eq!(merged.status, 200, "{:?}", merged.body);
        let live: Vec<_> = merged.body["fulfillment_orders"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["status"] != "cancelled")
            .cloned()
            .collect();
        assert_eq!(live.len(), 1);
        assert_eq!(live[0]["id"], fo1.as_str());
        assert_eq!(
            live[0]["lines"],
            json!([{"line_no": 1, "sku": "SKU-A", "quantity": 3}, {"line_no": 2, "sku": "SKU-B", "quantity": 2}])
        );
        assert_clean(&s);

        // WH2 holds 1 SKU-A: moving 2 is refused and changes nothing; moving 1 works.
        let before = snapshot(&s).await;
        let refused = s
            .post(
                &format!("/api/v1/fulfillment-orders/{fo1}/move"),
                &json!({"location": "WH2", "lines": [{"sku": "SKU-A", "quantity": 2}]}),
            )
            .await;
        assert_eq!(refused.status, 409, "{:?}", refused.body);
        assert_eq!(snapshot(&s).await, before);
        let moved = s
            .post(
                &format!("/api/v1/fulfillment-orders/{fo1}/move"),
                &json!({"location": "WH2", "lines": [{"line_no": 1, "quantity": 1}]}),
            )
            .await;
        assert_eq!(moved.status, 200, "{:?}", moved.body);
        let places = fo_locations(&moved.body);
        assert_eq!(
            places,
            [("WH1".into(), "open".into()), ("WH2".into(), "open".into())]
        );
        assert_eq!(balance(&s, "SKU-A", "WH1").await["allocated"], 2);
        assert_eq!(balance(&s, "SKU-A", "WH2").await["allocated"], 1);
        assert_eq!(
            moved.body["lines"][0]["allocations"],
            json!([{"location": "WH1", "quantity": 2}, {"location": "WH2", "quantity": 1}])
        );
        let merge_across = s
            .post(
                "/api/v1/fulfillment-orders/merge",
                &json!({"fulfillment_orders": [fo1, format!("{number}-3")]}),
            )
            .await;
        assert_eq!(merge_across.status, 422, "{:?}", merge_across.body);

        // Moving the rest of WH1's work to WH1 again is refused; the whole FO moves without `lines`.
        let same = s
            .post(
                &format!("/api/v1/fulfillment-orders/{fo1}/move"),
                &json!({"location": "WH1"}),
            )
            .await;
        assert_eq!(same.status, 422);
        let events = s.get(&format!("/api/v1/orders/{number}/events")).await;
        let kinds: Vec<_> = events
            .body
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["kind"].as_str().unwrap().to_string())
            .collect();
        for k in [
            "fulfillment_order.split",
            "fulfillment_order.merged",
            "fulfillment_order.moved",
        ] {
            assert!(kinds.iter().any(|x| x == k), "{k} in {kinds:?}");
        }
        assert_clean(&s);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_3pl_request_is_rerouted_and_never_returns_there() {
    for db in databases("reject") {
        let s = Server::start(&db).await;
        seed(&s, &[("SKU-A", "WH2", 1)]).await;
        put(
            &s,
            "/api/v1/locations/TPL",
            json!({"name": "3PL partner", "kind": "3pl", "priority": 1}),
        )
        .await;
        for (sku, q) in [("SKU-A", 5), ("SKU-B", 5)] {
            let r = s
                .post(
                    "/api/v1/inventory/adjustments",
                    &json!({"sku": sku, "location": "TPL", "delta": q, "reason": "received"}),
                )
                .await;
            assert_eq!(r.status, 201);
        }
        let o = capture(&s, &order("tpl", &[("SKU-A", 1), ("SKU-B", 1)])).await;
        let number = o["number"].as_str().unwrap().to_string();
        let fo = format!("{number}-1");
        assert_eq!(o["fulfillment_orders"][0]["location"], "TPL");
        assert_eq!(o["fulfillment_orders"][0]["request_status"], "unsubmitted");

        let accept_early = s
            .post(
                &format!("/api/v1/fulfillment-orders/{fo}/accept"),
                &json!({}),
            )
            .await;
        assert_eq!(accept_early.status, 409);
        assert_eq!(accept_early.body["current"], "unsubmitted");
        let submitted = s
            .post(
                &format!("/api/v1/fulfillment-orders/{fo}/submit"),
                &json!({}),
            )
            .await;
        assert_eq!(submitted.status, 200, "{:?}", submitted.body);
        assert_eq!(
            submitted.body["fulfillment_orders"][0]["request_status"],
            "submitted"
        );
        let no_reason = s
            .post(
                &format!("/api/v1/fulfillment-orders/{fo}/reject"),
                &json!({}),
            )
            .await;
        assert_eq!(no_reason.status, 422);
        assert_eq!(no_reason.body["errors"][0]["field"], "reason");

        let rejected = s
            .post(
                &format!("/api/v1/fulfillment-orders/{fo}/reject"),
                &json!({"reason": "warehouse flooded"}),
            )
            .await;
        assert_eq!(rejected.status, 200, "{}: {:?}", db.label, rejected.body);
        let fos = rejected.body["fulfillment_orders"].as_array().unwrap();
        assert_eq!(fos[0]["status"], "cancelled");
        assert_eq!(fos[0]["request_status"], "rejected");
        assert_eq!(fos[0]["reason"], "warehouse flooded");
        // WH2 has the SKU-A but no SKU-B: that waits, and never goes back to the 3PL.
        assert_eq!(
            fo_locations(&rejected.body),
            [("WH2".into(), "open".into())]
        );
        assert_eq!(rejected.body["status"], "partially_allocated");
        assert_eq!(rejected.body["lines"][1]["backordered"], 1);
        assert_eq!(balance(&s, "SKU-A", "TPL").await["allocated"], 0);
        assert_eq!(balance(&s, "SKU-B", "TPL").await["allocated"], 0);
        assert_eq!(balance(&s, "SKU-A", "WH2").await["allocated"], 1);
        let again = s
            .post(
                &format!("/api/v1/fulfillment-orders/{fo}/reject"),
                &json!({"reason": "twice"}),
            )
            .await;
        assert_eq!(again.status, 409);

        // More SKU-B at the 3PL does not go to this order; at WH1 it does.
        let r = s
            .post(
                "/api/v1/inventory/adjustments",
                &json!({"sku": "SKU-B", "location": "TPL", "delta": 3, "reason": "received"}),
            )
            .await;
        assert_eq!(r.body["reallocated_orders"], json!([]), "{:?}", r.body);
        let r = s
            .post(
                "/api/v1/inventory/adjustments",
                &json!({"sku": "SKU-B", "location": "WH1", "delta": 1, "reason": "received"}),
            )
            .await;
        assert_eq!(r.body["reallocated_orders"], json!([number.clone()]));
        let after = s.get(&format!("/api/v1/orders/{number}")).await.body;
        assert_eq!(after["status"], "allocated");
        let mut places = fo_locations(&after);
        places.sort();
        assert_eq!(
            places,
            [("WH1".into(), "open".into()), ("WH2".into(), "open".into())]
        );
        assert_clean(&s);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daily_capacity_and_split_policy_hold_under_concurrent_captures() {
    for db in databases("capacity") {
        let s = Server::start(&db).await;
        seed(&s, &[("SKU-A", "WH1", 100), ("SKU-B", "WH2", 100)]).await;
        put(
            &s,
            "/api/v1/locations/WH1",
            json!({"name": "WH1", "kind": "warehouse", "priority": 10,
            "routing": {"daily_capacity": 3, "utc_offset": "+01:00", "handling_cost": "1.50"}}),
        )
        .await;
        let wh1 = s.get("/api/v1/locations/WH1").await.body;
        assert_eq!(wh1["routing"]["daily_capacity"], 3);
        assert_eq!(wh1["routing"]["handling_cost"], "1.50");
        let bad = s
            .send(
                "PUT",
                "/api/v1/locations/WH1",
                &json!({"name": "WH1", "kind": "warehouse",
                "routing": {"daily_capacity": 0, "utc_offset": "CET", "cannot_ship": ["lava"]}}),
            )
            .await;
        assert_eq!(bad.status, 422);
        let fields: Vec<_> = bad.body["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["field"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(
            fields,
            [
                "routing.daily_capacity",
                "routing.cannot_ship[0]",
                "routing.utc_offset"
            ]
        );

        let bodies: Vec<String> = (0..12)
            .map(|i| order(&format!("cap-{i}"), &[("SKU-A", 1)]).to_string())
            .collect();
        let results = futures_join(
            bodies
                .iter()
                .map(|b| s.request("POST", "/api/v1/orders", Some(ADMIN_KEY), Some(b), &[]))
                .collect(),
        )
        .await;
        assert!(results.iter().all(|r| r.status == 201));
        let at_wh1 = s
            .get("/api/v1/fulfillment-orders?location=WH1&limit=100")
            .await
            .body;
        assert_eq!(
            at_wh1["items"].as_array().unwrap().len(),
            3,
            "{}: capacity 3 per day",
            db.label
        );
        let backordered = results
            .iter()
            .filter(|r| r.body["status"] == "backordered")
            .count();
        assert_eq!(backordered, 9);

        // A channel that never splits: SKU-A and SKU-B live in different places, so it waits.
        put(
            &s,
            "/api/v1/locations/WH1",
            json!({"name": "WH1", "kind": "warehouse", "priority": 10}),
        )
        .await;
        put(
            &s,
            "/api/v1/channels/web",
            json!({"name": "Web", "kind": "web", "currency": "EUR", "split_policy": "never"}),
        )
        .await;
        let whole = capture(&s, &order("whole", &[("SKU-A", 1), ("SKU-B", 1)])).await;
        assert_eq!(whole["status"], "backordered", "{:?}", whole);
        assert_eq!(whole["fulfillment_orders"], json!([]));
        put(
            &s,
            "/api/v1/channels/web",
            json!({"name": "Web", "kind": "web", "currency": "EUR",
            "split_policy": "allow_if_order_value_above", "split_order_value_above": "15.00"}),
        )
        .await;
        let split = capture(&s, &order("split", &[("SKU-A", 1), ("SKU-B", 1)])).await;
        assert_eq!(split["status"], "allocated", "20.00 of goods may split");
        assert_eq!(fo_locations(&split).len(), 2);
        let small = capture(&s, &order("small", &[("SKU-A", 1)])).await;
        assert_eq!(fo_locations(&small).len(), 1);
        assert_clean(&s);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_compares_proposed_rules_with_what_happened() {
    for db in databases("replay") {
        let s = Server::start(&db).await;
        seed(
            &s,
            &[
                ("SKU-A", "WH1", 50),
                ("SKU-A", "WH2", 50),
                ("SKU-B", "WH2", 50),
            ],
        )
        .await;
        for i in 0..5 {
            capture(&s, &order(&format!("r-{i}"), &[("SKU-A", 1)])).await;
        }
        capture(&s, &order("r-both", &[("SKU-A", 1), ("SKU-B", 1)])).await;
        let same = s.post("/api/v1/routing/replay", &json!({})).await;
        assert_eq!(same.status, 200, "{:?}", same.body);
        assert_eq!(same.body["orders"], 6);
        assert_eq!(same.body["changed_orders"], 0, "{:?}", same.body);
        assert_eq!(same.body["actual"]["shipments"], 6);
        assert_eq!(same.body["actual"], same.body["replayed"]);

        let proposed = json!({"rules": [{"name": "all-from-wh2", "actions": {"restrict_to_locations": ["WH2"]}}]});
        let r = s.post("/api/v1/routing/replay", &proposed).await;
        assert_eq!(r.status, 200);
        assert_eq!(r.body["changed_orders"], 5);
        assert_eq!(r.body["changes"][0]["actual"], json!(["WH1"]));
        assert_eq!(r.body["changes"][0]["replayed"], json!(["WH2"]));
        assert_eq!(r.body["changes"][0]["rules"], json!(["all-from-wh2"]));
        let bad = s
            .post("/api/v1/routing/replay", &json!({"rules": [{"name": "x", "actions": {"exclude_locations": ["NOPE"]}}], "from": "yesterday"}))
            .await;
        assert_eq!(bad.status, 422);
        // Nothing was written by either replay.
        assert_eq!(balance(&s, "SKU-A", "WH2").await["allocated"], 1);
    }
}

fn rule_names(view: &Value) -> Vec<String> {
    view["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rules_are_created_read_replaced_deleted_and_reordered_one_at_a_time() {
    for db in databases("rule_crud") {
        let s = Server::start(&db).await;
        seed(&s, &[("SKU-A", "WH1", 5), ("SKU-A", "WH2", 5)]).await;

        let r = s
            .post(
                "/api/v1/routing/rules",
                &json!({"name": "no-wh1", "actions": {"exclude_locations": ["WH1"]}, "expected_version": 0}),
            )
            .await;
        assert_eq!(r.status, 201, "{}: {:?}", db.label, r.body);
        assert_eq!(r.body["version"], 1);
        assert_eq!(rule_names(&r.body), ["no-wh1"]);
        let r = s
            .post(
                "/api/v1/routing/rules",
                &json!({"name": "vip", "conditions": {"tags": ["vip"]}, "actions": {"set_priority": 5}, "position": 0}),
            )
            .await;
        assert_eq!(r.status, 201, "{:?}", r.body);
        let r = s
            .post(
                "/api/v1/routing/rules",
                &json!({"name": "hold-big", "conditions": {"order_value": {"min": 100000}}, "actions": {"hold": "check"}}),
            )
            .await;
        assert_eq!(r.status, 201);
        assert_eq!(r.body["version"], 3);
        assert_eq!(rule_names(&r.body), ["vip", "no-wh1", "hold-big"]);
        assert_eq!(r.body["saved_by"], "key:admin (from --admin-key)");

        // Refusals change nothing: a taken name, a bad field, a stale version, a bad position.
        let dup = s
            .post(
                "/api/v1/routing/rules",
                &json!({"name": "vip", "actions": {"set_priority": 1}}),
            )
            .await;
        assert_eq!(dup.status, 409, "{:?}", dup.body);
        assert_eq!(
            dup.headers["content-type"], "application/problem+json",
            "{:?}",
            dup.headers
        );
        let bad = s
            .post(
                "/api/v1/routing/rules",
                &json!({"name": "x", "actions": {"exclude_locations": ["NOWHERE"]}}),
            )
            .await;
        assert_eq!(bad.status, 422, "{:?}", bad.body);
        assert_eq!(
            bad.body["errors"][0]["field"],
            "actions.exclude_locations[0]"
        );
        let stale = s
            .post(
                "/api/v1/routing/rules",
                &json!({"name": "late", "actions": {"set_priority": 1}, "expected_version": 1}),
            )
            .await;
        assert_eq!(
            (stale.status, stale.body["current"].as_str()),
            (409, Some("3"))
        );
        let far = s
            .post(
                "/api/v1/routing/rules",
                &json!({"name": "far", "actions": {"set_priority": 1}, "position": 9}),
            )
            .await;
        assert_eq!(far.status, 422);
        assert_eq!(far.body["errors"][0]["field"], "position");
        assert_eq!(s.get("/api/v1/routing/rules").await.body["version"], 3);

        let one = s.get("/api/v1/routing/rules/no-wh1").await;
        assert_eq!(one.status, 200, "{:?}", one.body);
        assert_eq!(one.body["position"], 1);
        assert_eq!(one.body["version"], 3);
        assert_eq!(
            one.body["rule"]["actions"]["exclude_locations"],
            json!(["WH1"])
        );
        let missing = s.get("/api/v1/routing/rules/nope").await;
        assert_eq!(missing.status, 404);
        assert_eq!(missing.headers["content-type"], "application/problem+json");
        let spaced = s
            .post(
                "/api/v1/routing/rules",
                &json!({"name": "no munich", "actions": {"add_tags": ["m"]}}),
            )
            .await;
        assert_eq!(spaced.status, 201);
        assert_eq!(
            s.get("/api/v1/routing/rules/no%20munich").await.body["position"],
            3
        );

        // Replace keeps the place and may rename; a bad body names the rule's own field.
        let replaced = s
            .send(
                "PUT",
                "/api/v1/routing/rules/no-wh1",
                &json!({"name": "no-wh2", "actions": {"exclude_locations": ["WH2"]}, "expected_version": 4}),
            )
            .await;
        assert_eq!(replaced.status, 200, "{:?}", replaced.body);
        assert_eq!(replaced.body["version"], 5);
        assert_eq!(
            rule_names(&replaced.body),
            ["vip", "no-wh2", "hold-big", "no munich"]
        );
        let bad = s
            .send(
                "PUT",
                "/api/v1/routing/rules/no-wh2",
                &json!({"name": "no-wh2", "conditions": {"total_weight_g": {"min": 5, "max": 1}}, "actions": {"set_priority": 1}}),
            )
            .await;
        assert_eq!(bad.status, 422);
        assert_eq!(
            bad.body["errors"][0]["field"],
            "conditions.total_weight_g.max"
        );
        let clash = s
            .send(
                "PUT",
                "/api/v1/routing/rules/no-wh2",
                &json!({"name": "vip", "actions": {"set_priority": 1}}),
            )
            .await;
        assert_eq!(clash.status, 409, "renaming onto another rule's name");
        assert_eq!(
            s.send(
                "PUT",
                "/api/v1/routing/rules/nope",
                &json!({"name": "nope", "actions": {"set_priority": 1}}),
            )
            .await
            .status,
            404
        );
        // The saved rule applies at capture: WH2 is excluded, so WH1 ships.
        let o = capture(&s, &order("after-put", &[("SKU-A", 1)])).await;
        assert_eq!(fo_locations(&o), [("WH1".into(), "open".into())]);

        // Reorder names every rule exactly once.
        let r = s
            .post(
                "/api/v1/routing/rules/reorder",
                &json!({"names": ["hold-big", "vip", "no munich"]}),
            )
            .await;
        assert_eq!(r.status, 422, "{:?}", r.body);
        assert_eq!(r.body["errors"][0]["field"], "names");
        let r = s
            .post(
                "/api/v1/routing/rules/reorder",
                &json!({"names": ["hold-big", "vip", "vip", "no-wh2", "ghost", "no munich"]}),
            )
            .await;
        assert_eq!(r.status, 422);
        let fields: Vec<_> = r.body["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["field"].as_str().unwrap())
            .collect();
        assert_eq!(fields, ["names[2]", "names[4]"]);
        let r = s
            .post(
                "/api/v1/routing/rules/reorder",
                &json!({"names": ["no munich", "hold-big", "vip", "no-wh2"], "expected_version": 5}),
            )
            .await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        assert_eq!(r.body["version"], 6);
        assert_eq!(
            rule_names(&r.body),
            ["no munich", "hold-big", "vip", "no-wh2"]
        );

        let deleted = s
            .send(
                "DELETE",
                "/api/v1/routing/rules/hold-big?expected_version=6",
                &json!(null),
            )
            .await;
        assert_eq!(deleted.status, 200, "{:?}", deleted.body);
        assert_eq!(rule_names(&deleted.body), ["no munich", "vip", "no-wh2"]);
        let again = s
            .send("DELETE", "/api/v1/routing/rules/hold-big", &json!(null))
            .await;
        assert_eq!(again.status, 404);
        let stale = s
            .send(
                "DELETE",
                "/api/v1/routing/rules/vip?expected_version=6",
                &json!(null),
            )
            .await;
        assert_eq!(stale.status, 409);

        // Every edit is a version with who and when, and announced.
        let history = s.get("/api/v1/routing/rules/history").await.body;
        let versions: Vec<i64> = history
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["version"].as_i64().unwrap())
            .collect();
        assert_eq!(versions, [7, 6, 5, 4, 3, 2, 1]);
        assert!(
            history
                .as_array()
                .unwrap()
                .iter()
                .all(|v| v["saved_at"].is_string())
        );
        let events = s.get("/api/v1/events?limit=1000").await.body;
        let changed = events["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["kind"] == "routing.rules_changed")
            .count();
        assert_eq!(changed, 7, "{}", db.label);
        let docs = s.get("/api/openapi.json").await.body;
        for (path, method) in [
            ("/api/v1/routing/rules", "post"),
            ("/api/v1/routing/rules/{name}", "get"),
            ("/api/v1/routing/rules/{name}", "put"),
            ("/api/v1/routing/rules/{name}", "delete"),
            ("/api/v1/routing/rules/reorder", "post"),
            ("/api/v1/orders/{id}/routing", "get"),
        ] {
            assert!(docs["paths"][path][method].is_object(), "{method} {path}");
        }
        assert_clean(&s);
    }
}

fn verdict(plan: &Value, location: &str) -> Value {
    plan["explanation"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["location"] == location)
        .unwrap_or_else(|| panic!("no verdict for {location}: {plan:?}"))
        .clone()
}

fn reason_codes(verdict: &Value) -> Vec<String> {
    verdict["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["code"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_explains_its_routing_at_capture_and_as_it_would_be_routed_now() {
    for db in databases("order_routing") {
        let s = Server::start(&db).await;
        seed(
            &s,
            &[
                ("SKU-A", "WH1", 3),
                ("SKU-A", "WH2", 5),
                ("SKU-B", "WH2", 5),
            ],
        )
        .await;
        put(
            &s,
            "/api/v1/locations/WH1",
            json!({"name": "WH1", "kind": "warehouse", "priority": 10,
            "routing": {"daily_capacity": 1}}),
        )
        .await;
        let rules = json!({"rules": [
            {"name": "tag-a", "conditions": {"skus": ["SKU-A"]}, "actions": {"add_tags": ["has-a"]}},
            {"name": "hold-b", "conditions": {"skus": ["SKU-B"]}, "actions": {"hold": "check B stock by hand"}}
        ]});
        assert_eq!(
            s.send("PUT", "/api/v1/routing/rules", &rules).await.status,
            200
        );

        // Two of WH1's three units, and its one order of the day.
        let o1 = capture(&s, &order("o1", &[("SKU-A", 2)])).await;
        let number = o1["number"].as_str().unwrap().to_string();
        assert_eq!(fo_locations(&o1), [("WH1".into(), "open".into())]);

        // Simulated again, the order gets its own two units back and does not count
        // against WH1's capacity: it stays where it is.
        let again = s
            .post("/api/v1/routing/simulate", &json!({"order_id": number}))
            .await;
        assert_eq!(again.status, 200, "{}: {:?}", db.label, again.body);
        assert_eq!(again.body["outcome"], "allocated");
        assert_eq!(
            again.body["lines"][0]["allocations"],
            json!([{"location": "WH1", "quantity": 2}]),
            "{}: {:?}",
            db.label,
            again.body
        );
        assert_eq!(verdict(&again.body, "WH1")["chosen"], true);
        // A new order for one unit finds WH1 full for today even though a unit is left.
        let fresh = s
            .post(
                "/api/v1/routing/simulate",
                &json!({"order": order("o2", &[("SKU-A", 1)])}),
            )
            .await;
        assert_eq!(fresh.status, 200, "{:?}", fresh.body);
        assert_eq!(fresh.body["shipments"][0]["location"], "WH2");
        let wh1 = verdict(&fresh.body, "WH1");
        assert_eq!(wh1["chosen"], false);
        assert!(
            reason_codes(&wh1).contains(&"over_capacity".to_string()),
            "{}: {wh1:?}",
            db.label
        );
        assert_eq!(balance(&s, "SKU-A", "WH1").await["allocated"], 2);

        // The order's own routing: what capture recorded, and the plan now.
        let r = s.get(&format!("/api/v1/orders/{number}/routing")).await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        assert_eq!(r.body["order"], number.as_str());
        assert_eq!(r.body["captured"]["event"], "order.allocated");
        assert_eq!(r.body["captured"]["rules"], json!(["tag-a"]));
        assert_eq!(
            r.body["captured"]["allocations"],
            json!([{"sku": "SKU-A", "location": "WH1", "quantity": 2,
                    "fulfillment_order": format!("{number}-1")}])
        );
        assert_eq!(r.body["captured"]["backordered"], 0);
        assert_eq!(r.body["hold"], Value::Null);
        assert_eq!(
            r.body["lines"][0]["allocations"],
            json!([{"location": "WH1", "quantity": 2}])
        );
        assert_eq!(r.body["now"]["shipments"][0]["location"], "WH1");
        assert_eq!(r.body["now"]["applied_rules"], json!(["tag-a"]));
        let explained: Vec<_> = r.body["now"]["explanation"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["location"].as_str().unwrap())
            .collect();
        assert_eq!(explained, ["WH1", "WH2"]);
        assert!(
            !verdict(&r.body["now"], "WH2")["reasons"]
                .as_array()
                .unwrap()
                .is_empty()
        );

        // A rule that holds an order is named on it, with its note.
        let held = capture(&s, &order("o3", &[("SKU-B", 1)])).await;
        assert_eq!(held["status"], "on_hold");
        assert_eq!(held["hold_reason"], "routing_rule");
        let held_no = held["number"].as_str().unwrap();
        let r = s.get(&format!("/api/v1/orders/{held_no}/routing")).await;
        assert_eq!(r.status, 200);
        assert_eq!(r.body["hold"]["rule"], "hold-b", "{:?}", r.body);
        assert_eq!(r.body["hold"]["note"], "check B stock by hand");
        assert_eq!(r.body["captured"]["rules"], json!(["hold-b"]));
        assert_eq!(r.body["now"]["hold_rule"], "hold-b");
        let on_order = s.get(&format!("/api/v1/orders/{held_no}")).await.body;
        assert_eq!(
            (on_order["hold_rule"].clone(), on_order["hold_note"].clone()),
            (json!("hold-b"), json!("check B stock by hand"))
        );
        let released = s
            .post(&format!("/api/v1/orders/{held_no}/release"), &json!({}))
            .await;
        assert_eq!(released.status, 200);
        let r = s.get(&format!("/api/v1/orders/{held_no}/routing")).await;
        assert_eq!(r.body["hold"], Value::Null);
        let on_order = s.get(&format!("/api/v1/orders/{held_no}")).await.body;
        assert_eq!(on_order["status"], "allocated");
        assert!(on_order.get("hold_note").is_none(), "{on_order:?}");
        assert_eq!(
            s.get(&format!("/api/v1/orders/{number}"))
                .await
                .body
                .get("hold_rule"),
            None
        );

        // Rules changed since: capture keeps what was applied then, `now` uses today's.
        let r = s
            .send("DELETE", "/api/v1/routing/rules/tag-a", &json!(null))
            .await;
        assert_eq!(r.status, 200);
        let r = s.get(&format!("/api/v1/orders/{number}/routing")).await;
        assert_eq!(r.body["captured"]["rules"], json!(["tag-a"]));
        assert_eq!(r.body["now"]["applied_rules"], json!([]));

        let missing = s.get("/api/v1/orders/SO-999999/routing").await;
        assert_eq!(missing.status, 404);
        assert_eq!(missing.headers["content-type"], "application/problem+json");
        assert_clean(&s);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_rule_condition_and_the_priority_and_service_level_actions_apply_at_capture() {
    for db in databases("rule_conditions") {
        let s = Server::start(&db).await;
        let skus = ["SKU-A", "SKU-F", "SKU-G", "SKU-W", "SKU-S"];
        let stock: Vec<(&str, &str, i64)> = skus
            .iter()
            .flat_map(|k| [(*k, "WH1", 50), (*k, "WH2", 50)])
            .collect();
        seed(&s, &stock).await;
        for (sku, extra) in [
            ("SKU-F", json!({"category": "frozen"})),
            ("SKU-G", json!({"handling_classes": ["fragile"]})),
            ("SKU-W", json!({"weight_g": 2000})),
        ] {
            let mut body = json!({"name": sku, "price": "10.00"});
            body.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            put(&s, &format!("/api/v1/products/{sku}"), body).await;
        }
        // Each rule sends its orders to WH2 (WH1 wins otherwise) and tags them, so both
        // where the order ships and its tags show which rules matched.
        let to_wh2 = |name: &str, conditions: Value| {
            json!({"name": name, "conditions": conditions,
                   "actions": {"restrict_to_locations": ["WH2"], "add_tags": [name]}})
        };
        let rules = json!({"rules": [
            to_wh2("category", json!({"categories": ["Frozen"]})),
            to_wh2("handling", json!({"handling_classes": ["fragile"]})),
            to_wh2("weight", json!({"total_weight_g": {"min": 5000, "max": 10000}})),
            to_wh2("postal", json!({"postal_code_prefixes": ["80"]})),
            to_wh2("region", json!({"regions": ["BY"]})),
            to_wh2("sku", json!({"skus": ["SKU-S"]})),
            to_wh2("authorized", json!({"payment_statuses": ["authorized"]})),
            {"name": "austria-is-international", "conditions": {"countries": ["AT"]},
             "actions": {"set_service_level": "international"}},
            {"name": "international-tagged", "conditions": {"service_levels": ["international"]},
             "actions": {"add_tags": ["intl"]}},
            {"name": "express-first", "conditions": {"service_levels": ["express"]},
             "actions": {"set_priority": 9, "add_tags": ["express"]}}
        ]});
        let r = s.send("PUT", "/api/v1/routing/rules", &rules).await;
        assert_eq!(r.status, 200, "{:?}", r.body);

        let mut n = 0;
        let mut place = |body: Value| {
            n += 1;
            let mut body = body;
            body["external_id"] = json!(format!("cond-{n}"));
            body
        };
        let check = |o: &Value, tags: &[&str], location: &str, why: &str| {
            assert_eq!(o["tags"], json!(tags), "{}: {why}: {o:?}", db.label);
            assert_eq!(
                fo_locations(o),
                [(location.to_string(), "open".to_string())],
                "{}: {why}",
                db.label
            );
        };

        let plain = capture(&s, &place(order("", &[("SKU-A", 1)]))).await;
        check(&plain, &[], "WH1", "no condition holds");

        let o = capture(&s, &place(order("", &[("SKU-A", 1), ("SKU-F", 1)]))).await;
        check(&o, &["category"], "WH2", "a line of a category (any case)");
        let o = capture(&s, &place(order("", &[("SKU-G", 1)]))).await;
        check(&o, &["handling"], "WH2", "a line of a handling class");

        let o = capture(&s, &place(order("", &[("SKU-W", 3)]))).await;
        check(&o, &["weight"], "WH2", "6 kg is inside 5-10 kg");
        for q in [2, 6] {
            let o = capture(&s, &place(order("", &[("SKU-W", q)]))).await;
            check(&o, &[], "WH1", "4 kg and 12 kg are outside 5-10 kg");
        }

        let mut munich = order("", &[("SKU-A", 1)]);
        munich["shipping_address"]["postal_code"] = json!("80 331");
        let o = capture(&s, &place(munich)).await;
        check(&o, &["postal"], "WH2", "postal code starting 80");
        let mut bavaria = order("", &[("SKU-A", 1)]);
        bavaria["shipping_address"]["region"] = json!("by");
        let o = capture(&s, &place(bavaria)).await;
        check(&o, &["region"], "WH2", "region BY");
        let mut berlin = order("", &[("SKU-A", 1)]);
        berlin["shipping_address"]["region"] = json!("BE");
        let o = capture(&s, &place(berlin)).await;
        check(&o, &[], "WH1", "another region");

        let o = capture(&s, &place(order("", &[("SKU-A", 1), ("SKU-S", 1)]))).await;
        check(&o, &["sku"], "WH2", "an order containing the SKU");

        let mut authorized = order("", &[("SKU-A", 1)]);
        authorized["payment"]["status"] = json!("authorized");
        let o = capture(&s, &place(authorized)).await;
        check(&o, &["authorized"], "WH2", "payment authorized");
        assert_eq!(o["status"], "allocated");

        // set_service_level changes the order, and a later rule reacts to the new level.
        let mut vienna = order("", &[("SKU-A", 1)]);
        vienna["shipping_address"]["country"] = json!("AT");
        vienna["shipping_address"]["postal_code"] = json!("1010");
        let o = capture(&s, &place(vienna)).await;
        check(&o, &["intl"], "WH1", "service level set by a rule");
        assert_eq!(o["shipping"]["service_level"], "international");
        assert_eq!(o["priority"], 0, "{:?}", o);

        let mut express = order("", &[("SKU-A", 1)]);
        express["shipping"]["service_level"] = json!("Express");
        let o = capture(&s, &place(express)).await;
        check(&o, &["express"], "WH1", "service level express");
        assert_eq!(o["priority"], 9);
        let events = s
            .get(&format!(
                "/api/v1/orders/{}/events",
                o["number"].as_str().unwrap()
            ))
            .await;
        let allocated = events
            .body
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["kind"] == "order.allocated")
            .unwrap()
            .clone();
        assert_eq!(allocated["data"]["rules"], json!(["express-first"]));
        // The order read back keeps what the rules set.
        let stored = s
            .get(&format!("/api/v1/orders/{}", o["number"].as_str().unwrap()))
            .await
            .body;
        assert_eq!(
            (stored["priority"].clone(), stored["tags"].clone()),
            (json!(9), json!(["express"]))
        );
        assert_clean(&s);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn splitting_a_fulfillment_order_uses_no_daily_capacity() {
    for db in databases("split_capacity") {
        let s = Server::start(&db).await;
        seed(&s, &[("SKU-A", "WH1", 20), ("SKU-A", "WH2", 20)]).await;
        put(
            &s,
            "/api/v1/locations/WH1",
            json!({"name": "WH1", "kind": "warehouse", "priority": 10,
            "routing": {"daily_capacity": 2}}),
        )
        .await;
        let first = capture(&s, &order("cap-1", &[("SKU-A", 2)])).await;
        let fo = format!("{}-1", first["number"].as_str().unwrap());
        let split = s
            .post(
                &format!("/api/v1/fulfillment-orders/{fo}/split"),
                &json!({"lines": [{"sku": "SKU-A", "quantity": 1}]}),
            )
            .await;
        assert_eq!(split.status, 200, "{:?}", split.body);
        assert_eq!(fo_locations(&split.body).len(), 2);
        // The split is still one order at WH1: the second order of the day fits, the third not.
        let second = capture(&s, &order("cap-2", &[("SKU-A", 1)])).await;
        assert_eq!(
            fo_locations(&second),
            [("WH1".into(), "open".into())],
            "{}",
            db.label
        );
        let third = capture(&s, &order("cap-3", &[("SKU-A", 1)])).await;
        assert_eq!(fo_locations(&third), [("WH2".into(), "open".into())]);
        assert_clean(&s);
    }
}
