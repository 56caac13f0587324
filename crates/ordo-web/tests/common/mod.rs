//! The real server (API and back office) in-process on a loopback port, over a seeded
//! SQLite store, plus a small cookie-keeping HTTP client.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use ordo_domain::catalog::{ChannelInput, LocationInput, ProductInput};
use ordo_domain::inventory::AdjustmentInput;
use ordo_domain::order::OrderInput;
use ordo_store::{Role, Store, WriteContext};
use serde_json::json;

pub const PASSWORD: &str = "correct horse battery";
pub const ROLES: [Role; 5] = [
    Role::Admin,
    Role::Manager,
    Role::Warehouse,
    Role::Support,
    Role::Readonly,
];

static COUNTER: AtomicU32 = AtomicU32::new(0);

pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join("ordo-web-tests").join(format!(
        "{name}-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub struct App {
    pub base: String,
    pub store: Arc<dyn Store>,
    /// An admin API key, for capturing orders through the API as a channel would.
    pub api_key: String,
    pub dir: PathBuf,
    pub connectors: Arc<ordo_connectors::sync::Connectors>,
}

impl Drop for App {
    fn drop(&mut self) {
        // Kept after a failure, for its database and downloads.
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

fn ctx() -> WriteContext {
    WriteContext {
        actor: "test-seed".into(),
        idempotency_key: None,
    }
}

pub fn order_json(external_id: &str, lines: &[(&str, i64)]) -> serde_json::Value {
    json!({
        "channel": "web", "external_id": external_id, "currency": "EUR",
        "customer": {"email": format!("buyer{external_id}@example.com"), "name": "Ann Buyer"},
        "shipping_address": {"name": "Ann Buyer", "line1": "Main St 1", "city": "Berlin", "postal_code": "10115", "country": "DE"},
        "lines": lines.iter().map(|(sku, q)| json!({"sku": sku, "quantity": q, "unit_price": "12.50"})).collect::<Vec<_>>(),
        "shipping": {"price": "4.90", "method": "DHL"},
        "payment": {"status": "paid", "method": "card"}
    })
}

async fn seed(store: &dyn Store) {
    for (code, name, kind, city, priority) in [
        ("WH1", "Main warehouse", "warehouse", "Berlin", 1),
        ("ST1", "City store", "store", "Hamburg", 2),
    ] {
        let input: LocationInput = serde_json::from_value(json!({
            "code": code, "name": name, "kind": kind, "priority": priority,
            "address": {"line1": "Logistikstraße 1", "city": city, "country": "DE"}
        }))
        .unwrap();
        store
            .put_location(input.validate().unwrap(), &ctx())
            .await
            .unwrap();
    }
    let channel: ChannelInput = serde_json::from_value(
        json!({"code": "web", "name": "Web shop", "kind": "web", "currency": "EUR"}),
    )
    .unwrap();
    store
        .put_channel(channel.validate().unwrap(), &ctx())
        .await
        .unwrap();
    for (sku, name, price) in [
        ("MUG-1", "Ceramic mug", "12.50"),
        ("TEA-1", "Glass teapot", "39.00"),
        ("LAMP-1", "Desk lamp", "49.90"),
    ] {
        let p: ProductInput = serde_json::from_value(json!({
            "sku": sku, "name": name, "price": price, "unit_cost": "5.00",
            "currency": "EUR", "weight_g": 500, "category": "Kitchen"
        }))
        .unwrap();
        store
            .put_product(p.validate().unwrap(), &ctx())
            .await
            .unwrap();
    }
    for (sku, location, delta) in [
        ("MUG-1", "WH1", 40),
        ("MUG-1", "ST1", 5),
        ("TEA-1", "WH1", 3),
    ] {
        let a = AdjustmentInput {
            sku: Some(sku.into()),
            location: Some(location.into()),
            state: None,
            delta: Some(delta),
            reason: Some("received".into()),
            reference: Some("PO-1".into()),
        };
        store
            .write_stock(a.validate().unwrap(), &ctx())
            .await
            .unwrap();
    }
    let now = time::OffsetDateTime::now_utc();
    for (ext, lines) in [
        ("1001", vec![("MUG-1", 2)]),
        ("1002", vec![("MUG-1", 1), ("TEA-1", 1)]),
        ("1003", vec![("LAMP-1", 1)]),
        ("1004", vec![("MUG-1", 3)]),
        ("1005", vec![("MUG-1", 1)]),
    ] {
        let input: OrderInput = serde_json::from_value(order_json(ext, &lines)).unwrap();
        store
            .capture_order(input.validate(now).unwrap(), &ctx())
            .await
            .unwrap();
    }
    // One hash for every user: each argon2 hash costs real time in a debug build.
    let hash = ordo_http::auth::hash_password(PASSWORD).unwrap();
    for role in ROLES {
        store.create_user(role.as_str(), role, &hash).await.unwrap();
    }
}

pub async fn start(name: &str) -> App {
    let dir = temp_dir(name);
    let sqlite = ordo_sqlite::SqliteStore::open(dir.join("ordo.db")).expect("open store");
    let store: Arc<dyn Store> = Arc::new(sqlite);
    seed(store.as_ref()).await;
    let api_key = ordo_http::auth::generate_token();
    store
        .create_api_key(
            "test admin",
            Role::Admin,
            &ordo_http::auth::hash_token(&api_key),
        )
        .await
        .unwrap();
    let metrics = metrics_exporter_prometheus::PrometheusBuilder::new()
        .build_recorder()
        .handle();
    // One set of connectors for the API and the pages, as `ordo serve` has.
    let connectors = ordo_connectors::sync::Connectors::new(
        store.clone(),
        ordo_connectors::secrets::SecretBox::from_key([7; 32]),
    );
    let state =
        ordo_http::AppState::new(store.clone(), metrics).with_connectors(connectors.clone());
    let (_, streams) = tokio::sync::watch::channel(false);
    let app = ordo_http::router(state).merge(ordo_web::router_with_connectors(
        store.clone(),
        connectors.clone(),
        streams,
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    App {
        base: format!("http://{addr}"),
        store,
        api_key,
        dir,
        connectors,
    }
}

pub struct Reply {
    pub status: u16,
    pub headers: hyper::HeaderMap,
    pub body: String,
}

impl Reply {
    pub fn location(&self) -> &str {
        self.headers
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
    pub fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_string))
            .collect()
    }
    /// The value of the first hidden `csrf` field on the page.
    pub fn csrf(&self) -> String {
        hidden(&self.body, "csrf").expect("a csrf field on the page")
    }
}

pub fn hidden(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker)? + marker.len();
    let end = html[start..].find('"')? + start;
    Some(html[start..end].to_string())
}

/// An HTTP client that keeps cookies, like a browser tab.
pub struct Agent {
    pub base: String,
    pub cookies: HashMap<String, String>,
    pub extra_headers: Vec<(String, String)>,
    client: Client<HttpConnector, Full<Bytes>>,
}

impl Agent {
    pub fn new(base: &str) -> Self {
        Agent {
            base: base.to_string(),
            cookies: HashMap::new(),
            extra_headers: vec![],
            client: Client::builder(TokioExecutor::new()).build_http(),
        }
    }

    async fn send(
        &mut self,
        method: &str,
        path: &str,
        body: Option<String>,
        content_type: &str,
    ) -> Reply {
        let mut req = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base));
        if !self.cookies.is_empty() {
            let cookie = self
                .cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("; ");
            req = req.header("cookie", cookie);
        }
        for (k, v) in &self.extra_headers {
            req = req.header(k.as_str(), v.as_str());
        }
        if body.is_some() {
            req = req.header("content-type", content_type);
        }
        let req = req
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .unwrap();
        let res = self.client.request(req).await.expect("request");
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let body = res.into_body().collect().await.unwrap().to_bytes();
        let reply = Reply {
            status,
            headers,
            body: String::from_utf8_lossy(&body).into_owned(),
        };
        for c in reply.set_cookies() {
            let first = c.split(';').next().unwrap_or("");
            if let Some((k, v)) = first.split_once('=') {
                if v.is_empty() || c.contains("Max-Age=0") {
                    self.cookies.remove(k);
                } else {
                    self.cookies.insert(k.to_string(), v.to_string());
                }
            }
        }
        reply
    }

    pub async fn get(&mut self, path: &str) -> Reply {
        self.send("GET", path, None, "").await
    }

    /// Follows a CSV import started by `started` (its page shows the progress) as the page
    /// does: polls `/imports/{id}` like htmx until it says the import is over, then loads
    /// the result (a redirect when every row was imported, else the rows that were not).
    pub async fn finish_import(&mut self, started: Reply) -> Reply {
        assert_eq!(started.status, 200, "{}", started.body);
        let marker = "hx-get=\"/imports/";
        let at = started
            .body
            .find(marker)
            .unwrap_or_else(|| panic!("a progress section: {}", started.body))
            + marker.len()
            - "/imports/".len();
        let end = started.body[at..].find('"').unwrap() + at;
        let url = started.body[at..end].to_string();
        assert!(started.body.contains("<progress"), "{}", started.body);
        self.extra_headers
            .push(("hx-request".to_string(), "true".to_string()));
        let mut polls = 0;
        loop {
            let r = self.get(&url).await;
            assert_eq!(r.status, 200, "{}", r.body);
            if r.headers.get("hx-redirect").is_some() {
                assert_eq!(r.headers["hx-redirect"], url.as_str());
                break;
            }
            assert!(r.body.contains("<progress"), "{}", r.body);
            polls += 1;
            assert!(polls < 600, "the import never finished");
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        self.extra_headers.retain(|(k, _)| k != "hx-request");
        self.get(&url).await
    }

    pub async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Reply {
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        self.send(
            "POST",
            path,
            Some(body),
            "application/x-www-form-urlencoded",
        )
        .await
    }

    /// A `multipart/form-data` POST, as a form with a file input sends it: `files` are
    /// (field, file name, content).
    pub async fn post_multipart(
        &mut self,
        path: &str,
        form: &[(&str, &str)],
        files: &[(&str, &str, &str)],
    ) -> Reply {
        let boundary = "----ordoTestBoundary7MA4YWxkTrZu0gW";
        let mut body = String::new();
        for (k, v) in form {
            body.push_str(&format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n"
            ));
        }
        for (k, name, content) in files {
            body.push_str(&format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"; filename=\"{name}\"\r\nContent-Type: text/csv\r\n\r\n{content}\r\n"
            ));
        }
        body.push_str(&format!("--{boundary}--\r\n"));
        self.send(
            "POST",
            path,
            Some(body),
            &format!("multipart/form-data; boundary={boundary}"),
        )
        .await
    }

    pub async fn get_with_bearer(&mut self, path: &str, bearer: &str) -> Reply {
        self.extra_headers
            .push(("authorization".into(), format!("Bearer {bearer}")));
        let r = self.get(path).await;
        self.extra_headers.pop();
        r
    }

    pub async fn post_json(&mut self, path: &str, json: &serde_json::Value, bearer: &str) -> Reply {
        self.extra_headers
            .push(("authorization".into(), format!("Bearer {bearer}")));
        let r = self
            .send("POST", path, Some(json.to_string()), "application/json")
            .await;
        self.extra_headers.pop();
        r
    }

    /// Signs in through the form; returns the reply to the POST.
    pub async fn login(&mut self, username: &str, password: &str) -> Reply {
        let page = self.get("/login").await;
        assert_eq!(page.status, 200, "{}", page.body);
        let csrf = page.csrf();
        self.post(
            "/login",
            &[
                ("username", username),
                ("password", password),
                ("csrf", &csrf),
            ],
        )
        .await
    }
}
