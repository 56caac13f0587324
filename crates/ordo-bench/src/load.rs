//! The closed-loop load: N keep-alive connections, each sending its next request as soon
//! as the previous answer arrives.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;
use bytes::Bytes;
use hdrhistogram::Histogram;
use hyper::Method;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde::Deserialize;
use uuid::Uuid;

use crate::client::Conn;
use crate::workload::{Catalog, OrderWriter, Scenario};

/// Acknowledged orders remembered per connection for replays; older ones are replaced at
/// random so replays reach back over the whole run.
const REPLAY_POOL: usize = 2048;

pub struct Window {
    pub start: Instant,
    pub warm_end: Instant,
    pub end: Instant,
}

impl Window {
    pub fn new(warmup: Duration, duration: Duration) -> Window {
        let start = Instant::now();
        Window {
            start,
            warm_end: start + warmup,
            end: start + warmup + duration,
        }
    }
    pub fn measured(&self, t: Instant) -> bool {
        t >= self.warm_end && t <= self.end
    }
}

pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 600_000_000, 3).expect("valid histogram bounds")
}

#[derive(Default)]
pub struct Fill {
    pub allocated: u64,
    pub partial: u64,
    pub backordered: u64,
    pub other: u64,
}

pub struct LoadResult {
    pub hist: Histogram<u64>,
    /// 200 + 201 answers completed inside the measured window.
    pub accepted: u64,
    pub created: u64,
    pub replayed: u64,
    pub errors: BTreeMap<String, u64>,
    /// Every acknowledged order (warm-up included): request key → order id.
    pub acked: HashMap<u64, Uuid>,
    pub fill: Fill,
}

#[derive(Deserialize)]
struct Ack {
    id: Uuid,
    #[serde(default)]
    status: Option<String>,
}

struct TaskResult {
    hist: Histogram<u64>,
    accepted: u64,
    created: u64,
    replayed: u64,
    errors: BTreeMap<String, u64>,
    acked: Vec<(u64, Uuid)>,
    fill: Fill,
}

pub async fn run_orders(
    addrs: &[SocketAddr],
    key: &str,
    connections: usize,
    catalog: Arc<Catalog>,
    scenario: Scenario,
    run: &str,
    window: Arc<Window>,
) -> Result<LoadResult> {
    let mut tasks = Vec::with_capacity(connections);
    for c in 0..connections {
        let conn = Conn::new(addrs[c % addrs.len()], key)?;
        let writer = OrderWriter::new(catalog.clone(), scenario, run);
        let window = window.clone();
        tasks.push(tokio::spawn(order_task(
            c as u64, conn, writer, scenario, window,
        )));
    }
    let mut total = LoadResult {
        hist: histogram(),
        accepted: 0,
        created: 0,
        replayed: 0,
        errors: BTreeMap::new(),
        acked: HashMap::new(),
        fill: Fill::default(),
    };
    for t in tasks {
        let r = t.await?;
        total.hist.add(&r.hist)?;
        total.accepted += r.accepted;
        total.created += r.created;
        total.replayed += r.replayed;
        for (k, v) in r.errors {
            *total.errors.entry(k).or_default() += v;
        }
        for (k, id) in r.acked {
            if let Some(prev) = total.acked.insert(k, id)
                && prev != id
            {
                *total.errors.entry("id-mismatch".into()).or_default() += 1;
            }
        }
        total.fill.allocated += r.fill.allocated;
        total.fill.partial += r.fill.partial;
        total.fill.backordered += r.fill.backordered;
        total.fill.other += r.fill.other;
    }
    Ok(total)
}

