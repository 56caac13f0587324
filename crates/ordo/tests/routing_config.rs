//! The routing cost model and centroid table a deployment starts with (`--routing-cost`,
//! `--centroids`): an address without coordinates is placed by the deployment's own
//! postal-prefix centroid, and a bad file stops the server at start-up with the reason.

mod common;

use common::*;
use serde_json::json;

/// Munich and Hamburg warehouses, both stocked, the nearer one by coordinates should win.
async fn two_warehouses(s: &Server) {
    seed(s, &[("SKU-A", "WH1", 10), ("SKU-A", "WH2", 10)]).await;
    for (code, lat, lon) in [("WH1", 48.14, 11.58), ("WH2", 53.55, 9.99)] {
        let r = s
            .send(
                "PUT",
                &format!("/api/v1/locations/{code}"),
                &json!({"name": code, "kind": "warehouse", "priority": 10, "latitude": lat, "longitude": lon}),
            )
            .await;
        assert!(r.status == 200 || r.status == 201, "{:?}", r.body);
    }
}

/// An order to postal code 99084 (Erfurt) with no coordinates.
fn to_erfurt(id: &str) -> serde_json::Value {
    let mut o = order(id, &[("SKU-A", 1)]);
    o["shipping_address"]["postal_code"] = json!("99084");
    o["shipping_address"]["city"] = json!("Erfurt");
    o
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deployment_centroids_and_costs_decide_where_orders_go() {
    for db in databases("routing_config") {
        // The shipped table puts German 9xxxx codes in Franconia: Munich is nearer.
        let s = Server::start(&db).await;
        two_warehouses(&s).await;
        let r = s.post("/api/v1/orders", &to_erfurt("shipped-table")).await;
        assert_eq!(r.status, 201, "{:?}", r.body);
        assert_eq!(
            r.body["fulfillment_orders"][0]["location"], "WH1",
            "{}",
            db.label
        );
        s.stop();

        // A deployment's own table places 99xxx near Hamburg, and its cost model is read.
        let dir = std::env::temp_dir().join(format!(
            "ordo-routing-config-{}-{}",
            std::process::id(),
            db.label
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let centroids = dir.join("centroids.csv");
        std::fs::write(
            &centroids,
            "country,postal_prefix,lat,lon\nDE,99,53.40,10.10\n",
        )
        .unwrap();
        let cost = dir.join("cost.json");
        std::fs::write(&cost, r#"{"per_km_minor": 3.0}"#).unwrap();
        let s = Server::start_with(
            &db,
            &[
                "--centroids",
                centroids.to_str().unwrap(),
                "--routing-cost",
                cost.to_str().unwrap(),
            ],
        )
        .await;
        let r = s.post("/api/v1/orders", &to_erfurt("own-table")).await;
        assert_eq!(r.status, 201, "{:?}", r.body);
        assert_eq!(
            r.body["fulfillment_orders"][0]["location"], "WH2",
            "{}",
            db.label
        );
        // The simulator explains with the same table.
        let r = s
            .post(
                "/api/v1/routing/simulate",
                &json!({"order": to_erfurt("simulated")}),
            )
            .await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        assert_eq!(
            r.body["shipments"][0]["location"], "WH2",
            "{}: {}",
            db.label, r.body
        );
        let (ok, out) = s.verify();
        assert!(ok, "{}: {out}", db.label);
        s.stop();

        // A bad file stops the server at start-up, naming the line.
        std::fs::write(&centroids, "DE,99,north,10.10\n").unwrap();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_ordo"))
            .args(["serve", "--db", &db.url, "--listen", "127.0.0.1:0"])
            .args(["--centroids", centroids.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("centroids line 1"), "{err}");
        std::fs::remove_dir_all(&dir).ok();
    }
}
