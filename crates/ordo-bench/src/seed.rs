//! Seeding reference data and stock through the public API, as a merchant would.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use hyper::Method;

use crate::client::Conn;
use crate::workload::{
    CHANNELS, Catalog, LOCATIONS, Scenario, adjustment_body, channel_body, location_body,
    product_body,
};

pub struct SeedStats {
    pub requests: usize,
    pub units: i64,
}

struct Job {
    method: Method,
    path: String,
    body: Bytes,
    ok: &'static [u16],
}

pub async fn seed(
    addr: SocketAddr,
    key: &str,
    catalog: &Catalog,
    scenario: Scenario,
    seconds: u64,
    parallel: usize,
) -> Result<SeedStats> {
    let mut conn = Conn::new(addr, key)?;
    // Channels may name locations, so locations go first.
    let mut serial = Vec::new();
    for l in &LOCATIONS {
        serial.push(job(
            Method::PUT,
            format!("/api/v1/locations/{}", l.code),
            &location_body(l),
            &[200, 201],
        ));
    }
    for (code, name, kind) in CHANNELS {
        serial.push(job(
            Method::PUT,
            format!("/api/v1/channels/{code}"),
            &channel_body(name, kind),
            &[200, 201],
        ));
    }
    for j in &serial {
        run_job(&mut conn, j).await?;
    }

    let products: Vec<Job> = (0..catalog.len())
        .map(|i| {
            job(
                Method::PUT,
                format!("/api/v1/products/{}", catalog.skus[i]),
                &product_body(catalog, i),
                &[200, 201],
            )
        })
        .collect();
    run_parallel(addr, key, products, parallel)
        .await
        .context("seeding products")?;

    let plan = catalog.stock_plan(scenario, seconds);
    let units = plan.iter().map(|p| p.2).sum();
    let adjustments: Vec<Job> = plan
        .iter()
        .map(|&(sku, loc, qty)| {
            let body = adjustment_body(&catalog.skus[sku], LOCATIONS[loc].code, qty);
            job(
                Method::POST,
                "/api/v1/inventory/adjustments".into(),
                &body,
                &[200, 201],
            )
        })
        .collect();
    let requests = serial.len() + catalog.len() + adjustments.len();
    run_parallel(addr, key, adjustments, parallel)
        .await
        .context("seeding stock")?;
    Ok(SeedStats { requests, units })
}

fn job(method: Method, path: String, body: &serde_json::Value, ok: &'static [u16]) -> Job {
    Job {
        method,
        path,
        body: Bytes::from(body.to_string()),
        ok,
    }
}

async fn run_job(conn: &mut Conn, j: &Job) -> Result<()> {
    let (status, body) = conn
        .send(j.method.clone(), &j.path, Some(j.body.clone()))
        .await
        .with_context(|| format!("{} {}", j.method, j.path))?;
    if !j.ok.contains(&status) {
        bail!(
            "{} {} answered {status}: {}\nrequest body: {}",
            j.method,
            j.path,
            String::from_utf8_lossy(&body),
            String::from_utf8_lossy(&j.body)
        );
    }
    Ok(())
}

async fn run_parallel(addr: SocketAddr, key: &str, jobs: Vec<Job>, parallel: usize) -> Result<()> {
    let jobs = Arc::new(jobs);
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..parallel.max(1) {
        let jobs = jobs.clone();
        let next = next.clone();
        let mut conn = Conn::new(addr, key)?;
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(j) = jobs.get(i) else { return Ok(()) };
                if let Err(e) = run_job(&mut conn, j).await {
                    // Stop the other workers early: one failure fails the seeding.
                    next.store(usize::MAX / 2, Ordering::Relaxed);
                    return Err(e);
                }
            }
        }));
    }
    let mut first_err = None;
    for t in tasks {
        if let Err(e) = t.await? {
            first_err.get_or_insert(e);
        }
    }
    first_err.map_or(Ok(()), Err)
}
