//! The HTTP client every connector shares: client-side token buckets that keep each
//! operation under the channel's published rate, `Retry-After` on 429, exponential backoff
//! with jitter on 5xx, timeouts and dropped connections, and the remote's own error message.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use rand::{Rng, SeedableRng};
use reqwest::header::HeaderMap;
use reqwest::{Method, RequestBuilder, StatusCode};
use tokio::sync::Mutex;
use tokio::time::Instant;

#[derive(Debug, Clone, thiserror::Error)]
pub enum RemoteError {
    /// The channel refused the request (4xx other than 429): retrying will not help.
    #[error("{status}: {message}")]
    Refused { status: u16, message: String },
    /// Still failing after every retry (5xx, 429, timeouts, connection errors).
    #[error("unavailable after {attempts} attempts: {message}")]
    Unavailable { attempts: u32, message: String },
    /// The answer did not have the documented shape.
    #[error("unexpected answer: {0}")]
    Malformed(String),
}

/// Requests per second and burst for one operation.
#[derive(Debug, Clone, Copy)]
pub struct Rate {
    pub per_second: f64,
    pub burst: f64,
}

struct Bucket {
    rate: Rate,
    tokens: f64,
    at: Instant,
}

#[derive(Clone)]
pub struct ApiClient {
    http: reqwest::Client,
    buckets: Arc<Mutex<HashMap<&'static str, Bucket>>>,
    rates: Arc<dyn Fn(&str) -> Rate + Send + Sync>,
    pub max_attempts: u32,
    /// Backoff before the second attempt; doubles each time, capped at `max_backoff`.
    pub base_backoff: Duration,
    pub max_backoff: Duration,
}

impl std::fmt::Debug for ApiClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiClient")
    }
}

impl ApiClient {
    pub fn new(rates: impl Fn(&str) -> Rate + Send + Sync + 'static) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(20))
            .connect_timeout(Duration::from_secs(5))
            .user_agent(concat!("Ordo/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("a client with static settings builds");
        Self {
            http,
            buckets: Arc::default(),
            rates: Arc::new(rates),
            max_attempts: 6,
            base_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(10),
        }
    }

    /// Shorter timeouts and backoff, for tests against emulators with injected faults.
    pub fn with_timeouts(mut self, request: Duration, base_backoff: Duration) -> Self {
        self.http = reqwest::Client::builder()
            .timeout(request)
            .connect_timeout(request)
            .build()
            .expect("a client with static settings builds");
        self.base_backoff = base_backoff;
        self.max_backoff = base_backoff * 16;
        self
    }

    pub fn request(&self, method: Method, url: &str) -> RequestBuilder {
        self.http.request(method, url)
    }

    /// Waits until the operation's bucket has a token.
    async fn take(&self, operation: &'static str) {
        loop {
            let wait = {
                let mut buckets = self.buckets.lock().await;
                let rate = (self.rates)(operation);
                let bucket = buckets.entry(operation).or_insert_with(|| Bucket {
                    rate,
                    tokens: rate.burst,
                    at: Instant::now(),
                });
                let now = Instant::now();
                let elapsed = now.duration_since(bucket.at).as_secs_f64();
                bucket.tokens =
                    (bucket.tokens + elapsed * bucket.rate.per_second).min(bucket.rate.burst);
                bucket.at = now;
                if bucket.tokens >= 1.0 {
                    bucket.tokens -= 1.0;
                    return;
                }
                Duration::from_secs_f64((1.0 - bucket.tokens) / bucket.rate.per_second)
            };
            tokio::time::sleep(wait).await;
        }
    }

    /// After the remote said 429: the bucket is empty whatever we counted.
    async fn drain(&self, operation: &'static str) {
        if let Some(bucket) = self.buckets.lock().await.get_mut(operation) {
            bucket.tokens = 0.0;
            bucket.at = Instant::now();
        }
    }

    fn backoff(&self, attempt: u32) -> Duration {
        let exp = self
            .base_backoff
            .saturating_mul(1 << attempt.min(10))
            .min(self.max_backoff);
        let jitter = rand::rngs::SmallRng::from_os_rng().random_range(0.5..1.0);
        exp.mul_f64(jitter)
    }

    /// Sends the request built by `build` (called again for each attempt) and returns the
    /// first successful answer, body included: a connection dropped mid-body is retried
    /// like any other transport failure.
    pub async fn send(
        &self,
        operation: &'static str,
        build: impl Fn() -> RequestBuilder,
    ) -> Result<Answer, RemoteError> {
        let mut last = String::new();
        for attempt in 0..self.max_attempts {
            self.take(operation).await;
            match build().send().await {
                Ok(response) if response.status().is_success() => {
                    let (status, headers) =
                        (response.status().as_u16(), response.headers().clone());
                    match response.bytes().await {
                        Ok(body) => {
                            return Ok(Answer {
                                status,
                                headers,
                                body,
                            });
                        }
                        Err(e) => {
                            last = format!("answer cut off: {e}");
                            tokio::time::sleep(self.backoff(attempt)).await;
                        }
                    }
                }
                Ok(response) if response.status() == StatusCode::TOO_MANY_REQUESTS => {
                    let wait = retry_after(&response).unwrap_or_else(|| self.backoff(attempt));
                    last = format!("429 rate limited ({operation})");
                    tracing::debug!(operation, ?wait, "rate limited by the channel");
                    self.drain(operation).await;
                    tokio::time::sleep(wait).await;
                }
                Ok(response) if response.status().is_server_error() => {
                    let status = response.status().as_u16();
                    last = format!("{status}: {}", remote_message(response).await);
                    tokio::time::sleep(self.backoff(attempt)).await;
                }
                Ok(response) => {
                    let status = response.status().as_u16();
                    return Err(RemoteError::Refused {
                        status,
                        message: remote_message(response).await,
                    });
                }
                Err(e) => {
                    last = if e.is_timeout() {
                        format!("timed out: {e}")
                    } else {
                        format!("connection failed: {e}")
                    };
                    tokio::time::sleep(self.backoff(attempt)).await;
                }
            }
        }
        Err(RemoteError::Unavailable {
            attempts: self.max_attempts,
            message: last,
        })
    }
}

/// A successful answer, read in full.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: bytes::Bytes,
}

impl Answer {
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, RemoteError> {
        serde_json::from_slice(&self.body).map_err(|e| RemoteError::Malformed(e.to_string()))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

fn retry_after(response: &reqwest::Response) -> Option<Duration> {
    let value = response.headers().get("retry-after")?.to_str().ok()?;
    let seconds: f64 = value.trim().parse().ok()?;
    (seconds.is_finite() && seconds >= 0.0).then(|| Duration::from_secs_f64(seconds.min(120.0)))
}

/// The message a channel put in its error body (Shopify `errors`, WooCommerce `message`,
/// Amazon and eBay `errors[].message`), else the body itself.
async fn remote_message(response: reqwest::Response) -> String {
    let text = response.text().await.unwrap_or_default();
    let Ok(json) = serde_json::from_str::<serde_json::Value>(&text) else {
        return text.chars().take(300).collect();
    };
    if let Some(m) = json.get("message").and_then(|m| m.as_str()) {
        return m.to_string();
    }
    match json.get("errors") {
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(serde_json::Value::Array(items)) => items
            .iter()
            .map(|e| {
                e.get("message")
                    .and_then(|m| m.as_str())
                    .map(str::to_string)
                    .unwrap_or_else(|| e.to_string())
            })
            .collect::<Vec<_>>()
            .join("; "),
        Some(other) => other.to_string(),
        None => text.chars().take(300).collect(),
    }
}
