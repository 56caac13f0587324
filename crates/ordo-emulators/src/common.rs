//! What every emulator shares: a loopback server, the request as handlers see it, request
//! statistics, injected faults, the rate limiters the real APIs apply, webhook delivery and
//! small formatting helpers.

use std::collections::{BTreeMap, VecDeque};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, Response, StatusCode};
use rand::{Rng, SeedableRng};
use serde_json::Value;
use time::OffsetDateTime;

/// What a handler answers.
pub(crate) type Answer = Response<Body>;

/// Requests seen by an emulator, for tests to check what a client did.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    /// Every request received, including refused and throttled ones.
    pub total: u64,
    /// Requests per operation. Operation names are listed on each emulator's type (e.g.
    /// Shopify `orders`, Amazon `getOrders`, LWA `token`).
    pub by_operation: BTreeMap<String, u64>,
    /// Answers of 429 because a rate limit was exceeded: each is a request the client sent
    /// over the limit. Injected 429s (`Faults::fail_next(n, 429)`) are not counted.
    pub throttled: u64,
    /// The same, per operation.
    pub throttled_by_operation: BTreeMap<String, u64>,
    /// The most requests received within any one-second window.
    pub max_per_second: u64,
    window: VecDeque<Instant>,
}

impl Stats {
    pub(crate) fn record(&mut self, operation: &str) {
        self.total += 1;
        *self.by_operation.entry(operation.to_string()).or_default() += 1;
        let now = Instant::now();
        while self
            .window
            .front()
            .is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(1))
        {
            self.window.pop_front();
        }
        self.window.push_back(now);
        self.max_per_second = self.max_per_second.max(self.window.len() as u64);
    }

    pub(crate) fn throttle(&mut self, operation: &str) {
        self.throttled += 1;
        *self
            .throttled_by_operation
            .entry(operation.to_string())
            .or_default() += 1;
    }

    /// Requests received for `operation` (0 if none).
    pub fn calls(&self, operation: &str) -> u64 {
        self.by_operation.get(operation).copied().unwrap_or(0)
    }
}

/// A fault the next matching request suffers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Answer with this status and the API's own error body.
    Fail(u16),
    /// Wait this long before handling the request normally (to outlast a client timeout).
    Delay(Duration),
    /// Close the connection without sending any answer: the client's request fails with a
    /// connection error.
    Drop,
    /// Send a 200 status line and headers, then cut the connection in the middle of the
    /// body: the client sees success and then fails reading the body.
    Cut,
}

/// Faults to inject, taken in order by the next requests. Clones share one queue; a handle
/// from [`Faults::on`] only hits requests of one operation.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    queue: Arc<Mutex<VecDeque<(Option<String>, Fault)>>>,
    scope: Option<String>,
}

impl Faults {
    /// A handle whose faults only hit requests of `operation` (other requests pass and
    /// leave them queued), e.g. `faults().on("getOrders").drop_next(1)`.
    pub fn on(&self, operation: &str) -> Faults {
        Faults {
            queue: self.queue.clone(),
            scope: Some(operation.to_string()),
        }
    }

    /// The next `n` requests fail with `status` and the API's error body.
    pub fn fail_next(&self, n: usize, status: u16) {
        self.push(n, Fault::Fail(status));
    }

    /// The next `n` requests are held for `delay` before being handled.
    pub fn delay_next(&self, n: usize, delay: Duration) {
        self.push(n, Fault::Delay(delay));
    }

    /// The next `n` requests get no answer: the connection is closed.
    pub fn drop_next(&self, n: usize) {
        self.push(n, Fault::Drop);
    }

    /// The next `n` requests get a 200 whose body is cut off part way.
    pub fn cut_next(&self, n: usize) {
        self.push(n, Fault::Cut);
    }

    /// Faults queued and not yet suffered.
    pub fn pending(&self) -> usize {
        self.queue.lock().unwrap().len()
    }

    /// Forgets every queued fault.
    pub fn clear(&self) {
        self.queue.lock().unwrap().clear();
    }

    fn push(&self, n: usize, fault: Fault) {
        let mut q = self.queue.lock().unwrap();
        q.extend(std::iter::repeat_n((self.scope.clone(), fault), n));
    }

