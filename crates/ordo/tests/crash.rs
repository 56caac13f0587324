//! A server killed with SIGKILL in the middle of concurrent captures loses no acknowledged
//! order and leaves a consistent database, on either backend.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_orders_survive_a_kill_during_load() {
    for db in databases("crash") {
        let mut server = Server::start(&db).await;
        seed(
            &server,
            &[("HOT", "WH1", 1_000_000), ("SKU-B", "WH2", 1_000_000)],
        )
        .await;
        let server_ref = Arc::new(server.base.clone());
        let acknowledged: Arc<Mutex<Vec<(String, i64)>>> = Arc::default();
        let mut clients = tokio::task::JoinSet::new();
        for c in 0..16 {
            let acknowledged = acknowledged.clone();
            let base = server_ref.clone();
            clients.spawn(async move {
                let probe = Client::new(&base);
                for i in 0.. {
                    let body = order(&format!("crash-{c}-{i}"), &[("HOT", 1), ("SKU-B", 2)]);
                    match probe.post_order(&body.to_string()).await {
                        Some((201, order)) => acknowledged.lock().unwrap().push((
                            order["id"].as_str().unwrap().to_string(),
                            order["lines"][0]["allocated"].as_i64().unwrap(),
                        )),
                        // Connection refused or reset: the server is gone.
                        None => return,
                        Some((status, body)) => panic!("{status}: {body}"),
                    }
                }
            });
        }
        // Let batches pile up, then kill without warning (no graceful shutdown).
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while acknowledged.lock().unwrap().len() < 400 {
            assert!(
                std::time::Instant::now() < deadline,
                "too few orders captured"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        server.child.kill().unwrap();
        server.child.wait().unwrap();
        while clients.join_next().await.is_some() {}
        let acknowledged = acknowledged.lock().unwrap().clone();

        let restarted = Server::start(&db).await;
        for (id, allocated) in &acknowledged {
            let r = restarted.get(&format!("/api/v1/orders/{id}")).await;
            assert_eq!(
                r.status, 200,
                "{}: acknowledged order {id} is missing",
                db.url
            );
            assert_eq!(r.body["lines"][0]["allocated"].as_i64(), Some(*allocated));
        }
        let (clean, report) = restarted.verify();
        assert!(clean, "{}: {report}", db.url);
        eprintln!(
            "{}: {} acknowledged orders found after the kill",
            db.url,
            acknowledged.len()
        );
        restarted.stop();
    }
}

/// A bare HTTP/1.1 client that reports a dead server as `None` instead of panicking.
struct Client {
    inner: hyper_util::client::legacy::Client<
        hyper_util::client::legacy::connect::HttpConnector,
        http_body_util::Full<bytes::Bytes>,
    >,
    base: String,
}

impl Client {
    fn new(base: &str) -> Client {
        Client {
            inner:
                hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                    .build_http(),
            base: base.to_string(),
        }
    }

    async fn post_order(&self, body: &str) -> Option<(u16, serde_json::Value)> {
        use http_body_util::BodyExt;
        let req = hyper::Request::builder()
            .method("POST")
            .uri(format!("{}/api/v1/orders", self.base))
            .header("authorization", format!("Bearer {ADMIN_KEY}"))
            .header("content-type", "application/json")
            .body(http_body_util::Full::new(bytes::Bytes::from(
                body.to_string(),
            )))
            .ok()?;
        let res = self.inner.request(req).await.ok()?;
        let status = res.status().as_u16();
        let bytes = res.into_body().collect().await.ok()?.to_bytes();
        Some((status, serde_json::from_slice(&bytes).ok()?))
    }
}
