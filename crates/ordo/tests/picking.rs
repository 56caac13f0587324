//! Bins, pick lists, scans and short picks, over real HTTP on every backend.

mod common;

use common::*;
use serde_json::{Value, json};

fn assert_clean(s: &Server) {
    let (ok, out) = s.verify();
    assert!(ok, "{}: verify failed: {out}", s.db.label);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_pick_in_walk_order_with_a_short_pick_rerouted() {
    for db in databases("pick") {
        let s = Server::start(&db).await;
        seed(
            &s,
            &[
                ("SKU-A", "WH1", 10),
                ("SKU-B", "WH1", 10),
                ("SKU-B", "WH2", 5),
            ],
        )
        .await;
        let r = s
            .send(
                "PUT",
                "/api/v1/locations/WH1/sku-bins",
                &json!({"csv": "sku,bin\nSKU-B,A-02-01-1\nSKU-A,A-01-03-1\n"}),
            )
            .await;
        assert_eq!(r.status, 200, "{}: {:?}", db.label, r.body);
        assert_eq!(r.body.as_array().unwrap().len(), 2);
        let bad = s
            .send(
                "PUT",
                "/api/v1/locations/WH1/sku-bins",
                &json!({"bins": [{"sku": "SKU-A", "bin": "nonsense"}]}),
            )
            .await;
        assert_eq!(bad.status, 422);
        assert_eq!(bad.body["errors"][0]["field"], "bins[0].bin");
        let r = s
            .send(
                "PUT",
                "/api/v1/locations/WH1/bins/A-01-03-1",
                &json!({"x_m": 1.0, "y_m": 3.0}),
            )
            .await;
        assert_eq!(r.status, 200, "{:?}", r.body);

        let mut numbers = Vec::new();
        for (id, lines) in [
            ("p-1", vec![("SKU-A", 1), ("SKU-B", 1)]),
            ("p-2", vec![("SKU-B", 2)]),
            ("p-3", vec![("SKU-A", 1)]),
        ] {
            let o = s.post("/api/v1/orders", &order(id, &lines)).await.body;
            assert_eq!(o["fulfillment_orders"][0]["location"], "WH1", "{o:?}");
            numbers.push(o["number"].as_str().unwrap().to_string());
        }
        let none = s
            .post("/api/v1/pick-lists", &json!({"location": "WH2"}))
            .await;
        assert_eq!(none.status, 422, "nothing open at WH2");

        let job = s
            .post("/api/v1/pick-lists", &json!({"location": "WH1", "strategy": {"kind": "batch"}, "limits": {"max_orders": 10}}))
            .await;
        assert_eq!(job.status, 201, "{}: {:?}", db.label, job.body);
        let job = job.body;
        let id = job["id"].as_str().unwrap().to_string();
        assert_eq!(id, "PL-000001");
        let lines = job["lists"][0]["lines"].as_array().unwrap();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["sku"], "SKU-A", "aisle 01 before aisle 02");
        assert_eq!(lines[0]["quantity"], 2);
        assert_eq!(lines[1]["quantity"], 3);
        assert_eq!(job["lists"][0]["totes"].as_array().unwrap().len(), 3);
        let o1 = s.get(&format!("/api/v1/orders/{}", numbers[0])).await.body;
        assert_eq!(o1["fulfillment_orders"][0]["status"], "in_progress");
        assert_eq!(
            s.post("/api/v1/pick-lists", &json!({"location": "WH1"}))
                .await
                .status,
            422,
            "nothing left to release"
        );

        let picks = format!("/api/v1/pick-lists/{id}/picks");
        let wrong = s.post(&picks, &json!({"sku": "SKU-C"})).await;
        assert_eq!(wrong.status, 422);
        assert_eq!(wrong.body["errors"][0]["field"], "sku");
        let over = s
            .post(&picks, &json!({"sku": "SKU-A", "quantity": 5}))
            .await;
        assert_eq!(over.status, 422);
        let ok = s
            .post(
                &picks,
                &json!({"sku": "SKU-A", "bin": "A-01-03-1", "quantity": 2}),
            )
            .await;
        assert_eq!(ok.status, 200, "{:?}", ok.body);
        assert_eq!(ok.body["update"]["line_done"], true);

        // The B bin holds 1 of the 3: the newest order (p-2) loses its 2 and is routed to WH2.
        let short = s.post(&picks, &json!({"sku": "SKU-B", "found": 1})).await;
        assert_eq!(short.status, 200, "{}: {:?}", db.label, short.body);
        assert_eq!(short.body["update"]["losses"][0]["units"], 2);
        let b1 = balance(&s, "SKU-B", "WH1").await;
        assert_eq!(
            (b1["on_hand"].as_i64(), b1["allocated"].as_i64()),
            (Some(8), Some(1))
        );
        let moves = s
            .get("/api/v1/inventory/movements?sku=SKU-B&location=WH1")
            .await
            .body;
        assert!(
            moves["items"]
                .as_array()
                .unwrap()
                .iter()
                .any(|m| m["reason"] == "shrinkage" && m["reference"] == format!("pick:{id}"))
        );
        let o2 = s.get(&format!("/api/v1/orders/{}", numbers[1])).await.body;
        let live: Vec<_> = o2["fulfillment_orders"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["status"] != "cancelled")
            .collect();
        assert_eq!(live.len(), 1, "{o2:?}");
        assert_eq!(live[0]["location"], "WH2");
        assert_eq!(balance(&s, "SKU-B", "WH2").await["allocated"], 2);
        assert_clean(&s);

        // The unit the bin did hold went into the oldest order's tote: the job is done.
        assert_eq!(short.body["update"]["put"][0]["quantity"], 1);
        assert_eq!(short.body["update"]["complete"], true);
        assert_eq!(short.body["job"]["status"], "done");
        for n in [&numbers[0], &numbers[2]] {
            let o = s.get(&format!("/api/v1/orders/{n}")).await.body;
            assert_eq!(o["fulfillment_orders"][0]["status"], "picked", "{o:?}");
        }
        assert_eq!(s.post(&picks, &json!({"sku": "SKU-B"})).await.status, 409);
        let listed = s
            .get("/api/v1/pick-lists?location=WH1&status=done")
            .await
            .body;
        assert_eq!(listed["items"][0]["id"], id.as_str());
        // Picked work ships.
        let r = s
            .post(
                "/api/v1/shipments",
                &json!({"fulfillment_order": format!("{}-1", numbers[0])}),
            )
            .await;
        assert_eq!(r.status, 201, "{:?}", r.body);
        assert_clean(&s);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn packing_by_product_class_then_shipping_in_those_boxes() {
    for db in databases("pack") {
        let s = Server::start(&db).await;
        seed(&s, &[]).await;
        for (sku, classes, dims, weight, barcode) in [
            (
                "FRAG-1",
                vec!["fragile"],
                [200, 150, 100],
                800,
                "4006381333931",
            ),
            (
                "HAZ-1",
                vec!["hazmat"],
                [100, 100, 100],
                400,
                "036000291452",
            ),
            (
                "COLD-1",
                vec!["perishable"],
                [150, 100, 100],
                500,
                "96385074",
            ),
        ] {
            let r = s
                .send("PUT", &format!("/api/v1/products/{sku}"), &json!({"name": sku, "price": "10.00",
                    "handling_classes": classes, "weight_g": weight, "barcode": barcode,
                    "dimensions": {"length_mm": dims[0], "width_mm": dims[1], "height_mm": dims[2]}}))
                .await;
            assert!(r.status == 201 || r.status == 200, "{:?}", r.body);
            s.post(
                "/api/v1/inventory/adjustments",
                &json!({"sku": sku, "location": "WH1", "delta": 10, "reason": "received"}),
            )
            .await;
        }
        let o1 = s
            .post(
                "/api/v1/orders",
                &order("pk-1", &[("FRAG-1", 1), ("HAZ-1", 1)]),
            )
            .await
            .body;
        let o2 = s
            .post("/api/v1/orders", &order("pk-2", &[("COLD-1", 2)]))
            .await
            .body;
        let fo1 = o1["fulfillment_orders"][0]["id"]
            .as_str()
            .unwrap()
            .to_string();
        let fo2 = o2["fulfillment_orders"][0]["id"]
            .as_str()
            .unwrap()
            .to_string();

        let before = snapshot(&s).await;
        let wrong = s
            .post(
                &format!("/api/v1/fulfillment-orders/{fo1}/pack"),
                &json!({"scans": [{"sku": "FRAG-1"}, {"sku": "COLD-1"}]}),
            )
            .await;
        assert_eq!(wrong.status, 422, "{}: {:?}", db.label, wrong.body);
        let messages: Vec<String> = wrong.body["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["message"].as_str().unwrap().to_string())
            .collect();
        assert!(
            messages
                .iter()
                .any(|m| m.contains("COLD-1 is not in this fulfillment order")),
            "{messages:?}"
        );
        assert!(
            messages.iter().any(|m| m.contains("HAZ-1: 0 of 1")),
            "{messages:?}"
        );
        assert_eq!(snapshot(&s).await, before, "a refused pack changes nothing");

        let packed = s
            .post(&format!("/api/v1/fulfillment-orders/{fo1}/pack"), &json!({"scans": [{"barcode": "4006381333931"}, {"sku": "HAZ-1"}], "weight_g": 1500}))
            .await;
        assert_eq!(packed.status, 200, "{:?}", packed.body);
        let packages = packed.body["plan"]["packages"].as_array().unwrap();
        assert_eq!(
            packages.len(),
            2,
            "hazmat never shares a box with fragile: {packages:?}"
        );
        let fragile = packages
            .iter()
            .find(|p| p["items"][0]["sku"] == "FRAG-1")
            .unwrap();
        assert!(
            fragile["markings"]
                .as_array()
                .unwrap()
                .iter()
                .any(|m| m == "FRAGILE"),
            "{fragile:?}"
        );
        let o = s
            .get(&format!(
                "/api/v1/orders/{}",
                o1["number"].as_str().unwrap()
            ))
            .await
            .body;
        assert_eq!(o["fulfillment_orders"][0]["status"], "packed");

        let cold = s
            .post(
                &format!("/api/v1/fulfillment-orders/{fo2}/pack"),
                &json!({"scans": [{"sku": "COLD-1", "quantity": 2}]}),
            )
            .await;
        assert_eq!(cold.status, 200, "{:?}", cold.body);
        assert_eq!(
            cold.body["plan"]["packages"][0]["box_code"], "COOL-M",
            "perishables travel insulated"
        );

        let slip = s
            .request(
                "GET",
                &format!("/api/v1/fulfillment-orders/{fo1}/packing-slip.pdf"),
                Some(ADMIN_KEY),
                None,
                &[],
            )
            .await
            .unwrap();
        assert_eq!(slip.status, 200);
        assert_eq!(slip.headers.get("content-type").unwrap(), "application/pdf");

        // Carrier services: the cheapest one the contents and the order allow is chosen.
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
        let r = s.send("PUT", "/api/v1/carrier-services", &services).await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        let cold_ship = s
            .post("/api/v1/shipments", &json!({"fulfillment_order": fo2}))
            .await;
        assert_eq!(cold_ship.status, 201, "{:?}", cold_ship.body);
        assert_eq!(
            cold_ship.body["service"], "express",
            "perishables only travel express"
        );
        let alternatives = cold_ship.body["rate_choice"]["alternatives"]
            .as_array()
            .unwrap();
        assert_eq!(alternatives[0]["service"], "economy");
        assert!(!alternatives[0]["reasons"].as_array().unwrap().is_empty());

        let shipped = s
            .post("/api/v1/shipments", &json!({"fulfillment_order": fo1}))
            .await;
        assert_eq!(shipped.status, 201, "{:?}", shipped.body);
        let parcels = shipped.body["packages"].as_array().unwrap();
        assert_eq!(parcels.len(), 2, "ships in the packed boxes");
        let total: i64 = parcels
            .iter()
            .map(|p| p["weight_g"].as_i64().unwrap())
            .sum();
        assert!(
            (1498..=1500).contains(&total),
            "the scale's weight shared out: {total}"
        );
        assert_eq!(
            shipped.body["service"], "economy",
            "hazmat goes by ground, the cheapest"
        );
        assert_clean(&s);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn packing_policies_are_data_per_location() {
    for db in databases("policies") {
        let s = Server::start(&db).await;
        seed(&s, &[]).await;
        let defaults = s.get("/api/v1/packing-policies").await;
        assert_eq!(defaults.status, 200, "{}: {:?}", db.label, defaults.body);
        let classes: Vec<_> = defaults.body["policies"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["class"].as_str().unwrap_or_default().to_string())
            .collect();
        for c in ["fragile", "perishable", "hazmat"] {
            assert!(classes.iter().any(|x| x == c), "{c} in {classes:?}");
        }
        let csv = s
            .request(
                "GET",
                "/api/v1/packing-policies?format=csv",
                Some(ADMIN_KEY),
                None,
                &[],
            )
            .await
            .unwrap();
        let Value::String(csv) = csv.body else {
            panic!("csv")
        };
        let saved = s
            .send(
                "PUT",
                "/api/v1/locations/WH1/packing-policies",
                &json!({"csv": csv}),
            )
            .await;
        assert_eq!(saved.status, 200, "{:?}", saved.body);
        assert_eq!(saved.body, defaults.body, "CSV round-trips");
        let bad = s
            .send(
                "PUT",
                "/api/v1/locations/WH1/packing-policies",
                &json!({"csv": "class,nonsense\nlava,1\n"}),
            )
            .await;
        assert_eq!(bad.status, 422, "{:?}", bad.body);
        assert_eq!(
            s.get("/api/v1/locations/NOPE/packing-policies")
                .await
                .status,
            404
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_pick_with_a_recount_sets_on_hand_by_count() {
    for db in databases("recount") {
        let s = Server::start(&db).await;
        seed(&s, &[("SKU-A", "WH1", 10), ("SKU-A", "WH2", 5)]).await;
        let mut numbers = Vec::new();
        for (id, q) in [("rc-1", 3), ("rc-2", 4)] {
            let o = s
                .post("/api/v1/orders", &order(id, &[("SKU-A", q)]))
                .await
                .body;
            assert_eq!(o["fulfillment_orders"][0]["location"], "WH1", "{o:?}");
            numbers.push(o["number"].as_str().unwrap().to_string());
        }
        let job = s
            .post(
                "/api/v1/pick-lists",
                &json!({"location": "WH1", "strategy": {"kind": "batch"}}),
            )
            .await;
        assert_eq!(job.status, 201, "{}: {:?}", db.label, job.body);
        let picks = format!(
            "/api/v1/pick-lists/{}/picks",
            job.body["id"].as_str().unwrap()
        );

        let before = snapshot(&s).await;
        let alone = s
            .post(&picks, &json!({"sku": "SKU-A", "counted_on_hand": 4}))
            .await;
        assert_eq!(alone.status, 422, "{:?}", alone.body);
        assert_eq!(alone.body["errors"][0]["field"], "counted_on_hand");
        let too_few = s
            .post(
                &picks,
                &json!({"sku": "SKU-A", "found": 3, "counted_on_hand": 2}),
            )
            .await;
        assert_eq!(too_few.status, 422, "{:?}", too_few.body);
        assert_eq!(too_few.body["errors"][0]["field"], "counted_on_hand");
        let typo = s
            .post(
                &picks,
                &json!({"sku": "SKU-A", "found": 3, "counted_on_hand": "five"}),
            )
            .await;
        assert_eq!(typo.status, 422, "{:?}", typo.body);
        assert_eq!(typo.body["errors"][0]["field"], "counted_on_hand");
        assert_eq!(
            snapshot(&s).await,
            before,
            "a refused recount changes nothing"
        );

        // The bin held 3 of 7; the recount finds 5 on hand (the 3 picked and 2 elsewhere in
        // the building), where the ledger says 10.
        let short = s
            .post(
                &picks,
                &json!({"sku": "SKU-A", "found": 3, "counted_on_hand": 5}),
            )
            .await;
        assert_eq!(short.status, 200, "{}: {:?}", db.label, short.body);
        assert_eq!(
            short.body["recount"],
            json!({"sku": "SKU-A", "location": "WH1", "ledger_on_hand": 10, "counted_on_hand": 5, "difference": -5})
        );
        assert_eq!(short.body["update"]["losses"][0]["units"], 4);
        let wh1 = balance(&s, "SKU-A", "WH1").await;
        assert_eq!(
            (wh1["on_hand"].as_i64(), wh1["allocated"].as_i64()),
            (Some(5), Some(3)),
            "{wh1:?}"
        );
        let moves = s
            .get("/api/v1/inventory/movements?sku=SKU-A&location=WH1")
            .await
            .body;
        let moves = moves["items"].as_array().unwrap();
        assert!(
            moves
                .iter()
                .any(|m| m["reason"] == "cycle_count" && m["delta"] == -5 && m["before"] == 10),
            "{moves:?}"
        );
        assert!(
            moves.iter().all(|m| m["reason"] != "shrinkage"),
            "the count replaces the write-off: {moves:?}"
        );
        // Re-routing as without a recount: the newest order's units now come from WH2.
        let o2 = s.get(&format!("/api/v1/orders/{}", numbers[1])).await.body;
        let live: Vec<_> = o2["fulfillment_orders"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["status"] != "cancelled")
            .collect();
        assert_eq!(live.len(), 1, "{o2:?}");
        assert_eq!(live[0]["location"], "WH2");
        assert_eq!(balance(&s, "SKU-A", "WH2").await["allocated"], 4);
        let o1 = s.get(&format!("/api/v1/orders/{}", numbers[0])).await.body;
        assert_eq!(o1["fulfillment_orders"][0]["status"], "picked");
        assert_clean(&s);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scanner_reads_the_next_pick_and_a_foreign_barcode_is_a_wrong_item() {
    for db in databases("scanner") {
        let s = Server::start(&db).await;
        seed(&s, &[("SKU-A", "WH1", 10)]).await;
        let r = s
            .send(
                "PUT",
                "/api/v1/products/SKU-C",
                &json!({"name": "Other", "price": "10.00", "barcode": "96385074"}),
            )
            .await;
        assert!(r.status == 201 || r.status == 200, "{:?}", r.body);
        s.send(
            "PUT",
            "/api/v1/locations/WH1/sku-bins",
            &json!({"bins": [{"sku": "SKU-A", "bin": "A-01-01-1"}]}),
        )
        .await;
        s.post("/api/v1/orders", &order("sc-1", &[("SKU-A", 2)]))
            .await;
        let job = s
            .post("/api/v1/pick-lists", &json!({"location": "WH1"}))
            .await;
        assert_eq!(job.status, 201, "{}: {:?}", db.label, job.body);
        let id = job.body["id"].as_str().unwrap().to_string();

        let next = s.get(&format!("/api/v1/pick-lists/{id}/next")).await;
        assert_eq!(next.status, 200, "{:?}", next.body);
        assert_eq!(
            next.body,
            json!({"pick_list": id, "status": "open", "lines_left": 1,
                "next": {"sku": "SKU-A", "bin": "A-01-01-1", "remaining": 2}})
        );
        assert_eq!(s.get("/api/v1/pick-lists/PL-000999/next").await.status, 404);

        let picks = format!("/api/v1/pick-lists/{id}/picks");
        let before = snapshot(&s).await;
        let foreign = s.post(&picks, &json!({"barcode": "96385074"})).await;
        assert_eq!(foreign.status, 422, "{:?}", foreign.body);
        assert_eq!(foreign.body["errors"][0]["field"], "sku");
        let text = foreign.body["errors"][0]["message"].as_str().unwrap();
        assert!(
            text.contains("wrong item") && text.contains("SKU-C") && text.contains("SKU-A"),
            "names what was scanned and what is expected: {text}"
        );
        let unknown = s.post(&picks, &json!({"barcode": "0000000000"})).await;
        assert_eq!(unknown.status, 422);
        assert_eq!(unknown.body["errors"][0]["field"], "barcode");
        assert_eq!(snapshot(&s).await, before, "refused scans change nothing");

        let ok = s
            .post(&picks, &json!({"sku": "SKU-A", "quantity": 2}))
            .await;
        assert_eq!(ok.status, 200, "{:?}", ok.body);
        let next = s.get(&format!("/api/v1/pick-lists/{id}/next")).await.body;
        assert_eq!(next["next"], Value::Null);
        assert_eq!(next["lines_left"], 0);
        assert_eq!(next["status"], "done");
        assert_clean(&s);
    }
}