    /// The first queued fault for `operation`; unscoped faults count only if `unscoped`.
    fn take(&self, operation: &str, unscoped: bool) -> Option<Fault> {
        let mut q = self.queue.lock().unwrap();
        let at = q.iter().position(|(scope, _)| match scope {
            Some(s) => s == operation,
            None => unscoped,
        })?;
        q.remove(at).map(|(_, f)| f)
    }

    /// Applies the next fault for `operation`: `Some(answer)` to send instead of handling
    /// the request, `None` to handle it (after any delay).
    pub(crate) async fn apply(
        &self,
        operation: &str,
        error: impl FnOnce(StatusCode) -> Answer,
    ) -> Option<Answer> {
        suffer(self.take(operation, true)?, error).await
    }

    /// Like [`Faults::apply`], for endpoints only faults scoped to them reach (e.g. the LWA
    /// token endpoint, another host in reality).
    pub(crate) async fn apply_scoped(
        &self,
        operation: &str,
        error: impl FnOnce(StatusCode) -> Answer,
    ) -> Option<Answer> {
        suffer(self.take(operation, false)?, error).await
    }
}

async fn suffer(fault: Fault, error: impl FnOnce(StatusCode) -> Answer) -> Option<Answer> {
    match fault {
        Fault::Fail(status) => Some(error(
            StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        )),
        Fault::Delay(d) => {
            tokio::time::sleep(d).await;
            None
        }
        Fault::Drop => Some(dropped()),
        Fault::Cut => Some(cut_off()),
    }
}

/// A token bucket: `burst` requests at once, refilled at `per_second`. Shopify's leaky
/// bucket (size 40, leak 2/s) is the same thing seen from the other side.
#[derive(Debug, Clone)]
pub(crate) struct Bucket {
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

    fn refill(&mut self) {
        let now = Instant::now();
        self.tokens = (self.tokens + now.duration_since(self.at).as_secs_f64() * self.per_second)
            .min(self.burst);
        self.at = now;
    }

    /// Takes a token; `Err(seconds until one is free)` when empty.
    pub fn take(&mut self) -> Result<(), f64> {
        self.refill();
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            Err((1.0 - self.tokens) / self.per_second)
        }
    }

    /// Requests currently counted against the bucket (Shopify's "used" figure).
    pub fn used(&mut self) -> u64 {
        self.refill();
        (self.burst - self.tokens).max(0.0).ceil() as u64
    }
}

/// A simple limit for APIs without a documented one (WooCommerce, eBay): at most
/// `per_second` requests in a second (as a bucket of that size) and at most `per_day` since
/// the emulator started.
#[derive(Debug)]
pub(crate) struct SimpleLimit {
    bucket: Option<Bucket>,
    per_day: Option<u64>,
    today: u64,
}

impl SimpleLimit {
    pub fn new(per_second: Option<f64>, per_day: Option<u64>) -> Self {
        Self {
            bucket: per_second.map(|r| Bucket::new(r, r.max(1.0))),
            per_day,
            today: 0,
        }
    }

    /// `Err(seconds to wait)` when over the limit (a day's limit answers a day).
    pub fn take(&mut self) -> Result<(), f64> {
        if self.per_day.is_some_and(|d| self.today >= d) {
            return Err(86_400.0);
        }
        if let Some(b) = &mut self.bucket {
            b.take()?;
        }
        self.today += 1;
        Ok(())
    }
}

/// Seconds for a `Retry-After` header, rounded up to a tenth so waiting that long is enough.
pub(crate) fn retry_after(wait: f64) -> String {
    format!("{:.1}", ((wait * 10.0).ceil() / 10.0).max(0.1))
}

/// An answer with no response at all: the body fails before hyper has flushed the status
/// line, so the connection is closed with nothing sent.
fn dropped() -> Answer {
    let stream = futures_util::stream::once(async {
        Err::<Bytes, _>(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "dropped by the emulator",
        ))
    });
    Response::builder()
        .status(StatusCode::OK)
        .header("content-type", "application/json")
        .body(Body::from_stream(stream))
        .expect("static response")
}

