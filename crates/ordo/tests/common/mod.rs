//! A real `ordo serve` process on a loopback port, and a small HTTP client for it.
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

pub const ADMIN_KEY: &str = "test-admin-key";

/// Where a test's data lives: a SQLite file in a fresh temp dir, or a fresh PostgreSQL database.
#[derive(Clone, Debug)]
pub struct Db {
    pub url: String,
    pub label: &'static str,
    /// A SQLite database's directory, removed once the test and its servers are done with it.
    _dir: Option<std::sync::Arc<TempDir>>,
}

#[derive(Debug)]
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        // Kept after a failure, for its database and logs.
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

static COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

fn unique(name: &str) -> String {
    format!(
        "{name}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
    )
}

pub fn sqlite_db(name: &str) -> Db {
    let dir = std::env::temp_dir().join("ordo-tests").join(unique(name));
    std::fs::create_dir_all(&dir).unwrap();
    Db {
        url: format!("sqlite://{}", dir.join("ordo.db").display()),
        label: "sqlite",
        _dir: Some(std::sync::Arc::new(TempDir(dir))),
    }
}

/// `ORDO_TEST_BACKENDS=sqlite` (or `postgres`) narrows the run to one backend.
fn wanted(backend: &str) -> bool {
    std::env::var("ORDO_TEST_BACKENDS").map_or(true, |v| v.split(',').any(|b| b.trim() == backend))
}

pub fn postgres_db(name: &str) -> Option<Db> {
    if !wanted("postgres") {
        return None;
    }
    let cluster = ordo_testkit::PgCluster::shared()?;
    let url = cluster
        .create_database(&unique(name).to_lowercase())
        .expect("create database");
    Some(Db {
        url,
        label: "postgres",
        _dir: None,
    })
}