async fn order_task(
    c: u64,
    mut conn: Conn,
    mut writer: OrderWriter,
    scenario: Scenario,
    window: Arc<Window>,
) -> TaskResult {
    let mut rng =
        SmallRng::seed_from_u64(0x5eed ^ (c << 20) ^ window.start.elapsed().as_nanos() as u64);
    let mut r = TaskResult {
        hist: histogram(),
        accepted: 0,
        created: 0,
        replayed: 0,
        errors: BTreeMap::new(),
        acked: Vec::new(),
        fill: Fill::default(),
    };
    let mut pool: Vec<(Bytes, u64, Uuid)> = Vec::new();
    let replay_fraction = scenario.replay_fraction();
    let mut n: u64 = 0;
    loop {
        if Instant::now() >= window.end {
            break;
        }
        let replay =
            if !pool.is_empty() && replay_fraction > 0.0 && rng.random_bool(replay_fraction) {
                Some(pool[rng.random_range(0..pool.len())].clone())
            } else {
                None
            };
        let (body, key) = match &replay {
            Some((body, key, _)) => (body.clone(), *key),
            None => {
                n += 1;
                let key = (c << 40) | n;
                (writer.order(key, &mut rng), key)
            }
        };
        let t0 = Instant::now();
        let result = conn
            .send(Method::POST, "/api/v1/orders", Some(body.clone()))
            .await;
        let t1 = Instant::now();
        let (status, resp) = match result {
            Ok(x) => x,
            Err(_) => {
                *r.errors.entry("connection".into()).or_default() += 1;
                // Avoid spinning if the server is gone.
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        if status != 200 && status != 201 {
            *r.errors.entry(status.to_string()).or_default() += 1;
            continue;
        }
        let Ok(ack) = serde_json::from_slice::<Ack>(&resp) else {
            *r.errors.entry("bad-body".into()).or_default() += 1;
            continue;
        };
        match &replay {
            Some((_, _, id)) => {
                if status != 200 {
                    *r.errors.entry("replay-not-200".into()).or_default() += 1;
                } else if ack.id != *id {
                    *r.errors.entry("replay-other-id".into()).or_default() += 1;
                }
                r.replayed += 1;
            }
            None => {
                r.created += 1;
                match ack.status.as_deref() {
                    Some("allocated") => r.fill.allocated += 1,
                    Some("partially_allocated") => r.fill.partial += 1,
                    Some("backordered") => r.fill.backordered += 1,
                    _ => r.fill.other += 1,
                }
                if replay_fraction > 0.0 {
                    if pool.len() < REPLAY_POOL {
                        pool.push((body, key, ack.id));
                    } else {
                        let i = rng.random_range(0..REPLAY_POOL);
                        pool[i] = (body, key, ack.id);
                    }
                }
            }
        }
        r.acked.push((key, ack.id));
        if window.measured(t1) {
            r.accepted += 1;
            r.hist
                .saturating_record(((t1 - t0).as_micros() as u64).max(1));
        }
    }
    r
}

pub struct ReadResult {
    pub hist: Histogram<u64>,
    pub ok: u64,
    pub errors: BTreeMap<String, u64>,
}

/// `GET /api/v1/orders/{id}` on random acknowledged orders.
pub async fn run_reads(
    addrs: &[SocketAddr],
    key: &str,
    connections: usize,
    ids: Arc<Vec<Uuid>>,
    window: Arc<Window>,
) -> Result<ReadResult> {
    let mut tasks = Vec::with_capacity(connections);
    for c in 0..connections {
        let mut conn = Conn::new(addrs[c % addrs.len()], key)?;
        let ids = ids.clone();
        let window = window.clone();
        tasks.push(tokio::spawn(async move {
            let mut rng = SmallRng::seed_from_u64(c as u64 + 77);
            let mut hist = histogram();
            let mut ok = 0u64;
            let mut errors: BTreeMap<String, u64> = BTreeMap::new();
            let mut path = String::with_capacity(64);
            while Instant::now() < window.end && !ids.is_empty() {
                let id = ids[rng.random_range(0..ids.len())];
                path.clear();
                path.push_str("/api/v1/orders/");
                path.push_str(id.hyphenated().encode_lower(&mut Uuid::encode_buffer()));
                let t0 = Instant::now();
                let result = conn.get(&path).await;
                let t1 = Instant::now();
                match result {
                    Ok((200, _)) => {
                        if window.measured(t1) {
                            ok += 1;
                            hist.saturating_record(((t1 - t0).as_micros() as u64).max(1));
                        }
                    }
                    Ok((status, _)) => *errors.entry(status.to_string()).or_default() += 1,
                    Err(_) => {
                        *errors.entry("connection".into()).or_default() += 1;
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                }
            }
            (hist, ok, errors)
        }));
    }
    let mut total = ReadResult {
        hist: histogram(),
        ok: 0,
        errors: BTreeMap::new(),
    };
    for t in tasks {
        let (hist, ok, errors) = t.await?;
        total.hist.add(&hist)?;
        total.ok += ok;
        for (k, v) in errors {
            *total.errors.entry(k).or_default() += v;
        }
    }
    Ok(total)
}