/// A 200 that sends part of a JSON body and then fails, so the connection is cut mid-body.
fn cut_off() -> Answer {
    let stream = futures_util::stream::unfold(0u8, |step| async move {
        match step {
            0 => Some((Ok(Bytes::from_static(b"{\"partial\":[{\"id\":1},")), 1)),
            1 => {
                // Let the first chunk reach the client before the cut.
                tokio::time::sleep(Duration::from_millis(20)).await;
                Some((
                    Err(std::io::Error::new(
                        std::io::ErrorKind::ConnectionReset,
                        "cut by the emulator",
                    )),
                    2,
                ))
            }
            _ => None,
        }
    });
    Response::builder()
        .status(StatusCode::OK)
        .header("content-type", "application/json")
        .body(Body::from_stream(stream))
        .expect("static response")
}

/// A running emulator server; stops accepting connections when dropped.
pub(crate) struct Running {
    pub addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Serves `app` on a random loopback port.
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

/// The request as the emulators' handlers use it: raw body bytes (so malformed JSON gets the
/// API's own error rather than axum's), query pairs in order, headers.
pub(crate) struct Req {
    pub method: Method,
    pub headers: HeaderMap,
    pub query: Vec<(String, String)>,
    pub body: Bytes,
}

impl<S: Send + Sync> FromRequest<S> for Req {
    type Rejection = Infallible;

    async fn from_request(req: Request, _state: &S) -> Result<Self, Self::Rejection> {
        let (parts, body) = req.into_parts();
        let query = parts
            .uri
            .query()
            .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
            .unwrap_or_default();
        let body = axum::body::to_bytes(body, 32 << 20)
            .await
            .unwrap_or_default();
        Ok(Req {
            method: parts.method,
            headers: parts.headers,
            query,
            body,
        })
    }
}

impl Req {
    /// The last value of query parameter `name`.
    pub fn q(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// `http://host:port` as the client addressed us, for absolute links in answers.
    pub fn origin(&self) -> String {
        format!("http://{}", self.header("host").unwrap_or("127.0.0.1"))
    }

    pub fn json(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }

    /// The body as `application/x-www-form-urlencoded` pairs.
    pub fn form(&self) -> BTreeMap<String, String> {
        form_urlencoded::parse(&self.body).into_owned().collect()
    }
}

/// A JSON answer.
pub(crate) fn json_answer(status: StatusCode, body: &Value) -> Answer {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .expect("static response")
}

/// An answer without a body (e.g. 204).
pub(crate) fn empty_answer(status: StatusCode) -> Answer {
    Response::builder()
        .status(status)
        .body(Body::empty())
        .expect("static response")
}

/// Adds (or replaces) a header.
pub(crate) fn with_header(mut answer: Answer, name: &str, value: &str) -> Answer {
    if let (Ok(n), Ok(v)) = (
        HeaderName::try_from(name),
        HeaderValue::try_from(value.to_string()),
    ) {
        answer.headers_mut().insert(n, v);
    }
    answer
}

/// base64(HMAC-SHA256(secret, body)), the webhook signature of both Shopify and WooCommerce.
pub fn sign(secret: &str, body: &[u8]) -> String {
    use base64::Engine;
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(body);
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// POSTs a webhook; the receiver's status, or 0 when it could not be reached.
pub(crate) async fn deliver(
    url: &str,
    headers: &[(&str, String)],
    content_type: &str,
    body: Vec<u8>,
) -> u16 {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("a plain client");
    let mut request = client.post(url).header("content-type", content_type);
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    match request.body(body).send().await {
        Ok(r) => r.status().as_u16(),
        Err(_) => 0,
    }
}

/// Random lowercase hex, for ids the real APIs make opaque.
pub(crate) fn random_hex(len: usize) -> String {
    let mut rng = rand::rngs::SmallRng::from_os_rng();
    (0..len)
        .map(|_| char::from_digit(rng.random_range(0..16), 16).expect("hex digit"))
        .collect()
}

/// A random UUID-shaped id (`8-4-4-4-12` hex).
pub(crate) fn random_uuid() -> String {
    let h = random_hex(32);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

/// Opaque page tokens: base64url of a small JSON object, so clients cannot build them.
pub(crate) fn encode_token(v: &Value) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
}

pub(crate) fn decode_token(token: &str) -> Option<Value> {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token.trim())
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Percent-encodes a query value.
pub(crate) fn urlencode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// Parses an ISO-8601 time with an offset (RFC 3339).
pub(crate) fn parse_time(s: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(s.trim(), &time::format_description::well_known::Rfc3339).ok()
}

/// RFC 3339 text of a time (as its offset and precision are).
pub(crate) fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .expect("formats")
}
