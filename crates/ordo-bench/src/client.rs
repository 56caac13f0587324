//! A minimal HTTP/1.1 keep-alive client: one TCP connection, requests back to back.

use std::net::SocketAddr;

use anyhow::{Context, Result, anyhow};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::HeaderMap;
use hyper::client::conn::http1::SendRequest;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST, HeaderName, HeaderValue};
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

pub struct Conn {
    addr: SocketAddr,
    host: HeaderValue,
    /// `None` for callers that sign their requests instead (webhook senders).
    auth: Option<HeaderValue>,
    json: HeaderValue,
    sender: Option<SendRequest<Full<Bytes>>>,
}

impl Conn {
    pub fn new(addr: SocketAddr, key: &str) -> Result<Conn> {
        Ok(Conn {
            addr,
            host: HeaderValue::from_str(&addr.to_string())?,
            auth: Some(
                HeaderValue::from_str(&format!("Bearer {key}"))
                    .context("admin key is not a valid header value")?,
            ),
            json: HeaderValue::from_static("application/json"),
            sender: None,
        })
    }

    /// A connection that sends no `Authorization` header.
    pub fn anonymous(addr: SocketAddr) -> Result<Conn> {
        Ok(Conn {
            addr,
            host: HeaderValue::from_str(&addr.to_string())?,
            auth: None,
            json: HeaderValue::from_static("application/json"),
            sender: None,
        })
    }

    pub async fn connect(&mut self) -> Result<()> {
        let stream = TcpStream::connect(self.addr)
            .await
            .with_context(|| format!("connecting to {}", self.addr))?;
        stream.set_nodelay(true)?;
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        self.sender = Some(sender);
        Ok(())
    }

    /// Sends one request and reads the whole response. On a transport error the
    /// connection is dropped; the next call reconnects.
    pub async fn send(
        &mut self,
        method: Method,
        path: &str,
        body: Option<Bytes>,
    ) -> Result<(u16, Bytes)> {
        self.send_with(method, path, body, &[]).await
    }

    /// [`Conn::send`] with extra request headers.
    pub async fn send_with(
        &mut self,
        method: Method,
        path: &str,
        body: Option<Bytes>,
        headers: &[(HeaderName, HeaderValue)],
    ) -> Result<(u16, Bytes)> {
        let (status, _, body) = self.request(method, path, body, headers).await?;
        Ok((status, body))
    }

    /// [`Conn::send_with`] that also returns the response headers (cookies, redirects).
    pub async fn request(
        &mut self,
        method: Method,
        path: &str,
        body: Option<Bytes>,
        headers: &[(HeaderName, HeaderValue)],
    ) -> Result<(u16, HeaderMap, Bytes)> {
        if self.sender.as_ref().is_none_or(|s| s.is_closed()) {
            self.connect().await?;
        }
        let result = self.send_inner(method, path, body, headers).await;
        if result.is_err() {
            self.sender = None;
        }
        result
    }

    async fn send_inner(
        &mut self,
        method: Method,
        path: &str,
        body: Option<Bytes>,
        headers: &[(HeaderName, HeaderValue)],
    ) -> Result<(u16, HeaderMap, Bytes)> {
        let sender = self
            .sender
            .as_mut()
            .ok_or_else(|| anyhow!("not connected"))?;
        sender.ready().await?;
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header(HOST, self.host.clone());
        if let Some(auth) = &self.auth {
            req = req.header(AUTHORIZATION, auth.clone());
        }
        if body.is_some() && !headers.iter().any(|(n, _)| n == CONTENT_TYPE) {
            req = req.header(CONTENT_TYPE, self.json.clone());
        }
        for (name, value) in headers {
            req = req.header(name, value.clone());
        }
        let req = req.body(Full::new(body.unwrap_or_default()))?;
        let resp = sender.send_request(req).await?;
        let status = resp.status().as_u16();
        let (parts, body) = resp.into_parts();
        let bytes = body.collect().await?.to_bytes();
        Ok((status, parts.headers, bytes))
    }

    pub async fn get(&mut self, path: &str) -> Result<(u16, Bytes)> {
        self.send(Method::GET, path, None).await
    }
}

/// Percent-encodes a query parameter value (cursors are opaque and may hold `+`, `/`, `=`).
pub fn encode_query(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

pub fn parse_target(url: &str) -> Result<SocketAddr> {
    let rest = url.strip_prefix("http://").unwrap_or(url);
    let hostport = rest.split('/').next().unwrap_or(rest);
    use std::net::ToSocketAddrs;
    hostport
        .to_socket_addrs()
        .with_context(|| format!("resolving {hostport}"))?
        .next()
        .ok_or_else(|| anyhow!("{hostport} did not resolve"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_are_encoded() {
        assert_eq!(encode_query("ab+c/d=="), "ab%2Bc%2Fd%3D%3D");
        assert_eq!(encode_query("SKU-1_x.y~"), "SKU-1_x.y~");
    }

    #[test]
    fn targets_parse() {
        assert_eq!(parse_target("http://127.0.0.1:8080/").unwrap().port(), 8080);
        assert_eq!(parse_target("127.0.0.1:9").unwrap().port(), 9);
    }
}
