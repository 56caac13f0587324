//! Many clients racing for scarce stock never oversell, on either database, across processes.

mod common;

use std::sync::Arc;

use common::*;

async fn race(servers: Vec<Arc<Server>>, clients: usize, per_client: usize) -> (i64, i64) {
    let mut tasks = tokio::task::JoinSet::new();
    for c in 0..clients {
        let s = servers[c % servers.len()].clone();
        tasks.spawn(async move {
            let mut allocated = 0;
            let mut backordered = 0;
            for i in 0..per_client {
                let body = order(&format!("race-{c}-{i}"), &[("HOT", 1), ("SKU-B", 1)]);
                let r = s
                    .request(
                        "POST",
                        "/api/v1/orders",
                        Some(ADMIN_KEY),
                        Some(&body.to_string()),
                        &[],
                    )
                    .await
                    .unwrap();
                assert_eq!(r.status, 201, "{:?}", r.body);
                allocated += r.body["lines"][0]["allocated"].as_i64().unwrap();
                backordered += r.body["lines"][0]["backordered"].as_i64().unwrap();
            }
            (allocated, backordered)
        });
    }
    let mut total = (0, 0);
    while let Some(r) = tasks.join_next().await {
        let (a, b) = r.unwrap();
        total.0 += a;
        total.1 += b;
    }
    total
}

async fn check(db: &Db, servers: usize) {
    let first = Server::start(db).await;
    seed(
        &first,
        &[
            ("HOT", "WH1", 20),
            ("HOT", "WH2", 17),
            ("SKU-B", "WH1", 1000),
        ],
    )
    .await;
    let mut all = vec![Arc::new(first)];
    for _ in 1..servers {
        all.push(Arc::new(Server::start(db).await));
    }
    let (allocated, backordered) = race(all.clone(), 16, 13).await;
    assert_eq!(allocated, 37, "{} with {servers} process(es)", db.label);
    assert_eq!(backordered, 16 * 13 - 37);
    let s = &all[0];
    for loc in ["WH1", "WH2"] {
        let b = balance(s, "HOT", loc).await;
        assert_eq!(b["available"], 0, "{}", db.label);
        assert_eq!(b["allocated"], b["on_hand"]);
    }
    let (ok, report) = s.verify();
    assert!(ok, "{}: {report}", db.label);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_captures_never_oversell_sqlite_one_process() {
    check(&sqlite_db("race1"), 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_captures_never_oversell_sqlite_two_processes() {
    check(&sqlite_db("race2"), 2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_captures_never_oversell_postgres_two_processes() {
    if let Some(db) = postgres_db("race_pg") {
        check(&db, 2).await;
    }
}
