//! `--pages`: server-side render times of the back-office pages on the demo database.
//!
//! `ordo demo --no-serve` generates the shop, `ordo serve` serves it, an admin signs in
//! through the login form like a browser does, and every main page is requested N times
//! back to back on one keep-alive connection. The time counted is from sending the request
//! to having read the whole body, on loopback: what the server spends rendering.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use hyper::Method;
use hyper::header::{CONTENT_TYPE, COOKIE, HeaderValue, SET_COOKIE};

use crate::client::{Conn, encode_query};
use crate::server::Server;

/// The budget for a page, at the 90th percentile.
const BUDGET_MS: f64 = 50.0;

pub struct PageRow {
    pub name: String,
    pub path: String,
    pub bytes: usize,
    pub p50: f64,
    pub p90: f64,
    pub max: f64,
}

pub struct PagesInput<'a> {
    pub server_bin: &'a Path,
    pub dir: &'a Path,
    pub requests: usize,
    pub days: i64,
}

/// Generates the demo shop, serves it and measures every page. Fails when a page does not
/// answer 200 (a broken page must not pass as a fast one).
pub async fn run(input: &PagesInput<'_>) -> Result<Vec<PageRow>> {
    let db = input.dir.join("ordo-demo.db");
    let started = Instant::now();
    let out = Command::new(input.server_bin)
        .arg("demo")
        .arg("--db")
        .arg(&db)
        .args(["--days", &input.days.to_string(), "--no-serve"])
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running {} demo", input.server_bin.display()))?;
    if !out.status.success() {
        bail!(
            "ordo demo failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    println!(
        "   demo database generated in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let key = crate::random_key();
    let mut server = Server::spawn(
        input.server_bin,
        &format!("sqlite://{}", db.display()),
        &key,
        input.dir.join("server.log"),
    )?;
    server.wait_healthy(&key, Duration::from_secs(60)).await?;
    let result = measure(&server, &key, input.requests).await;
    let _ = server.terminate(Duration::from_secs(10));
    result.map_err(|e| anyhow::anyhow!("{e:#}\n--- server log ---\n{}", server.log_tail(20)))
}

async fn measure(server: &Server, key: &str, requests: usize) -> Result<Vec<PageRow>> {
    let mut api = Conn::new(server.addr, key)?;
    let pages = page_list(&mut api).await?;
    let mut web = Conn::anonymous(server.addr)?;
    let cookie = sign_in(&mut web).await?;
    let headers = [(COOKIE, cookie)];
    let mut rows = Vec::new();
    for (name, path) in pages {
        // One unmeasured request warms the page's statements and the page cache.
        let (status, _, body) = web.request(Method::GET, &path, None, &headers).await?;
        if status != 200 {
            bail!("GET {path} answered {status}");
        }
        let mut times = Vec::with_capacity(requests);
        for _ in 0..requests {
            let t = Instant::now();
            let (status, _, _) = web.request(Method::GET, &path, None, &headers).await?;
            times.push(t.elapsed().as_secs_f64() * 1000.0);
            if status != 200 {
                bail!("GET {path} answered {status}");
            }
        }
        times.sort_by(f64::total_cmp);
        let row = PageRow {
            name: name.to_string(),
            path,
            bytes: body.len(),
            p50: percentile(&times, 0.50),
            p90: percentile(&times, 0.90),
            max: *times.last().unwrap_or(&0.0),
        };
        println!(
            "   {:<28} p50 {:>7.2} ms  p90 {:>7.2} ms  max {:>7.2} ms",
            row.name, row.p50, row.p90, row.max
        );
        rows.push(row);
    }
    Ok(rows)
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((sorted.len() as f64) * q).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Signs in as the demo admin through the form: the login page sets a cookie holding the
/// form's CSRF token, the post answers with the session cookie.
async fn sign_in(web: &mut Conn) -> Result<HeaderValue> {
    let (status, headers, body) = web.request(Method::GET, "/login", None, &[]).await?;
    if status != 200 {
        bail!("GET /login answered {status}");
    }
    let login_cookie = cookie_pair(&headers, "ordo_login")?;
    let page = String::from_utf8_lossy(&body);
    let csrf = hidden_value(&page, "csrf").context("the login form has no csrf field")?;
    let form = format!(
        "csrf={}&next=%2F&username=admin&password={}",
        encode_query(&csrf),
        encode_query("demo-admin")
    );
    let (status, headers, _) = web
        .request(
            Method::POST,
            "/login",
            Some(Bytes::from(form)),
            &[
                (
                    CONTENT_TYPE,
                    HeaderValue::from_static("application/x-www-form-urlencoded"),
                ),
                (COOKIE, HeaderValue::from_str(&login_cookie)?),
            ],
        )
        .await?;
    if !(300..400).contains(&status) {
        bail!("signing in as admin answered {status} instead of a redirect");
    }
    Ok(HeaderValue::from_str(&cookie_pair(
        &headers,
        "ordo_session",
    )?)?)
}

fn cookie_pair(headers: &hyper::HeaderMap, name: &str) -> Result<String> {
    headers
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .find(|pair| pair.starts_with(&format!("{name}=")))
        .map(str::to_string)
        .with_context(|| format!("no {name} cookie was set"))
}

fn hidden_value(html: &str, name: &str) -> Option<String> {
    let at = html.find(&format!("name=\"{name}\" value=\""))?;
    let rest = &html[at + name.len() + 15..];
    Some(rest[..rest.find('"')?].to_string())
}

async fn api_json(api: &mut Conn, path: &str) -> Result<serde_json::Value> {
    let (status, body) = api.get(path).await?;
    if status != 200 {
        bail!("GET {path} answered {status}");
    }
    serde_json::from_slice(&body).with_context(|| format!("GET {path}: not JSON"))
}

fn text(v: &serde_json::Value, pointer: &str) -> Option<String> {
    v.pointer(pointer)?.as_str().map(str::to_string)
}

/// Every main page, with the ids of real records of the demo shop (found through the API).
async fn page_list(api: &mut Conn) -> Result<Vec<(&'static str, String)>> {
    let newest = api_json(api, "/api/v1/orders?limit=1").await?;
    let order = text(&newest, "/items/0/number").context("the demo shop has no orders")?;
    let channel = text(&newest, "/items/0/channel").context("order without channel")?;
    let sku = text(
        &api_json(api, "/api/v1/products?limit=1").await?,
        "/items/0/sku",
    )
    .context("the demo shop has no products")?;
    let location = text(&api_json(api, "/api/v1/locations").await?, "/0/code")
        .context("the demo shop has no locations")?;
    let returns = api_json(api, "/api/v1/returns?limit=1").await?;
    let rma = text(&returns, "/items/0/id");
    // The oldest order has the longest story: shipped, delivered, a full timeline.
    let oldest = api_json(api, "/api/v1/orders?limit=1&sort=placed_asc").await?;
    let oldest = text(&oldest, "/items/0/number").unwrap_or_else(|| order.clone());
    let month_ago = time::OffsetDateTime::now_utc().date() - time::Duration::days(30);
    let q = encode_query;
    let mut pages = vec![
        ("dashboard", "/".into()),
        ("orders", "/orders".into()),
        ("orders: backordered", "/orders?status=backordered".into()),
        (
            "orders: channel + 30 days",
            format!("/orders?channel={}&placed_after={month_ago}", q(&channel)),
        ),
        ("orders: SKU", format!("/orders?sku={}", q(&sku))),
        ("orders: by total", "/orders?sort=total_desc".into()),
        ("order (newest)", format!("/orders/{}", q(&order))),
        ("order (oldest)", format!("/orders/{}", q(&oldest))),
        ("orders: late", "/orders?late=true".into()),
        ("inventory", "/inventory".into()),
        (
            "inventory: location",
            format!("/inventory?location={}", q(&location)),
        ),
        ("movements", "/inventory/movements".into()),
        (
            "movements: SKU",
            format!("/inventory/movements?sku={}", q(&sku)),
        ),
        (
            "movements: reason + 30 days",
            format!("/inventory/movements?reason=shipped&from={month_ago}"),
        ),
        ("products", "/products".into()),
        ("locations", "/locations".into()),
        ("location", format!("/locations/{}", q(&location))),
        ("channels", "/channels".into()),
        ("channel", format!("/channels/{}", q(&channel))),
        ("routing", "/routing".into()),
        ("fulfillment", "/fulfillment".into()),
        ("picking", "/picking".into()),
        ("packing", "/packing".into()),
        ("shipments", "/shipments".into()),
        ("manifests", "/manifests".into()),
        ("returns", "/returns".into()),
        ("settings", "/settings".into()),
        ("import: products", "/products/import".into()),
        ("import: stock", "/inventory/import".into()),
    ];
    match rma {
        Some(id) => pages.push(("return", format!("/returns/{}", q(&id)))),
        None => println!("   the demo shop has no returns: the return page is not measured"),
    }
    Ok(pages)
}

pub fn markdown(rows: &[PageRow], requests: usize, machine: &str, command: &str) -> String {
    let mut md = format!(
        "Each page requested {requests} times after one warm-up request, one keep-alive \
         connection, signed in as `admin`; time from sending the request to the last byte of \
         the body on loopback.\n\n\
         | page | path | KiB | p50 ms | p90 ms | max ms |\n|---|---|---:|---:|---:|---:|\n"
    );
    for r in rows {
        let over = if r.p90 > BUDGET_MS { " ⚠" } else { "" };
        md.push_str(&format!(
            "| {} | `{}` | {:.0} | {:.2} | {:.2}{over} | {:.2} |\n",
            r.name,
            r.path,
            r.bytes as f64 / 1024.0,
            r.p50,
            r.p90,
            r.max
        ));
    }
    let over = rows.iter().filter(|r| r.p90 > BUDGET_MS).count();
    md.push_str(&format!(
        "\n{} of {} pages within {BUDGET_MS:.0} ms at p90.\n\nmachine: {machine}\n\ncommand: `{command}`\n",
        rows.len() - over,
        rows.len()
    ));
    md
}

pub fn within_budget(rows: &[PageRow]) -> bool {
    rows.iter().all(|r| r.p90 <= BUDGET_MS)
}
