//! What every emulator shares: a loopback server, request statistics, injected faults and
//! the rate limiters the real APIs apply.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::http::{Response, StatusCode};

/// Requests seen by an emulator.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    pub total: u64,
    /// Requests per operation (e.g. `orders`, `inventory_levels/set`).
    pub by_operation: BTreeMap<String, u64>,
    /// Answers of 429: each is a request the client sent over the limit.
    pub throttled: u64,
    /// The most requests seen within any one second.
    pub max_per_second: u64,
    window: Vec<Instant>,
}

impl Stats {
    pub(crate) fn record(&mut self, operation: &str) {
        self.total += 1;
        *self.by_operation.entry(operation.to_string()).or_default() += 1;
        let now = Instant::now();
        self.window
            .retain(|t| now.duration_since(*t) < Duration::from_secs(1));
        self.window.push(now);
        self.max_per_second = self.max_per_second.max(self.window.len() as u64);
    }

    pub fn calls(&self, operation: &str) -> u64 {
        self.by_operation.get(operation).copied().unwrap_or(0)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Answer with this status and the API's error body.
    Fail(u16),
    /// Wait this long before answering (beyond a client's timeout).
    Delay(Duration),
    /// Start a 200 answer and cut the connection in the middle of its body.
    Drop,
}

/// Faults to inject, taken in order by the next requests.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    queue: Arc<Mutex<Vec<Fault>>>,
}

impl Faults {
    pub fn fail_next(&self, n: usize, status: u16) {
        self.push(n, Fault::Fail(status));
    }
    pub fn delay_next(&self, n: usize, delay: Duration) {
        self.push(n, Fault::Delay(delay));
    }
    pub fn drop_next(&self, n: usize) {
        self.push(n, Fault::Drop);
    }
    fn push(&self, n: usize, fault: Fault) {
        let mut q = self.queue.lock().unwrap();
        q.extend(std::iter::repeat_n(fault, n));
    }
    pub(crate) fn take(&self) -> Option<Fault> {
        let mut q = self.queue.lock().unwrap();
        (!q.is_empty()).then(|| q.remove(0))
    }
    pub fn pending(&self) -> usize {
        self.queue.lock().unwrap().len()
    }
}

/// A token bucket: `burst` requests at once, refilled at `per_second`.
#[derive(Debug, Clone)]
pub struct Bucket {
    pub per_second: f64,
    pub burst: f64,
    tokens: f64,
    at: Instant,
}

impl Bucket {
    pub fn new(per_second: f64, burst: f64) -> Self {
        Self {
            per_second,
            burst,
            tokens: burst,
            at: Instant::now(),
        }
    }

    /// Takes a token; `Err(seconds until one is free)` when empty.
    pub fn take(&mut self) -> Result<(), f64> {
        let now = Instant::now();
        self.tokens = (self.tokens + now.duration_since(self.at).as_secs_f64() * self.per_second)
            .min(self.burst);
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            Err((1.0 - self.tokens) / self.per_second)
        }
    }

    /// Requests currently counted against the bucket (Shopify's "used" figure).
    pub fn used(&self) -> u64 {
        (self.burst - self.tokens).max(0.0).round() as u64
    }
}

/// A body that sends a few bytes and then fails, so the client sees the connection cut.
pub(crate) fn cut_off() -> Response<Body> {
    let stream = futures_util::stream::iter(vec![
        Ok::<_, std::io::Error>(bytes::Bytes::from_static(b"{\"partial\":")),
        Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "dropped by the emulator",
        )),
    ]);
    Response::builder()
        .status(StatusCode::OK)
        .header("content-type", "application/json")
        .body(Body::from_stream(stream))
        .expect("static response")
}

/// A running emulator server; stops when dropped.
pub(crate) struct Running {
    pub addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub(crate) async fn serve(app: Router) -> Running {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a loopback port");
    let addr = listener.local_addr().expect("bound address");
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Running { addr, task }
}

pub(crate) fn sign(secret: &str, body: &[u8]) -> String {
    use base64::Engine;
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(body);
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

pub(crate) fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .expect("formats")
}