/// Every backend this machine can run: SQLite always, PostgreSQL when installed.
pub fn databases(name: &str) -> Vec<Db> {
    let mut dbs = Vec::new();
    if wanted("sqlite") {
        dbs.push(sqlite_db(name));
    }
    dbs.extend(postgres_db(name));
    dbs
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub struct Server {
    pub child: Child,
    pub base: String,
    pub db: Db,
    pub log: PathBuf,
    client: Client<HttpConnector, Full<Bytes>>,
}

pub struct Response {
    pub status: u16,
    pub headers: hyper::HeaderMap,
    pub body: Value,
}

impl Server {
    pub async fn start(db: &Db) -> Server {
        Self::start_with(db, &[]).await
    }

    /// `ordo serve` with `extra` arguments after the usual ones.
    pub async fn start_with(db: &Db, extra: &[&str]) -> Server {
        let port = free_port();
        let log = std::env::temp_dir().join(format!("ordo-test-{}.log", unique("server")));
        let child = Command::new(env!("CARGO_BIN_EXE_ordo"))
            .args([
                "serve",
                "--db",
                &db.url,
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--admin-key",
                ADMIN_KEY,
            ])
            .args(extra)
            .env("ORDO_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("start ordo serve");
        let server = Server {
            child,
            base: format!("http://127.0.0.1:{port}"),
            db: db.clone(),
            log,
            client: Client::builder(TokioExecutor::new())
                .pool_max_idle_per_host(64)
                .build_http(),
        };
        let mut server = server;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!(
                    "server exited ({status}): {}",
                    std::fs::read_to_string(&server.log).unwrap_or_default()
                );
            }
            if let Ok(r) = server.request("GET", "/health", None, None, &[]).await
                && r.status == 200
            {
                return server;
            }
            assert!(
                Instant::now() < deadline,
                "server did not start: {}",
                std::fs::read_to_string(&server.log).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn request(
        &self,
        method: &str,
        path: &str,
        key: Option<&str>,
        body: Option<&str>,
        headers: &[(&str, &str)],
    ) -> anyhow::Result<Response> {
        let mut req = hyper::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base));
        if let Some(k) = key {
            req = req.header("authorization", format!("Bearer {k}"));
        }
        if body.is_some() {
            req = req.header("content-type", "application/json");
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let req = req.body(Full::new(Bytes::from(body.unwrap_or("").to_string())))?;
        let res = self.client.request(req).await?;
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let bytes = res.into_body().collect().await?.to_bytes();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or(Value::String(String::from_utf8_lossy(&bytes).into()))
        };
        Ok(Response {
            status,
            headers,
            body,
        })
    }

    pub async fn get(&self, path: &str) -> Response {
        self.request("GET", path, Some(ADMIN_KEY), None, &[])
            .await
            .unwrap()
    }

    pub async fn send(&self, method: &str, path: &str, body: &Value) -> Response {
        self.request(method, path, Some(ADMIN_KEY), Some(&body.to_string()), &[])
            .await
            .unwrap()
    }

    pub async fn post(&self, path: &str, body: &Value) -> Response {
        self.send("POST", path, body).await
    }

    /// SIGTERM and wait: the graceful path.
    pub fn stop(mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
    }

    /// `ordo verify` against this server's database, as an operator would run it.
    pub fn verify(&self) -> (bool, String) {
        run_verify(&self.db)
    }
}

pub fn run_verify(db: &Db) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_ordo"))
        .args(["verify", "--db", &db.url])
        .env("ORDO_LOG", "warn")
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A small catalog: two warehouses, a web channel, SKUs with stock.
pub async fn seed(s: &Server, stock: &[(&str, &str, i64)]) {
    for (code, prio) in [("WH1", 10), ("WH2", 20)] {
        let r = s
            .send(
                "PUT",
                &format!("/api/v1/locations/{code}"),
                &serde_json::json!({"name": code, "kind": "warehouse", "priority": prio}),
            )
            .await;
        assert!(r.status == 201 || r.status == 200, "{:?}", r.body);
    }
    let r = s
        .send(
            "PUT",
            "/api/v1/channels/web",
            &serde_json::json!({"name": "Web", "kind": "web", "currency": "EUR"}),
        )
        .await;
    assert!(r.status == 201 || r.status == 200, "{:?}", r.body);
    let mut skus: Vec<&str> = stock.iter().map(|(s, _, _)| *s).collect();
    skus.extend(["SKU-A", "SKU-B"]);
    skus.sort();
    skus.dedup();
    for sku in skus {
        let r = s
            .send(
                "PUT",
                &format!("/api/v1/products/{sku}"),
                &serde_json::json!({"name": sku, "price": "10.00"}),
            )
            .await;
        assert!(r.status == 201 || r.status == 200, "{:?}", r.body);
    }
    for (sku, loc, q) in stock {
        let r = s
            .post(
                "/api/v1/inventory/adjustments",
                &serde_json::json!({"sku": sku, "location": loc, "delta": q, "reason": "received"}),
            )
            .await;
        assert_eq!(r.status, 201, "{:?}", r.body);
    }
}

pub fn order(external_id: &str, lines: &[(&str, i64)]) -> Value {
    serde_json::json!({
        "channel": "web", "external_id": external_id, "currency": "EUR",
        "customer": {"email": "ann@example.com", "name": "Ann"},
        "shipping_address": {"name": "Ann", "line1": "Main St 1", "city": "Berlin", "postal_code": "10115", "country": "DE"},
        "lines": lines.iter().map(|(sku, q)| serde_json::json!({"sku": sku, "quantity": q, "unit_price": "10.00", "tax": "1.60"})).collect::<Vec<_>>(),
        "shipping": {"method": "standard", "price": "4.90"},
        "payment": {"status": "paid", "method": "card"}
    })
}

pub async fn balance(s: &Server, sku: &str, location: &str) -> Value {
    let r = s
        .get(&format!("/api/v1/inventory?sku={sku}&location={location}"))
        .await;
    r.body["items"][0].clone()
}

/// Everything observable about stock and orders, to prove a refused request changed nothing.
pub async fn snapshot(s: &Server) -> Value {
    let inv = s.get("/api/v1/inventory?limit=500").await.body;
    let orders = s.get("/api/v1/orders?limit=500").await.body;
    let movements = s.get("/api/v1/inventory/movements?limit=500").await.body;
    serde_json::json!({"inventory": inv, "orders": orders, "movements": movements})
}

/// Drives the requests concurrently on this task.
pub async fn futures_join<F: std::future::Future<Output = anyhow::Result<Response>>>(
    fs: Vec<F>,
) -> Vec<Response> {
    // Driven concurrently on this task.
    let mut pinned: Vec<std::pin::Pin<Box<F>>> = fs.into_iter().map(Box::pin).collect();
    let mut done: Vec<Option<Response>> = (0..pinned.len()).map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (i, f) in pinned.iter_mut().enumerate() {
            if done[i].is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(r) => done[i] = Some(r.unwrap()),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    done.into_iter().map(Option::unwrap).collect()
}

/// Every order of a channel, page after page.
pub async fn channel_orders(s: &Server, channel: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut cursor = String::new();
    loop {
        let page = s
            .get(&format!(
                "/api/v1/orders?channel={channel}&limit=500{cursor}"
            ))
            .await
            .body;
        out.extend(page["items"].as_array().cloned().unwrap_or_default());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = format!("&cursor={c}"),
            None => return out,
        }
    }
}
