//! The pack station through the API, over real HTTP on every backend: the tote scanned at
//! the bench names its fulfillment order, each item scan is checked on the spot, and the
//! suggested packing is shown before anything is written.

mod common;

use common::*;
use serde_json::{Value, json};

fn assert_clean(s: &Server) {
    let (ok, out) = s.verify();
    assert!(ok, "{}: verify failed: {out}", s.db.label);
}

fn fields(r: &Response) -> Vec<String> {
    r.body["errors"]
        .as_array()
        .unwrap_or(&Vec::new())
        .iter()
        .map(|e| e["field"].as_str().unwrap_or_default().to_string())
        .collect()
}

fn message(r: &Response) -> String {
    r.body["errors"][0]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

async fn products(s: &Server) {
    for (sku, classes, dims, weight, barcode) in [
        (
            "FRAG-1",
            vec!["fragile"],
            [200, 150, 100],
            800,
            "4006381333931",
        ),
        ("MUG", vec![], [120, 100, 100], 350, "5901234123457"),
        (
            "COLD-1",
            vec!["perishable"],
            [150, 100, 100],
            500,
            "96385074",
        ),
    ] {
        let r = s
            .send(
                "PUT",
                &format!("/api/v1/products/{sku}"),
                &json!({"name": sku, "price": "10.00",
                "handling_classes": classes, "weight_g": weight, "barcode": barcode,
                "dimensions": {"length_mm": dims[0], "width_mm": dims[1], "height_mm": dims[2]}}),
            )
            .await;
        assert!(r.status == 201 || r.status == 200, "{:?}", r.body);
        let r = s
            .post(
                "/api/v1/inventory/adjustments",
                &json!({"sku": sku, "location": "WH1", "delta": 10, "reason": "received"}),
            )
            .await;
        assert_eq!(r.status, 201, "{:?}", r.body);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tote_scan_item_checks_and_suggested_packing() {
    for db in databases("bench") {
        let s = Server::start(&db).await;
        seed(&s, &[]).await;
        products(&s).await;
        let o1 = s
            .post(
                "/api/v1/orders",
                &order("bench-1", &[("FRAG-1", 1), ("MUG", 2)]),
            )
            .await
            .body;
        let o2 = s
            .post("/api/v1/orders", &order("bench-2", &[("COLD-1", 1)]))
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

        // A batch pick puts each order in its own tote; the bench finds the order by tote.
        let job = s
            .post(
                "/api/v1/pick-lists",
                &json!({"location": "WH1", "strategy": {"kind": "batch"}}),
            )
            .await;
        assert_eq!(job.status, 201, "{}: {:?}", db.label, job.body);
        let id = job.body["id"].as_str().unwrap().to_string();
        let picks = format!("/api/v1/pick-lists/{id}/picks");
        for l in job.body["lists"][0]["lines"].as_array().unwrap() {
            let r = s
                .post(&picks, &json!({"sku": l["sku"], "quantity": l["quantity"]}))
                .await;
            assert_eq!(r.status, 200, "{:?}", r.body);
        }
        let totes = job.body["lists"][0]["totes"].as_array().unwrap().clone();
        assert_eq!(totes.len(), 2);
        for t in &totes {
            let n = t["tote"].as_u64().unwrap();
            let r = s.get(&format!("/api/v1/pick-lists/{id}/totes/{n}")).await;
            assert_eq!(r.status, 200, "{:?}", r.body);
            assert_eq!(r.body["fulfillment_order"]["id"], t["fulfillment_order_id"]);
            assert_eq!(r.body["order"], t["order_number"]);
            assert_eq!(r.body["fulfillment_order"]["status"], "picked");
            assert_eq!(r.body["progress"]["state"], "picked");
        }
        for missing in ["99", "x"] {
            let r = s
                .get(&format!("/api/v1/pick-lists/{id}/totes/{missing}"))
                .await;
            assert_eq!(r.status, 404, "{missing}: {:?}", r.body);
        }
        assert_eq!(
            s.get("/api/v1/pick-lists/PL-000999/totes/1").await.status,
            404
        );

        let before = snapshot(&s).await;

        // Item by item: every scan answered at once, nothing written.
        let check = format!("/api/v1/fulfillment-orders/{fo1}/pack-scans");
        let ok = s
            .post(&check, &json!({"scan": {"barcode": "4006381333931"}}))
            .await;
        assert_eq!(ok.status, 200, "{}: {:?}", db.label, ok.body);
        assert_eq!(ok.body["sku"], "FRAG-1");
        assert_eq!(
            (ok.body["scanned"].as_i64(), ok.body["ordered"].as_i64()),
            (Some(1), Some(1))
        );
        assert_eq!(ok.body["remaining"], json!([{"sku": "MUG", "quantity": 2}]));
        assert_eq!(ok.body["complete"], false);

        let wrong = s
            .post(
                &check,
                &json!({"scanned": [{"sku": "FRAG-1"}], "scan": {"sku": "COLD-1"}}),
            )
            .await;
        assert_eq!(wrong.status, 422, "{:?}", wrong.body);
        assert_eq!(fields(&wrong), ["scan.sku"]);
        assert!(
            message(&wrong).contains("wrong item") && message(&wrong).contains("MUG × 2"),
            "names what is expected: {}",
            message(&wrong)
        );
        let extra = s
            .post(
                &check,
                &json!({"scanned": [{"sku": "FRAG-1"}], "scan": {"barcode": "4006381333931"}}),
            )
            .await;
        assert_eq!(extra.status, 422, "{:?}", extra.body);
        assert_eq!(fields(&extra), ["scan.barcode"]);
        assert!(
            message(&extra).contains("extra item"),
            "{}",
            message(&extra)
        );
        let unknown = s
            .post(&check, &json!({"scan": {"barcode": "0000000000000"}}))
            .await;
        assert_eq!(unknown.status, 422);
        assert_eq!(fields(&unknown), ["scan.barcode"]);
        assert!(
            message(&unknown).contains("FRAG-1 × 1, MUG × 2"),
            "{}",
            message(&unknown)
        );
        let bad_history = s
            .post(
                &check,
                &json!({"scanned": [{"sku": "MUG", "quantity": 0}], "scan": {"sku": "MUG"}}),
            )
            .await;
        assert_eq!(fields(&bad_history), ["scanned[0].quantity"]);
        assert_eq!(
            fields(&s.post(&check, &json!({"scanned": []})).await),
            ["scan"]
        );
        let last = s
            .post(
                &check,
                &json!({"scanned": [{"sku": "FRAG-1"}, {"sku": "MUG"}], "scan": {"sku": "MUG"}}),
            )
            .await;
        assert_eq!(last.status, 200, "{:?}", last.body);
        assert_eq!(last.body["scanned"], 2);
        assert_eq!(last.body["complete"], true);
        assert_eq!(last.body["remaining"], json!([]));

        // The suggestion: boxes by size and class with the packer's instructions.
        let plan = s
            .post(
                &format!("/api/v1/fulfillment-orders/{fo1}/pack-plan"),
                &json!({}),
            )
            .await;
        assert_eq!(plan.status, 200, "{:?}", plan.body);
        let packages = plan.body["packages"].as_array().unwrap();
        let fragile = packages
            .iter()
            .find(|p| {
                p["items"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|i| i["sku"] == "FRAG-1")
            })
            .expect("the vase is packed");
        assert!(
            fragile["markings"]
                .as_array()
                .unwrap()
                .iter()
                .any(|m| m == "FRAGILE")
        );
        assert!(!fragile["instructions"].as_array().unwrap().is_empty());
        let units: i64 = packages
            .iter()
            .flat_map(|p| p["items"].as_array().unwrap().iter())
            .map(|i| i["quantity"].as_i64().unwrap())
            .sum();
        assert_eq!(units, 3, "every unit has a box");
        let cold = s
            .post(
                &format!("/api/v1/fulfillment-orders/{fo2}/pack-plan"),
                &json!({}),
            )
            .await;
        assert_eq!(cold.status, 200, "{:?}", cold.body);
        assert_eq!(cold.body["packages"][0]["box_code"], "COOL-M");
        let unknown_box = s
            .post(
                &format!("/api/v1/fulfillment-orders/{fo1}/pack-plan"),
                &json!({"boxes": ["L", "NOPE"]}),
            )
            .await;
        assert_eq!(unknown_box.status, 422);
        assert_eq!(fields(&unknown_box), ["boxes[1]"]);
        let in_large = s
            .post(
                &format!("/api/v1/fulfillment-orders/{fo1}/pack-plan"),
                &json!({"boxes": ["L"]}),
            )
            .await;
        assert_eq!(in_large.status, 200, "{:?}", in_large.body);
        let large: Vec<&Value> = in_large.body["packages"]
            .as_array()
            .unwrap()
            .iter()
            .collect();
        assert!(large.iter().all(|p| p["box_code"] == "L"), "{large:?}");
        assert_eq!(
            snapshot(&s).await,
            before,
            "checking scans and planning write nothing"
        );
        assert_eq!(
            s.get(&format!("/api/v1/fulfillment-orders/{fo1}"))
                .await
                .body["status"],
            "picked"
        );

        // The packer takes another box than suggested: packing uses exactly that box type.
        let packed = s
            .post(
                &format!("/api/v1/fulfillment-orders/{fo1}/pack"),
                &json!({"scans": [{"sku": "FRAG-1"}, {"sku": "MUG", "quantity": 2}], "boxes": ["L"]}),
            )
            .await;
        assert_eq!(packed.status, 200, "{:?}", packed.body);
        assert_eq!(
            packed.body["plan"], in_large.body,
            "packs what the plan showed"
        );
        let again = s
            .post(
                &format!("/api/v1/fulfillment-orders/{fo1}/pack-plan"),
                &json!({}),
            )
            .await;
        assert_eq!(again.status, 409, "packed already: {:?}", again.body);
        assert_eq!(again.body["current"], "packed");
        assert_clean(&s);

        let docs = s
            .request("GET", "/api/openapi.json", None, None, &[])
            .await
            .unwrap()
            .body;
        for (path, method) in [
            ("/api/v1/fulfillment-orders/{id}/pack-plan", "post"),
            ("/api/v1/fulfillment-orders/{id}/pack-scans", "post"),
            ("/api/v1/pick-lists/{id}/totes/{tote}", "get"),
            ("/api/v1/pick-lists/{id}/next", "get"),
        ] {
            assert!(docs["paths"][path][method].is_object(), "{path} documented");
        }
    }
}
